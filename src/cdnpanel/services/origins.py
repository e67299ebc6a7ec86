"""Origins and edges: adding them (the hook secret is shown once), listing them, assigning
applications to origins and origins to edges; and authenticating the callbacks they make.

An edge is a media server of its own (its name, hook secret, control URL, stat) that pulls the
streams of its origins and serves them to viewers, checking each with cdnpanel exactly as an
origin does; it takes no encoders."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from cdnpanel.errors import InvalidParameter, NotFound, PermissionDenied
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.records import EDGE, ORIGIN, Application, Origin
from cdnpanel.services._cache import TtlCache
from cdnpanel.services._clock import Clock, TokenSource
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.viewers import ViewerStore

__all__ = [
    "KINDS",
    "MAX_EDGE_ORIGINS",
    "ORIGIN_NAME",
    "IssuedOrigin",
    "OriginService",
    "hash_hook_secret",
]

KINDS = ("nginx-rtmp",)
# A host name, as clients pass it in `origin_url`; it also appears in hook URLs.
ORIGIN_NAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_HOOK_REFUSED = "origin hook refused: unknown origin or wrong secret"
# The origins one edge reaches (each application's HLS from its origin, else its backup).
MAX_EDGE_ORIGINS = 8
_LOCATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


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
        viewers: ViewerStore,
        *,
        clock: Clock,
        tokens: TokenSource,
        freshness: Freshness = DEFAULT_FRESHNESS,
    ) -> None:
        self._origins = origins
        self._applications = applications
        self._viewers = viewers
        self._clock = clock
        self._tokens = tokens
        self._by_name: TtlCache[str, Origin | None] = TtlCache(
            origins.get_by_name, ttl=freshness.origins, clock=clock
        )

    def add(
        self,
        name: str,
        *,
        control_url: str,
        kind: str = "nginx-rtmp",
        hls_fragment: int = 2,
        location: str | None = None,
        rtmp_url: str | None = None,
        hls_url: str | None = None,
    ) -> IssuedOrigin:
        """A new origin; ``rtmp_url`` and ``hls_url``: where its edges reach it (None: its
        name on ports 1935 and 8088, as ``origin nginx-config`` listens by default)."""
        _check_name(name, "origin1.example.net")
        if not 1 <= hls_fragment <= 30:
            raise InvalidParameter("hls_fragment", "must be 1 to 30 seconds")
        secret = self._tokens.secret()
        origin = self._origins.create(
            name=name,
            kind=_kind(kind),
            control_url=_control_url(control_url),
            hook_secret_hash=hash_hook_secret(secret),
            hls_fragment=hls_fragment,
            now=int(self._clock()),
            location=_location(location),
            rtmp_url=_server_url("rtmp_url", rtmp_url, ("rtmp",)),
            hls_url=_server_url("hls_url", hls_url, ("http", "https")),
        )
        return IssuedOrigin(origin, secret)

    def add_edge(
        self,
        name: str,
        *,
        origins: Sequence[str],
        control_url: str,
        kind: str = "nginx-rtmp",
        location: str | None = None,
    ) -> IssuedOrigin:
        """A new edge pulling from ``origins``: each application of theirs from its origin,
        its HLS from its backup origin when that fails (if the edge reaches both)."""
        _check_name(name, "edge1.example.net")
        upstreams = self._upstreams(origins)
        secret = self._tokens.secret()
        edge = self._origins.create(
            name=name,
            kind=_kind(kind),
            control_url=_control_url(control_url),
            hook_secret_hash=hash_hook_secret(secret),
            # Edges cut no segments: an unknown stream's sessions last by its origin's.
            hls_fragment=upstreams[0].hls_fragment,
            now=int(self._clock()),
            role=EDGE,
            location=_location(location),
            upstreams=[o.id for o in upstreams],
        )
        return IssuedOrigin(edge, secret)

    def update(self, name: str, **changes: str | None) -> Origin:
        """Change a server's ``location``, or an origin's ``rtmp_url`` or ``hls_url`` ("" or
        None in ``changes`` clears; a key left out stays)."""
        server = self.get(name)
        values: dict[str, str | None] = {}
        for key, value in changes.items():
            value = value or None
            if key == "location":
                values[key] = _location(value)
            elif key in ("rtmp_url", "hls_url") and not server.is_edge:
                schemes = ("rtmp",) if key == "rtmp_url" else ("http", "https")
                values[key] = _server_url(key, value, schemes)
            else:
                raise InvalidParameter(key, f"cannot be changed on {server.role} {name!r}")
        self._origins.update(server.id, **values)
        self._by_name.forget(name)
        return self.get(name)

    def set_edge_origins(self, name: str, origins: Sequence[str]) -> Origin:
        edge = self.get_edge(name)
        self._origins.set_upstreams(
            edge_id=edge.id, upstreams=[o.id for o in self._upstreams(origins)]
        )
        self._by_name.forget(name)
        return self.get(name)

    def remove_edge(self, name: str) -> int:
        """Forget an edge; its viewers stop being counted at once (how many there were). Its
        nginx keeps serving until stopped: its hook secret stops working with it."""
        edge = self.get_edge(name)
        ended = self._viewers.end_all_on(edge.id)
        self._origins.remove_edge(edge.id)
        self._by_name.forget(name)
        return ended

    def get_edge(self, name: str) -> Origin:
        edge = self._origins.get_by_name(name)
        if edge is None or not edge.is_edge:
            raise NotFound("edge", name, scope="")
        return edge

    def edges_of(self, origin: Origin) -> list[Origin]:
        return self._origins.edges_of(origin.id)

    def _upstreams(self, names: Sequence[str]) -> list[Origin]:
        if not names:
            raise InvalidParameter("origin", "an edge pulls from at least one origin")
        if len(names) > MAX_EDGE_ORIGINS:
            raise InvalidParameter("origin", f"at most {MAX_EDGE_ORIGINS} origins per edge")
        if len(set(names)) != len(names):
            raise InvalidParameter("origin", "each origin once")
        found = []
        for name in names:
            origin = self._origins.get_by_name(name)
            if origin is None or origin.is_edge:
                raise InvalidParameter(
                    "origin", f"no origin named {name!r} (see cdnpanel origin list)"
                )
            found.append(origin)
        return found

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

    def list_origins(self, role: str | None = ORIGIN) -> list[Origin]:
        """The origins (``role`` EDGE: the edges; None: every server)."""
        return self._origins.list(role)

    def applications(self, name: str) -> list[Application]:
        """The applications the server serves: an origin's own, an edge's origins'."""
        server = self.get(name)
        return self._applications.list_for_origins(
            server.upstreams if server.is_edge else (server.id,)
        )

    def assign(self, application: Application, origin_name: str | None) -> Application:
        """Serve the application from this origin (None: from no origin)."""
        origin_id = None
        if origin_name is not None:
            origin = self.get(origin_name)
            if origin.is_edge:
                raise InvalidParameter(
                    "origin", f"{origin_name!r} is an edge: it serves its origins' applications"
                )
            origin_id = origin.id
        if origin_id == application.backup_origin_id or origin_id is None:
            application = self.assign_backup(application, None)
        self._applications.set_origin(application_id=application.id, origin_id=origin_id)
        return replace(application, origin_id=origin_id)

    def assign_backup(self, application: Application, origin_name: str | None) -> Application:
        """A second origin the application's encoders publish to (None: none), which edges
        fetch its HLS from when its origin fails."""
        origin_id = None
        if origin_name is not None:
            origin = self.get(origin_name)
            if origin.is_edge:
                raise InvalidParameter("backup_origin", f"{origin_name!r} is an edge")
            if application.origin_id is None:
                raise InvalidParameter(
                    "backup_origin", f"{application.name!r} has no origin to back up yet"
                )
            if origin.id == application.origin_id:
                raise InvalidParameter(
                    "backup_origin", f"{origin_name!r} is already {application.name!r}'s origin"
                )
            origin_id = origin.id
        self._applications.set_backup_origin(application_id=application.id, origin_id=origin_id)
        return replace(application, backup_origin_id=origin_id)

    def authenticate_hook(self, name: str, secret: str | None, role: str | None = None) -> Origin:
        """The server making a callback, if ``secret`` is its hook secret (and ``role``, when
        given, its role); PermissionDenied else.

        Cached for a few seconds (the HLS check runs on every playlist and segment request), so
        a rotated secret stops working within that time.
        """
        origin = self._by_name.get(name) if ORIGIN_NAME.fullmatch(name) else None
        presented = hash_hook_secret(secret or "")
        expected = origin.hook_secret_hash if origin is not None else bytes(32)
        if not hmac.compare_digest(presented, expected) or origin is None or not secret:
            raise PermissionDenied(_HOOK_REFUSED)
        if role is not None and origin.role != role:
            raise PermissionDenied(f"hook refused: {name!r} is not an {role}")
        return origin


def _check_name(name: str, example: str) -> None:
    if not ORIGIN_NAME.fullmatch(name):
        raise InvalidParameter("name", f"a server name is a host name, e.g. {example}")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidParameter("kind", f"unknown origin kind {kind!r}; known: {', '.join(KINDS)}")
    return kind


def _location(location: str | None) -> str | None:
    if location is None:
        return None
    if not _LOCATION.fullmatch(location):
        raise InvalidParameter(
            "location", "a label of up to 100 letters, digits, spaces, '.', '_' or '-', e.g. fra"
        )
    return location


def _server_url(name: str, url: str | None, schemes: tuple[str, ...]) -> str | None:
    """``scheme://host[:port]`` where edges reach an origin (None stays None)."""
    if url is None:
        return None
    example = f"{schemes[0]}://origin1.example.net:{1935 if schemes[0] == 'rtmp' else 8088}"
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise InvalidParameter(name, f"has an invalid port; e.g. {example}") from None
    if (
        parts.scheme not in schemes
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise InvalidParameter(
            name, f"must be {schemes[0]}://HOST[:PORT] and nothing more, e.g. {example}"
        )
    return url.strip().rstrip("/")


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
