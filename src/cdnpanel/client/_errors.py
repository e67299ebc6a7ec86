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
    "0000": UnknownCommandError,
    "0001": AuthenticationError,
    "0002": TimestampError,
    "0003": AuthenticationError,
    "0004": ServerError,
    "0005": AccessDeniedError,
    "0006": InvalidRequestError,
    "0007": InvalidRequestError,
    "0008": InvalidRequestError,
    "0009": ReplayError,
    "0010": NotFoundError,
    "0011": InvalidRequestError,
    "0012": InvalidRequestError,
    "0013": ServerError,
    "0014": ConflictError,
    "0015": OriginError,
}


def api_error(response: dict[str, Any]) -> APIError:
    """The typed error for a failure envelope."""
    code = str(response.get("code", ""))
    message = str(response.get("message", "no message"))
    return _ERROR_FOR_CODE.get(code, APIError)(code, message, response)
