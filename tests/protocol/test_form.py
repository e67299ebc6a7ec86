from __future__ import annotations

import pytest

from cdnpanel.errors import MalformedRequest
from cdnpanel.protocol.form import MAX_FORM_FIELDS, read_json_text
from tests.client_styles import multipart, urlencoded

WIRE = '{"command":"video.getapps","app":"d\\/é"}'


def test_urlencoded_multipart_and_raw_json_give_the_same_text() -> None:
    assert read_json_text(*urlencoded(WIRE)) == WIRE
    assert read_json_text(*multipart(WIRE)) == WIRE
    assert read_json_text("application/json", WIRE.encode()) == WIRE
    assert read_json_text("application/x-www-form-urlencoded", WIRE.encode()) == WIRE
    assert read_json_text(None, WIRE.encode()) == WIRE


def test_multipart_ignores_other_fields() -> None:
    boundary = "XyZ123"
    other = f'--{boundary}\r\nContent-Disposition: form-data; name="php"\r\n\r\nx\r\n'
    ctype, body = multipart(WIRE, extra_parts=other, boundary=boundary)
    assert read_json_text(ctype, body) == WIRE


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/x-www-form-urlencoded", b"", "Empty request body"),
        ("application/x-www-form-urlencoded", b"   ", "Empty request body"),
        ("application/x-www-form-urlencoded", b"other=1", "No 'json' form field"),
        ("application/x-www-form-urlencoded", b"json=1&json=2", "more than one 'json'"),
        ("application/x-www-form-urlencoded", b"json=%FF%FE", "not valid UTF-8"),
        ("application/x-www-form-urlencoded", "json=é".encode(), "raw non-ASCII"),
        ("application/x-www-form-urlencoded", b"json", "unreadable urlencoded"),
        (
            "application/x-www-form-urlencoded",
            "&".join(f"f{i}=1" for i in range(MAX_FORM_FIELDS + 5)).encode(),
            "unreadable urlencoded",
        ),
        ("multipart/form-data", b"--x\r\n", "without a boundary"),
        ("text/plain", b"json=1", "Unsupported Content-Type"),
        ("application/json", b"\xff{}", "Unsupported Content-Type"),
    ],
)
def test_unreadable_bodies_are_refused_with_a_reason(
    content_type: str, body: bytes, reason: str
) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        read_json_text(content_type, body)


def test_invalid_percent_escapes_are_left_for_the_json_layer() -> None:
    # parse_qsl keeps '%zz' as text; the JSON parser then refuses it with a clear message.
    assert read_json_text("application/x-www-form-urlencoded", b"json=%zz") == "%zz"


def test_multipart_problems() -> None:
    ctype, body = multipart(WIRE)
    boundary = ctype.split("boundary=")[1]
    with pytest.raises(MalformedRequest, match="truncated"):
        read_json_text(ctype, body[: body.rindex(b"--" + boundary.encode())])
    file_part = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"; filename="a.json"\r\n\r\n{}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    with pytest.raises(MalformedRequest, match="file upload"):
        read_json_text(ctype, file_part)
    many = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
        for i in range(MAX_FORM_FIELDS + 1)
    )
    with pytest.raises(MalformedRequest, match="more than"):
        read_json_text(ctype, (many + f"--{boundary}--\r\n").encode())
    headers_only = f"--{boundary}\r\nX-Other: 1\r\n\r\nx\r\n--{boundary}--\r\n".encode()
    with pytest.raises(MalformedRequest):
        read_json_text(ctype, headers_only)
    evil = 'multipart/form-data; boundary="' + "\\" * 5000 + '"'
    with pytest.raises(MalformedRequest):
        read_json_text(evil, body)
