"""Applications of an account, and resolving the ``app`` parameter's four shapes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.records import Application
from cdnpanel.services._clock import Clock
from cdnpanel.store.applications import ApplicationStore

__all__ = ["APPLICATION_NAME", "PROTECTIONS", "PUBLISHING", "ApplicationService"]

# The first path segment of every playback URL, so: URL-safe, no slash, no wildcard.
APPLICATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# none: anyone may play; sevu: playback needs a SEVU ticket (sevu.request).
PROTECTIONS = ("none", "sevu")
# credentials: a publish needs a stream user's name and password (sevu.addstreamuser); open:
# only streams that have a stream user ask for them. New applications need credentials.
PUBLISHING = ("credentials", "open")


class ApplicationService:
    def __init__(self, applications: ApplicationStore, *, clock: Clock) -> None:
        self._applications = applications
        self._clock = clock

    def create(self, account_id: int, name: str, *, publishing: str = "credentials") -> Application:
        if not APPLICATION_NAME.fullmatch(name):
            raise InvalidParameter(
                "name",
                "an application name is 1 to 100 letters, digits, '.', '_' or '-', starting "
                "with a letter or digit",
            )
        _check_publishing(publishing)
        return self._applications.create(
            account_id=account_id, name=name, now=int(self._clock()), publishing=publishing
        )

    def protect(self, application: Application, protection: str) -> Application:
        """Set who may play the application's streams and videos (within a few seconds)."""
        if protection not in PROTECTIONS:
            raise InvalidParameter(
                "protection", f"must be one of {', '.join(PROTECTIONS)}, not {protection!r}"
            )
        self._applications.set_protection(application_id=application.id, protection=protection)
        return replace(application, protection=protection)

    def set_publishing(self, application: Application, publishing: str) -> Application:
        """Set whether publishing needs credentials (at the encoder's next connection)."""
        _check_publishing(publishing)
        self._applications.set_publishing(application_id=application.id, publishing=publishing)
        return replace(application, publishing=publishing)

    def list_for_account(self, account_id: int) -> list[Application]:
        return self._applications.list_for_account(account_id)

    def resolve(self, account_id: int, refs: Sequence[int | str]) -> list[Application]:
        """The account's applications named by ids or names, in request order, each once.

        A numeric string is a name first and an id if no application has that name. Any
        reference that is not one of the account's applications is NotFound: another
        account's application looks exactly like a missing one.
        """
        ids = {r for r in refs if isinstance(r, int) and 0 < r <= MAX_APPLICATION_ID}
        names = {r for r in refs if isinstance(r, str)}
        ids |= {i for i in map(_as_id, names) if i is not None}
        found = self._applications.find_for_account(account_id, ids=ids, names=names)
        by_name = {a.name: a for a in found}
        by_id = {a.id: a for a in found}
        resolved: dict[int, Application] = {}
        for ref in refs:
            app = by_name.get(ref) if isinstance(ref, str) else by_id.get(ref)
            if app is None and isinstance(ref, str) and (as_id := _as_id(ref)) is not None:
                app = by_id.get(as_id)
            if app is None:
                raise NotFound("application", ref)
            resolved.setdefault(app.id, app)
        return list(resolved.values())


MAX_APPLICATION_ID = 2**31 - 1
_ID_TEXT = re.compile(r"[0-9]{1,10}")


def _as_id(name: str) -> int | None:
    """A name that could be an application id (ASCII digits within the store's integers)."""
    if _ID_TEXT.fullmatch(name) is None:
        return None
    value = int(name)
    return value if 0 < value <= MAX_APPLICATION_ID else None


def _check_publishing(publishing: str) -> None:
    if publishing not in PUBLISHING:
        raise InvalidParameter(
            "publishing", f"must be one of {', '.join(PUBLISHING)}, not {publishing!r}"
        )
