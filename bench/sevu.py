"""Benchmark (issue 4): SEVU usher admissions, sevu.request, sevu.errorcount at 1,000,000 attempts.

    scripts/bench sevu

1. Usher checks on one worker (wrk plays nginx's auth_request for viewers with tickets),
   beside GET /health in the same run: steady (2,000 viewers, each with its own ticket, on 20
   streams: after each viewer's first request, checks of running sessions) and a flash crowd
   (every request a viewer not seen before, with its own ticket, on 20 streams: every check is
   an admission written to the store: a use, the session, the attempt). Each is then paced at
   70 % of its maximum for p99.
2. sevu.request per second (distinct signed requests) beside video.getapps in the same run.
3. sevu.errorcount with 1,000,000 attempts in the log: each single filter, in process (p50
   and p99 of 50 calls) and over HTTP (signed, back to back, p99 of the server's handle_time).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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

from cdnpanel.records import Attempt
from cdnpanel.wiring import Services

USHER_LUA = HERE / "usher_checks.lua"
HOOK = "/hooks/origins/origin1.bench/hls"
PASSWORD = "bench-password"
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "success=0 (800,000 match)": {"success": False},
    "app (771,428 match)": {"app": "demo-origin"},
    "video (10,000 match)": {"video": "cam7"},
    "key (100 match)": {"key": "cam7.00000000001b5f.12345678"},
    "ip (16 match)": {"ip": "198.51.3.7"},
    "pass (1,000 match)": {"password": "pw7"},
    "success=0, limit 25, seek 25": {"success": False, "limit": 25, "seek": 25},
}


def populate_attempts(services: Services, count: int) -> None:
    """1,000,000 attempts: 90 % this account's, 10 % another's; keys, IPs and passwords of
    many viewers, 100 videos, two applications, one in ten admitted."""
    account = services.accounts.get_account(158)
    other = services.accounts.create_account("other", cdn_id=159)
    hashes = [services.tickets.hash_pass(f"pw{i}") for i in range(1000)]
    batch: list[Attempt] = []
    for n in range(count):
        batch.append(
            Attempt(
                account.id if n % 10 else other.id,
                None,
                1_795_000_000 + n // 100,
                f"cam{n % 1000}.{n % 10000:014x}.12345678",
                hashes[n % 1000],
                "demo-origin" if n % 7 else "demo-vod",
                "live",
                f"cam{n % 100}",
                f"198.51.{(n // 256) % 256}.{n % 256}",
                "origin1.bench",
                success=n % 10 == 3,
                reason="ok" if n % 10 == 3 else "Invalid IP Address",
            )
        )
        if len(batch) == 20_000:
            services.tickets.record_attempts(batch)
            batch = []
    services.tickets.record_attempts(batch)


def bulk_tickets(services: Services, account_id: int, count: int) -> list[str]:
    """Tickets for any stream of demo-origin, written in one transaction (a bench setup step;
    sevu.request itself is measured below)."""
    from cdnpanel.services.ticket_rules import new_ticket_key, parse_patterns
    from cdnpanel.store.tables import tickets

    pass_hash = services.tickets.hash_pass(PASSWORD)
    now = int(time.time())
    keys = [new_ticket_key(parse_patterns("cam", "video")) for _ in range(count)]
    with services.db.write() as conn:
        conn.execute(
            tickets.insert(),
            [
                {
                    "account_id": account_id,
                    "key": key,
                    "pass_hash": pass_hash,
                    "apps": "demo-origin",
                    "videos": "*",
                    "ip": "",
                    "uses": 0,
                    "created_at": now,
                    "expires_at": now + 86400,
                }
                for key in keys
            ],
        )
    return keys


def usher_run(base: str, keys: Path, mode: str, seconds: int, *, rate: float | None = None) -> str:
    pacing = [] if rate is None else [f"{paced_delay_ms(rate, 32):.3f}"]
    return wrk(
        [
            "-t1",
            "-c32",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(USHER_LUA),
            base + HOOK,
            "--",
            str(keys),
            mode,
            *pacing,
        ]
    )


def admissions(services: Services) -> int:
    """Sessions admitted with a ticket so far (the attempt log's successes)."""
    from sqlalchemy import func, select

    from cdnpanel.store.tables import ticket_attempts

    with services.db.read() as conn:
        query = (
            select(func.count()).select_from(ticket_attempts).where(ticket_attempts.c.success == 1)
        )
        return int(conn.execute(query).scalar_one())


def errorcount_in_process(services: Services) -> dict[str, tuple[float, float]]:
    account = services.accounts.get_account(158)
    results = {}
    for name, where in FILTERS.items():
        times = []
        for _ in range(50):
            started = time.perf_counter()
            services.tickets.count_attempts(account.id, **where)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = (statistics.median(times), statistics.quantiles(times, n=100)[98])
    return results


def signed_run(
    services: Services,
    base: str,
    workdir: Path,
    seconds: int,
    command: str,
    params: dict[str, Any],
    *,
    connections: int = 32,
    count: int = 150_000,
) -> str:
    key = services.accounts.create_key(158)
    bodies = signed_bodies(key.key.api_key, key.secret, 158, count, command=command, params=params)
    return signed_wrk(base, bodies, workdir, seconds=seconds, connections=connections)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    url, services, account = bench_database(workdir)
    app = services.applications.create(account.id, "demo-origin")
    services.applications.create(account.id, "demo-vod")
    issued = services.origins.add("origin1.bench", control_url="http://127.0.0.1:9")
    services.origins.assign(app, "origin1.bench")
    services.applications.protect(app, "sevu")
    os.environ["CDNPANEL_BENCH_HOOK_SECRET"] = issued.secret
    keys_file = workdir / "keys.txt"
    keys_file.write_text("\n".join(bulk_tickets(services, account.id, 2000)))
    # Flash crowds: every request a viewer not seen before (its own ticket) on 20 streams. Each
    # wrk run starts at the first key of its file, so each run gets a file of its own.
    crowds = []
    for run in ("full", "paced"):
        crowd_file = workdir / f"crowd-{run}.txt"
        crowd_file.write_text("\n".join(bulk_tickets(services, account.id, 200_000)))
        crowds.append(crowd_file)
    env = {"CDNPANEL_RECONCILE_INTERVAL": "3600"}  # the bench origin is not a real server

    with server(url, workdir, env=env) as base:
        health = parse_rps(wrk(["-t1", "-c32", f"-d{args.seconds}s", f"{base}/health"]))
        usher: dict[str, tuple[float, str, int]] = {}
        bad = 0
        for mode, full_file, paced_file in (
            ("steady", keys_file, keys_file),
            ("new", crowds[0], crowds[1]),
        ):
            before = admissions(services)
            full = usher_run(base, full_file, mode, args.seconds)
            written = admissions(services) - before
            bad += counted(full, "non-204 answers")
            rate = parse_rps(full)
            paced = usher_run(base, paced_file, mode, args.seconds, rate=0.7 * rate)
            bad += counted(paced, "non-204 answers")
            usher[mode] = (rate, paced, written)
        getapps = signed_run(services, base, workdir, args.seconds, "video.getapps", {})
        request = signed_run(
            services,
            base,
            workdir,
            args.seconds,
            "sevu.request",
            {"app": "demo-origin", "video": "cam*", "pass": PASSWORD, "ip": "auto/24", "uses": 1},
        )
        populate_attempts(services, args.attempts)
        in_process = errorcount_in_process(services)
        over_http = {
            name: signed_run(
                services,
                base,
                workdir,
                args.seconds // 2 or 1,
                "sevu.errorcount",
                {
                    ("pass" if k == "password" else k): (int(v) if isinstance(v, bool) else v)
                    for k, v in where.items()
                },
                connections=1,
                count=20_000,
            )
            for name, where in FILTERS.items()
        }
    services.close()

    print(f"| GET /health rps | {health:,.0f} |")
    for mode, (rate, paced, written) in usher.items():
        if mode == "steady":
            what = "usher checks, steady (2,000 ticketed viewers)"
            proof = f"{written:,} sessions admitted in the run"
        else:
            what = "usher admissions, flash crowd (every request a viewer not seen before)"
            proof = f"{written:,} admissions written in the run: {written / args.seconds:,.0f}/s"
        print(
            f"| **{what}**/s | **{rate:,.0f}** ({rate / health:.2f} x health; target ≥ 5,000); {proof} |"
        )
        print(
            f"| paced at 70 % ({parse_rps(paced):,.0f}/s) | p50 {parse_percentile(paced, '50'):.2f} ms, "
            f"**p99 {parse_percentile(paced, '99'):.2f} ms** (target ≤ 10 ms) |"
        )
    print(f"| answers other than 204 | {bad} |")
    getapps_rps, request_rps = parse_rps(getapps), parse_rps(request)
    print(f"| video.getapps rps (same run) | {getapps_rps:,.0f} |")
    print(
        f"| **sevu.request rps** | **{request_rps:,.0f}** ({request_rps / getapps_rps:.2f} x getapps; target ≥ 2,000); "
        f"non-success {counted(request, 'non-success answers')} |"
    )
    print()
    print(f"sevu.errorcount with {args.attempts:,} attempts in the log (target ≤ 50 ms):")
    print()
    print("| filter | in process p50 | in process p99 | HTTP handle_time p99 (back to back) |")
    print("|---|---|---|---|")
    for name, (p50, p99) in in_process.items():
        match = re.search(r"handle_time p99: ([\d.]+) ms", over_http[name])
        print(f"| {name} | {p50:.2f} ms | {p99:.2f} ms | {match.group(1) if match else '?'} ms |")


if __name__ == "__main__":
    random.seed(1)
    main()
