"""Benchmark (issue 3): the HLS auth_request check, and vsn.viewercount with 100,000 sessions.

    scripts/bench hooks

1. HLS checks per second on one worker: wrk plays nginx's auth_request subrequests for 2,000
   viewers on 20 streams (playlists and segments, the headers the generated config sends),
   beside GET /health on the same server in the same run; then a run paced at 70 % of the
   measured maximum reports p99.
2. vsn.viewercount with no sessions and with 100,000 live sessions in the store (90,000 HLS,
   10,000 RTMP, on 1,000 streams), beside video.getapps (the plainest signed command) in the
   same run: signed requests paced at 200 rps (4 connections) and back to back (one
   connection) report p50 and p99 over HTTP and of the server's own handle_time; and the
   command's own time in process (p99 of 2,000 calls). At the paced light load an idle VM
   adds wake-up latency to every request; the getapps series shows how much is not counting.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from _harness import (
    HERE,
    bench_database,
    counted,
    paced_delay_ms,
    parse_percentile,
    parse_rps,
    require_wrk,
    server,
    signed_bodies,
    signed_wrk,
    wrk,
)

from cdnpanel.commands.registry import CommandContext
from cdnpanel.records import HlsTouch, StreamKey
from cdnpanel.services.authentication import Caller
from cdnpanel.wiring import Services, build_registry

HLS_LUA = HERE / "hls_checks.lua"
HOOK = "/hooks/origins/origin1.bench/hls"


def populate(services: Services, sessions: int) -> None:
    """Live sessions that stay live through the run: HLS expiring in an hour, RTMP players."""
    (origin,) = services.origins.list_origins()
    account = services.accounts.get_account(158)
    (app,) = services.applications.list_for_account(account.id)
    now = int(time.time())
    store = services.viewers._viewers
    hls = sessions * 9 // 10
    batch: list[HlsTouch] = []
    for i in range(hls):
        stream = StreamKey(app.id, "live", f"cam{i % 1000}")
        batch.append(HlsTouch(origin.id, stream, f"a:{i:016x}", "198.51.100.9", now, now + 3600))
        if len(batch) == 5000:
            store.touch_hls(batch)
            batch = []
    store.touch_hls(batch)
    for i in range(sessions - hls):
        store.open_rtmp(
            origin_id=origin.id,
            stream=StreamKey(app.id, "live", f"cam{i % 1000}"),
            client_id=str(i),
            address="198.51.100.9",
            now=now,
        )


def viewercount_in_process(services: Services, calls: int = 2000) -> float:
    """p99 in ms of the command itself (parameters, application, counters), no HTTP."""
    account = services.accounts.get_account(158)
    command = build_registry().get("vsn.viewercount")
    context = CommandContext(Caller(account.id, 158, 0), services.commands.only(command))
    times = []
    for i in range(calls):
        params = {"app": "demo-origin", "url": f"cam{i % 1000}" if i % 2 else ["cam1", "_root_"]}
        started = time.perf_counter()
        command.read(context, params)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(times, n=100)[98]


def signed_series(
    services: Services,
    base: str,
    workdir: Path,
    seconds: int,
    command: str,
    params: dict,
    *,
    paced: bool,
) -> str:
    """wrk on distinct signed ``command`` requests: paced at 200 rps on 4 connections, or
    back to back on one connection (no idle gaps between requests)."""
    key = services.accounts.create_key(158)
    bodies = signed_bodies(
        key.key.api_key, key.secret, 158, seconds * 3000 + 1000, command=command, params=params
    )
    if paced:
        return signed_wrk(
            base, bodies, workdir, seconds=seconds, connections=4, delay_ms=paced_delay_ms(200, 4)
        )
    return signed_wrk(base, bodies, workdir, seconds=seconds, connections=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    url, services, account = bench_database(workdir)
    app = services.applications.create(account.id, "demo-origin")
    issued = services.origins.add("origin1.bench", control_url="http://127.0.0.1:9")
    services.origins.assign(app, "origin1.bench")
    os.environ["CDNPANEL_BENCH_HOOK_SECRET"] = issued.secret
    # No reconciliation during the run: the bench origin is not a real server.
    env = {"CDNPANEL_RECONCILE_INTERVAL": "3600"}

    with server(url, workdir, env=env) as base:
        health_rps, hls_rps, bad = [], [], 0
        for _ in range(args.rounds):
            health_rps.append(
                parse_rps(wrk(["-t1", "-c32", f"-d{args.seconds}s", f"{base}/health"]))
            )
            checks = wrk(
                [
                    "-t1",
                    "-c32",
                    f"-d{args.seconds}s",
                    "-s",
                    str(HLS_LUA),
                    base + HOOK,
                    "--",
                    "2000",
                    "20",
                ]
            )
            hls_rps.append(parse_rps(checks))
            bad += counted(checks, "non-204 answers")
        target = 0.7 * statistics.median(hls_rps)
        paced = wrk(
            [
                "-t1",
                "-c32",
                f"-d{args.seconds * 2}s",
                "--latency",
                "-s",
                str(HLS_LUA),
                base + HOOK,
                "--",
                "2000",
                "20",
                f"{paced_delay_ms(target, 32):.3f}",
            ]
        )
        bad += counted(paced, "non-204 answers")
        count = {"app": "demo-origin", "url": "cam7"}
        full = f"**vsn.viewercount, {args.sessions:,} live sessions**"
        series: dict[str, str] = {}
        for pacing, how in ((True, "paced 200 rps"), (False, "back to back")):
            series[f"video.getapps (baseline), {how}"] = signed_series(
                services, base, workdir, args.seconds, "video.getapps", {}, paced=pacing
            )
        series["vsn.viewercount, no sessions, paced 200 rps"] = signed_series(
            services, base, workdir, args.seconds, "vsn.viewercount", count, paced=True
        )
        empty_in_process = viewercount_in_process(services)
        populate(services, args.sessions)
        for pacing, how in ((True, "paced 200 rps"), (False, "back to back")):
            series[f"{full}, {how}"] = signed_series(
                services, base, workdir, args.seconds, "vsn.viewercount", count, paced=pacing
            )
        full_in_process = viewercount_in_process(services)
    services.close()

    runs = ", ".join(f"{r:,.0f}" for r in hls_rps)
    print(
        f"| rounds | {args.rounds} x {args.seconds} s, 32 connections, server on CPU 0, wrk on CPU 1 |"
    )
    print(f"| GET /health rps, median | {statistics.median(health_rps):,.0f} |")
    print(
        f"| **HLS checks/s, median** | **{statistics.median(hls_rps):,.0f}** (runs: {runs}; target ≥ 5,000) |"
    )
    print(
        f"| HLS checks / health | {statistics.median(hls_rps) / statistics.median(health_rps):.2f} |"
    )
    print(
        f"| HLS checks paced at 70 % of max ({parse_rps(paced):,.0f}/s achieved) | "
        f"p50 {parse_percentile(paced, '50'):.2f} ms, **p99 {parse_percentile(paced, '99'):.2f} ms** (target ≤ 10 ms) |"
    )
    print(f"| answers other than 204 | {bad} |")
    print()
    print(
        "| signed requests | HTTP p50 | HTTP p99 | handle_time p50 | handle_time p99 | non-success |"
    )
    print("|---|---|---|---|---|---|")
    for name, output in series.items():
        print(
            f"| {name} | {parse_percentile(output, '50'):.2f} ms | {parse_percentile(output, '99'):.2f} ms "
            f"| {_handle(output, 'p50')} ms | {_handle(output, 'p99')} ms | {counted(output, 'non-success answers')} |"
        )
    print()
    print(
        f"vsn.viewercount in process (the command alone), p99 of 2,000 calls: {empty_in_process:.3f} ms "
        f"with no sessions, {full_in_process:.3f} ms with {args.sessions:,} (target ≤ 2 ms p99)"
    )


def _handle(output: str, which: str) -> str:
    match = re.search(rf"handle_time {which}: ([\d.]+) ms", output)
    return match.group(1) if match else "?"


if __name__ == "__main__":
    main()
