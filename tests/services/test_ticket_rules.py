"""SEVU ticket rules: patterns, IP entries, expiry dates, keys and verdicts (pure functions)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdnpanel.errors import InvalidParameter
from cdnpanel.services.ticket_rules import (
    Reason,
    TicketRules,
    bind_address,
    hash_pass,
    new_ticket_key,
    parse_expiry,
    parse_ip_entries,
    parse_patterns,
)

NOW = int(datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC).timestamp())


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("mystream", "mystream", True),
        ("mystream", "mystream2", False),  # anchored
        ("cam*", "cam12", True),
        ("my_folder/*", "my_folder/sub/file.mp4", True),  # * crosses /
        ("*.mp4", "sestore/jb/video.mp4", True),
        ("cam1|cam2", "cam2", True),
        ("cam1|cam2", "cam3", False),
        ("Cam1", "cam1", False),  # case-sensitive
        ("100%_off", "100%_off", True),  # SQL LIKE characters are plain characters
        ("100%_off", "100xyoff", False),
        ("a?b", "axb", False),  # so are ? and [ ]
        ("a[bc]", "ab", False),
        ("a[bc]", "a[bc]", True),
        ("*", "anything/at/all", True),
        ("a.c", "abc", False),  # . is a dot
    ],
)
def test_patterns(pattern: str, value: str, matches: bool) -> None:
    assert parse_patterns(pattern, "video").matches(value) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("a||b", "empty entry"),
        ("a|", "empty entry"),
        (" a", "spaces at an end"),
        ("a\x00b", "control characters"),
        ("x" * 1001, "longer than"),
        (5, "non-empty string"),
        (["a"], "non-empty string"),
    ],
)
def test_malformed_patterns_are_named(pattern: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as caught:
        parse_patterns(pattern, "video")
    assert caught.value.param == "video"


@pytest.mark.parametrize(
    ("text", "networks"),
    [
        ("", []),
        ("0.0.0.0/0", ["0.0.0.0/0"]),
        ("192.0.2.7", ["192.0.2.7/32"]),
        ("1.1.1.1/24", ["1.1.1.0/24"]),  # host bits allowed, as ScaleEngine's own sample has
        ("2001:db8::1", ["2001:db8::1/128"]),
        ("2001:db8::/32", ["2001:db8::/32"]),
        ("::ffff:192.0.2.7", ["192.0.2.7/32"]),  # mapped IPv4 is the IPv4 address
        ("::ffff:192.0.2.0/120", ["192.0.2.0/24"]),
        ("auto", [None]),
        ("auto/24|auto/24", [None, None]),
        ("192.0.2.7|auto/16", ["192.0.2.7/32", None]),
    ],
)
def test_ip_entries(text: str, networks: list[str | None]) -> None:
    entries = parse_ip_entries(text)
    assert [str(e.network) if e.network else None for e in entries] == networks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.2.3.4/33", "not an address"),
        ("010.1.1.1", "not an address"),  # leading zeros: ambiguous (octal?), refused
        ("fe80::1%eth0", "zone ids"),
        ("256.1.1.1", "not an address"),
        ("auto/33", "0 to 32"),
        ("auto/x", "0 to 32"),
        ("auto/-1", "0 to 32"),
        ("1.2.3.4; DROP TABLE tickets", "not an address"),
        ("::ffff:1.2.3.4/64", "prefix ≥ 96"),
        ("a||b", "not an address"),
        (7, "must be a string"),
    ],
)
def test_malformed_ip_entries_are_named(text: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as caught:
        parse_ip_entries(text)
    assert caught.value.param == "ip"


def test_auto_entries_bind_the_first_viewer() -> None:
    (auto24,) = parse_ip_entries("auto/24")
    (auto,) = parse_ip_entries("auto")
    from ipaddress import ip_address

    assert str(bind_address(auto24, ip_address("198.51.100.77"))) == "198.51.100.0/24"
    assert str(bind_address(auto, ip_address("198.51.100.77"))) == "198.51.100.77/32"
    assert str(bind_address(auto24, ip_address("2001:db8:1:2::5"))) == "2001:db8:1:2::/64"
    assert str(bind_address(auto, ip_address("2001:db8:1:2::5"))) == "2001:db8:1:2::5/128"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, NOW + 7 * 86400),  # one week by default
        ("2026-12-01 00:00:00", ts("2026-12-01T00:00:00")),  # Y-m-d H:i:s, UTC
        ("2026-12-01T00:00:00", ts("2026-12-01T00:00:00")),
        ("2026-12-01T02:00:00+02:00", ts("2026-12-01T00:00:00")),  # an offset is honoured
        ("2026-12-01T00:00:00Z", ts("2026-12-01T00:00:00")),
        ("2026-12-01", ts("2026-12-01T00:00:00")),
        (NOW + 3600, NOW + 3600),  # a Unix time
        (str(NOW + 3600), NOW + 3600),
        ("+1 week", NOW + 7 * 86400),
        ("+24 hours", NOW + 86400),
        ("+30 minutes", NOW + 1800),
        ("+90 seconds", NOW + 90),
        ("+1 month", ts("2026-12-23T12:00:00")),
        ("+1 year", ts("2027-11-23T12:00:00")),
        ("2 days", NOW + 2 * 86400),
    ],
)
def test_expiry_formats(value: object, expected: int) -> None:
    assert parse_expiry(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30 00:00:00", "not a date"),  # Feb 30
        ("2026-13-01", "not a date"),
        ("2020-01-01 00:00:00", "not in the future"),  # far past
        (NOW - 1, "not in the future"),
        ("-1 week", "not a date"),
        ("+1 fortnight", "not a date"),
        ("next tuesday", "not a date"),
        ("+99999999 years", "not a date"),
        ("'; DROP TABLE tickets; --", "not a date"),
        ((NOW + 3600) * 1000, "milliseconds"),
        ("2999-01-01", "days away"),
        (True, "a date string"),
        (1.5, "a date string"),
    ],
)
def test_bad_expiry_dates_are_named(value: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as caught:
        parse_expiry(value, now=NOW)
    assert caught.value.param == "expire"


def test_keys_have_the_seed_shape_and_do_not_repeat() -> None:
    # The seed's sample: mystream.53ffc996dd39d5.39102367
    shape = re.compile(r"[A-Za-z0-9_-]+\.[0-9a-f]{14}\.[0-9]{8}")
    key = new_ticket_key(parse_patterns("mystream", "video"))
    assert shape.fullmatch(key) and key.startswith("mystream.")
    # The Guzzle client's live test expects 'foo', then optional underscores, for video foo*.
    assert re.fullmatch(r"foo_*\.[0-9a-f]+\.\d+", new_ticket_key(parse_patterns("foo*", "v")))
    assert new_ticket_key(parse_patterns("a/b.mp4|c", "v")).startswith("a_b_mp4.")
    keys = {new_ticket_key(parse_patterns("s", "v")) for _ in range(2000)}
    assert len(keys) == 2000


def test_passwords_are_keyed_hashes() -> None:
    assert hash_pass(b"k1", "secret") == hash_pass(b"k1", "secret")
    assert hash_pass(b"k1", "secret") != hash_pass(b"k2", "secret")
    assert b"secret" not in hash_pass(b"k1", "secret")


def rules(**overrides: object) -> TicketRules:
    entries = parse_ip_entries(str(overrides.pop("ip", "")))
    values: dict[str, object] = {
        "ticket_id": 1,
        "account_id": 7,
        "pass_hash": b"p" * 32,
        "apps": parse_patterns("demo-*", "app"),
        "videos": parse_patterns("cam1|vod/*", "video"),
        "ip_entries": entries,
        "bound": tuple("" for _ in entries),
        "uses": 0,
        "used": 0,
        "active": True,
        "expires_at": NOW + 60,
    }
    values.update(overrides)
    return TicketRules(**values)  # type: ignore[arg-type]


def verdict(ticket: TicketRules, *, new: bool = True, **attempt: object) -> str | None:
    values: dict[str, object] = {
        "account_id": 7,
        "pass_hash": b"p" * 32,
        "app": "demo-origin",
        "video": "cam1",
        "address": "198.51.100.7",
        "now": NOW,
        "new_session": new,
    }
    values.update(attempt)
    return ticket.refusal(**values)  # type: ignore[arg-type]


def test_verdicts() -> None:
    assert verdict(rules()) is None
    assert verdict(rules(), pass_hash=b"q" * 32) == Reason.BAD_TOKEN
    assert verdict(rules(), account_id=8) == Reason.BAD_TOKEN  # another account's ticket
    assert verdict(rules(active=False)) == Reason.REVOKED
    assert verdict(rules(expires_at=NOW)) == Reason.EXPIRED
    assert verdict(rules(), app="other-origin") == Reason.WRONG_APP
    assert verdict(rules(), video="cam2") == Reason.WRONG_VIDEO
    assert verdict(rules(), video="vod/a/b.mp4") is None
    assert verdict(rules(ip="203.0.113.0/24")) == Reason.BAD_IP
    assert verdict(rules(ip="198.51.100.0/24")) is None
    assert verdict(rules(ip="198.51.100.0/24"), address="::ffff:198.51.100.7") is None
    assert verdict(rules(ip="198.51.100.0/24"), address="not an address") == Reason.BAD_IP
    assert verdict(rules(uses=1, used=1)) == Reason.USED_UP
    assert verdict(rules(uses=1, used=1), new=False) is None  # a running session goes on
    assert verdict(rules(uses=0, used=10**6)) is None  # 0 is unlimited


def test_auto_binding_verdicts() -> None:
    fresh = rules(ip="auto/24")
    assert verdict(fresh) is None  # a new session may bind it
    assert verdict(fresh, new=False) == Reason.BAD_IP  # but nothing runs on it unbound
    bound = rules(ip="auto/24", bound=fresh.bind("198.51.100.7"))
    assert bound.bound == ("198.51.100.0/24",)
    assert verdict(bound, address="198.51.100.200") is None
    assert verdict(bound, address="203.0.113.1") == Reason.BAD_IP  # the first one won
    two = rules(ip="auto/24|auto/24")
    first = rules(ip="auto/24|auto/24", bound=two.bind("198.51.100.7"))
    second = first.bind("203.0.113.9")
    assert second == ("198.51.100.0/24", "203.0.113.0/24")
    assert first.bind("198.51.100.8") == first.bound  # already allowed: nothing new bound


_PATTERN_TEXT = st.text(alphabet="ab*", min_size=1, max_size=12)


@settings(max_examples=500, deadline=None)
@given(pattern=_PATTERN_TEXT, value=st.text(alphabet="ab", max_size=12))
def test_patterns_match_as_the_reference_regex_does(pattern: str, value: str) -> None:
    # On inputs small enough for a backtracking regex, the matcher agrees with it.
    reference = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
    assert parse_patterns(pattern, "video").matches(value) is bool(reference.fullmatch(value))


@pytest.mark.parametrize(
    "pattern",
    [
        "*a" * 499 + "*",  # 999 characters: the most stars a pattern may have
        "*a*a*a*a*a*a*a*a*a*b",  # froze the platform as a regex
        "|".join(["*a*a*a*a*b"] * 90),  # many entries
        "a" * 500 + "*" + "a" * 499,
    ],
    ids=["stars", "regex-killer", "entries", "long-literals"],
)
def test_the_worst_patterns_are_judged_in_under_a_millisecond(pattern: str) -> None:
    patterns = parse_patterns(pattern, "video")
    name = "a" * 200  # the longest names the usher sees are of this order
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        patterns.matches(name)
        patterns.matches(name[:-1] + "c")
    per_match = (time.perf_counter() - started) / (2 * rounds)
    assert per_match < 0.001, f"{per_match * 1e6:.0f} us a match"
