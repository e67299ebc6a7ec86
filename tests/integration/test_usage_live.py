"""Usage metering end to end: the real `cdnpanel ingest` process (killed with -9 and resumed,
followed, run concurrently) and the PHP seed client reading video.servers and usage.summary
from a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cdnpanel.config import Settings
from cdnpanel.store.tables import ingested_files
from cdnpanel.wiring import Services, build_services
from tests.conftest import LiveServer
from tests.ingest.logs import combined_log, merged, stored_totals

pytestmark = pytest.mark.integration
CLIENTS = Path(__file__).with_name("clients")
# `cdnpanel` with small segments, so a run of a few MB commits many times before it ends.
SMALL_SEGMENTS = (
    "import sys, cdnpanel.ingest.job as job; job.SEGMENT_BYTES = 128 * 1024; "
    "from cdnpanel.cli import main; sys.argv[0] = 'cdnpanel'; main()"
)


@pytest.fixture
def metered(database_url: str) -> Any:
    services = build_services(Settings(database_url=database_url))
    account = services.accounts.create_account("live", cdn_id=158)
    for app in ("live", "vod"):
        services.applications.create(account.id, app)
    issued = services.accounts.create_key(158)
    for name, role in (("HML", "edge"), ("LAX", "edge"), ("ORG", "origin")):
        services.usage.add_server(name, role)
    yield services, issued
    services.close()


def cdnpanel(
    database_url: str, *args: str, small_segments: bool = False, **popen: Any
) -> subprocess.Popen[str]:
    argv = (
        [sys.executable, "-c", SMALL_SEGMENTS]
        if small_segments
        else [sys.executable, "-m", "cdnpanel"]
    )
    return subprocess.Popen(
        [*argv, "--db", database_url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finished(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, out + err
    return out + err


def bytes_done(services: Services) -> int:
    with services.db.read() as conn:
        return int(sum(conn.execute(select(ingested_files.c.bytes_done)).scalars()))


def test_kill_9_mid_ingest_then_resume_equals_a_clean_run(
    metered: Any, database_url: str, tmp_path: Path
) -> None:
    services, _issued = metered
    data, expected = combined_log(60_000)
    log = tmp_path / "access.log"
    log.write_bytes(data)
    args = ("ingest", "--server", "HML", "--workers", "1", str(log))
    process = cdnpanel(database_url, *args, small_segments=True)
    deadline = time.monotonic() + 60
    while bytes_done(services) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    done = bytes_done(services)
    assert 0 < done < len(data), "the kill should land between two commits"
    partial = stored_totals(services)
    assert sum(r[1] for r in partial.values()) < 60_000
    finished(cdnpanel(database_url, *args, small_segments=True))
    assert stored_totals(services) == expected
    assert bytes_done(services) == len(data)


def test_follow_picks_up_growth_and_stops_on_sigterm(
    metered: Any, database_url: str, tmp_path: Path
) -> None:
    services, _issued = metered
    first, totals_first = combined_log(1000, seed=1)
    second, totals_second = combined_log(500, seed=2, start_second=30000)
    third, totals_third = combined_log(800, seed=3, start_second=60000)
    log = tmp_path / "access.log"
    log.write_bytes(first)
    pattern = str(tmp_path / "*.log")
    process = cdnpanel(
        database_url, "ingest", "--server", "HML", "--follow", "--interval", "0.5", pattern
    )
    try:
        wait_for(lambda: stored_totals(services) == totals_first)
        with log.open("ab") as f:
            f.write(second[:-40])  # the last line still being written
        (tmp_path / "lax.log").write_bytes(third)  # a new log matching the pattern
        whole = second.rfind(b"\n", 0, len(second) - 40) + 1
        wait_for(lambda: bytes_done(services) == len(first) + whole + len(third))
        with log.open("ab") as f:
            f.write(second[-40:])
        wait_for(
            lambda: stored_totals(services) == merged(totals_first, totals_second, totals_third)
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out = finished(process, timeout=30)
    assert "lax.log: ingested" in out


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_concurrent_ingesters_lose_nothing(metered: Any, database_url: str, tmp_path: Path) -> None:
    """One ingester per edge, and two racing on the same log: every total exact."""
    services, _issued = metered
    logs, totals = [], []
    for seed in range(3):
        data, expected = combined_log(15_000, seed=seed, start_second=seed * 100)
        path = tmp_path / f"edge{seed}.log"
        path.write_bytes(data)
        logs.append(path)
        totals.append(expected)
    runs = [
        cdnpanel(
            database_url,
            "ingest",
            "--server",
            "HML",
            "--workers",
            "1",
            str(logs[0]),
            small_segments=True,
        ),
        cdnpanel(
            database_url,
            "ingest",
            "--server",
            "LAX",
            "--workers",
            "1",
            str(logs[1]),
            small_segments=True,
        ),
        cdnpanel(
            database_url,
            "ingest",
            "--server",
            "ORG",
            "--workers",
            "1",
            str(logs[2]),
            small_segments=True,
        ),
        cdnpanel(
            database_url,
            "ingest",
            "--server",
            "ORG",
            "--workers",
            "1",
            str(logs[2]),
            small_segments=True,
        ),
    ]
    for run in runs:
        finished(run)
    assert stored_totals(services) == merged(*totals)


def php(server: LiveServer, issued: Any, command: str, **params: Any) -> dict[str, Any]:
    argv = ["php", str(CLIENTS / "seed_client.php"), f"{server.url}/stable/", "158"]
    argv += [issued.key.api_key, issued.secret, command, json.dumps(params)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(json.loads(done.stdout))


def test_php_seed_client_reads_the_totals(
    metered: Any,
    database_url: str,
    tmp_path: Path,
    live_server_factory: Callable[..., LiveServer],
) -> None:
    _services, issued = metered
    edge, edge_totals = combined_log(4000, seed=11)
    origin, origin_totals = combined_log(1000, seed=12)
    (tmp_path / "edge.log").write_bytes(edge)
    (tmp_path / "origin.log").write_bytes(origin)
    finished(cdnpanel(database_url, "ingest", "--server", "HML", str(tmp_path / "edge.log")))
    finished(cdnpanel(database_url, "ingest", "--server", "ORG", str(tmp_path / "origin.log")))
    server = live_server_factory(database_url)

    answer = php(server, issued, "video.servers", app="live", starttime="2026-11-20")
    assert (answer["status"], answer["message"]) == ("success", "Found Video Region Data")
    got = {
        (r["date"], r["server"]): [r["bytes_total"], r["requests_total"]] for r in answer["data"]
    }
    # 30 days from 2026-11-20, but never past today (UTC): days still to come have no rows.
    today = datetime.now(UTC).date()
    assert len(answer["data"]) == 2 * min(30, (today - date(2026, 11, 20)).days + 1)
    for day in ("2026-11-20", "2026-11-21"):
        assert got[(day, "HML")] == edge_totals[(day, "live")]
        assert got[(day, "ORG")] == origin_totals.get((day, "live"), [0, 0])
    both = php(server, issued, "video.servers", app=["live", "vod"], starttime=1_795_132_800)
    assert both["data"][0]["date"] == "2026-11-20"

    summary = php(server, issued, "usage.summary", starttime="2026-11-01")
    values = {label: cell for label, cell in summary["data"]["vals"]}
    owned = ("live", "vod")
    edge_bytes = sum(v[0] for (d, app), v in edge_totals.items() if app in owned)
    origin_requests = sum(v[1] for (d, app), v in origin_totals.items() if app in owned)
    assert values["Edge Bandwidth:"]["v"] == edge_bytes
    assert values["Origin Requests:"] == {"v": origin_requests, "f": f"{origin_requests:,} "}
    assert values["Total Requests:"]["v"] == origin_requests + sum(
        v[1] for (d, app), v in edge_totals.items() if app in owned
    )
    refused = php(server, issued, "video.servers", app="ghost")
    assert refused["status"] == "failure" and "ghost" in refused["message"]
