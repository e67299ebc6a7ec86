from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdnpanel.commands.params import AppRefs
from cdnpanel.commands.registry import (
    Answer,
    Command,
    CommandContext,
    Params,
    Registry,
    command,
)
from cdnpanel.errors import InvalidParameter, MissingFields, UnknownCommand
from cdnpanel.protocol.request import parse_request
from cdnpanel.records import StreamSettings
from cdnpanel.wiring import Services, build_registry
from tests.client_styles import envelope, php_wire
from tests.conftest import Tenant


class ServersParams(Params):
    app: AppRefs
    starttime: str | int | None = None


@command("test.servers", params=ServersParams, summary="test", uses=())
def servers(_context: CommandContext, params: ServersParams) -> Answer:
    return Answer("ok", {"app": params.app})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (5, [5]),
        ([1, 2], [1, 2]),
        ("demo-origin", ["demo-origin"]),
        (["a", "b"], ["a", "b"]),
        ("7", ["7"]),
    ],
)
def test_app_takes_an_id_ids_a_name_or_names(raw: object, expected: list[object]) -> None:
    assert servers.validate({"app": raw}).app == expected


@pytest.mark.parametrize("raw", [[], True, 1.5, [None], 0, "", ["x" * 101], {"a": 1}])
def test_bad_app_shapes_name_the_parameter(raw: object) -> None:
    with pytest.raises(InvalidParameter) as caught:
        servers.validate({"app": raw})
    assert caught.value.param.startswith("app")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# What a parameter failure must never show the client: the validation library's own names.
_INTERNALS = re.compile(
    r"constrained|function-(after|before|wrap|plain)|\[_|Value error|list\[|union"
)


@pytest.mark.parametrize("name", build_registry().names())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parameter_failures_speak_the_clients_names(name: str, data: st.DataObject) -> None:
    cmd = build_registry().get(name)
    names = cmd.parameter_names
    raw = data.draw(
        st.dictionaries(st.sampled_from(names), _JSON, max_size=len(names))
        if names
        else st.just({})
    )
    try:
        cmd.validate(raw)
    except InvalidParameter as failure:
        assert re.fullmatch(r"[a-z_]+(\[\d+\])*", failure.param), failure.param
        assert failure.param.split("[")[0] in names
        assert not _INTERNALS.search(failure.message), failure.message
        assert len(failure.message) < 300
    except MissingFields as failure:
        assert set(failure.fields) <= set(names)


@pytest.mark.parametrize(
    ("name", "raw", "param", "message"),
    [
        ("vsn.viewercount", {"app": "a", "url": ""}, "url", "at least 1 character"),
        ("vsn.viewercount", {"app": [1], "url": "a"}, "app", "takes one application"),
        ("vsn.viewercount", {"app": "a", "url": ["a", "b\x01"]}, "url[1]", "control characters"),
        ("video.servers", {"app": [1, "", 3]}, "app[1]", "at least 1 character"),
        ("usage.summary", {"starttime": [1]}, "starttime", "a Unix time or a date"),
        ("stream.close", {"stream_id": "abc"}, "stream_id", "a whole number"),
    ],
)
def test_parameter_failures_say_what_is_accepted(
    name: str, raw: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        build_registry().get(name).validate(raw)
    assert caught.value.param == param
    assert message in caught.value.message and not _INTERNALS.search(caught.value.message)


def test_missing_and_unknown_parameters() -> None:
    with pytest.raises(MissingFields) as missing:
        servers.validate({})
    assert missing.value.fields == ("app",)
    with pytest.raises(InvalidParameter, match=r"takes: app, starttime") as extra:
        servers.validate({"app": 1, "strattime": "2026-01-01"})
    assert extra.value.param == "strattime"


def test_registry_refuses_unknown_and_duplicate_commands() -> None:
    registry = Registry([servers])
    assert registry.get("test.servers") is servers
    with pytest.raises(UnknownCommand, match=r"test\.servers"):
        registry.get("nope")
    with pytest.raises(ValueError, match="twice"):
        Registry([servers, servers])


def test_the_shipped_registry_has_video_getapps() -> None:
    assert "video.getapps" in build_registry().names()


def test_a_read_runs_in_place_without_waiting() -> None:
    async def awaits(_context: object, _params: object) -> Answer:
        return Answer("ok")

    with pytest.raises(ValueError, match="without waiting"):
        command("test.remote", params=Params, summary="t", uses=(), blocking_io=True, reads=True)(
            lambda _context, _params: Answer("ok")
        )
    with pytest.raises(ValueError, match="without waiting"):
        command("test.awaits", params=Params, summary="t", uses=(), reads=True)(awaits)


def test_a_command_declares_only_services_that_exist() -> None:
    with pytest.raises(
        ValueError,
        match=r"no service store \(applications, charges, history, stream_users, streams",
    ):
        command("test.store", params=Params, summary="t", uses=("store",))(servers.handler)


def test_a_command_is_given_only_the_services_it_declares(services: Services) -> None:
    getapps = build_registry().get("video.getapps")
    given = build_registry().given(services.commands)["video.getapps"]
    assert given.applications is services.applications
    with pytest.raises(RuntimeError, match=r"video\.getapps uses the tickets service without"):
        given.tickets.get(158, "key")
    assert services.commands.only(getapps).usage is not services.usage


def _services_used(cmd: Command[Any]) -> set[str]:
    """The services a handler's code names: ``context.services.X`` or ``services.X`` (a local
    holding ``context.services``), read from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(cmd.handler))))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
            (isinstance(node.value, ast.Name) and node.value.id == "services")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "services")
        ):
            used.add(node.attr)
    return used


@pytest.mark.parametrize("name", build_registry().names())
def test_every_command_declares_exactly_the_services_its_code_uses(name: str) -> None:
    cmd = build_registry().get(name)
    assert _services_used(cmd) == cmd.uses


READ_CALLS: dict[str, dict[str, Any]] = {
    "video.getapps": {},
    "video.servers": {"app": "demo-origin"},
    "usage.summary": {},
    "usage.data": {},
    "video.usage": {"app": "demo-origin"},
    "usage.vse": {"app": "demo-origin"},
    "video.cdnlong": {"app": "demo-origin"},
    "vsn.viewercount": {"app": "demo-origin", "url": "cam1"},
    "vsn.viewerhistorybyname": {"app": "demo-origin", "url": "cam1"},
    "viewer.livedetailed": {"app": "demo-origin", "url": "cam1"},
    "viewer.live": {"app": "demo-origin"},
    "stream.active": {},
    "sevu.status": {"key": "<ticket>"},
    "sevu.errorcount": {},
    "sevu.errorlog": {"key": "<ticket>"},
    "sevu.liststreamusers": {},
    "sevu.retrievestreamuser": {"app": "demo-origin", "stream": "cam1", "user": "enc"},
}


async def test_reads_never_write(
    services: Services, tenant_factory: Callable[..., Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read is answered afresh for every copy of its request, without a replay claim: were it
    # to write, a copy would change something again.
    registry = build_registry()
    assert sorted(c.name for c in registry if c.reads) == sorted(READ_CALLS)
    tenant = tenant_factory("demo-origin")
    ticket = (
        await services.tickets.issue(
            tenant.account.id, app="demo-origin", video="cam1", password="pw-1234"
        )
    ).ticket
    (app,) = services.applications.resolve(tenant.account.id, ["demo-origin"])
    services.stream_users.add(
        app, stream="cam1", user="enc", password="pw-123456", settings=StreamSettings()
    )
    caller = services.authenticator.verify(parse_request(signed_wire(tenant))).caller

    def no_writes(*_args: object, **_kwargs: object) -> Any:
        raise AssertionError("a read wrote to the store")

    monkeypatch.setattr(services.db, "write", no_writes)
    monkeypatch.setattr(services.db, "submit", no_writes)
    for name, params in READ_CALLS.items():
        params = {k: ticket.key if v == "<ticket>" else v for k, v in params.items()}
        given = registry.given(services.commands)[name]
        answer = registry.get(name).read(CommandContext(caller, given), params)
        assert answer.message, name


def signed_wire(tenant: Tenant) -> str:
    members = envelope("video.getapps", tenant.key.key.api_key, tenant.cdn, 1_795_000_000)
    return php_wire(members, tenant.key.secret)
