"""The failure envelope is a contract with every client: pin its shape and the codes table."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from cdnpanel import errors
from cdnpanel.protocol import codes
from cdnpanel.protocol.envelope import encode_failure, encode_success
from cdnpanel.protocol.errors import code_for

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_success_envelope_shape() -> None:
    body = orjson.loads(encode_success("Found Applications", {"data": []}, elapsed=0.00041))
    assert body == {
        "data": [],
        "message": "Found Applications",
        "status": "success",
        "handle_time": "0.0004 seconds",
    }


def test_failure_envelope_shape() -> None:
    status, raw = encode_failure(errors.InvalidParameter("app", "must be a name"), elapsed=0.0)
    assert status == 200
    assert orjson.loads(raw) == {
        "status": "failure",
        "code": "0008",
        "message": "Invalid parameter 'app': must be a name",
        "param": "app",
        "handle_time": "0.0000 seconds",
    }


def test_unexpected_errors_reveal_nothing_inside() -> None:
    status, raw = encode_failure(RuntimeError("secret=abc in a traceback"), elapsed=0.0)
    body = orjson.loads(raw)
    assert status == 500
    assert body["code"] == "0004"
    assert "abc" not in body["message"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UnknownCommand("x", []), "0000"),
        (errors.AuthenticationFailed(), "0001"),
        (errors.TimestampOutOfRange("m", timestamp=1, server_time=2, window=3), "0002"),
        (errors.MalformedSignature("m"), "0003"),
        (errors.PermissionDenied("m"), "0005"),
        (errors.MissingFields(["a"]), "0006"),
        (errors.MalformedRequest("m"), "0007"),
        (errors.ReplayedRequest(), "0009"),
        (errors.NotFound("application", "x"), "0010"),
        (errors.MethodNotAllowed("GET"), "0011"),
        (errors.BodyTooLarge(10), "0012"),
        (errors.StoreUnavailable(), "0013"),
        (errors.Conflict("m"), "0014"),
    ],
)
def test_every_error_has_its_code(error: Exception, code: str) -> None:
    assert code_for(error).code == code


def test_codes_table_is_documented() -> None:
    page = (DOCS / "codes.md").read_text()
    documented = set(re.findall(r"^\| `(\d{4})` ", page, flags=re.M))
    assert documented == {c.code for c in codes.CODES}
    assert len({c.code for c in codes.CODES}) == len(codes.CODES)
