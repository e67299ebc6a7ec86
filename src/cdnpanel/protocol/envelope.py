"""The response envelope: ``status``, ``message``, ``handle_time`` and, on failure, ``code``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cdnpanel.errors import CdnpanelError, TimestampOutOfRange
from cdnpanel.protocol.codes import Code
from cdnpanel.protocol.errors import code_for, http_status_for

__all__ = [
    "encode_body",
    "encode_failure",
    "encode_success",
    "failure_members",
    "format_handle_time",
    "success_body",
]


def format_handle_time(seconds: float) -> str:
    """``"0.0004 seconds"``, the form the seed pages show."""
    return f"{seconds:.4f} seconds"


def success_body(message: str, members: Mapping[str, Any]) -> dict[str, Any]:
    """A success's members, all but ``handle_time`` (``encode_body`` adds it)."""
    body: dict[str, Any] = dict(members)
    body["message"] = message
    body["status"] = "success"
    return body


def encode_body(body: dict[str, Any], *, elapsed: float) -> bytes:
    """An answer's bytes: its members, then ``handle_time`` (added to ``body``)."""
    body["handle_time"] = format_handle_time(elapsed)
    return orjson.dumps(body)


def encode_success(message: str, members: Mapping[str, Any], *, elapsed: float) -> bytes:
    return encode_body(success_body(message, members), elapsed=elapsed)


MAX_MESSAGE = 1000
"""Characters of a failure's message, at most: messages quote the input they refuse."""
MAX_PARAM = 100


def failure_members(error: BaseException) -> tuple[Code, dict[str, Any]]:
    """The code and body members for an error; unexpected errors reveal nothing inside."""
    code = code_for(error)
    if isinstance(error, CdnpanelError):
        message = error.message
    else:
        message = f"{code.title}; the server log has the details"
    if len(message) > MAX_MESSAGE:  # a message quotes what it was sent; never all of it
        message = message[: MAX_MESSAGE - 1] + "…"
    members: dict[str, Any] = {"status": "failure", "code": code.code, "message": message}
    param = getattr(error, "param", None)
    if param is not None:
        members["param"] = param[:MAX_PARAM]
    fields = getattr(error, "fields", None)
    if fields is not None:
        members["fields"] = list(fields)
    if isinstance(error, TimestampOutOfRange):
        members["server_time"] = error.server_time
    return code, members


def failure(error: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP status and body members for an error."""
    code, members = failure_members(error)
    return http_status_for(error, code), members


def encode_failure(error: BaseException, *, elapsed: float) -> tuple[int, bytes]:
    """HTTP status and body for an error."""
    status, members = failure(error)
    return status, encode_body(members, elapsed=elapsed)
