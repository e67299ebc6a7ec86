"""Benchmark (issue 15): nginx-rtmp's on_publish checks, on one uvicorn worker.

    scripts/bench publish

wrk plays nginx-rtmp's ``on_publish`` callbacks (the form it posts, with the encoder's
``user`` and ``pass``) against an application whose publishing needs credentials and has a
``*`` stream user:

1. admitted publishes: each a new encoder with the right credentials and its own stream name,
   so each one is checked and registered as a live stream (a write);
2. refused publishes: the wrong password (the check, no write), the shape of an encoder's
   reconnect loop against a locked or revoked stream;

beside GET /health on the same server in the same rounds; then the admitted checks paced at
70 % of their measured maximum report p99. The HLS and RTMP play checks of issues 3 and 4 are
measured by ``scripts/bench hooks`` and ``scripts/bench sevu``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
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
    wrk,
)

from cdnpanel.records import StreamSettings

PUBLISH_LUA = HERE / "publish_checks.lua"
PASSWORD = "bench-Pa55word-0123"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    url, services, account = bench_database(workdir)
    app = services.applications.create(account.id, "demo-origin")  # publishing: credentials
    issued = services.origins.add("origin1.bench", control_url="http://127.0.0.1:9")
    app = services.origins.assign(app, "origin1.bench")
    services.stream_users.add(
        app, stream="*", user="studio", password=PASSWORD, settings=StreamSettings()
    )
    hook = f"/hooks/origins/origin1.bench/publish?secret={issued.secret}"
    # No reconciliation during the run: the bench origin is not a real server.
    env = {"CDNPANEL_RECONCILE_INTERVAL": "3600"}

    runs_made = itertools.count()

    def publishes(base: str, password: str, *extra: str, seconds: int, latency: bool) -> str:
        expect = "refused" if password != PASSWORD else "admitted"
        flags = ["-t1", "-c32", f"-d{seconds}s", *(["--latency"] if latency else [])]
        script = ["-s", str(PUBLISH_LUA), base + hook, "--", "studio", password, expect]
        return wrk([*flags, *script, str(next(runs_made)), *extra])

    with server(url, workdir, env=env) as base:
        health, admitted, refused, bad = [], [], [], 0
        for _round in range(args.rounds):
            health.append(parse_rps(wrk(["-t1", "-c32", f"-d{args.seconds}s", f"{base}/health"])))
            run = publishes(base, PASSWORD, seconds=args.seconds, latency=False)
            admitted.append(parse_rps(run))
            bad += counted(run, "unexpected answers")
            run = publishes(base, "wrong-password", seconds=args.seconds, latency=False)
            refused.append(parse_rps(run))
            bad += counted(run, "unexpected answers")
        target = 0.7 * statistics.median(admitted)
        delay = f"{paced_delay_ms(target, 32):.3f}"
        paced = publishes(base, PASSWORD, delay, seconds=args.seconds * 2, latency=True)
        bad += counted(paced, "unexpected answers")
    live = len(services.streams.active(account.id))
    services.close()

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:,.0f}" for v in values)

    h = statistics.median(health)
    print(
        f"| rounds | {args.rounds} x {args.seconds} s each, 32 connections, server on CPU 0, wrk on CPU 1 |"
    )
    print(f"| GET /health rps, median | {h:,.0f} (runs: {runs(health)}) |")
    a = statistics.median(admitted)
    print(
        f"| **on_publish admitted (checked and registered)/s, median** | **{a:,.0f}** "
        f"(runs: {runs(admitted)}; {a / h:.2f} x health; target ≥ 2,000) |"
    )
    r = statistics.median(refused)
    print(
        f"| on_publish refused (wrong password)/s, median | {r:,.0f} (runs: {runs(refused)}; {r / h:.2f} x health) |"
    )
    print(
        f"| admitted, paced at 70 % of max ({parse_rps(paced):,.0f}/s achieved) | "
        f"p50 {parse_percentile(paced, '50'):.2f} ms, **p99 {parse_percentile(paced, '99'):.2f} ms** (target ≤ 10 ms) |"
    )
    print(f"| live streams registered by the run | {live:,} |")
    print(f"| unexpected answers | {bad} |")


if __name__ == "__main__":
    main()
