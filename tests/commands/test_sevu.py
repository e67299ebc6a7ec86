"""sevu.request, sevu.status, sevu.revoke and sevu.errorcount through the signed endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from cdnpanel.store.tables import ticket_attempts, tickets
from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant

KEY_SHAPE = re.compile(r"mystream\.[0-9a-f]{14}\.[0-9]{8}")


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.tenant)


def stored_tickets(world: OriginWorld) -> int:
    with world.services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(tickets)).scalar_one())


def date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def request(call: CallCommand, **overrides: Any) -> dict[str, Any]:
    params = {"app": "demo-origin", "video": "mystream", "pass": "s3cret-pass", "ip": "auto/24"}
    params.update(overrides)
    return call("sevu.request", **{k: v for k, v in params.items() if v is not None})


def test_request_answers_the_ticket(origin_world: OriginWorld, call: CallCommand) -> None:
    answer = request(call, uses=10, expire="+2 hours")
    assert (answer["status"], answer["message"]) == ("success", "Ticket created")
    ticket = answer["ticket"]
    assert KEY_SHAPE.fullmatch(ticket["key"]), ticket["key"]
    assert {k: ticket[k] for k in ("pass", "app", "video", "ip", "uses", "active")} == {
        "pass": "s3cret-pass",
        "app": "demo-origin",
        "video": "mystream",
        "ip": "auto/24",
        "uses": 10,
        "active": True,
    }
    now = origin_world.clock.now
    assert ticket["created_date"] == date(now)
    assert ticket["used_date"] == "0000-00-00 00:00:00"
    assert ticket["expire_date"] == date(now + 7200)


def test_request_defaults_and_the_three_expiry_names(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    now = origin_world.clock.now
    default = request(call)["ticket"]
    assert (default["uses"], default["expire_date"]) == (0, date(now + 1 + 7 * 86400))
    for name in ("expire", "expires", "expire_date"):
        ticket = request(call, **{name: "2030-01-01 00:00:00"})["ticket"]
        assert ticket["expire_date"] == "2030-01-01 00:00:00"
    assert request(call, uses="5", ip=None)["ticket"]["uses"] == 5  # numeric strings, as Perl
    answer = request(call, expire="2030-01-01 00:00:00", expires="2031-01-01 00:00:00")
    assert answer["code"] == "0008"


def test_the_password_is_not_stored_in_clear(origin_world: OriginWorld, call: CallCommand) -> None:
    request(call, **{"pass": "findable-password-123"})
    with origin_world.services.db.read() as conn:
        rows = conn.execute(select(tickets)).all()
    assert rows and all(b"findable" not in bytes(str(tuple(r)), "utf-8") for r in rows)
    assert all(len(bytes(r.pass_hash)) == 32 for r in rows)


@pytest.mark.parametrize(
    ("overrides", "code", "param"),
    [
        ({"app": None}, "0006", "app"),
        ({"video": None}, "0006", "video"),
        ({"pass": None}, "0006", "pass"),
        ({"app": "other-origin"}, "0010", None),  # another account's application
        ({"app": "nobody-*"}, "0010", None),  # a pattern matching none of the account's
        ({"app": "demo-origin|"}, "0008", "app"),
        ({"video": "a||b"}, "0008", "video"),
        ({"video": "cam\x00"}, "0008", "video"),
        ({"video": ["cam1"]}, "0008", "video"),
        ({"ip": "1.2.3.4/33"}, "0008", "ip"),
        ({"ip": "fe80::1%eth0"}, "0008", "ip"),
        ({"ip": "auto/40"}, "0008", "ip"),
        ({"ip": "1.2.3.4' OR 1=1 --"}, "0008", "ip"),
        ({"expire": "2026-02-30 00:00:00"}, "0008", "expire"),
        ({"expire": "2001-01-01 00:00:00"}, "0008", "expire"),
        ({"expire": "+3 fortnights"}, "0008", "expire"),
        ({"expires": "soonish"}, "0008", "expire"),
        ({"uses": -1}, "0008", "uses"),
        ({"uses": 10**9}, "0008", "uses"),
        ({"uses": 1.5}, "0008", "uses"),
        ({"uses": True}, "0008", "uses"),
        ({"pass": ""}, "0008", "pass"),
        ({"pass": "x" * 300}, "0008", "pass"),
        ({"passwd": "x"}, "0008", "passwd"),
    ],
)
def test_bad_requests_are_refused_and_store_nothing(
    origin_world: OriginWorld,
    call: CallCommand,
    overrides: dict[str, Any],
    code: str,
    param: str | None,
) -> None:
    answer = request(call, **overrides)
    assert (answer["status"], answer["code"]) == ("failure", code), answer
    if code == "0008":
        assert answer["param"] == param
    if code == "0006":
        assert param in answer["fields"]
    assert stored_tickets(origin_world) == 0


@pytest.mark.parametrize("command", ["sevu.status", "sevu.revoke", "sevu.request"])
def test_text_with_a_nul_is_refused_by_name(call: CallCommand, command: str) -> None:
    # PostgreSQL's text cannot hold a NUL: refused before it reaches the store, on both.
    params = (
        {"key": "a\x00b"}
        if command != "sevu.request"
        else {"app": "demo-origin", "video": "cam\x00", "pass": "p"}
    )
    answer = call(command, **params)
    assert (answer["code"], answer["param"]) == ("0008", "key" if "key" in params else "video")
    assert "NUL" in answer["message"]


def test_status_and_revoke(origin_world: OriginWorld, call: CallCommand) -> None:
    key = request(call, uses=3)["ticket"]["key"]
    status = call("sevu.status", key=key)
    assert (status["key"], status["active"], status["uses"], status["uses_remaining"]) == (
        key,
        True,
        3,
        3,
    )
    assert status["pass"] is None  # kept as a hash: status cannot show it
    assert call("sevu.status", key=key, **{"pass": "s3cret-pass"})["pass"] == "s3cret-pass"
    assert call("sevu.status", key=key, **{"pass": "wrong"})["code"] == "0008"
    revoked = call("sevu.revoke", key=key)
    assert (revoked["status"], revoked["active"]) == ("success", False)
    assert call("sevu.revoke", key=key)["status"] == "success"  # again: still revoked
    assert call("sevu.status", key=key)["active"] is False
    unlimited = request(call)["ticket"]["key"]
    assert call("sevu.status", key=unlimited)["uses_remaining"] is None


async def test_one_account_cannot_see_revoke_count_or_use_anothers_tickets(
    origin_world: OriginWorld, call: CallCommand, call_as: Callable[[Tenant], CallCommand]
) -> None:
    world = origin_world
    mine = request(call)["ticket"]["key"]
    theirs = call_as(world.other)
    for command in ("sevu.status", "sevu.revoke"):
        answer = theirs(command, key=mine)
        assert answer["code"] == "0010", answer
    assert call("sevu.status", key=mine)["active"] is True
    # They cannot count my attempts either.
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    world.services.applications.protect(app, "sevu")
    world.clock.advance(10)
    await world.services.viewers.check_hls(
        world.origin, uri="/demo-origin/live/x/index.m3u8", address="1.2.3.4", user_agent="u"
    )
    world.services.viewers.flush()
    assert call("sevu.errorcount")["error_count"] == 1
    assert theirs("sevu.errorcount")["error_count"] == 0
    # Nor use my ticket on their application (tests/services/test_usher.py goes further).


async def test_errorcount(origin_world: OriginWorld, call: CallCommand) -> None:
    world = origin_world
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    world.services.applications.protect(app, "sevu")
    world.clock.advance(10)
    key = request(call, ip="198.51.100.0/24")["ticket"]["key"]
    viewers = world.services.viewers
    for n, (address, password) in enumerate(
        [("198.51.100.1", "s3cret-pass"), ("203.0.113.1", "s3cret-pass"), ("198.51.100.2", "no")]
    ):
        uri = f"/demo-origin/live/mystream/index.m3u8?key={key}&pass={password}"
        await viewers.check_hls(world.origin, uri=uri, address=address, user_agent=str(n))
    viewers.flush()
    with world.services.db.read() as conn:
        logged = conn.execute(select(func.count()).select_from(ticket_attempts)).scalar_one()
    assert logged == 3

    def errorcount(**filters: Any) -> int:
        answer = call("sevu.errorcount", **filters)
        assert answer["status"] == "success"
        assert answer["code"] == (2051 if answer["error_count"] else 2050)
        return int(answer["error_count"])

    assert errorcount() == 3
    assert errorcount(key=key) == 3
    assert errorcount(success=0) == 2
    assert errorcount(success="1") == 1
    assert errorcount(ip="203.0.113.1") == 1
    assert errorcount(**{"pass": "s3cret-pass"}) == 2
    assert errorcount(**{"pass": "no"}) == 1
    assert errorcount(app="demo-origin", video="mystream") == 3
    assert errorcount(video="other") == 0
    assert errorcount(success=0, limit=1) == 1
    assert errorcount(limit="25", seek="2") == 1
    assert errorcount(seek=3) == 0
    answer = call("sevu.errorcount", key="nothing-like-it")
    assert answer["message"] == "ScaleEngine Virtual Usher no unsuccessful tickets attempts found"
    assert call("sevu.errorcount", success=2)["code"] == "0008"
    assert call("sevu.errorcount", ip="1.2.3.4/33")["code"] == "0008"
    assert call("sevu.errorcount", ip="198.51.100.0/24")["param"] == "ip"  # one address
    assert call("sevu.errorcount", limit=-1)["code"] == "0008"


async def test_a_taken_ticket_key_fails_that_request_alone(
    origin_world: OriginWorld, call: CallCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are ~83 random bits; should two ever meet, the second request fails (nothing
    stored, 0014) and the service's own retry (sevu.request's CLI path) draws another."""
    import cdnpanel.services.tickets as tickets_module

    monkeypatch.setattr(tickets_module, "new_ticket_key", lambda _videos: "mystream.same.1")
    first = request(call)
    assert first["status"] == "success" and first["ticket"]["key"] == "mystream.same.1"
    second = request(call)
    assert (second["status"], second["code"]) == ("failure", "0014")
    assert stored_tickets(origin_world) == 1
    keys = iter(["mystream.same.1", "mystream.other.2"])
    monkeypatch.setattr(tickets_module, "new_ticket_key", lambda _videos: next(keys))
    issued = await origin_world.services.tickets.issue(
        origin_world.tenant.account.id, app="demo-origin", video="mystream", password="pw-123456"
    )
    assert issued.ticket.key == "mystream.other.2" and issued.ticket.id > 0
    assert stored_tickets(origin_world) == 2


async def _three_attempts(
    world: OriginWorld, call: CallCommand, times: list[float] | None = None
) -> str:
    """An admitted HLS session, a refusal from outside the ticket's network and one with the
    wrong password, one second apart (their times added to ``times``): the ticket's key."""
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    world.services.applications.protect(app, "sevu")
    world.clock.advance(10)
    key = request(call, ip="198.51.100.0/24")["ticket"]["key"]
    viewers = world.services.viewers
    for n, (address, password) in enumerate(
        [("198.51.100.1", "s3cret-pass"), ("203.0.113.1", "s3cret-pass"), ("198.51.100.2", "no")]
    ):
        world.clock.advance(1)
        if times is not None:
            times.append(world.clock.now)
        uri = f"/demo-origin/live/mystream/index.m3u8?key={key}&pass={password}"
        await viewers.check_hls(world.origin, uri=uri, address=address, user_agent=str(n))
    viewers.flush()
    return key


async def test_errorlog_lists_a_tickets_attempts_in_time_order_with_reasons(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    times: list[float] = []
    key = await _three_attempts(world, call, times)
    start = times[0]
    answer = call("sevu.errorlog", key=key)
    assert (answer["status"], answer["message"], answer["total"]) == (
        "success",
        "Found Ticket Attempts",
        3,
    )
    rows = answer["data"]
    assert [(r["ip"], r["success"], r["reason"], r["pass_matched"]) for r in rows] == [
        ("198.51.100.1", 1, "Admitted", True),
        ("203.0.113.1", 0, "Invalid IP Address", True),
        ("198.51.100.2", 0, "Invalid Auth Token", False),
    ]
    assert [r["datetime"] for r in rows] == [date(t) for t in times]
    assert {(r["key"], r["app"], r["appinst"], r["video"], r["protocol"]) for r in rows} == {
        (key, "demo-origin", "live", "mystream", "hls")
    }
    assert {r["server"] for r in rows} == {world.origin.name}
    assert rows[0]["id"] < rows[1]["id"] < rows[2]["id"]
    assert answer["kept_since"] == date(world.clock.now - 90 * 86400)
    # Filters and pages.
    refused = call("sevu.errorlog", key=key, success=0)
    assert (refused["total"], [r["ip"] for r in refused["data"]]) == (
        2,
        ["203.0.113.1", "198.51.100.2"],
    )
    page = call("sevu.errorlog", key=key, limit=1, seek="1")
    assert (page["total"], [r["ip"] for r in page["data"]]) == (3, ["203.0.113.1"])
    assert call("sevu.errorlog", key=key, seek=3)["data"] == []
    assert call("sevu.errorlog", key=key, starttime=int(start) + 1)["total"] == 2
    assert call("sevu.errorlog", key=key, starttime=date(start + 2))["total"] == 1
    tomorrow = datetime.fromtimestamp(start + 86400, UTC).strftime("%Y-%m-%d")
    assert call("sevu.errorlog", key=key, starttime=tomorrow)["total"] == 0
    none = call("sevu.errorlog", key="nobody.tried.this")
    assert (none["message"], none["total"], none["data"]) == ("No Ticket Attempts Found", 0, [])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, None),  # key is required
        ({"key": ""}, "key"),
        ({"key": "k", "starttime": "yesterday"}, "starttime"),
        ({"key": "k", "starttime": "2026-02-30"}, "starttime"),
        ({"key": "k", "starttime": "2026-12-01 25:00:00"}, "starttime"),
        ({"key": "k", "success": 2}, "success"),
        ({"key": "k", "limit": 0}, "limit"),
        ({"key": "k", "limit": 1001}, "limit"),
        ({"key": "k", "seek": 1_000_001}, "seek"),
        ({"key": "k", "seek": -1}, "seek"),
    ],
)
def test_errorlog_refuses_bad_parameters_by_name(
    call: CallCommand, params: dict[str, Any], param: str | None
) -> None:
    answer = call("sevu.errorlog", **params)
    assert answer["status"] == "failure", answer
    if param is None:
        assert (answer["code"], answer["fields"]) == ("0006", ["key"]), answer
    else:
        assert (answer["code"], answer["param"]) == ("0008", param), answer


async def test_another_account_sees_none_of_a_tickets_attempts(
    origin_world: OriginWorld, call: CallCommand, call_as: Callable[[Tenant], CallCommand]
) -> None:
    key = await _three_attempts(origin_world, call)
    theirs = call_as(origin_world.other)("sevu.errorlog", key=key)
    assert (theirs["status"], theirs["total"], theirs["data"]) == ("success", 0, [])


async def test_attempts_past_the_retention_are_deleted_and_uncounted(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    old = await _three_attempts(world, call)
    world.clock.advance(60 * 86400)
    recent = await _three_attempts(world, call)
    assert call("sevu.errorcount")["error_count"] == 6
    tickets = world.services.tickets
    world.clock.advance(31 * 86400)  # the first three are 91 days old, the others 31
    assert tickets.expire_attempts_step() is False  # fewer than a chunk: nothing left
    assert call("sevu.errorlog", key=old)["total"] == 0
    assert call("sevu.errorlog", key=recent)["total"] == 3
    assert call("sevu.errorcount")["error_count"] == 3
    assert call("sevu.errorcount", success=0)["error_count"] == 2
    assert call("sevu.errorcount", app="demo-origin", success=1)["error_count"] == 1
    assert call("sevu.errorcount", video="mystream")["error_count"] == 3
    assert tickets.expire_attempts_step() is False  # again: nothing to do
    assert call("sevu.errorcount")["error_count"] == 3
