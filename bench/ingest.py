"""Benchmark (issue 5): ingesting access logs, and the usage reports over a year of rollups.

    scripts/bench ingest                 # 1 GB log, gzip, 5 GB memory check, the reports
    scripts/bench ingest --big-gb 0      # without the 5 GB run

1. A generated 1 GB nginx ``combined`` log (bench/loggen.py), ingested by the real
   ``cdnpanel ingest`` into a fresh SQLite database, beside ``wc -l`` on the same file in the
   same run (rounds alternate), and beside the same ingest without per-URL rollups
   (``CDNPANEL_USAGE_PER_URL=false``, issue 17). Reported: the ingest's own time (reading,
   parsing and the commit, as the command prints it) and the process's wall time (Python
   start-up, schema creation included); lines/s; the ratio to ``wc -l``. The totals are
   checked against the generator's, and the per-URL rows against them.
2. The same log gzip-compressed (level 6).
3. Memory: a 5 GB log, the peak RSS of the ingest's whole process tree (main process and
   parsing workers), sampled every 50 ms.
4. ``video.servers`` and ``usage.summary`` over a year of rollups for 100 servers x 50
   applications (1,825,000 rows), and ``video.usage`` over a month of one application with
   100,000 distinct URLs, signed requests over HTTP one at a time (wrk, one connection):
   p50/p99 latency and the server's handle_time p99.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _harness import (
    bench_database,
    parse_percentile,
    parse_rps,
    require_wrk,
    server,
    signed_bodies,
    signed_wrk,
)
from loggen import generate

from cdnpanel.config import Settings
from cdnpanel.wiring import build_services

GB = 1024**3


def timed(argv: list[str], **kwargs: Any) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")
    return elapsed, done.stdout + done.stderr


def fresh_database(workdir: Path, name: str) -> str:
    """A new SQLite database with the generator's applications and the server HML."""
    url, services, account = bench_database(workdir, name)
    for app in ("demo-origin", "demo-vod", "news-live", "sports-hd"):
        services.applications.create(account.id, app)
    services.usage.add_server("HML", "edge")
    services.close()
    return url


def ingest(url: str, log: Path, workdir: Path, *, per_url: bool = True) -> tuple[float, float, str]:
    """(wall seconds, the ingest's own seconds, its summary line)."""
    env = {**os.environ, "CDNPANEL_USAGE_PER_URL": "true" if per_url else "false"}
    wall, out = timed(
        [sys.executable, "-m", "cdnpanel", "--db", url, "ingest", "--server", "HML", str(log)],
        cwd=workdir,
        env=env,
    )
    match = re.search(r"in ([\d.]+) s \(", out)
    if not match or "ingested" not in out:
        sys.exit(f"unexpected ingest output: {out}")
    return wall, float(match.group(1)), out.strip()


def check_totals(url: str, expected: dict[str, Any], *, per_url: bool = True) -> None:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        videos = conn.execute(
            "SELECT date(v.day * 86400, 'unixepoch'), a.name, sum(v.bytes), sum(v.requests), "
            "count(*) FROM usage_videos_daily v JOIN applications a ON a.id = v.application_id "
            "GROUP BY 1, 2"
        ).fetchall()
        if not per_url and videos:
            sys.exit("per-URL rows written with CDNPANEL_USAGE_PER_URL=false")
        for day, app, sent, count, distinct in videos if per_url else []:
            if expected["days"].get(f"{day} {app}") != [sent, count]:
                sys.exit(f"per-URL rows of {day} {app} do not add up to the generator's")
            if distinct < 10:  # the generator plays 16 to 20 streams an application
                sys.exit(f"{day} {app}: only {distinct} videos")
        rows = conn.execute(
            "SELECT date(u.day * 86400, 'unixepoch'), a.name, sum(u.bytes), sum(u.requests) "
            "FROM usage_daily u JOIN applications a ON a.id = u.application_id GROUP BY 1, 2"
        ).fetchall()
        rows += conn.execute(
            "SELECT date(day * 86400, 'unixepoch'), app, sum(bytes), sum(requests) "
            "FROM usage_unattributed GROUP BY 1, 2"
        ).fetchall()
        (attributed,) = conn.execute("SELECT coalesce(sum(bytes), 0) FROM usage_daily").fetchone()
        (bucketed,) = conn.execute(
            "SELECT coalesce(sum(bytes), 0) FROM usage_account_5min"
        ).fetchone()
    got = {f"{day} {app}": [sent, count] for day, app, sent, count in rows}
    if got != expected["days"]:
        sys.exit(f"totals differ from the generator's:\n{got}\n{expected['days']}")
    if bucketed != attributed:  # the 95th percentile's samples hold every attributed byte
        sys.exit(f"5-minute buckets hold {bucketed} bytes, the daily rollups {attributed}")


def peak_tree_rss(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, peak RSS of the whole process tree, peak RSS of the main process) in MiB."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = _tree(process.pid)
            sizes = {pid: _rss(pid) for pid in tree}
            peaks[0] = max(peaks[0], sum(sizes.values()))
            peaks[1] = max(peaks[1], sizes.get(process.pid, 0))
            time.sleep(0.05)

    started = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"ingest failed: {out.decode(errors='replace')}")
    return elapsed, peaks[0] / 1024, peaks[1] / 1024


def _tree(root: int) -> list[int]:
    pids, found = [root], [root]
    while found:
        children = []
        for pid in found:
            try:
                text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            except OSError:
                continue
            children += [int(c) for c in text.split()]
        pids += children
        found = children
    return pids


def _rss(pid: int) -> int:
    """Resident set in KiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- the reports over a year of rollups ----------------------------------------------------------


def populate_year(url: str, servers: int = 100, apps: int = 50, days: int = 365) -> int:
    """A year of rollups for ``servers`` x ``apps`` of one account, as ingests leave them."""
    services = build_services(Settings(database_url=url))
    account = services.accounts.create_account("reports", cdn_id=159)
    app_ids = [services.applications.create(account.id, f"app{i:02d}").id for i in range(apps)]
    server_ids = [
        services.usage.add_server(f"S{i:03d}", ("edge", "cdn", "origin", "videocdn")[i % 4]).id
        for i in range(servers)
    ]
    roles = {sid: ("edge", "cdn", "origin", "videocdn")[i % 4] for i, sid in enumerate(server_ids)}
    services.close()
    first = 20777 - days + 1  # the year ending 2026-11-20
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = 0
        for day in range(first, first + days):
            daily = [
                (app, day, sid, account.id, (app * 7 + sid) * 1_000_003, app + sid + 1)
                for app in app_ids
                for sid in server_ids
            ]
            conn.executemany(
                "INSERT INTO usage_daily (application_id, day, server_id, account_id, bytes, "
                "requests) VALUES (?, ?, ?, ?, ?, ?)",
                daily,
            )
            rows += len(daily)
            per_server: dict[int, list[int]] = {}
            per_role: dict[str, list[int]] = {}
            for _app, _day, sid, _acc, sent, count in daily:
                row = per_server.setdefault(sid, [0, 0])
                row[0] += sent
                row[1] += count
                role = per_role.setdefault(roles[sid], [0, 0])
                role[0] += sent
                role[1] += count
            conn.executemany(
                "INSERT INTO usage_account_server_daily VALUES (?, ?, ?, ?, ?)",
                [(account.id, day, sid, b, r) for sid, (b, r) in per_server.items()],
            )
            conn.executemany(
                "INSERT INTO usage_account_daily VALUES (?, ?, ?, ?, ?)",
                [(account.id, day, role, b, r) for role, (b, r) in per_role.items()],
            )
        # One application's month of 100,000 distinct URLs (half of them VOD paths), as the
        # per-URL rollup leaves them.
        month = 20758  # 2026-11-01
        conn.executemany(
            "INSERT INTO usage_videos_monthly (application_id, month, video, account_id, kind, "
            "bytes, requests) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    app_ids[0],
                    month,
                    f"sestore/reports/file{i}.mp4" if i % 2 else f"stream{i}",
                    account.id,
                    "vod" if i % 2 else "live",
                    (i * 7919) % 1_000_003 * 1000,
                    i % 977 + 1,
                )
                for i in range(100_000)
            ],
        )
        conn.execute("ANALYZE")
    return rows


def report_run(base: str, url: str, workdir: Path, command: str, params: dict[str, Any]) -> str:
    services = build_services(Settings(database_url=url))
    key = services.accounts.create_key(159)
    services.close()
    bodies = signed_bodies(key.key.api_key, key.secret, 159, 30_000, command=command, params=params)
    return signed_wrk(base, bodies, workdir, seconds=8, connections=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0, help="size of the log (GiB)")
    parser.add_argument("--big-gb", type=float, default=5.0, help="size of the memory run; 0: skip")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep generated logs here between runs")
    args = parser.parse_args()
    require_wrk()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cdnpanel-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"access-{args.gb:g}g.log"
    totals_file = log.with_suffix(".json")
    if not (log.exists() and totals_file.exists()):
        print(f"generating {log} ...", file=sys.stderr)
        totals_file.write_text(json.dumps(generate(log, int(args.gb * GB))))
    expected = json.loads(totals_file.read_text())
    packed = log.with_suffix(".log.gz")
    if not packed.exists():
        print(f"compressing {packed} ...", file=sys.stderr)
        with packed.open("wb") as out:
            subprocess.run(["gzip", "-6", "-c", str(log)], stdout=out, check=True)

    wc, plain, apps_only, gz = [], [], [], []
    for round_ in range(args.rounds):
        wc.append(timed(["wc", "-l", str(log)])[0])
        url = fresh_database(workdir, f"apps{round_}")
        apps_only.append(ingest(url, log, workdir, per_url=False))
        check_totals(url, expected, per_url=False)
        url = fresh_database(workdir, f"plain{round_}")
        plain.append(ingest(url, log, workdir))
        check_totals(url, expected)
        url = fresh_database(workdir, f"gzip{round_}")
        gz.append(ingest(url, packed, workdir))
        check_totals(url, expected)

    big = None
    if args.big_gb > 0:
        big_log = workdir / f"access-{args.big_gb:g}g.log"
        if not big_log.exists():
            print(f"generating {big_log} ...", file=sys.stderr)
            generate(big_log, int(args.big_gb * GB), seed=2)
        url = fresh_database(workdir, "big")
        argv = [
            sys.executable,
            "-m",
            "cdnpanel",
            "--db",
            url,
            "ingest",
            "--server",
            "HML",
            str(big_log),
        ]
        big = (big_log.stat().st_size, *peak_tree_rss(argv, workdir))

    reports_url = f"sqlite:///{workdir}/reports.db"
    Path(reports_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    rows = populate_year(reports_url)

    def servers(count: int) -> tuple[str, dict[str, Any]]:
        names = [f"app{i:02d}" for i in range(count)]
        return "video.servers", {"app": names if count > 1 else names[0], "starttime": "2026-10-01"}

    cases = {
        "video.servers, 1 app": servers(1),
        "video.servers, 10 apps": servers(10),
        "video.servers, 25 apps": servers(25),
        "video.servers, 49 of 50 apps": servers(49),
        "video.servers, all 50 apps": servers(50),
        "usage.summary (a month)": ("usage.summary", {"starttime": "2026-10-01"}),
        "video.usage, a month of 100,000 URLs, first 1,000": (
            "video.usage",
            {"app": "app00", "year": 2026, "month": 11, "limit": 1000},
        ),
        "video.usage, the same, rows 99,001-100,000": (
            "video.usage",
            {"app": "app00", "year": 2026, "month": 11, "limit": 1000, "offset": 99_000},
        ),
        "usage.vse, the same month (50,000 VOD paths), first 1,000": (
            "usage.vse",
            {"app": "app00", "year": 2026, "month": 11, "limit": 1000},
        ),
    }
    with server(reports_url, workdir) as base:
        reports = {
            name: report_run(base, reports_url, workdir, c, p) for name, (c, p) in cases.items()
        }

    lines = expected["lines"]
    size = expected["bytes"]
    wc_median = statistics.median(wc)
    print(
        f"log: {size / 1e9:.2f} GB, {lines:,} lines (combined); totals checked against the generator"
    )
    print()
    print("| run | median of rounds | lines/s | vs wc -l |")
    print("|---|---|---|---|")
    print(f"| `wc -l` | {wc_median:.2f} s | {lines / wc_median:,.0f} | 1 |")
    for name, runs in (
        ("plain", plain),
        ("plain without per-URL rollups", apps_only),
        ("gzip", gz),
    ):
        own = statistics.median(r[1] for r in runs)
        wall = statistics.median(r[0] for r in runs)
        print(
            f"| **ingest {name}**, the job (read, parse, commit) | **{own:.2f} s** | "
            f"**{lines / own:,.0f}** | {own / wc_median:.1f} x |"
        )
        print(
            f"| ingest {name}, the process (start-up, schema) | {wall:.2f} s | "
            f"{lines / wall:,.0f} | {wall / wc_median:.1f} x |"
        )
    print()
    ratios = [without[1] / with_[1] for with_, without in zip(plain, apps_only, strict=True)]
    print(
        f"**per-URL rollups: throughput with / without, median of the rounds' ratios "
        f"{statistics.median(ratios):.2f}** (rounds {', '.join(f'{r:.2f}' for r in ratios)}; "
        "target ≥ 0.8)"
    )
    print(
        f"rounds: wc {', '.join(f'{t:.2f}' for t in wc)}; plain job {', '.join(f'{r[1]:.2f}' for r in plain)}; "
        f"without per-URL {', '.join(f'{r[1]:.2f}' for r in apps_only)}; "
        f"gzip job {', '.join(f'{r[1]:.2f}' for r in gz)}"
    )
    if big:
        print(
            f"memory: {big[0] / 1e9:.2f} GB log ingested in {big[1]:.1f} s; peak RSS of the process tree "
            f"{big[2]:.0f} MiB (main process {big[3]:.0f} MiB); target ≤ 300 MiB"
        )
    print()
    print(
        f"reports over {rows:,} rollup rows (a year, 100 servers x 50 applications), one request at a time:"
    )
    print()
    print("| command | answers/s | p50 | p99 | handle_time p99 |")
    print("|---|---|---|---|---|")
    for name, output in reports.items():
        handle = re.search(r"handle_time p99: ([\d.]+) ms", output)
        bad = re.search(r"non-success answers: (\d+)", output)
        if bad and int(bad.group(1)):
            sys.exit(f"{name}: {bad.group(1)} answers were failures:\n{output}")
        print(
            f"| {name} | {parse_rps(output):,.0f} | {parse_percentile(output, '50'):.2f} ms | "
            f"**{parse_percentile(output, '99'):.2f} ms** | {handle.group(1) if handle else '?'} ms |"
        )
    print("targets: ≤ 20 ms p99 (video.servers, usage.summary); ≤ 50 ms p99 (video.usage)")


if __name__ == "__main__":
    main()
