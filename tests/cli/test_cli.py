from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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


def test_the_default_database_is_the_same_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from another folder, the CLI used to make an empty ./var/cdnpanel.db and answer
    # "account 158 not found". The default is the user's data folder, whatever the folder.
    monkeypatch.delenv("CDNPANEL_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    runner = CliRunner()
    monkeypatch.chdir(one)
    result = runner.invoke(main, ["account", "create", "--name", "Acme", "--cdn", "158"])
    assert result.exit_code == 0, result.output
    database = tmp_path / "data" / "cdnpanel" / "cdnpanel.db"
    assert f"created a new, empty database at {database}" in result.stderr
    monkeypatch.chdir(two)
    result = runner.invoke(main, ["account", "list", "--json"])
    assert result.exit_code == 0 and "created" not in result.stderr
    assert [a["cdn"] for a in json.loads(result.stdout)["accounts"]] == [158]
    assert list(one.iterdir()) == [] and list(two.iterdir()) == []


def test_database_files_are_readable_by_their_owner_only(
    cdnpanel: Callable[..., tuple[int, str, str]], database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("an SQLite file")
    assert cdnpanel("key", "create", "--cdn", "1", "--json")[0] == 1  # the file exists now
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert files and all(p.stat().st_mode & 0o077 == 0 for p in files)
    path.chmod(0o644)  # as an older cdnpanel left it: tightened on the next open
    cdnpanel("account", "list")
    assert path.stat().st_mode & 0o777 == 0o600
