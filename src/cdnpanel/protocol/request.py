"""Parse a request's JSON text into its envelope (who, when, which command) and parameters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from cdnpanel.errors import (
    InvalidParameter,
    MalformedRequest,
    MissingFields,
    TimestampOutOfRange,
)
from cdnpanel.protocol.signing import SIGNATURE_MEMBER, decode_signature, signed_text_candidates

__all__ = ["ENVELOPE_FIELDS", "NONCE_MEMBER", "SignedRequest", "check_timestamp", "parse_request"]

NONCE_MEMBER = "nonce"
"""Optional, cdnpanel's own: any short string, signed with the rest, read by no command. It
makes two otherwise identical requests of the same second distinct, so that the second is not
refused as a replay of the first (the SDK sends one with every request)."""
# Members that belong to the envelope, not to the command's parameters.
ENVELOPE_FIELDS = frozenset(
    {"command", "api_key", "cdn", "cdn_id", "timestamp", NONCE_MEMBER, SIGNATURE_MEMBER}
)
_MAX_NONCE = 64
_REQUIRED = ("command", "cdn", "api_key", "timestamp", SIGNATURE_MEMBER)
_REQUIRED_AS_SENT = frozenset(_REQUIRED)  # the common case: 'cdn' itself, not 'cdn_id'
_QUOTED_ENVELOPE_NAMES = tuple(f'"{name}"' for name in ENVELOPE_FIELDS)
_MAX_NAME = 128
_MAX_INT = 2**31 - 1


class SignedRequest(NamedTuple):
    """A parsed request whose signature has not been checked yet.

    A NamedTuple, not a frozen dataclass, as are the other records made for every request
    (``Caller``, ``Verified``, ``CommandContext``, ``Answer``): a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, and making this one cost 3 µs.
    """

    text: str
    members: dict[str, Any]
    command: str
    cdn: int
    api_key: str
    timestamp: int
    signature: bytes

    def __repr__(self) -> str:  # the members and the signature stay out of logs
        return (
            f"SignedRequest(command={self.command!r}, cdn={self.cdn!r}, "
            f"api_key={self.api_key!r}, timestamp={self.timestamp!r})"
        )

    @property
    def params(self) -> dict[str, Any]:
        members = self.members
        if members.keys() <= ENVELOPE_FIELDS:  # a call without parameters (video.getapps)
            return {}
        return {k: v for k, v in members.items() if k not in ENVELOPE_FIELDS}

    def signed_text_candidates(self) -> Iterator[str]:
        return signed_text_candidates(self.text, self.members)


def parse_request(text: str) -> SignedRequest:
    """Read the envelope out of the JSON text; raise what a client must fix, naming it."""
    members = _load_object(text)
    if not members.keys() >= _REQUIRED_AS_SENT:
        present = members.keys() | ({"cdn"} if "cdn_id" in members else set())
        missing = [name for name in _REQUIRED if name not in present]
        if missing:
            raise MissingFields(missing)
    if NONCE_MEMBER in members:
        _check_nonce(members[NONCE_MEMBER])
    return SignedRequest(
        text,
        members,
        _short_string(members, "command"),
        _cdn(members),
        _short_string(members, "api_key"),
        _timestamp(members["timestamp"]),
        decode_signature(members[SIGNATURE_MEMBER]),
    )


def check_timestamp(timestamp: int, *, now: float, window: int) -> None:
    """Refuse a timestamp further than ``window`` seconds from ``now`` (both UTC seconds)."""
    server_time = int(now)
    skew = timestamp - server_time
    if abs(skew) <= window:
        return
    if timestamp > 10**11:
        hint = "it looks like milliseconds: send whole seconds"
    elif skew > 0:
        hint = f"it is {skew} s in the future"
    else:
        hint = f"it is {-skew} s old"
    raise TimestampOutOfRange(
        "Timestamp outside valid range. Make sure your timestamp is in UTC not local time: "
        f"{hint}; it must be within {window} s of the server time {server_time}",
        timestamp=timestamp,
        server_time=server_time,
        window=window,
    )


def _load_object(text: str) -> dict[str, Any]:
    try:
        members = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"The request is not valid JSON: {exc}") from None
    if not isinstance(members, dict):
        raise MalformedRequest(f"The request JSON must be an object, not {type(members).__name__}")
    for name in _QUOTED_ENVELOPE_NAMES:
        if text.count(name) > 1:
            _refuse_duplicate_envelope_members(text)
            break
    return members


def _refuse_duplicate_envelope_members(text: str) -> None:
    # Slow path, taken only when an envelope name appears twice somewhere in the text.
    def check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen and name in ENVELOPE_FIELDS:
                raise MalformedRequest(f"The request JSON has the member '{name}' twice")
            seen.add(name)
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=check)
    except RecursionError:  # orjson reads 1,024 levels; the standard json fewer
        raise MalformedRequest("The request JSON is nested too deeply") from None


def _check_nonce(value: object) -> None:
    if value is None or (type(value) is str and 0 < len(value) <= _MAX_NONCE):
        return
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise InvalidParameter(NONCE_MEMBER, "must be a short string (any unique text)")
    if len(str(value)) > _MAX_NONCE:
        raise InvalidParameter(NONCE_MEMBER, f"is longer than {_MAX_NONCE} characters")


def _short_string(members: dict[str, Any], name: str) -> str:
    value = members[name]
    if not isinstance(value, str) or not value:
        raise InvalidParameter(name, "must be a non-empty string")
    if len(value) > _MAX_NAME:
        raise InvalidParameter(name, f"is {len(value)} characters long; at most {_MAX_NAME}")
    return value


# ASCII digits, one optional minus: "²" and "٣" are digits to str.isdigit, not to int().
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _whole_number(value: object, name: str) -> int:
    """An int, or a string of digits (Perl, Ruby and WordPress clients send those)."""
    if isinstance(value, bool):
        raise InvalidParameter(name, "must be a whole number, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, float):
        raise InvalidParameter(name, f"must be a whole number of at most 19 digits, not {value!r}")
    if isinstance(value, str):
        raise InvalidParameter(name, f"must be a whole number (digits 0-9), not {value[:20]!r}")
    raise InvalidParameter(name, f"must be a whole number, got {type(value).__name__}")


def _cdn(members: dict[str, Any]) -> int:
    cdn = members.get("cdn")
    if type(cdn) is int and 0 < cdn <= _MAX_INT and "cdn_id" not in members:
        return cdn  # what nearly every client sends
    values = {_whole_number(members[n], n) for n in ("cdn", "cdn_id") if n in members}
    if len(values) > 1:
        raise InvalidParameter("cdn", "'cdn' and 'cdn_id' name different accounts")
    cdn = values.pop()
    if not 0 < cdn <= _MAX_INT:
        raise InvalidParameter("cdn", f"must be a positive CDN id, got {cdn}")
    return cdn


def _timestamp(value: object) -> int:
    timestamp = _whole_number(value, "timestamp")
    if timestamp <= 0:
        raise InvalidParameter("timestamp", "must be the Unix time in seconds (UTC)")
    return timestamp
