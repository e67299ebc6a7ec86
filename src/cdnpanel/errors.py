"""Errors raised by cdnpanel's protocol, services and store.

Services raise these; they never build responses. ``protocol.errors.code_for`` is the one table
that turns them into wire codes. The tree follows what a caller can do about each:

    CdnpanelError
    ├── RequestRejected            the request never reached a command: fix the request
    │   ├── MalformedRequest         body, form or JSON unreadable
    │   │   └── NoApiHere              no API at this path (HTTP 404)
    │   ├── BodyTooLarge
    │   ├── MethodNotAllowed
    │   ├── TimestampOutOfRange      the client's clock or timestamp unit is wrong
    │   ├── MalformedSignature       the signature is not a base64 HMAC-SHA256
    │   ├── AuthenticationFailed     unknown or revoked key, wrong account, wrong signature
    │   ├── ReplayedRequest          this exact signed request was already accepted
    │   └── UnknownCommand
    ├── MissingFields              required fields absent (envelope or command parameters)
    ├── InvalidParameter           a parameter has the wrong type or value
    ├── NotFound                   no such object in the caller's account
    ├── Conflict                   the change collides with existing data
    ├── PermissionDenied
    ├── StoreUnavailable           the store is locked or unreachable: retry later
    └── OriginUnavailable          a media server did not answer or refused: retry later
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationFailed",
    "BodyTooLarge",
    "CdnpanelError",
    "Conflict",
    "InvalidParameter",
    "MalformedRequest",
    "MalformedSignature",
    "MethodNotAllowed",
    "MissingFields",
    "NoApiHere",
    "NotFound",
    "OriginUnavailable",
    "PermissionDenied",
    "ReplayedRequest",
    "RequestRejected",
    "StoreUnavailable",
    "TimestampOutOfRange",
    "UnknownCommand",
]


class CdnpanelError(Exception):
    """Base of every error cdnpanel raises on purpose; ``message`` is meant for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class RequestRejected(CdnpanelError):
    """The request was refused before any command ran."""


class MalformedRequest(RequestRejected):
    """The body, its form encoding or its JSON cannot be read."""


class NoApiHere(MalformedRequest):
    """The path names no API (the command API is at ``/stable/``)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No API at {path[:60]}: post commands to /stable/, /dev/ or a version prefix"
        )


class BodyTooLarge(RequestRejected):
    """The body is over the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body too large: the limit is {limit} bytes")
        self.limit = limit


class MethodNotAllowed(RequestRejected):
    """Only POST reaches the command endpoint (``takes``: what another path takes)."""

    def __init__(self, method: str, *, path: str | None = None, takes: str = "POST") -> None:
        if path is None:
            message = (
                f"The API takes POST requests only (got {method[:20]}): send the request as a "
                "form field named 'json', or as an application/json body"
            )
        else:
            message = f"{path[:60]} takes {takes} only (got {method[:20]})"
        super().__init__(message)
        self.method = method
        self.takes = takes


class TimestampOutOfRange(RequestRejected):
    """``timestamp`` is further from the server clock than the window allows."""

    def __init__(self, message: str, *, timestamp: int, server_time: int, window: int) -> None:
        super().__init__(message)
        self.timestamp = timestamp
        self.server_time = server_time
        self.window = window


class MalformedSignature(RequestRejected):
    """``signature`` is not a base64-encoded 32-byte HMAC-SHA256."""


class AuthenticationFailed(RequestRejected):
    """No active key of the named account signed this request.

    Unknown keys, revoked keys, keys of another account and wrong signatures all raise this
    one error with one message, so a caller cannot tell which keys exist.
    """

    def __init__(self) -> None:
        super().__init__(
            "CDN Authorization failed. Invalid API key, CDN id or signature: check the cdn, "
            "the api_key and the private key you sign with."
        )


class ReplayedRequest(RequestRejected):
    """The same key and signature were already accepted inside the timestamp window, and this
    copy cannot be given the first one's answer (strict replays, or that answer is unknown)."""

    STRICT = (
        "Request already processed: a signed request is accepted once. Sign a new "
        "request (a fresh timestamp gives a fresh signature)."
    )
    PENDING = (
        "An identical request (same key and signature) is still being carried out: ask "
        "again in a moment for its answer, or sign a new request."
    )
    FAILED = (
        "An identical request (same key and signature) failed in the server and changed "
        "nothing: send it again to carry it out."
    )
    UNREADABLE = (
        "An identical request (same key and signature) was carried out, but its answer "
        "cannot be read back for this copy (its text differs). Sign a new request."
    )

    def __init__(self, message: str = STRICT) -> None:
        super().__init__(message)


class UnknownCommand(RequestRejected):
    """``command`` names no registered command."""

    def __init__(self, command: str, known: Sequence[str]) -> None:
        shown = command if len(command) <= 64 else command[:61] + "..."
        super().__init__(
            f"Unrecognized API Command {shown!r}. Known commands: {', '.join(sorted(known))}"
        )
        self.command = command


class MissingFields(CdnpanelError):
    """Required fields are absent; ``fields`` names them."""

    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__(f"One or more required fields are missing: {', '.join(fields)}")
        self.fields = tuple(fields)


class InvalidParameter(CdnpanelError):
    """A parameter has the wrong type or value; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"Invalid parameter '{param}': {message}")
        self.param = param


class NotFound(CdnpanelError):
    """The named object does not exist in the caller's account."""

    def __init__(self, kind: str, ref: object, *, scope: str = "in this account") -> None:
        super().__init__(f"{kind} {ref!r} not found" + (f" {scope}" if scope else ""))
        self.kind = kind
        self.ref = ref


class Conflict(CdnpanelError):
    """The change collides with existing data (a taken name, for instance)."""


class PermissionDenied(CdnpanelError):
    """The caller may not do this."""


class StoreUnavailable(CdnpanelError):
    """The store is locked or unreachable; nothing was changed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "The store is busy or unreachable; nothing was changed. Retry in a moment."
            + (f" ({detail})" if detail else "")
        )


class OriginUnavailable(CdnpanelError):
    """A media server (origin) did not answer in time, or answered something unreadable."""

    def __init__(self, origin: str, detail: str) -> None:
        super().__init__(
            f"The origin {origin!r} did not answer as expected ({detail}); nothing was changed "
            "on it. Check that it is running and that its control URL is right, then retry."
        )
        self.origin = origin
