"""cdnpanel server, ingest, meter and usage from the command line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdnpanel.cli import main
from tests.ingest.logs import combined_log

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cdnpanel(database_url: str) -> Run:
    runner = CliRunner()

    def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        result = runner.invoke(
            main, ["--db", database_url, *args], input=stdin, catch_exceptions=False
        )
        return result.exit_code, result.stdout, result.stderr

    run("account", "create", "--name", "Acme", "--cdn", "158")
    run("app", "create", "--cdn", "158", "--name", "live")
    run("app", "create", "--cdn", "158", "--name", "vod")
    return run


def test_servers(cdnpanel: Run) -> None:
    assert cdnpanel("server", "add", "HML", "--role", "edge") == (
        0,
        "server HML (edge) added\n",
        "",
    )
    code, out, _ = cdnpanel("server", "add", "ORG", "--role", "origin", "--json")
    assert json.loads(out)["role"] == "origin"
    code, _, err = cdnpanel("server", "add", "HML", "--role", "edge")
    assert code == 1 and "exists already" in err
    code, _, err = cdnpanel("server", "add", "bad name", "--role", "edge")
    assert code == 1 and "server name" in err
    code, _, err = cdnpanel("server", "add", "X", "--role", "proxy")
    assert code == 2 and "proxy" in err
    code, out, _ = cdnpanel("server", "list", "--json")
    assert [s["name"] for s in json.loads(out)["servers"]] == ["HML", "ORG"]


def test_ingest_files_stdin_and_reports(cdnpanel: Run, tmp_path: Path) -> None:
    cdnpanel("server", "add", "HML", "--role", "edge")
    data, expected = combined_log(2000)
    log = tmp_path / "access.log"
    log.write_bytes(data)
    code, out, err = cdnpanel("ingest", "--server", "HML", str(log))
    assert code == 0 and err == ""
    requests = sum(count for (_day, app), (_b, count) in expected.items() if app != "ghost")
    ghost = sum(count for (_day, app), (_b, count) in expected.items() if app == "ghost")
    lines = data.count(b"\n")
    assert f"ingested (combined): {lines:,} lines" in out
    assert f"{requests:,} requests, {ghost:,} for no known application" in out
    assert "3 lines skipped" in out
    code, out, _ = cdnpanel("ingest", "--server", "HML", str(log))
    assert code == 0 and "up to date" in out
    more, _more_totals = combined_log(300, seed=9, start_second=40000)
    code, out, _ = cdnpanel("ingest", "--server", "HML", "--format", "combined", "-", stdin=more)
    assert code == 0 and "-: ingested (combined): 301 lines" in out and "1 line skipped" in out
    (tmp_path / "old.log.gz").write_bytes(gzip.compress(data))
    code, out, _ = cdnpanel("ingest", "--server", "HML", str(tmp_path / "*.gz"))
    assert code == 0 and "old.log.gz: up to date" in out
    code, out, _ = cdnpanel(
        "usage", "unattributed", "--from", "2026-11-01", "--to", "2026-11-30", "--json"
    )
    rows = json.loads(out)["unattributed"]
    assert {r["app"] for r in rows} == {"ghost"} and sum(r["requests_total"] for r in rows) >= ghost


def test_ingest_bad_input(cdnpanel: Run, tmp_path: Path) -> None:
    cdnpanel("server", "add", "HML", "--role", "edge")
    code, _, err = cdnpanel("ingest", "--server", "NOPE", str(tmp_path / "x.log"))
    assert code == 1 and "NOPE" in err and "server list" in err
    code, _, err = cdnpanel("ingest", "--server", "HML", str(tmp_path / "missing.log"))
    assert code == 1 and "missing.log: unreadable: No such file or directory" in err
    code, _, err = cdnpanel("ingest", "--server", "HML", "--format", "apache", "x")
    assert code == 2 and "apache" in err
    code, _, err = cdnpanel("ingest", "--server", "HML", "-", str(tmp_path / "x"))
    assert code == 2 and "standard input" in err
    (tmp_path / "error.log").write_text("2026/11/20 10:00:00 [error] 1#1: boom\n")
    code, _, err = cdnpanel("ingest", "--server", "HML", str(tmp_path / "error.log"))
    assert code == 1 and "give --format" in err


def test_ingest_refuses_a_log_it_cannot_tell_apart(cdnpanel: Run, tmp_path: Path) -> None:
    cdnpanel("server", "add", "HML", "--role", "edge")
    data, _ = combined_log(2000)
    (tmp_path / "access.log").write_bytes(data)
    assert cdnpanel("ingest", "--server", "HML", str(tmp_path / "access.log"))[0] == 0
    copy = tmp_path / "copy.log"  # its first 200 lines: shorter than the 64 KiB that tell
    copy.write_bytes(b"".join(data.splitlines(keepends=True)[:200]))
    code, out, err = cdnpanel("ingest", "--server", "HML", str(copy))
    assert code == 1 and out == ""
    assert (
        f"copy.log: refused: its first line is that of a log already ingested to byte {len(data):,}"
        in err
    )
    code, out, _ = cdnpanel("ingest", "--server", "HML", str(copy), "--json")
    [log] = json.loads(out)["logs"]
    assert code == 1 and log["status"] == "refused" and "told apart" in log["notes"][0]


def test_meters(cdnpanel: Run) -> None:
    code, out, _ = cdnpanel("meter", "types")
    assert code == 0 and "origin-disk-bytes" in out and "gauge" in out
    code, out, _ = cdnpanel(
        "meter",
        "record",
        "--cdn",
        "158",
        "--type",
        "sql-select",
        "--value",
        "250",
        "--date",
        "2026-11-03",
    )
    assert code == 0 and out == "sql-select for cdn 158 on 2026-11-03: 250 queries added\n"
    code, out, _ = cdnpanel(
        "meter", "record", "--cdn", "158", "--type", "origin-disk-bytes", "--value", "5e9"
    )
    assert code == 0 and "set to" in out
    for args, fragment in (
        (("--type", "sql-select", "--value", "-3"), "value"),
        (("--type", "sql-select", "--value", "nan"), "value"),
        (("--type", "sql-select", "--value", "1", "--date", "2026-02-30"), "not a valid date"),
        (("--type", "cpu", "--value", "1"), "cpu"),
    ):
        code, _, err = cdnpanel("meter", "record", "--cdn", "158", *args)
        assert code in (1, 2) and fragment in err, err
    code, _, err = cdnpanel(
        "meter", "record", "--cdn", "999", "--type", "sql-select", "--value", "1"
    )
    assert code == 1 and "999" in err
