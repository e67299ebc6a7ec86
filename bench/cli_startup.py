"""Benchmark: how long the ``cdnpanel`` command takes, as a whole process, beside ``python -c
pass`` (issue 12: a cron-driven ingest, a script calling ``cdnpanel call`` in a loop).

    scripts/bench cli

Each command runs ``--runs`` times (5 by default) in turns with the others; the table shows
each one's median wall time and its excess over a bare interpreter. ``call video.getapps``
goes to a real server on the same machine, started for the benchmark.
Targets: ``cdnpanel --help`` <= 0.3 s, ``cdnpanel call video.getapps`` <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import bench_database, server

CDNPANEL = str(Path(sys.executable).with_name("cdnpanel"))


def wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, services, _account = bench_database(workdir)
        issued = services.accounts.create_key(158)
        services.close()
        with server(url, workdir) as base:
            env = {
                **os.environ,
                "CDNPANEL_URL": f"{base}/stable/",
                "CDNPANEL_CDN": "158",
                "CDNPANEL_API_KEY": issued.key.api_key,
                "CDNPANEL_SECRET": issued.secret,
                "CDNPANEL_DATABASE_URL": url,
            }
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "cdnpanel --help": [CDNPANEL, "--help"],
                "cdnpanel --version": [CDNPANEL, "--version"],
                "cdnpanel call video.getapps": [CDNPANEL, "call", "video.getapps"],
                "cdnpanel account list": [CDNPANEL, "account", "list"],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, argv in commands.items():
                    times[name].append(wall(argv, env))
    bare = statistics.median(times["python -c pass"])
    print(f"\n| command | median of {args.runs} (s) | over python -c pass (s) |")
    print("|---|---|---|")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"| `{name}` | {median:.3f} | {median - bare:+.3f} |")


if __name__ == "__main__":
    main()
