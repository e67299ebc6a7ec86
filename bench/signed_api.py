"""Benchmark: signed video.getapps vs GET /health on one uvicorn worker, same server, same run.

    scripts/bench signed     (installs wrk, then runs this)

The server runs pinned to CPU 0 and wrk to CPU 1. wrk cycles through pre-generated, distinct
PHP-style signed bodies (urlencoded), so replay protection (a durable claim in SQLite) is on for
every request; a Lua check counts any answer that is not "success". Each round runs GET /health
and the signed requests back to back (in turns: health first, then signed first), and the
ratio is the median of the rounds' own ratios: the machines here change speed from one minute
to the next, and a ratio of neighbours cancels most of that. Then a paced run at 70 % of the
measured signed maximum reports p99, and the in-process cost per signed request is measured
without sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _harness import (
    bench_database,
    corrected_delay_ms,
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

from cdnpanel.web.endpoint import CommandEndpoint
from cdnpanel.wiring import build_registry


def fresh_bodies(services, count: int, *, padded: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    """Bodies signed with a new key, so earlier runs' claims cannot make them replays."""
    key = services.accounts.create_key(158)
    return signed_bodies(key.key.api_key, key.secret, 158, count, padded=padded)


def failures(output: str) -> int:
    return counted(output, "non-success answers")


def in_process_us(services, bodies: list[str], concurrency: int = 1) -> float:  # type: ignore[no-untyped-def]
    """µs per signed request through the endpoint's pipeline, without sockets or HTTP.

    ``concurrency`` requests are in flight at once, as under wrk's connections, so their
    replay claims share commits (group commit) as they do in the server.
    """
    endpoint = CommandEndpoint(services, build_registry())
    content_type = "application/x-www-form-urlencoded"
    encoded = [b.encode() for b in bodies]

    async def run() -> None:
        for start in range(0, len(encoded), concurrency):
            chunk = encoded[start : start + concurrency]
            await asyncio.gather(
                *(endpoint.handle(content_type, body, time.perf_counter()) for body in chunk)
            )

    started = time.perf_counter()
    asyncio.run(run())
    return (time.perf_counter() - started) / len(encoded) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the store behind the server (postgresql: a fresh database on the local server)",
    )
    parser.add_argument(
        "--bodies",
        choices=["stream", "padded"],
        default="stream",
        help="stream: a client's requests as they come (default); padded: the bodies this "
        "benchmark used until 2026-12-01 (see bench/_harness.py signed_bodies)",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run the rounds against the same server with the command endpoint's work "
        "taken out (_empty_post_app.py): the highest ratio a signed request can reach",
    )
    args = parser.parse_args()
    padded = args.bodies == "padded"
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    url, services, account = bench_database(workdir, backend=args.database)
    for name in ("demo-origin", "demo-vod", "demo-live"):
        services.applications.create(account.id, name)

    def run_health() -> float:
        out = wrk(["-t1", f"-c{args.connections}", f"-d{args.seconds}s", f"{base}/health"], cpu=1)
        return parse_rps(out)

    def run_signed() -> float:
        nonlocal bad
        out = signed_wrk(
            base,
            fresh_bodies(services, 150_000, padded=padded),
            workdir,
            seconds=args.seconds,
            connections=args.connections,
            latency=False,
        )
        bad += failures(out)
        return parse_rps(out)

    bad = 0
    with server(url, workdir) as base:
        health_rps: list[float] = []
        signed_rps: list[float] = []
        for round_number in range(args.rounds):
            if round_number % 2:
                signed_rps.append(run_signed())
                health_rps.append(run_health())
            else:
                health_rps.append(run_health())
                signed_rps.append(run_signed())
        # Paced run at 70 % of the signed maximum: each connection waits so the total rate is fixed.
        target = 0.7 * statistics.median(signed_rps)
        connections = 32
        probe_delay_ms = paced_delay_ms(target, connections)
        probe = signed_wrk(
            base,
            fresh_bodies(services, 100_000, padded=padded),
            workdir,
            seconds=3,
            connections=connections,
            latency=False,
            delay_ms=probe_delay_ms,
        )
        bad += failures(probe)
        delay_ms = corrected_delay_ms(target, connections, probe_delay_ms, parse_rps(probe))
        paced = signed_wrk(
            base,
            fresh_bodies(services, 150_000, padded=padded),
            workdir,
            seconds=args.seconds * 2,
            connections=connections,
            delay_ms=delay_ms,
        )
        bad += failures(paced)

    ceiling: list[float] = []
    if args.ceiling:
        with server(url, workdir, empty_commands=True) as base:
            for _round in range(args.rounds):
                health = run_health()
                ceiling.append(run_signed() / health)

    alone = in_process_us(services, fresh_bodies(services, 10_000, padded=padded), concurrency=1)
    together = in_process_us(
        services, fresh_bodies(services, 20_000, padded=padded), concurrency=32
    )
    services.close()

    ratios = [s / h for s, h in zip(signed_rps, health_rps, strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"| rounds | {args.rounds} x ({args.seconds} s + {args.seconds} s), {args.connections} connections, server on CPU 0, wrk on CPU 1, {args.bodies} bodies, {args.database} |"
    )
    print(
        f"| GET /health (bare) rps, median | {statistics.median(health_rps):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in health_rps)}) |"
    )
    print(
        f"| signed video.getapps rps, median | {statistics.median(signed_rps):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in signed_rps)}) |"
    )
    print(
        f"| **ratio signed / bare**, median of the rounds' | **{ratio:.2f}** (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target ≥ {0.6 if args.database == 'sqlite' else 0.4:.2f}) |"
    )
    print(
        f"| paced at 70 % of max ({target:,.0f} rps asked, {parse_rps(paced):,.0f} achieved) | p50 {parse_percentile(paced, '50'):.2f} ms, p90 {parse_percentile(paced, '90'):.2f} ms, **p99 {parse_percentile(paced, '99'):.2f} ms** (target ≤ 20 ms) |"
    )
    print(
        f"| in-process cost per signed request (no sockets) | {together:.1f} µs with 32 in flight "
        f"(claims share commits), {alone:.1f} µs one at a time |"
    )
    print(f"| non-success answers in signed runs | {bad} |")
    if ceiling:
        print(
            f"| ceiling: the same POSTs to the endpoint without its work / health, median | "
            f"{statistics.median(ceiling):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ceiling)}) |"
        )


if __name__ == "__main__":
    main()
