"""Errors the SDK raises, shaped by what the caller can do:

ClientError
├── TransportError            the server was not reached, or did not answer JSON: retry later
└── APIError                  the server answered ``status: failure``; ``code``, ``message``
    ├── AuthenticationError     0001, 0003: wrong cdn, api_key or secret
    ├── TimestampError          0002: the local clock is off
    ├── ReplayError             0009: a copy of a signed request that cannot be answered as one
    ├── UnknownCommandError     0000
    ├── InvalidRequestError     0006, 0007, 0008, 0011, 0012; ``param`` when one is named
    ├── NotFoundError           0010
    ├── ConflictError           0014
    ├── AccessDeniedError       0005
    ├── ServerError             0004, 0013: the server failed or is busy: retry later
    └── OriginError             0015: the media server did not answer: retry later
"""

from __future__ import annotations

from typing import Any

from cdnpanel.protocol import codes

__all__ = [
    "APIError",
    "AccessDeniedError",
    "AuthenticationError",
    "ClientError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "OriginError",
    "ReplayError",
    "ServerError",
    "TimestampError",
    "TransportError",
    "UnknownCommandError",
    "api_error",
]


class ClientError(Exception):
    """Base of every SDK error."""


class TransportError(ClientError):
    """The request did not get a readable answer (network, timeout, not JSON)."""


class APIError(ClientError):
    """The server answered ``status: failure``."""

    def __init__(self, code: str, message: str, response: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.param: str | None = response.get("param")
        self.response = response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class AuthenticationError(APIError):
    """Wrong cdn, api_key or secret, or a revoked key."""


class TimestampError(APIError):
    """The request's timestamp is outside the server's window; check the clock."""


class ReplayError(APIError):
    """A copy of a signed request the server cannot answer as a copy: the first is still
    being carried out, or failed in the server (``message`` says; send it again), or the server
    refuses every repeat (``CDNPANEL_REPLAYS=strict``)."""


class UnknownCommandError(APIError):
    """The server has no such command."""


class InvalidRequestError(APIError):
    """A parameter is missing or wrong; ``param`` names it when the server did."""


class NotFoundError(APIError):
    """No such object in this account."""


class ConflictError(APIError):
    """The change collides with existing data."""


class AccessDeniedError(APIError):
    """The account may not do this."""


class ServerError(APIError):
    """The server failed or its store was busy; nothing was changed."""


class OriginError(APIError):
    """The origin (media server) did not answer; nothing was changed on it."""


_ERROR_FOR_CODE: dict[str, type[APIError]] = {
    code.code: error
    for code, error in (
        (codes.UNRECOGNIZED_COMMAND, UnknownCommandError),
        (codes.AUTHORIZATION_FAILED, AuthenticationError),
        (codes.TIMESTAMP_OUT_OF_RANGE, TimestampError),
        (codes.MALFORMED_SIGNATURE, AuthenticationError),
        (codes.UNEXPECTED_ERROR, ServerError),
        (codes.UNAUTHORIZED_ACCESS, AccessDeniedError),
        (codes.REQUIRED_FIELDS_MISSING, InvalidRequestError),
        (codes.MALFORMED_REQUEST, InvalidRequestError),
        (codes.INVALID_PARAMETER, InvalidRequestError),
        (codes.REPLAYED_REQUEST, ReplayError),
        (codes.NOT_FOUND, NotFoundError),
        (codes.METHOD_NOT_ALLOWED, InvalidRequestError),
        (codes.BODY_TOO_LARGE, InvalidRequestError),
        (codes.SERVICE_UNAVAILABLE, ServerError),
        (codes.CONFLICT, ConflictError),
        (codes.ORIGIN_UNAVAILABLE, OriginError),
    )
}
"""Every failure code of ``protocol.codes`` (tests/client/test_client.py checks them all); the
SEVU counts (2050, 2051) are codes of successful answers."""


def api_error(response: dict[str, Any]) -> APIError:
    """The typed error for a failure envelope."""
    code = str(response.get("code", ""))
    message = str(response.get("message", "no message"))
    return _ERROR_FOR_CODE.get(code, APIError)(code, message, response)
