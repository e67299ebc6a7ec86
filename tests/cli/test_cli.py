from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from cdnpanel.cli import main
from tests.conftest import LiveServer


@pytest.fixture
def cdnpanel(database_url: str) -> Callable[..., tuple[int, str, str]]:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, ["--db", database_url, *args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_account_key_app_life_cycle(cdnpanel: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cdnpanel("account", "create", "--name", "Acme", "--cdn", "158", "--json")
    assert code == 0 and json.loads(out)["cdn"] == 158
    code, out, _ = cdnpanel("key", "create", "--cdn", "158", "--json")
    created = json.loads(out)
    assert len(created["api_key"]) == 32 and len(created["secret"]) == 64
    code, out, _ = cdnpanel("key", "list", "--cdn", "158", "--json")
    assert created["secret"] not in out
    assert json.loads(out)["keys"][0]["active"] is True
    assert cdnpanel("app", "create", "--cdn", "158", "--name", "acme-origin", "--json")[0] == 0
    code, out, _ = cdnpanel("app", "list", "--cdn", "158", "--json")
    assert [a["name"] for a in json.loads(out)["applications"]] == ["acme-origin"]
    assert cdnpanel("key", "revoke", "--cdn", "158", created["api_key"])[0] == 0
    code, _out, err = cdnpanel("key", "revoke", "--cdn", "158", created["api_key"])
    assert code == 1 and "not found" in err


def test_errors_are_one_line_on_stderr(cdnpanel: Callable[..., tuple[int, str, str]]) -> None:
    cdnpanel("account", "create", "--name", "A", "--cdn", "158")
    cdnpanel("account", "create", "--name", "B", "--cdn", "159")
    cdnpanel("app", "create", "--cdn", "158", "--name", "taken")
    code, _, err = cdnpanel("app", "create", "--cdn", "159", "--name", "taken")
    assert code == 1 and err.startswith("error: ") and "unique across all accounts" in err
    code, _, err = cdnpanel("account", "create", "--name", "C", "--cdn", "158")
    assert code == 1 and "already taken" in err
    code, _, err = cdnpanel("key", "create", "--cdn", "999")
    assert code == 1 and "999" in err
    code, _, err = cdnpanel("app", "create", "--cdn", "158", "--name", "bad/name")
    assert code == 1 and "application name" in err


def test_help_does_not_touch_the_database(tmp_path: object) -> None:
    result = CliRunner().invoke(
        main, ["--db", "postgresql://nobody@127.0.0.1:1/none", "key", "--help"]
    )
    assert result.exit_code == 0 and "secret" in result.stdout


def test_call_goes_through_the_sdk(
    cdnpanel: Callable[..., tuple[int, str, str]],
    live_server_factory: Callable[..., LiveServer],
    database_url: str,
) -> None:
    cdnpanel("account", "create", "--name", "A", "--cdn", "158")
    cdnpanel("app", "create", "--cdn", "158", "--name", "demo-origin")
    key = json.loads(cdnpanel("key", "create", "--cdn", "158", "--json")[1])
    server = live_server_factory(database_url)
    common = [
        "--url",
        f"{server.url}/stable/",
        "--cdn",
        "158",
        "--api-key",
        key["api_key"],
        "--secret",
        key["secret"],
    ]
    code, out, _ = cdnpanel("call", "video.getapps", *common)
    assert code == 0 and json.loads(out)["data"][0]["name"] == "demo-origin"
    code, out, _ = cdnpanel("call", "video.getapps", "app:=[1]", *common)
    assert code == 1 and json.loads(out)["param"] == "app"
