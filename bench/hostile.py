"""Long run: hostile signed requests for every command against a real server (issue 13).

    scripts/bench hostile              (100,000 requests; --requests N for another count)

The generator is the suite's (tests/hostile.py): plausible parameters with hostile values
mixed in, signed with a valid key, so that they reach the commands; the envelope made hostile
now and then, and bodies as every client style sends them. Every answer is judged as the suite
judges it (no 5xx, the JSON envelope, `param` in the client's names, small), and the run
reports the counts by outcome; any answer that fails the judgement is printed and fails the run.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _harness import bench_database, server
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the suite's generator

from tests.hostile import hostile_request, judge

from cdnpanel.wiring import build_registry


def run_command(  # type: ignore[no-untyped-def]
    http: httpx.Client, command, issued, cdn: int, count: int, outcomes, failures
) -> None:
    """``count`` hostile requests to one command, each answer judged and counted."""
    request = hostile_request(
        command.name,
        command.parameter_names,
        api_key=issued.key.api_key,
        secret=issued.secret,
        cdn=cdn,
        now=int(time.time()),
    )

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def send(data: st.DataObject) -> None:
        content_type, body = data.draw(request)
        response = http.post("/stable/", content=body, headers={"content-type": content_type})
        outcome = judge(response.status_code, response.content, command.parameter_names)
        outcomes[(command.name, outcome.kind)] += 1
        if not outcome.ok and len(failures) < 20:
            failures.append(f"{command.name}: {outcome.problem}")

    send()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    registry = build_registry()
    commands = [registry.get(name) for name in registry.names()]
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url, services, account = bench_database(Path(tmp))
        services.applications.create(account.id, "demo-origin")
        issued = services.accounts.create_key(account.cdn_id)
        services.close()
        with server(url, Path(tmp)) as base, httpx.Client(base_url=base, timeout=30) as http:
            per_command = max(1, args.requests // len(commands))
            started = time.perf_counter()
            for command in commands:
                run_command(http, command, issued, account.cdn_id, per_command, outcomes, failures)
            seconds = time.perf_counter() - started
    total = sum(outcomes.values())
    print(f"\n{total:,} hostile requests in {seconds:.0f} s ({total / seconds:,.0f}/s)\n")
    print("| command | answers | success | 0007 | 0008 | 0010 | other codes | not judged ok |")
    print("|---|---|---|---|---|---|---|---|")
    for command in commands:
        mine = {k: v for (c, k), v in outcomes.items() if c == command.name}
        known = ("success", "0007", "0008", "0010")
        other = sum(v for k, v in mine.items() if k not in known and k.isdigit())
        bad = sum(v for k, v in mine.items() if k not in known and not k.isdigit())
        cells = " | ".join(f"{mine.get(k, 0):,}" for k in known)
        print(f"| {command.name} | {sum(mine.values()):,} | {cells} | {other:,} | {bad:,} |")
    if failures:
        print("\nanswers that fail the judgement:", *failures, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
