"""Stream users through the signed endpoint (sevu.addstreamuser ...) and the on_publish check
they drive, on the fake origin (the real nginx-rtmp and ffmpeg: tests/integration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from cdnpanel.config import Settings
from cdnpanel.errors import PermissionDenied
from cdnpanel.store.database import Database
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.tables import accounts, applications, stream_users
from cdnpanel.wiring import build_services
from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant

PASSWORD = "Xk3rV9qLm2Tz7wPa"  # the Ruby client's test program sends 16 random letters


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.tenant)


@pytest.fixture
def other(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.other)


def add(call: CallCommand, **params: Any) -> dict[str, Any]:
    members = {"app": "demo-origin", "stream": "cam1", "user": "enc", "pass": PASSWORD, **params}
    return call("sevu.addstreamuser", **members)


def test_the_ruby_clients_call_adds_a_stream_user(call: CallCommand) -> None:
    answer = add(call)
    assert (answer["status"], answer["message"]) == ("success", "Stream user added")
    user = answer["streamuser"]
    assert user["streamuser_id"] > 0
    assert (user["app"], user["stream"], user["user"], user["authentication"]) == (
        "demo-origin",
        "cam1",
        "enc",
        True,
    )
    assert PASSWORD not in str(answer)


def test_list_retrieve_and_remove(call: CallCommand) -> None:
    first = add(call, record=1, segment_type="duration", segment_value=15)["streamuser"]
    add(call, stream="*", user="any")
    listed = call("sevu.liststreamusers")["data"]
    assert [u["stream"] for u in listed] == ["cam1", "*"]
    assert call("sevu.liststreamusers", stream="cam1")["data"] == [listed[0]]
    assert call("sevu.liststreamusers", app="demo-origin", stream="nope")["message"] == (
        "No Stream Users Found"
    )

    found = call("sevu.retrievestreamuser", streamuser_id=first["streamuser_id"])
    assert (found["record"], found["segment_type"], found["segment_value"]) == (
        True,
        "duration",
        "15",
    )
    assert found["origin_url"] == "origin1.example.net"
    assert found["publish_url"] == (
        "rtmp://origin1.example.net/demo-origin/live/cam1?user=enc&pass=PASS"
    )
    by_name = call("sevu.retrievestreamuser", app="demo-origin", stream="cam1", user="enc")
    assert by_name["streamuser_id"] == first["streamuser_id"]

    removed = call("sevu.removestreamuser", app="demo-origin", stream="cam1", user="enc")
    assert removed["message"] == "Stream user removed"
    assert [u["stream"] for u in call("sevu.liststreamusers")["data"]] == ["*"]
    again = call("sevu.removestreamuser", streamuser_id=first["streamuser_id"])
    assert (again["status"], again["code"]) == ("failure", "0010")


def test_another_account_can_neither_see_nor_touch_them(
    call: CallCommand, other: CallCommand
) -> None:
    mine = add(call)["streamuser"]["streamuser_id"]
    assert other("sevu.liststreamusers")["message"] == "No Stream Users Found"
    for command, params in [
        ("sevu.liststreamusers", {"app": "demo-origin"}),
        ("sevu.retrievestreamuser", {"streamuser_id": mine}),
        ("sevu.retrievestreamuser", {"app": "demo-origin", "stream": "cam1", "user": "enc"}),
        ("sevu.removestreamuser", {"streamuser_id": mine}),
        ("sevu.removestreamuser", {"app": "demo-origin", "stream": "cam1", "user": "enc"}),
        (
            "sevu.addstreamuser",
            {"app": "demo-origin", "stream": "x", "user": "u", "pass": PASSWORD},
        ),
    ]:
        answer = other(command, **params)
        assert (answer["status"], answer["code"]) == ("failure", "0010"), (command, answer)
    assert call("sevu.retrievestreamuser", streamuser_id=mine)["status"] == "success"


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({"stream": None}, "0008", "stream"),
        ({"stream": "a/b"}, "0008", "stream"),
        ({"stream": "cam 1"}, "0008", "stream"),
        ({"stream": "x" * 101}, "0008", "stream"),
        ({"user": None}, "0008", "user"),  # user and pass go together
        ({"pass": None}, "0008", "pass"),
        ({"pass": "short"}, "0008", "pass"),
        ({"pass": "p" * 257}, "0008", "pass"),
        ({"user": "a\nb"}, "0008", "user"),
        ({"record": "yes"}, "0008", "record"),
        ({"segment_type": "hourly"}, "0008", "segment_type"),
        ({"segment_value": -1}, "0008", "segment_value"),
        ({"save_folder": "../etc"}, "0008", "save_folder"),
        ({"save_folder": "/abs"}, "0008", "save_folder"),
        ({"ga_key": "g" * 65}, "0008", "ga_key"),
        ({"app": "nobody-has-it"}, "0010", "nobody-has-it"),
        ({"password": PASSWORD}, "0008", "password"),  # the parameter is 'pass'
    ],
)
def test_bad_parameters_are_named(
    call: CallCommand, params: dict[str, Any], code: str, named: str
) -> None:
    answer = add(call, **params)
    assert (answer["status"], answer["code"]) == ("failure", code), answer
    assert named in answer["message"]


def test_required_parameters_and_a_second_entry(call: CallCommand) -> None:
    missing = call("sevu.addstreamuser", app="demo-origin", stream="cam1")
    assert (missing["code"], "user" in missing["message"]) == ("0006", True)
    assert add(call)["status"] == "success"
    taken = add(call)
    assert (taken["code"], "already has user 'enc'" in taken["message"]) == ("0014", True)
    pick = call("sevu.retrievestreamuser", app="demo-origin")
    assert (pick["code"], "stream" in pick["message"]) == ("0006", True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stream=st.one_of(st.none(), st.integers(), st.text(max_size=120)),
    user=st.one_of(st.none(), st.integers(), st.text(max_size=120)),
    password=st.one_of(st.none(), st.booleans(), st.text(max_size=300)),
    segment_value=st.one_of(
        st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
    ),
)
def test_any_parameters_get_a_clear_answer(
    call: CallCommand, stream: Any, user: Any, password: Any, segment_value: Any
) -> None:
    answer = call(
        "sevu.addstreamuser",
        app="demo-origin",
        stream=stream,
        user=user,
        **{"pass": password},
        segment_value=segment_value,
    )
    if answer["status"] == "failure":
        assert answer["code"] in ("0008", "0014"), answer
    else:
        assert answer["streamuser"]["stream"] == stream


# -- the on_publish check ---------------------------------------------------------------------


async def publish(world: OriginWorld, name: str, client_id: str, **query: str) -> Any:
    world.adapter.publish("demo-origin", "live", name, client_id)
    return await world.services.streams.publish_started(
        world.origin, world.event("publish", name, client_id, **query)
    )


async def refused(world: OriginWorld, name: str, client_id: str, **query: str) -> str:
    with pytest.raises(PermissionDenied) as refusal:
        await publish(world, name, client_id, **query)
    return refusal.value.message


async def test_credentials_are_checked_on_publish(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    world.services.applications.set_publishing(app, "credentials")
    assert "has no stream user" in await refused(world, "cam1", "1")
    add(call)
    assert "needs a stream user" in await refused(world, "cam1", "2")
    assert "wrong user or pass" in await refused(world, "cam1", "3", user="enc", **{"pass": "nope"})
    assert "wrong user or pass" in await refused(
        world, "cam1", "4", user="eve", **{"pass": PASSWORD}
    )
    assert PASSWORD not in await refused(world, "cam1", "5", user="eve", **{"pass": PASSWORD})
    assert (await publish(world, "cam1", "6", user="enc", **{"pass": PASSWORD})).name == "cam1"
    # cam2 has no stream user of its own, and no '*' one
    assert "has no stream user" in await refused(
        world, "cam2", "7", user="enc", **{"pass": PASSWORD}
    )


async def test_a_star_user_serves_every_stream_without_one_of_its_own(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    add(call, stream="*", user="studio")
    add(call, stream="cam9", user=None, **{"pass": None})  # no credentials for cam9
    assert await publish(world, "any-name", "1", user="studio", **{"pass": PASSWORD})
    assert "needs a stream user" in await refused(world, "other-name", "2")
    assert await publish(world, "cam9", "3")  # its own entry decides, without credentials


async def test_open_publishing_asks_only_streams_with_stream_users(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world  # its application was made open (as before this issue)
    assert await publish(world, "cam1", "1")
    add(call, stream="cam2")
    assert "needs a stream user" in await refused(world, "cam2", "2")
    assert await publish(world, "cam2", "3", user="enc", **{"pass": PASSWORD})


def test_new_applications_need_credentials(origin_world: OriginWorld) -> None:
    services = origin_world.services
    app = services.applications.create(origin_world.tenant.account.id, "fresh-app")
    assert (app.publishing, app.needs_credentials) == ("credentials", True)
    (listed,) = [
        a for a in services.applications.list_for_account(app.account_id) if a.name == "fresh-app"
    ]
    assert listed.publishing == "credentials"


def test_passwords_are_kept_only_as_keyed_hashes(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    add(call)
    db = origin_world.services.db
    with db.read() as conn:
        (row,) = conn.execute(select(stream_users)).mappings().all()
    assert PASSWORD.encode() not in bytes(row["pass_hash"])
    assert len(row["pass_hash"]) == 32
    assert PASSWORD not in str(dict(row))
    if db.url.get_backend_name() == "sqlite":
        database = db.url.database
        assert database
        for suffix in ("", "-wal"):
            try:
                with open(database + suffix, "rb") as file:
                    assert PASSWORD.encode() not in file.read()
            except FileNotFoundError:
                pass


def test_applications_from_before_the_upgrade_keep_publishing_open(
    empty_database_url: str,
) -> None:
    old = Database(empty_database_url)
    upgrade(old, "0009")
    with old.write() as conn:
        account_id = conn.execute(
            insert(accounts).returning(accounts.c.id).values(cdn_id=158, name="old", created_at=1)
        ).scalar_one()
        conn.execute(
            insert(applications).values(account_id=account_id, name="old-app", created_at=1)
        )
    old.dispose()
    services = build_services(Settings(database_url=empty_database_url))  # migrates to 0010+
    try:
        (app,) = services.applications.list_for_account(account_id)
        assert (app.name, app.publishing) == ("old-app", "open")
        services.stream_users.check_publish(app, "cam1", {})  # admitted, as before
        new = services.applications.create(account_id, "new-app")
        with pytest.raises(PermissionDenied, match="needs publisher credentials"):
            services.stream_users.check_publish(new, "cam1", {})
    finally:
        services.close()


# -- closing for good, removing, updating -----------------------------------------------------


async def test_close_with_lock_keeps_the_encoder_out_until_unlocked(
    origin_world: OriginWorld, call: CallCommand, other: CallCommand
) -> None:
    world = origin_world
    add(call)
    live = await publish(world, "cam1", "1", user="enc", **{"pass": PASSWORD})
    bad = call("stream.close", stream_id=live.id, lock="yes")
    assert (bad["code"], "lock" in bad["message"]) == ("0008", True)
    closed = call("stream.close", stream_id=live.id, lock=1)
    assert (closed["status"], closed["locked"]) == ("success", True)
    assert "is locked" in await refused(world, "cam1", "2", user="enc", **{"pass": PASSWORD})
    assert "is locked" in await refused(world, "cam1", "3", user="enc", **{"pass": PASSWORD})

    assert other("sevu.updatestream", stream_id=live.id, locked=0)["code"] == "0010"
    unlocked = call("sevu.updatestream", stream_id=live.id, locked=0)
    assert (unlocked["locked"], unlocked["stream"]) == (False, "cam1")
    assert (await publish(world, "cam1", "4", user="enc", **{"pass": PASSWORD})).name == "cam1"
    # A plain close locks nothing: the encoder may come back at once.
    again = world.services.streams.active(world.tenant.account.id)[0].stream
    assert call("stream.close", stream_id=again.id)["locked"] is False
    assert await publish(world, "cam1", "5", user="enc", **{"pass": PASSWORD})


async def test_removing_a_stream_user_drops_the_publishers_it_admitted(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    first = add(call)["streamuser"]["streamuser_id"]
    add(call, user="backup")
    live = await publish(world, "cam1", "1", user="enc", **{"pass": PASSWORD})
    assert live.stream_user_id == first
    removed = call("sevu.removestreamuser", streamuser_id=first)
    assert removed["publishers_dropped"] == 1
    assert world.services.streams.active(world.tenant.account.id) == []
    (ended,) = world.services.streams.history(world.tenant.account.id)
    assert ended.end_reason == "its stream user was removed"
    assert "wrong user or pass" in await refused(
        world, "cam1", "2", user="enc", **{"pass": PASSWORD}
    )
    backup = await publish(world, "cam1", "3", user="backup", **{"pass": PASSWORD})
    # Removing another stream user leaves this publisher alone.
    add(call, stream="cam7")
    gone = call("sevu.removestreamuser", app="demo-origin", stream="cam7", user="enc")
    assert gone["publishers_dropped"] == 0
    assert [s.stream.id for s in world.services.streams.active(world.tenant.account.id)] == [
        backup.id
    ]


async def test_updatestream_changes_only_the_settings_given(
    origin_world: OriginWorld, call: CallCommand, other: CallCommand
) -> None:
    world = origin_world
    add(call, record=1, record_type="stream", segment_type="size", segment_value=500)
    add(call, user="backup")
    live = await publish(world, "cam1", "1", user="enc", **{"pass": PASSWORD})
    answer = call("sevu.updatestream", stream_id=live.id, segment_type="duration", segment_value=30)
    assert answer["status"] == "success", answer
    settings = {
        (u["user"], u["record"], u["record_type"], u["segment_type"], u["segment_value"])
        for u in answer["streamusers"]
    }
    assert settings == {
        ("enc", True, "stream", "duration", "30"),
        ("backup", False, None, "duration", "30"),
    }
    assert (
        call("sevu.updatestream", stream_id=live.id, record=False)["streamusers"][0]["record"]
        is False
    )
    for params, code, named in [
        ({"stream_id": live.id, "segment_type": "weekly"}, "0008", "segment_type"),
        ({"stream_id": live.id, "locked": 2}, "0008", "locked"),
        ({"stream_id": 99999}, "0010", "99999"),
        ({}, "0006", "stream_id"),
    ]:
        failed = call("sevu.updatestream", **params)
        assert (failed["code"], named in failed["message"]) == (code, True), failed
    assert other("sevu.updatestream", stream_id=live.id, record=1)["code"] == "0010"
    # A stream without stream users has no settings to change (its lock it has).
    bare = await publish(world, "cam2", "2")  # open publishing
    none = call("sevu.updatestream", stream_id=bare.id, record=1)
    assert (none["code"], "sevu.addstreamuser" in none["message"]) == ("0010", True)
    assert call("sevu.updatestream", stream_id=bare.id, locked=1)["locked"] is True


async def test_stream_details(
    origin_world: OriginWorld, call: CallCommand, other: CallCommand
) -> None:
    world = origin_world
    add(call, record=1, segment_type="duration", segment_value=15)
    live = await publish(world, "cam1", "1", user="enc", **{"pass": PASSWORD})
    found = call("stream.details", stream_id=live.id)
    assert found["status"] == "success", found
    assert (found["live"], found["stream"], found["inst"], found["origin_url"]) == (
        True,
        "cam1",
        "live",
        "origin1.example.net",
    )
    assert (found["publisher_ip"], found["viewers"], found["locked"]) == ("192.0.2.10", 0, False)
    assert found["streamuser_id"] == live.stream_user_id
    assert found["settings"]["segment_type"] == "duration"
    assert found["media"]["video_codec"] is None  # the fake origin measures nothing
    by_name = call("stream.details", app="demo-origin", inst="live", stream="cam1")
    assert by_name["stream_id"] == live.id

    world.adapter.down = True  # the origin does not answer: the rest is still shown
    unreachable = call("stream.details", stream_id=live.id)
    assert (unreachable["media"], unreachable["live"]) == (None, True)
    assert unreachable["media_error"]
    world.adapter.down = False

    call("stream.close", stream_id=live.id, lock=1)
    ended = call("stream.details", stream_id=live.id)
    assert (ended["live"], ended["end_reason"], ended["locked"]) == (
        False,
        "closed by stream.close",
        True,
    )
    assert ended["media"] is None and ended["ended"]
    for params, code in [
        ({"stream_id": live.id}, "0010"),
        ({"app": "demo-origin", "inst": "live", "stream": "cam1"}, "0010"),
    ]:
        assert other("stream.details", **params)["code"] == code
    for params, code in [
        ({}, "0006"),
        ({"app": "demo-origin", "stream": "cam1"}, "0006"),
        ({"app": "demo-origin", "inst": "live", "stream": "never"}, "0010"),
        ({"stream_id": "x"}, "0008"),
    ]:
        assert call("stream.details", **params)["code"] == code, params
