"""Origins: adding them (the hook secret is shown once), listing them, and assigning
applications to them; and authenticating the callbacks they make."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from cdnpanel.errors import InvalidParameter, NotFound, PermissionDenied
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.records import Application, Origin
from cdnpanel.services._cache import TtlCache
from cdnpanel.services._clock import Clock, TokenSource
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.origins import OriginStore

__all__ = ["KINDS", "ORIGIN_NAME", "IssuedOrigin", "OriginService", "hash_hook_secret"]

KINDS = ("nginx-rtmp",)
# A host name, as clients pass it in `origin_url`; it also appears in hook URLs.
ORIGIN_NAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_HOOK_REFUSED = "origin hook refused: unknown origin or wrong secret"


def hash_hook_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class IssuedOrigin:
    """A new origin and its hook secret: the only moment the secret is handed out."""

    origin: Origin
    secret: str = field(repr=False)


class OriginService:
    def __init__(
        self,
        origins: OriginStore,
        applications: ApplicationStore,
        *,
        clock: Clock,
        tokens: TokenSource,
        freshness: Freshness = DEFAULT_FRESHNESS,
    ) -> None:
        self._origins = origins
        self._applications = applications
        self._clock = clock
        self._tokens = tokens
        self._by_name: TtlCache[str, Origin | None] = TtlCache(
            origins.get_by_name, ttl=freshness.origins, clock=clock
        )

    def add(
        self, name: str, *, control_url: str, kind: str = "nginx-rtmp", hls_fragment: int = 2
    ) -> IssuedOrigin:
        if not ORIGIN_NAME.fullmatch(name):
            raise InvalidParameter(
                "name", "an origin name is a host name, e.g. origin1.example.net"
            )
        if kind not in KINDS:
            raise InvalidParameter(
                "kind", f"unknown origin kind {kind!r}; known: {', '.join(KINDS)}"
            )
        if not 1 <= hls_fragment <= 30:
            raise InvalidParameter("hls_fragment", "must be 1 to 30 seconds")
        secret = self._tokens.secret()
        origin = self._origins.create(
            name=name,
            kind=kind,
            control_url=_control_url(control_url),
            hook_secret_hash=hash_hook_secret(secret),
            hls_fragment=hls_fragment,
            now=int(self._clock()),
        )
        return IssuedOrigin(origin, secret)

    def rotate_secret(self, name: str) -> IssuedOrigin:
        """A new hook secret for the origin; the old one stops working (within seconds)."""
        origin = self.get(name)
        secret = self._tokens.secret()
        self._origins.set_hook_secret_hash(
            origin_id=origin.id, hook_secret_hash=hash_hook_secret(secret)
        )
        self._by_name.forget(name)
        return IssuedOrigin(origin, secret)

    def get(self, name: str) -> Origin:
        origin = self._origins.get_by_name(name)
        if origin is None:
            raise NotFound("origin", name, scope="")
        return origin

    def list_origins(self) -> list[Origin]:
        return self._origins.list()

    def applications(self, name: str) -> list[Application]:
        return self._applications.list_for_origin(self.get(name).id)

    def assign(self, application: Application, origin_name: str | None) -> Application:
        """Serve the application from this origin (None: from no origin)."""
        origin_id = self.get(origin_name).id if origin_name is not None else None
        self._applications.set_origin(application_id=application.id, origin_id=origin_id)
        return replace(application, origin_id=origin_id)

    def authenticate_hook(self, name: str, secret: str | None) -> Origin:
        """The origin making a callback, if ``secret`` is its hook secret; PermissionDenied else.

        Cached for a few seconds (the HLS check runs on every playlist and segment request), so
        a rotated secret stops working within that time.
        """
        origin = self._by_name.get(name) if ORIGIN_NAME.fullmatch(name) else None
        presented = hash_hook_secret(secret or "")
        expected = origin.hook_secret_hash if origin is not None else bytes(32)
        if not hmac.compare_digest(presented, expected) or origin is None or not secret:
            raise PermissionDenied(_HOOK_REFUSED)
        return origin


def _control_url(url: str) -> str:
    """The base URL of the origin's control and stat locations, without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(
            "control_url", "must be an http:// or https:// URL, e.g. http://127.0.0.1:8081"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidParameter("control_url", "must not carry a query, fragment or credentials")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise InvalidParameter("control_url", "has an invalid port") from None
    return url.strip().rstrip("/")
