"""Benchmark (issue 14): a change (sevu.request) beside a read (video.getapps), same server.

    scripts/bench changes [--database postgresql]

One uvicorn worker pinned to CPU 0, wrk on CPU 1, a fresh database. Each round runs signed
video.getapps and signed sevu.request back to back (in turns: the read first, then the change
first), every body distinct, and the ratio is the median of the rounds' own ratios. A
sevu.request claims its nonce, stores its ticket and keeps its sealed answer for copies: three
writes, made with the other requests' of the moment by the store's group commit. A Lua check
counts every answer that is not a success.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _harness import (
    bench_database,
    counted,
    parse_rps,
    require_wrk,
    server,
    signed_bodies,
    signed_wrk,
)

TICKET = {"app": "demo-origin", "video": "cam*", "pass": "pw-123456", "ip": "auto/24", "uses": 1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    url, services, account = bench_database(workdir, backend=args.database)
    services.applications.create(account.id, "demo-origin")
    bad = 0

    def run(command: str, params: dict[str, object]) -> float:
        nonlocal bad
        key = services.accounts.create_key(158)
        bodies = signed_bodies(
            key.key.api_key, key.secret, 158, 150_000, command=command, params=params
        )
        out = signed_wrk(
            base, bodies, workdir, seconds=args.seconds, connections=args.connections, latency=False
        )
        bad += counted(out, "non-success answers")
        return parse_rps(out)

    reads: list[float] = []
    changes: list[float] = []
    with server(url, workdir) as base:
        for number in range(args.rounds):
            if number % 2:
                changes.append(run("sevu.request", TICKET))
                reads.append(run("video.getapps", {}))
            else:
                reads.append(run("video.getapps", {}))
                changes.append(run("sevu.request", TICKET))
    services.close()
    ratios = [c / r for c, r in zip(changes, reads, strict=True)]
    print(
        f"| rounds | {args.rounds} x ({args.seconds} s + {args.seconds} s), {args.connections} "
        f"connections, server on CPU 0, wrk on CPU 1, {args.database} |"
    )
    print(
        f"| signed video.getapps rps, median | {statistics.median(reads):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in reads)}) |"
    )
    print(
        f"| signed sevu.request rps, median | {statistics.median(changes):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in changes)}) |"
    )
    print(
        f"| **ratio sevu.request / video.getapps**, median of the rounds' | "
        f"**{statistics.median(ratios):.2f}** (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target ≥ 0.60) |"
    )
    print(f"| non-success answers | {bad} |")


if __name__ == "__main__":
    main()
