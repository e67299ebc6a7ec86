from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdnpanel.errors import MalformedRequest
from cdnpanel.protocol.form import MAX_FORM_FIELDS, _lone_json_field, read_json_text
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


_ASCII = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8)
_ESCAPES = st.sampled_from(["%", "%4", "%41", "%7b", "%C3%A9", "%C3", "%5C", "+", "\\", "\\x41"])


@given(st.lists(st.one_of(_ASCII, _ESCAPES), max_size=12))
def test_the_lone_field_shortcut_decodes_as_parse_qsl_does(pieces: list[str]) -> None:
    # Bodies the shortcut takes must read exactly as the general path reads them.
    body = ("json=" + "".join(pieces)).encode()
    shortcut = _lone_json_field(body)
    if shortcut is not None:
        assert [("json", shortcut)] == parse_qsl(
            body.decode(), keep_blank_values=True, strict_parsing=True, errors="strict"
        )


@pytest.mark.parametrize(
    "body",
    [b"json=%7B%22a%22%3A%22%C3%A9%5C%2F+x%22%7D", b"json=a\\x41%41", b"json=", b"json=%25zz"],
)
def test_the_lone_field_shortcut_on_real_escapes(body: bytes) -> None:
    assert _lone_json_field(body) == parse_qsl(body.decode(), keep_blank_values=True)[0][1]


@pytest.mark.parametrize(
    "body", [b"json=%zz", b"json=%4", b"json=1&x=2", "json=é".encode(), b"json=%FF", b"x=json="]
)
def test_the_lone_field_shortcut_leaves_the_rest_to_the_general_path(body: bytes) -> None:
    assert _lone_json_field(body) is None
