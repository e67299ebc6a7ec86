"""Hostile signed requests, and the judge of their answers: shared by the suite
(tests/web/test_hostile.py) and the long run (bench/hostile.py).

The values are the classes an adversary tried (spec/research/perf-reliability-anchors.md):
integers past 64 bits, digits that are not ASCII ("²", "٣"), signs twice ("--5"), thousands
of digits, dates at the ends of the calendar, patterns that make regexes backtrack, control
characters, deep nesting, wrong types. Requests are signed with a valid key, so they reach
the commands; the envelope is made hostile too, now and then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from hypothesis import strategies as st

from cdnpanel.protocol.signing import attach_signature, sign
from tests.client_styles import multipart, urlencoded

__all__ = ["ENVELOPE_NAMES", "MAX_ANSWER", "Outcome", "hostile_request", "judge"]

ENVELOPE_NAMES = ("command", "cdn", "cdn_id", "api_key", "timestamp", "nonce", "signature")
MAX_ANSWER = 8192  # bytes: a failure never echoes what it was sent

_AWKWARD_TEXT = [
    "²", "٣", "--5", "-0", "+5", " 12 ", "1e5", "0x10", "9" * 25, "9" * 5000, "",
    "9999-12-31", "0001-01-01", "9999-12", "2026-02-30", "9999-12-31 23:59:59",
    "+999999 years", "+1 second", "-1 day", "now", "\x00", "a\nb", "*a*a*a*a*a*a*a*a*a*b",
    "*" * 999, "a|" * 400, "auto/99", "0.0.0.0/0", "::/0", "_root_", "../../etc/passwd",
    "é" * 300, "x" * 20_000,
]  # fmt: skip
_AWKWARD_INTS = [
    0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**25, 253402300799,
    253402300800, 10**11, 10**13,
]  # fmt: skip

_SCALARS = st.one_of(
    st.sampled_from(_AWKWARD_TEXT),
    st.sampled_from(_AWKWARD_INTS),
    st.integers(),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


_PLAUSIBLE: dict[str, Any] = {
    "app": "demo-origin", "url": "cam1", "video": "cam1", "pass": "s3cret-1234", "inst": "live",
    "stream": "cam1", "key": "cam1.5f0c0ffee.1", "starttime": "2026-11-01", "ip": "auto/24",
    "uses": 1, "expire": "+2 hours", "success": 0, "limit": 10, "seek": 0, "stream_id": 1,
}  # fmt: skip


class Outcome(NamedTuple):
    ok: bool
    kind: str  # "success", a code, or what went wrong
    problem: str = ""


@st.composite
def hostile_request(
    draw: st.DrawFn,
    command: str,
    parameter_names: Sequence[str],
    *,
    api_key: str,
    secret: str,
    cdn: int,
    now: int,
) -> tuple[str, bytes]:
    """(content type, body) of one signed request to ``command`` with hostile parameters."""
    # Plausible values for every parameter, then a few made hostile: a hostile value must get
    # past the others to reach the code that reads it.
    params: dict[str, Any] = {
        name: _PLAUSIBLE.get(name, "x") for name in parameter_names if draw(st.integers(0, 3))
    }
    names = [*parameter_names, "unknown_param"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        params[name] = draw(_VALUES)
    members: dict[str, Any] = {
        "command": command,
        "api_key": api_key,
        "timestamp": now,
        "cdn": cdn,
        "nonce": draw(st.text(alphabet="abcdef0123456789", min_size=8, max_size=16)),
        **params,
    }
    if draw(st.integers(0, 9)) == 0:  # now and then the envelope itself
        field = draw(st.sampled_from(["timestamp", "cdn", "cdn_id", "nonce", "command"]))
        members[field] = draw(_SCALARS)
    text = json.dumps(members, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
    depth = draw(st.sampled_from([0, 0, 0, 50, 990, 1023, 1030]))
    if depth:  # nesting deeper than the standard json reads (orjson takes 1,024 levels)
        text = text[:-1] + ',"deep":' + "[" * depth + "]" * depth + "}"
    wire = attach_signature(text, sign(text, secret))
    encoding = draw(st.sampled_from(["urlencoded", "multipart", "json"]))
    if encoding == "json":
        return "application/json", wire.encode()
    return urlencoded(wire) if encoding == "urlencoded" else multipart(wire)


_PARAM = re.compile(r"([a-z_]+)(\[\d+\])*")


def judge(status: int, body: bytes, parameter_names: Sequence[str]) -> Outcome:
    """Whether an answer is what a hostile request may get: never a 5xx, always the JSON
    envelope, ``param`` in the client's names, small."""
    if status >= 500:
        return Outcome(False, f"HTTP {status}", f"HTTP {status}: {body[:300]!r}")
    if len(body) > MAX_ANSWER:
        return Outcome(False, "too large", f"a {len(body)}-byte answer: {body[:200]!r}")
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Outcome(False, "not JSON", f"not JSON: {body[:300]!r}")
    if not isinstance(answer, dict) or answer.get("status") not in ("success", "failure"):
        return Outcome(False, "no envelope", f"no envelope: {body[:300]!r}")
    if answer["status"] == "success":
        return Outcome(True, "success")
    code = answer.get("code")
    if not (isinstance(code, str) and re.fullmatch(r"\d{4}", code)):
        return Outcome(False, "bad code", f"code {code!r}")
    param = answer.get("param")
    if param is not None:
        match = _PARAM.fullmatch(param) if isinstance(param, str) else None
        known = {*parameter_names, *ENVELOPE_NAMES, "unknown_param", "deep"}
        if match is None or match.group(1) not in known:
            return Outcome(False, "bad param", f"param {param!r}: {answer.get('message')!r}")
    return Outcome(True, code)
