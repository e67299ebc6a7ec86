from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cdnpanel import __version__
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
    assert f"created a new database at {database}" in result.stderr
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


def test_the_root_help_lists_each_subcommand_by_its_own_help() -> None:
    from cdnpanel.cli._root import SUBCOMMANDS, _Group

    group = main
    assert isinstance(group, _Group)
    ctx = click.Context(group)
    for name, (_path, short) in SUBCOMMANDS.items():
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name
        assert (command.help or "").split("\n\n")[0].split(". ")[0].rstrip(".") + "." == short


def test_help_and_call_import_neither_server_nor_store() -> None:
    # What makes `cdnpanel --help` and `cdnpanel call` take 1 s: the server, the store and
    # pydantic-settings. Checked as imports, not as times (BENCHMARKS.md has the times).
    probe = (
        "import sys; from cdnpanel.cli import main; from cdnpanel.cli._root import _Group; "
        "import click; main.get_command(click.Context(main), 'call'); "
        "heavy = [m for m in ('sqlalchemy', 'uvicorn', 'starlette', 'pydantic_settings', "
        "'cdnpanel.wiring', 'cdnpanel.store.database') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"cdnpanel, version {__version__}"


def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "CDNPANEL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    # Deterministic: the interrupt lands in the middle of the heavy imports.
    interrupted_import = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def hit(name, *a, **k):\n"
        "    if name == 'cdnpanel.wiring': raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = hit\n"
        "sys.argv = ['cdnpanel', 'account', 'list']\n"
        "from cdnpanel.cli import run; run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", interrupted_import], env=env, capture_output=True, check=False
    )
    assert b"Traceback" not in done.stderr and done.returncode in (1, 130), done.stderr
    # And with a real Ctrl-C, once the console script has started.
    script = str(Path(sys.executable).with_name("cdnpanel"))
    for delay in (0.15, 0.3, 0.5):
        process = subprocess.Popen(
            [script, "account", "list"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
        assert b"Traceback" not in err, (delay, err.decode())


def _leaf_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found += _leaf_commands(command, f"{prefix}{name} ")
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_command_but_serve_takes_json() -> None:
    without = [
        name
        for name, command in _leaf_commands(main)
        if not any("--json" in p.opts for p in command.params)
    ]
    assert without == ["serve"]


def test_json_of_the_commands_that_lacked_it(
    cdnpanel: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    cdnpanel("account", "create", "--name", "Acme", "--cdn", "158")
    code, out, _ = cdnpanel("meter", "types", "--json")
    assert code == 0 and "sql-select" in [m["type"] for m in json.loads(out)["meters"]]
    code, out, _ = cdnpanel(
        "meter", "record", "--cdn", "158", "--type", "sql-select", "--value", "12",
        "--date", "2026-11-02", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out) == {
        "cdn": 158, "type": "sql-select", "kind": "counter", "date": "2026-11-02",
        "value": 12.0, "unit": "queries",
    }  # fmt: skip
    cdnpanel("server", "add", "HML", "--role", "edge")
    log = tmp_path / "access.log"
    log.write_text(
        '192.0.2.1 - - [02/Nov/2026:12:00:00 +0000] "GET /nobody/live/a.ts HTTP/1.1" 200 50 '
        '"-" "VLC"\n'
    )
    code, out, _ = cdnpanel("ingest", "--server", "HML", str(log), "--json")
    (report,) = json.loads(out)["logs"]
    assert code == 0 and (report["status"], report["requests"], report["unattributed"]) == (
        "ingested", 0, 1,
    )  # fmt: skip


def test_listings_have_header_rows(cdnpanel: Callable[..., tuple[int, str, str]]) -> None:
    cdnpanel("account", "create", "--name", "Acme", "--cdn", "158")
    cdnpanel("key", "create", "--cdn", "158", "--label", "web")
    cdnpanel("app", "create", "--cdn", "158", "--name", "acme-origin")
    _code, out, _ = cdnpanel("key", "list", "--cdn", "158")
    header, row = out.splitlines()
    assert header.split() == ["API", "KEY", "CREATED", "LAST", "USED", "STATUS", "LABEL"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +- +active +web$", row), row
    assert cdnpanel("account", "list")[1].splitlines()[0].split() == ["CDN", "CREATED", "NAME"]
    assert cdnpanel("app", "list", "--cdn", "158")[1].splitlines()[0].startswith("ID  ")


def test_rate_set_list_remove(cdnpanel: Callable[..., tuple[int, str, str]]) -> None:
    assert cdnpanel("account", "create", "--name", "Acme", "--cdn", "158")[0] == 0
    code, out, _ = cdnpanel(
        "rate", "set", "--cdn", "158", "--type", "edge-bandwidth", "--per", "GB",
        "--price", "0.020", "--currency", "EUR",
    )  # fmt: skip
    assert code == 0 and out.strip() == "edge-bandwidth for cdn 158: 0.02 EUR per GB"
    code, out, _ = cdnpanel(
        "rate", "set", "--cdn", "158", "--type", "edge-requests", "--per", "1M", "--price", "100",
        "--json",
    )  # fmt: skip
    assert json.loads(out) == {
        "cdn": 158, "type": "edge-requests", "per": "1M", "price": "100", "currency": "EUR"
    }  # fmt: skip
    code, out, _ = cdnpanel("rate", "list", "--cdn", "158", "--json")
    assert [(r["type"], r["price"]) for r in json.loads(out)["rates"]] == [
        ("edge-bandwidth", "0.02"),
        ("edge-requests", "100"),
    ]
    code, _out, err = cdnpanel(
        "rate", "set", "--cdn", "158", "--type", "total-requests", "--per", "1", "--price", "1"
    )
    assert code == 1 and "charge the same usage twice" in err
    code, _out, err = cdnpanel(
        "rate", "set", "--cdn", "158", "--type", "edge-bandwidth", "--per", "GB", "--price", "-2"
    )
    assert code == 1 and "price" in err and "Traceback" not in err
    assert cdnpanel("rate", "remove", "--cdn", "158", "--type", "edge-requests")[0] == 0
    code, _out, err = cdnpanel("rate", "remove", "--cdn", "158", "--type", "edge-requests")
    assert code == 1 and "not found" in err
    code, out, _ = cdnpanel("rate", "list", "--cdn", "158")
    assert "edge-bandwidth" in out and "edge-requests" not in out
