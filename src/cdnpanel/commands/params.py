"""Parameter shapes shared by several commands."""

from __future__ import annotations

import calendar
import time
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr

from cdnpanel.errors import InvalidParameter
from cdnpanel.services.usage import day_of, parse_day

__all__ = [
    "MAX_ID",
    "AppRef",
    "AppRefs",
    "Flag",
    "Instance",
    "Name",
    "StartTime",
    "WholeNumber",
    "printable",
    "unix_time",
]


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _numeric_string(value: Any) -> Any:
    """Perl, Ruby and WordPress clients send numbers as strings of digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value


def printable(value: str) -> str:
    """An ``AfterValidator``: text without control characters."""
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


def _instance(value: str) -> str:
    if "/" in value or not value.isprintable():
        raise ValueError("an application instance is a name without '/' (e.g. live)")
    return value


# Each shape's description says what a client may send: a failure names it (registry.py).

MAX_ID = 2**31 - 1
"""The largest id an application, stream or ticket can have (the store's integer keys)."""

AppRef = Annotated[
    Annotated[StrictInt, Field(gt=0, le=MAX_ID)]
    | Annotated[StrictStr, Field(min_length=1, max_length=100)],
    Field(description="one application: its id (a whole number) or its name"),
]
"""``app`` as an application id or name."""

AppRefs = Annotated[
    list[AppRef],
    BeforeValidator(_as_list),
    Field(
        min_length=1,
        max_length=500,
        description="an application id or name, or a list of 1 to 500 of them",
    ),
]
"""``app`` as an id, a list of ids, a name or a list of names (seed 000)."""

WholeNumber = Annotated[
    StrictInt,
    BeforeValidator(_numeric_string),
    Field(ge=0, le=2**53, description="a whole number from 0 to 2^53 (or its digits as text)"),
]
"""A non-negative integer, also as a string of digits."""

Name = Annotated[
    StrictStr,
    Field(
        min_length=1, max_length=512, description="a name: printable text of 1 to 512 characters"
    ),
    AfterValidator(printable),
]
"""A stream name, instance or path: printable text."""

Instance = Annotated[
    StrictStr,
    Field(min_length=1, max_length=100, description="an application instance such as live"),
    AfterValidator(_instance),
]
"""An application instance (ScaleEngine's ``inst``), e.g. ``live``."""

StartTime = Annotated[
    WholeNumber | Annotated[StrictStr, Field(min_length=1, max_length=40)],
    Field(description="a Unix time or a date such as 2026-11-01"),
]
"""``starttime`` as a Unix time (also a string of digits) or a date string (``2025-01-01``)."""


def unix_time(value: int | str, param: str) -> int:
    """A ``StartTime``-shaped moment as a Unix time: a Unix time, a day (``YYYY-MM-DD``, from
    its midnight UTC) or a moment in the ticket dates' own form (``YYYY-MM-DD HH:MM:SS``,
    UTC)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if len(text) == 19 and text[10] == " ":
        try:
            moment = time.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise InvalidParameter(
                param, f"{text!r} is not a date and time (YYYY-MM-DD HH:MM:SS, UTC)"
            ) from None
        return calendar.timegm(moment)
    return day_of(parse_day(text, param)) * 86400


def _flag(value: Any) -> Any:
    """1/0, "1"/"0" or true/false, as PHP, Perl and JSON clients send a switch."""
    if isinstance(value, str) and value in ("0", "1"):
        return int(value)
    if isinstance(value, bool):
        return int(value)
    return value


Flag = Annotated[
    StrictInt, BeforeValidator(_flag), Field(ge=0, le=1, description="0 or 1 (or true, false)")
]
"""A switch: 0 or 1, also as "0"/"1" or false/true."""
