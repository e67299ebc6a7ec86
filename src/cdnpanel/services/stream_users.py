"""Stream users and publisher authentication (issue 15).

A stream user lets an encoder publish one stream of an application (``*``: any stream of it)
with a user name and password, which the encoder sends in its URL
(``rtmp://origin/APP/INST/STREAM?user=U&pass=P``); nginx-rtmp hands them to cdnpanel in its
``on_publish`` callback. A publish is decided by the stream's own stream users, or, when it
has none, by the application's ``*`` ones:

- an entry without credentials (user and pass both null) admits any publisher of that stream;
- otherwise the encoder's user and pass must match one entry (compared in constant time);
- with no entry at all, an application whose publishing is ``credentials`` (the default for
  new applications) refuses, and one whose publishing is ``open`` admits.

Passwords are kept only as HMAC-SHA256 under an installation key (migration 0010), as ticket
passwords are: a copy of the table alone reveals none, and a check costs microseconds, which
an encoder's reconnect loop and the ``on_publish`` target (2,000/s) need; a slow password hash
would be the wrong tool for a random per-stream secret the platform hands out.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import quote

from cdnpanel.errors import InvalidParameter, NotFound, PermissionDenied
from cdnpanel.origins.adapter import DEFAULT_INSTANCE
from cdnpanel.records import Application, StreamSettings, StreamUser
from cdnpanel.services._clock import Clock
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.stream_users import ANY_STREAM, StreamUserStore

__all__ = ["ANY_STREAM", "MAX_STREAM_USERS", "MIN_PASSWORD", "StreamUserService"]

MIN_PASSWORD = 8
MAX_STREAM_USERS = 10_000
"""Stream users one account may have: each publish reads the stream's, so they are bounded."""
_USER_PARAM, _PASS_PARAM = "user", "pass"


class StreamUserService:
    def __init__(self, store: StreamUserStore, origins: OriginStore, *, clock: Clock) -> None:
        self._store = store
        self._origins = origins
        self._clock = clock

    def add(
        self,
        app: Application,
        *,
        stream: str,
        user: str | None,
        password: str | None,
        settings: StreamSettings,
    ) -> StreamUser:
        """A new stream user of ``app`` (the caller's, resolved by the command)."""
        if (user is None) != (password is None):
            missing = "pass" if password is None else "user"
            raise InvalidParameter(
                missing,
                "user and pass go together: send both, or both as null for a stream that "
                "asks for no credentials",
            )
        if password is not None and len(password) < MIN_PASSWORD:
            raise InvalidParameter(
                "pass", f"is {len(password)} characters long; a publisher's needs {MIN_PASSWORD}"
            )
        if self._store.count_for_account(app.account_id) >= MAX_STREAM_USERS:
            raise InvalidParameter(
                "stream", f"this account has {MAX_STREAM_USERS} stream users, the most it may"
            )
        return self._store.add(
            account_id=app.account_id,
            application_id=app.id,
            stream=stream,
            user=user,
            pass_hash=None if password is None else self.hash_pass(password),
            settings=settings,
            now=int(self._clock()),
        )

    def get(self, account_id: int, streamuser_id: int) -> StreamUser:
        found = self._store.get(account_id, streamuser_id)
        if found is None:
            raise NotFound("stream user", streamuser_id)
        return found

    def find(self, app: Application, stream: str, user: str | None) -> StreamUser:
        found = self._store.find(app.id, stream, user)
        if found is None:
            who = f"user {user!r}" if user else "entry without credentials"
            raise NotFound(f"stream {stream!r}'s {who} of application {app.name!r}", stream)
        return found

    def list_for_account(
        self, account_id: int, *, apps: list[Application] | None, stream: str | None
    ) -> list[StreamUser]:
        ids = None if apps is None else [a.id for a in apps]
        return self._store.list_for_account(
            account_id, application_ids=ids, stream=stream, limit=MAX_STREAM_USERS
        )

    def remove(self, user: StreamUser) -> None:
        self._store.remove(user.account_id, user.id)

    def publish_urls(self, user: StreamUser, app: Application) -> dict[str, str | None]:
        """Where its encoder publishes: the origin serving ``app`` (None until one does) and
        the RTMP URL, with the stream name a placeholder for ``*`` and the password never
        (it is kept only as a hash)."""
        origin = None if app.origin_id is None else self._origins.get(app.origin_id)
        if origin is None:
            return {"origin_url": None, "publish_url": None}
        stream = "STREAM" if user.stream == ANY_STREAM else quote(user.stream, safe="")
        url = f"rtmp://{origin.name}/{app.name}/{DEFAULT_INSTANCE}/{stream}"
        if user.user is not None:
            url += f"?user={quote(user.user, safe='')}&pass=PASS"
        return {"origin_url": origin.name, "publish_url": url}

    def hash_pass(self, password: str) -> bytes:
        return hmac.digest(self._store.pass_key(), password.encode("utf-8"), hashlib.sha256)

    # -- on_publish --------------------------------------------------------------------------

    def deciding(self, app: Application, stream: str) -> tuple[StreamUser, ...]:
        """The stream users that decide a publish of ``stream``: its own, else the "*" ones."""
        return self._store.deciding(app.id, stream)

    def check_publish(self, app: Application, stream: str, query: Mapping[str, str]) -> int | None:
        """Refuse (PermissionDenied, its message the reason logged) a publish of ``stream``
        with the encoder's URL query ``query`` unless the stream users allow it; the id of
        the stream user that admits it (None: publishing is open and the stream has none)."""
        locked = self._store.locked_at(app.id, stream)
        if locked is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(locked))
            raise PermissionDenied(
                f"stream {stream!r} of {app.name!r} is locked (closed with lock at {when}): "
                "unlock it with sevu.updatestream locked=0"
            )
        deciding = self.deciding(app, stream)
        if not deciding:
            if app.needs_credentials:
                raise PermissionDenied(
                    f"application {app.name!r} needs publisher credentials and stream "
                    f"{stream!r} has no stream user: add one (sevu.addstreamuser), or open "
                    f"publishing (cdnpanel app update --cdn CDN {app.name} --publishing open)"
                )
            return None
        for entry in deciding:
            if entry.user is None:
                return entry.id  # the stream asks for no credentials
        user, password = query.get(_USER_PARAM), query.get(_PASS_PARAM)
        if not user or not password:
            raise PermissionDenied(
                f"stream {stream!r} of {app.name!r} needs a stream user: publish to "
                "...?user=USER&pass=PASS"
            )
        tried = self.hash_pass(password)
        admitted = None
        for entry in deciding:  # every entry compared, in constant time each
            same_hash = hmac.compare_digest(entry.pass_hash or b"", tried)
            same_user = hmac.compare_digest((entry.user or "").encode(), user.encode())
            if same_hash and same_user:
                admitted = entry.id
        if admitted is None:
            raise PermissionDenied(
                f"wrong user or pass for stream {stream!r} of {app.name!r} (user {user[:100]!r})"
            )
        return admitted

    # -- the stream's settings and lock -----------------------------------------------------

    def update_stream(
        self, app: Application, stream: str, changes: Mapping[str, object]
    ) -> list[StreamUser]:
        """Change the given settings of every stream user of ``app``'s ``stream``; NotFound
        when it has none (settings are kept with stream users)."""
        if changes and not self._store.set_settings(app.id, stream, dict(changes)):
            raise NotFound(
                f"stream user of stream {stream!r} of application {app.name!r} (its settings "
                "are kept with its stream users: add one with sevu.addstreamuser)",
                stream,
            )
        return self.list_for_account(app.account_id, apps=[app], stream=stream)

    def lock(self, app: Application, stream: str) -> None:
        """Refuse every publish of ``stream`` until ``unlock``."""
        self._store.lock(app.id, stream, now=int(self._clock()))

    def unlock(self, app: Application, stream: str) -> bool:
        return self._store.unlock(app.id, stream)

    def locked_at(self, app: Application, stream: str) -> int | None:
        return self._store.locked_at(app.id, stream)
