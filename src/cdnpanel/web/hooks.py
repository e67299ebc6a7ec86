"""The hooks media servers call: nginx-rtmp's ``on_*`` callbacks and the HLS ``auth_request``.

Only origins and edges may call them: the caller's address must be in ``hook_networks``
(loopback by default) and the request must carry the server's hook secret (``?secret=`` on
callbacks, whose URLs nginx-rtmp cannot give headers; the ``X-Cdnpanel-Secret`` header on
``auth_request``). An edge's own checks come the same way under ``/hooks/edges/``; its fetches
from an origin reach the origin's checks with the edge's name and secret (the
``X-Cdnpanel-Edge`` header of an HLS fetch, the tcUrl of an RTMP pull), and are let through
without a ticket or a viewer: the edge checks its viewers itself.
Media servers read the status only: 2xx admits, 403 refuses. The JSON body is for people
reading the media server's error log. A refused HLS request's reason also travels in the
``X-Cdnpanel-Reason`` header, which the generated nginx config passes on to the player (header
and body of its 403), and goes to the server log, once per viewer, path and reason a while.

    POST /hooks/origins/{origin}/{publish|publish_done|play|play_done|done}
    GET  /hooks/origins/{origin}/hls        X-Original-URI, X-Real-IP, User-Agent[, X-Cdnpanel-Edge]
    POST /hooks/edges/{edge}/{play|play_done}
    GET  /hooks/edges/{edge}/hls
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from cdnpanel.errors import CdnpanelError, MalformedRequest, PermissionDenied
from cdnpanel.origins.adapter import Action, CallbackEvent
from cdnpanel.protocol import envelope
from cdnpanel.protocol.form import read_urlencoded_form
from cdnpanel.records import EDGE, ORIGIN, Origin
from cdnpanel.web.http import ClientGone, read_body, refuse_method
from cdnpanel.wiring import Services

__all__ = ["HLS_SUFFIX", "HOOKS", "OriginHooks", "mask_secrets"]

log = logging.getLogger("cdnpanel.hooks")

REFUSAL_LOG_SECONDS = 5.0

HOOKS = "/hooks/"
# The part of the path after HOOKS that names the server's role.
_ROLES = {"origins": ORIGIN, "edges": EDGE}
HLS_SUFFIX = "/hls"
_MAX_CALLBACK_BODY = 64 * 1024
_SECRET_IN_QUERY = re.compile(r"(?i)([?&]secret=)[^&\s\"]*")


def mask_secrets(text: str) -> str:
    """``...?secret=abc`` as ``...?secret=***``: hook URLs must never reach a log whole."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class OriginHooks:
    def __init__(
        self, services: Services, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """``monotonic``: the clock the refusal log's intervals are measured on."""
        self._services = services
        self._run = services.db.run
        self._networks = _networks(services.settings.hook_networks)
        self._allowed_hosts: dict[str, bool] = {}
        self._refusals = _RefusalLog(monotonic=monotonic)

    async def callback(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An nginx-rtmp ``on_*`` callback, ``POST /hooks/{origins|edges}/{name}/{event}``:
        2xx lets the publish or play go on. Plain ASGI, as the HLS check is: an origin restart
        sends every encoder's and player's callback at once."""
        role, name, event = _route(scope["path"])
        if scope["method"] != "POST":
            await refuse_method(scope, send, takes="POST", allow=b"POST")
            return
        status, body = 200, _ADMITTED
        try:
            client = scope.get("client")
            origin = await self._origin(client[0] if client else "", name, _secret(scope), role)
            raw = await read_body(receive, _MAX_CALLBACK_BODY, _callback_too_large)
            form = read_urlencoded_form(raw)
            callback = self._services.adapters[origin.kind].parse_callback(event, form)
            if callback.action is Action.PLAY and callback.edge is not None:
                await self._edge_fetch(origin, *callback.edge)
            elif callback.action is Action.PLAY:
                await self._services.viewers.play_started(origin, callback)
            elif callback.action is Action.PUBLISH and origin.is_edge:
                raise PermissionDenied(f"{origin.name} is an edge: encoders publish to origins")
            elif callback.action is Action.PUBLISH:
                stream = await self._services.streams.publish_started(origin, callback)
                log.info(
                    "stream %d live: %s/%s/%s on %s",
                    stream.id,
                    callback.app,
                    callback.inst,
                    callback.name,
                    origin.name,
                )
            else:
                await self._run(lambda: self._record(origin, callback))
        except ClientGone:
            return  # nginx gave up on the callback: nobody to answer
        except CdnpanelError as error:
            log.info("refused %s callback: %s", event[:20], error.message)
            status, body = _refusal_status(error), _body(error)
        except Exception as error:  # refuse, never a traceback to nginx
            log.exception("%s callback failed", event[:20])
            status, body = 503, _body(error)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, origin: Origin, event: CallbackEvent) -> None:
        streams, viewers = self._services.streams, self._services.viewers
        if event.action is Action.PUBLISH_DONE:
            streams.publish_ended(origin, event)
        elif event.action is Action.PLAY_DONE:
            viewers.play_ended(origin, event)

    async def hls(self, scope: Scope, send: Send) -> None:
        """nginx ``auth_request`` for a playlist or segment: 204 serves it, 403 refuses it.

        Plain ASGI, without Starlette's request and response objects: it runs on every
        playlist and segment request of every viewer.
        """
        status, body, reason = 204, b"", ""
        try:
            headers = _wanted_headers(scope["headers"])
            client = scope.get("client")
            host = client[0] if client else ""
            role, name, _ = _route(scope["path"])
            origin = await self._origin(host, name, headers.get(b"x-cdnpanel-secret"), role)
            fetching_edge = headers.get(b"x-cdnpanel-edge")
            if fetching_edge is not None:  # an edge filling its cache: it checks its viewers
                edge_name, _, edge_secret = fetching_edge.partition(" ")
                await self._edge_fetch(origin, edge_name, edge_secret)
                await _answer(send, 204, b"", "")
                return
            uri = headers.get(b"x-original-uri", "")
            address = headers.get(b"x-real-ip") or host
            user_agent = headers.get(b"user-agent", "")
            decision = await self._services.viewers.check_hls(
                origin, uri=uri, address=address, user_agent=user_agent
            )
            if not decision.allowed:
                reason = decision.reason
                status, body = 403, _body(PermissionDenied(reason))
                self._refusals.note(name, address, uri, reason)
        except CdnpanelError as error:
            status, body, reason = _refusal_status(error), _body(error), error.message
        except Exception as error:  # refuse, never a traceback to nginx (it would answer 500)
            log.exception("HLS check failed")
            status, body = 503, _body(error)
        await _answer(send, status, body, reason)

    async def _origin(self, host: str, name: str, secret: str | None, role: str) -> Origin:
        if not self._from_allowed_network(host):
            raise PermissionDenied(f"hooks are not open to {host}: see CDNPANEL_HOOK_NETWORKS")
        origins = self._services.origins
        origin: Origin = await self._run(lambda: origins.authenticate_hook(name, secret, role))
        return origin

    async def _edge_fetch(self, origin: Origin, name: str, secret: str) -> None:
        """Let an edge fetch from ``origin`` (PermissionDenied unless it is one of the edge's
        origins and the secret is the edge's)."""
        origins = self._services.origins
        edge: Origin = await self._run(lambda: origins.authenticate_hook(name, secret, EDGE))
        if origin.is_edge or origin.id not in edge.upstreams:
            raise PermissionDenied(f"edge {name!r} does not pull from {origin.name}")

    def _from_allowed_network(self, host: str) -> bool:
        allowed = self._allowed_hosts.get(host)
        if allowed is None:
            allowed = _in_networks(host, self._networks)
            if len(self._allowed_hosts) > 10_000:
                self._allowed_hosts.clear()
            self._allowed_hosts[host] = allowed
        return allowed


async def _answer(send: Send, status: int, body: bytes, reason: str) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if reason:
        headers.append((b"x-cdnpanel-reason", _header_value(reason)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route(path: str) -> tuple[str, str, str]:
    """``/hooks/{origins|edges}/{name}/{rest}`` as (role, name, rest); the role "" when the
    path names neither (refused: no server has that role)."""
    kind, _, rest = path[len(HOOKS) :].partition("/")
    name, _, event = rest.partition("/")
    return _ROLES.get(kind, ""), name, event


def _in_networks(
    host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


_WANTED = frozenset(
    {b"x-cdnpanel-secret", b"x-original-uri", b"x-real-ip", b"user-agent", b"x-cdnpanel-edge"}
)


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    return {name: value.decode("latin-1") for name, value in raw if name in _WANTED}


class _RefusalLog:
    """Logs a refused HLS request once per origin, viewer address, path and reason every
    ``every`` seconds: a refused player retries its playlist many times a second. The path is
    logged without its query, which carries the ticket's password."""

    def __init__(
        self,
        every: float = REFUSAL_LOG_SECONDS,
        *,
        limit: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every = every
        self._monotonic = monotonic
        self._limit = limit
        self._next: dict[tuple[str, str, str, str], float] = {}

    def note(self, origin: str, address: str, uri: str, reason: str) -> None:
        path = uri.split("?", 1)[0][:200]
        key = (origin, address, path, reason)
        now = self._monotonic()
        if self._next.get(key, 0.0) > now:
            return
        if len(self._next) >= self._limit:  # bounded: forget what may be logged again anyway
            self._next = {k: t for k, t in self._next.items() if t > now}
            if len(self._next) >= self._limit:
                self._next.clear()
        self._next[key] = now + self._every
        log.info("HLS refused on %s for %s at %s: %s", origin, address, path, reason)


def _header_value(reason: str) -> bytes:
    """A header-safe copy of the reason: printable ASCII, at most 200 characters."""
    return "".join(c if " " <= c <= "~" else "?" for c in reason[:200]).encode("ascii")


def _body(error: BaseException) -> bytes:
    """The API's failure envelope (code and message) for the media server's error log."""
    return orjson.dumps(envelope.failure_members(error)[1])


def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in spec.split(",") if n)
    except ValueError as exc:
        raise ValueError(f"CDNPANEL_HOOK_NETWORKS: {exc}") from None


def _secret(scope: Scope) -> str | None:
    """``?secret=`` of a callback URL (nginx-rtmp cannot send headers)."""
    query: bytes = scope.get("query_string", b"")
    if query.startswith(b"secret=") and b"&" not in query and b"%" not in query:
        return query[7:].decode("latin-1")  # what the generated config sends: hex, alone
    pairs = parse_qsl(query.decode("latin-1"), max_num_fields=20)
    return next((v for k, v in pairs if k == "secret"), None)


def _callback_too_large() -> CdnpanelError:
    return MalformedRequest("callback body too large")


def _refusal_status(error: CdnpanelError) -> int:
    # Media servers read any non-2xx as "refuse"; auth_request passes only 401 and 403 on.
    return 400 if isinstance(error, MalformedRequest) else 403


_ADMITTED = orjson.dumps({"status": "success"})
