"""The cdnpanel Python SDK: signed commands over HTTP, sync or async.

from cdnpanel.client import Client
with Client("http://127.0.0.1:8080/stable/", 158, api_key, secret) as client:
    apps = client.video.getapps()["data"]
"""

from __future__ import annotations

from cdnpanel.client._client import AsyncClient, Client
from cdnpanel.client._errors import (
    AccessDeniedError,
    APIError,
    AuthenticationError,
    ClientError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    OriginError,
    ReplayError,
    ServerError,
    TimestampError,
    TransportError,
    UnknownCommandError,
)

__all__ = [
    "APIError",
    "AccessDeniedError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
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
]
