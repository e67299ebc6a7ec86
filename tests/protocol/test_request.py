from __future__ import annotations

import pytest

from cdnpanel.errors import InvalidParameter, MalformedRequest, MissingFields, TimestampOutOfRange
from cdnpanel.protocol.request import check_timestamp, parse_request

SIG = '"signature":"' + "A" * 43 + '="'


def wire(body: str) -> str:
    return "{" + body + ("," if body else "") + SIG + "}"


BASE = '"command":"video.getapps","api_key":"K","timestamp":1795000000,"cdn":158'


def test_envelope_is_read_and_params_are_the_rest() -> None:
    request = parse_request(wire(BASE + ',"app":"demo"'))
    assert (request.command, request.api_key, request.cdn, request.timestamp) == (
        "video.getapps",
        "K",
        158,
        1795000000,
    )
    assert request.params == {"app": "demo"}


def test_numeric_strings_and_cdn_id_alias_are_accepted() -> None:
    request = parse_request(
        wire('"command":"c","api_key":"K","timestamp":"1795000000","cdn_id":"158"')
    )
    assert (request.cdn, request.timestamp) == (158, 1795000000)


def test_missing_fields_are_named() -> None:
    with pytest.raises(MissingFields) as caught:
        parse_request('{"command":"c"}')
    assert caught.value.fields == ("cdn", "api_key", "timestamp", "signature")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[1,2]", "must be an object, not list"),
        ('"x"', "must be an object, not str"),
        ("null", "must be an object, not NoneType"),
        ('{"a":NaN}', "not valid JSON"),
        ('{"a":1,}', "not valid JSON"),
        ('{"a":1 /* c */}', "not valid JSON"),
        ("\ufeff{}", "not valid JSON"),
        ('{"a":"\\ud800"}', "not valid JSON"),
        ("[" * 2000 + "]" * 2000, "not valid JSON"),
        ('{"a":' + "9" * 5000 + "}", "not valid JSON"),
        (wire(BASE + ',"command":"other"'), "member 'command' twice"),
        ("{" + SIG + "," + wire(BASE)[1:], "member 'signature' twice"),
    ],
)
def test_unreadable_json_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        parse_request(text)


def test_duplicate_names_inside_params_are_not_envelope_duplicates() -> None:
    request = parse_request(wire(BASE + ',"meta":{"command":"x"}'))
    assert request.params == {"meta": {"command": "x"}}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("timestamp", "true", "not a boolean"),
        ("timestamp", "1795000000.5", "whole number"),
        ("timestamp", '"soon"', "whole number"),
        ("timestamp", "-5", "Unix time"),
        ("timestamp", "0", "Unix time"),
        ("timestamp", "[1]", "whole number"),
        ("cdn", '"abc"', "whole number"),
        ("cdn", "0", "positive CDN id"),
        ("cdn", "99999999999", "positive CDN id"),
        ("api_key", "5", "non-empty string"),
        ("api_key", '""', "non-empty string"),
        ("api_key", '"' + "K" * 10000 + '"', "at most 128"),
        ("command", '{"a":1}', "non-empty string"),
        ("command", '"' + "x" * 300 + '"', "at most 128"),
    ],
)
def test_wrong_envelope_types_name_the_field(field: str, value: str, reason: str) -> None:
    members = {"command": '"c"', "api_key": '"K"', "timestamp": "1795000000", "cdn": "158"}
    members[field] = value
    body = ",".join(f'"{k}":{v}' for k, v in members.items())
    with pytest.raises(InvalidParameter, match=reason) as caught:
        parse_request(wire(body))
    assert caught.value.param == field


def test_cdn_and_cdn_id_must_agree() -> None:
    with pytest.raises(InvalidParameter, match="different accounts"):
        parse_request(wire(BASE + ',"cdn_id":159'))


@pytest.mark.parametrize(
    ("offset", "ok"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)]
)
def test_timestamp_window_edges(offset: int, ok: bool) -> None:
    now = 1_795_000_000
    if ok:
        check_timestamp(now + offset, now=now, window=300)
    else:
        with pytest.raises(TimestampOutOfRange, match="UTC") as caught:
            check_timestamp(now + offset, now=now, window=300)
        assert caught.value.server_time == now


def test_millisecond_timestamps_get_a_hint() -> None:
    with pytest.raises(TimestampOutOfRange, match="milliseconds"):
        check_timestamp(1_795_000_000_000, now=1_795_000_000, window=300)


def test_a_nonce_is_part_of_the_envelope_not_a_parameter() -> None:
    request = parse_request(wire(BASE + ',"nonce":"3f9a","app":"demo"'))
    assert request.params == {"app": "demo"}
    assert parse_request(wire(BASE + ',"nonce":12345')).params == {}


@pytest.mark.parametrize("nonce", ['""', "true", "[1]", '"' + "n" * 65 + '"'])
def test_a_bad_nonce_is_named(nonce: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_request(wire(BASE + f',"nonce":{nonce}'))
    assert caught.value.param == "nonce"
