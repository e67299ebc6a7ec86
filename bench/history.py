"""Benchmark (issue 17): viewer history.

    scripts/bench history

1. ``vsn.viewerhistorybyname`` over 14 days at minute resolution (20,160 points) for one
   stream of an application with 14 days of minute history for 50 streams (about 1,000,000
   minute rows), and over 13 months at hour resolution, beside ``video.getapps`` (the plainest
   signed command) in the same run: signed requests one at a time over HTTP (wrk, one
   connection, server on CPU 0): p50/p99 and the server's handle_time p99.
2. Sampling 100,000 live sessions (90,000 HLS, 10,000 RTMP, on 1,000 streams of one
   application, two servers): the CPU time (this process: Python and embedded SQLite) of one
   minute's sample, the day's first (every session a new viewer of the day) and steady minutes
   (1,000 sessions starting each minute), and what a sample a minute costs of one core.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from _harness import (
    bench_database,
    parse_percentile,
    parse_rps,
    require_wrk,
    server,
    signed_bodies,
    signed_wrk,
)

from cdnpanel.records import HlsTouch, StreamKey
from cdnpanel.store.history import ViewerHistory
from cdnpanel.store.tables import viewer_hours, viewer_minutes
from cdnpanel.wiring import Services

STREAMS = 50
DAYS = 14


def populate_history(services: Services, app_id: int, now: int) -> None:
    """14 days of minute samples for ``STREAMS`` streams and the whole application, and 13
    months of hours for the same."""
    minute0 = now - now % 60 - DAYS * 86400 + 60
    hour0 = now - now % 3600 - 396 * 86400 + 3600
    with services.db.write() as conn:
        rows = []
        for m in range(minute0, now + 1, 60):
            total = 0
            for s in range(STREAMS):
                n = (m // 60 + s * 7) % 40
                total += n
                rows.append(
                    {"application_id": app_id, "path": f"cam{s}", "minute": m, "viewers": n}
                )
            rows.append({"application_id": app_id, "path": "", "minute": m, "viewers": total})
            if len(rows) >= 20_000:
                conn.execute(viewer_minutes.insert(), rows)
                rows = []
        if rows:
            conn.execute(viewer_minutes.insert(), rows)
        hours = [
            {
                "application_id": app_id,
                "path": f"cam{s}",
                "hour": h,
                "peak": 39,
                "viewer_minutes": 1200,
            }
            for h in range(hour0, now + 1, 3600)
            for s in range(STREAMS)
        ]
        for i in range(0, len(hours), 20_000):
            conn.execute(viewer_hours.insert(), hours[i : i + 20_000])


def one_at_a_time(
    services: Services, base: str, workdir: Path, seconds: int, command: str, params: dict
) -> str:
    key = services.accounts.create_key(158)
    bodies = signed_bodies(
        key.key.api_key, key.secret, 158, seconds * 500 + 500, command=command, params=params
    )
    return signed_wrk(base, bodies, workdir, seconds=seconds, connections=1)


def handle_p99(output: str) -> float:
    found = re.search(r"handle_time p99: ([\d.]+) ms", output)
    return float(found.group(1)) if found else float("nan")


def sampling(
    services: Services, app_id: int, sessions: int, minutes: int
) -> tuple[float, list[float]]:
    """CPU seconds of the day's first sample and of each steady minute's after it."""
    origins = services.origins.list_origins()
    store = services.viewers._viewers
    history = ViewerHistory(services.db)
    now = int(time.time())
    day = now - now % 86400
    start = day + 3600  # 01:00 of today: a fresh day's first sample
    hls = sessions * 9 // 10
    batch: list[HlsTouch] = []
    for i in range(hls):
        stream = StreamKey(app_id, "live", f"cam{i % 1000}")
        origin = origins[i % len(origins)]
        batch.append(
            HlsTouch(
                origin.id,
                stream,
                f"a:{i:016x}",
                f"198.51.{i % 250}.{i % 200}",
                start,
                start + 86400,
            )
        )
        if len(batch) == 5000:
            store.touch_hls(batch)
            batch = []
    store.touch_hls(batch)
    for i in range(sessions - hls):
        store.open_rtmp(
            origin_id=origins[i % len(origins)].id,
            stream=StreamKey(app_id, "live", f"cam{i % 1000}"),
            client_id=str(i),
            address=f"203.0.{i % 250}.{i % 100}",
            now=start,
        )
    started = time.process_time()
    assert history.sample(start) is not None
    first = time.process_time() - started
    steady = []
    for k in range(1, minutes + 1):
        at = start + 60 * k
        store.touch_hls(
            [
                HlsTouch(
                    origins[0].id,
                    StreamKey(app_id, "live", f"cam{j % 1000}"),
                    f"n:{k}:{j}",
                    "192.0.2.1",
                    at,
                    at + 86400,
                )
                for j in range(1000)
            ]
        )
        started = time.process_time()
        assert history.sample(at + 1) is not None
        steady.append(time.process_time() - started)
    return first, steady


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=10, help="steady minutes sampled")
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    workdir.chmod(0o755)
    url, services, account = bench_database(workdir)
    app = services.applications.create(account.id, "demo-origin")
    for name in ("origin1.bench", "origin2.bench"):
        services.origins.add(name, control_url="http://127.0.0.1:9")
    services.origins.assign(app, "origin1.bench")
    now = int(time.time())
    populate_history(services, app.id, now)
    cases = {
        "video.getapps (baseline)": ("video.getapps", {}),
        "vsn.viewerhistorybyname, 14 days per minute (20,160 points)": (
            "vsn.viewerhistorybyname",
            {"app": "demo-origin", "url": "cam7", "starttime": now - DAYS * 86400 + 60},
        ),
        "vsn.viewerhistorybyname, 14 days per minute, the whole application": (
            "vsn.viewerhistorybyname",
            {"app": "demo-origin", "url": "_root_", "starttime": now - DAYS * 86400 + 60},
        ),
        "vsn.viewerhistorybyname, 13 months per hour (9,504 points)": (
            "vsn.viewerhistorybyname",
            {
                "app": "demo-origin",
                "url": "cam7",
                "resolution": "hour",
                "starttime": now - 396 * 86400 + 3600,
            },
        ),
    }
    env = {"CDNPANEL_RECONCILE_INTERVAL": "3600"}
    results = {}
    with server(url, workdir, env=env) as base:
        for label, (command, params) in cases.items():
            results[label] = one_at_a_time(services, base, workdir, args.seconds, command, params)
    sampled = services.applications.create(account.id, "sampled")
    services.origins.assign(sampled, "origin1.bench")
    first, steady = sampling(services, sampled.id, args.sessions, args.minutes)
    services.close()

    print(f"minute history: {STREAMS} streams x {DAYS} days; one request at a time (wrk -c1)")
    print()
    print("| command | answers/s | p50 | p99 | handle_time p99 |")
    print("|---|---|---|---|---|")
    for label, output in results.items():
        print(
            f"| {label} | {parse_rps(output):,.0f} | {parse_percentile(output, '50'):.2f} ms | "
            f"**{parse_percentile(output, '99'):.2f} ms** | {handle_p99(output):.2f} ms |"
        )
    print("target: ≤ 50 ms p99 (vsn.viewerhistorybyname over 14 days per minute)")
    print()
    median = statistics.median(steady)
    print(f"sampling {args.sessions:,} live sessions (1,000 streams, 2 servers), CPU time:")
    print()
    print("| sample | CPU | of one core, a sample a minute |")
    print("|---|---|---|")
    print(
        f"| the day's first (every session new that day) | {first * 1000:.0f} ms | {first / 60:.2%} |"
    )
    print(
        f"| **steady minute** (1,000 new sessions), median of {len(steady)} | "
        f"{median * 1000:.0f} ms | **{median / 60:.2%}** |"
    )
    print("target: ≤ 5 % of one core")


if __name__ == "__main__":
    main()
