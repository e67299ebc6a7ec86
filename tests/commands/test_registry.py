from __future__ import annotations

import pytest

from cdnpanel.commands.params import AppRefs
from cdnpanel.commands.registry import Answer, CommandContext, Params, Registry, command
from cdnpanel.errors import InvalidParameter, MissingFields, UnknownCommand
from cdnpanel.wiring import build_registry


class ServersParams(Params):
    app: AppRefs
    starttime: str | int | None = None


@command("test.servers", params=ServersParams, summary="test")
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
