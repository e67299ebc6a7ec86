"""Benchmark (issue 16): cached HLS segments served by an edge, every request checked.

    scripts/bench edge

One origin and one edge from the generated nginx configs (nginx + libnginx-mod-rtmp), on a
SEVU-protected application: 200 viewers, each with its own ticket in its segment URLs
(``?key=...&pass=...``), fetch ten 375 kB segments (2 s at 1.5 Mbit/s) through the edge, wrk
holding 200 connections. The edge serves them from its cache, and asks cdnpanel about every
request (``auth_request``), as in production. Beside it, in the same rounds, the same nginx
binary serves the same files from disk with no check (one worker, sendfile, the same access
log line). nginx and cdnpanel run on CPU 0, wrk on CPU 1.

It reports segments per second through the edge against the plain nginx, and the origin's
requests per segment: the edge's cache fetches each once (``proxy_cache_lock``) however many
viewers ask.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _harness import HERE, bench_database, counted, parse_rps, require_wrk, server, wrk

from cdnpanel.origins.nginx_config import (
    ACCESS_LOG_FORMAT,
    NginxConfigOptions,
    render_edge_config,
    render_nginx_config,
)

LUA = HERE / "edge_segments.lua"
VIEWERS = 200
SEGMENTS = 10
SEGMENT_BYTES = 375_000
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PLAIN_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{
    worker_connections 4096;
}}
http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    map $request_uri $cdnpanel_path {{
        "~^(?<path>[^?]*)" $path;
    }}
    log_format cdnpanel '{log_format}';
    access_log {prefix}/access.log cdnpanel;
    server {{
        listen 127.0.0.1:{port};
        location /demo-origin/live/ {{
            alias {files}/;
        }}
    }}
}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """nginx on ``conf``, pinned to CPU 0 beside cdnpanel, stopped at the end."""

    def __init__(self, prefix: Path, conf: str) -> None:
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(conf)
        self.prefix = prefix
        conf = f"{prefix}/nginx.conf"
        self.process = subprocess.Popen(
            ["taskset", "-c", "0", NGINX, "-p", f"{prefix}/", "-c", conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wait_for(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers at {url}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=VIEWERS)
    args = parser.parse_args()
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="cdnpanel-bench-"))
    workdir.chmod(0o755)  # nginx's workers (nobody) read the files and the cache under it
    url, services, account = bench_database(workdir)
    app = services.applications.create(account.id, "demo-origin")
    services.applications.protect(app, "sevu")
    origin_http, edge_http, plain_http = free_port(), free_port(), free_port()
    origin_control, edge_control = free_port(), free_port()
    origin = services.origins.add(
        "origin1.bench",
        control_url=f"http://127.0.0.1:{origin_control}",
        hls_url=f"http://127.0.0.1:{origin_http}",
        rtmp_url=f"rtmp://127.0.0.1:{free_port()}",
    )
    services.origins.assign(app, "origin1.bench")
    edge = services.origins.add_edge(
        "edge1.bench",
        origins=["origin1.bench"],
        control_url=f"http://127.0.0.1:{edge_control}",
    )
    tickets = asyncio.run(issue_tickets(services, account.id))
    queries = workdir / "queries.txt"
    queries.write_text("\n".join(tickets))
    env = {"CDNPANEL_RECONCILE_INTERVAL": "3600"}  # the bench has no live stream to reconcile

    with server(url, workdir, env=env) as base:
        origin_prefix = workdir / "origin"
        files = origin_prefix / "hls.demo-origin.live" / "cam1"
        files.mkdir(parents=True)
        for n in range(SEGMENTS):
            (files / f"{n}.ts").write_bytes(os.urandom(SEGMENT_BYTES))
            (files / f"{n}.ts").chmod(0o644)
        servers = [
            Nginx(
                origin_prefix,
                render_nginx_config(
                    origin.origin,
                    [app],
                    NginxConfigOptions(
                        prefix=str(origin_prefix),
                        api_url=base,
                        secret=origin.secret,
                        rtmp_listen=f"127.0.0.1:{free_port()}",
                        http_listen=f"127.0.0.1:{origin_http}",
                    ),
                ),
            ),
            Nginx(
                workdir / "edge",
                render_edge_config(
                    edge.origin,
                    [services.origins.get("origin1.bench")],
                    services.origins.applications("edge1.bench"),
                    NginxConfigOptions(
                        prefix=str(workdir / "edge"),
                        api_url=base,
                        secret=edge.secret,
                        rtmp_listen=f"127.0.0.1:{free_port()}",
                        http_listen=f"127.0.0.1:{edge_http}",
                    ),
                ),
            ),
            Nginx(
                workdir / "plain",
                PLAIN_CONF.format(
                    prefix=workdir / "plain",
                    port=plain_http,
                    files=files.parent,
                    log_format=ACCESS_LOG_FORMAT,
                ),
            ),
        ]
        try:
            edge_url = f"http://127.0.0.1:{edge_http}/demo-origin/live/cam1/"
            plain_url = f"http://127.0.0.1:{plain_http}/demo-origin/live/"
            wait_for(edge_url)
            wait_for(plain_url)
            # Every viewer's first request (its ticket's admission), every segment cached.
            warm = run_wrk(edge_url, queries, seconds=3, connections=args.connections)
            edge_runs, plain_runs, bad = [], [], counted(warm, "non-200 answers")
            for _round in range(args.rounds):
                for url_, runs in ((plain_url + "cam1/", plain_runs), (edge_url, edge_runs)):
                    busy = cpu0_busy()
                    out = run_wrk(url_, queries, seconds=args.seconds, connections=args.connections)
                    busy = cpu0_busy() - busy
                    rps = parse_rps(out)
                    # CPU 0's milliseconds per segment served: what the check costs the servers
                    # when the client (wrk) is the bottleneck.
                    runs.append((rps, transfer_mb(out), busy * 1000 / (rps * args.seconds)))
                    bad += counted(out, "non-200 answers")
            log = (origin_prefix / "access.log").read_text()
            origin_fetches = len(re.findall(r'"GET /demo-origin/live/cam1/\d+\.ts ', log))
        finally:
            for nginx in servers:
                nginx.stop()
    sessions = services.viewers.count(app, None)[""]
    services.close()
    report(args, plain_runs, edge_runs, origin_fetches, bad, sessions)


async def issue_tickets(services: object, account_id: int) -> list[str]:
    """One ticket per viewer; its query string as a player sends it."""
    issued = []
    for n in range(VIEWERS):
        ticket = await services.tickets.issue(  # type: ignore[attr-defined]
            account_id, app="demo-origin", video="cam1", password=f"bench-pass-{n:04d}"
        )
        issued.append(f"key={ticket.ticket.key}&pass=bench-pass-{n:04d}")
    return issued


def run_wrk(url: str, queries: Path, *, seconds: int, connections: int) -> str:
    flags = ["-t1", f"-c{connections}", f"-d{seconds}s"]
    return wrk([*flags, "-s", str(LUA), url, "--", str(queries), str(SEGMENTS)])


def cpu0_busy() -> float:
    """Seconds CPU 0 (nginx and cdnpanel) has been busy, from /proc/stat."""
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("cpu0 "):
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                    int, line.split()[1:9]
                )
                ticks = user + nice + system + irq + softirq + steal
                return ticks / os.sysconf("SC_CLK_TCK")
    raise SystemExit("no cpu0 in /proc/stat")


def transfer_mb(output: str) -> float:
    match = re.search(r"Transfer/sec:\s+([\d.]+)(KB|MB|GB)", output)
    assert match, output
    value, unit = float(match.group(1)), match.group(2)
    return value * {"KB": 1 / 1024, "MB": 1, "GB": 1024}[unit]


def report(
    args: argparse.Namespace,
    plain: list[tuple[float, float, float]],
    edge: list[tuple[float, float, float]],
    origin_fetches: int,
    bad: int,
    sessions: int,
) -> None:
    def runs(values: list[tuple[float, float, float]]) -> str:
        return ", ".join(f"{rps:,.0f}" for rps, _, _ in values)

    p = statistics.median(rps for rps, _, _ in plain)
    e = statistics.median(rps for rps, _, _ in edge)
    p_mb = statistics.median(mb for _, mb, _ in plain)
    e_mb = statistics.median(mb for _, mb, _ in edge)
    p_cpu = statistics.median(cpu for _, _, cpu in plain)
    e_cpu = statistics.median(cpu for _, _, cpu in edge)
    print(
        f"| rounds | {args.rounds} x {args.seconds} s each, {args.connections} connections, "
        f"{VIEWERS} viewers with their own tickets, {SEGMENTS} segments of {SEGMENT_BYTES:,} "
        "bytes; nginx and cdnpanel on CPU 0, wrk on CPU 1 |"
    )
    print(
        f"| plain nginx, same files, no check: segments/s, median | {p:,.0f} (runs: {runs(plain)}; {p_mb:,.0f} MB/s) |"
    )
    print(
        f"| **edge, cached, SEVU check on every request: segments/s, median** | **{e:,.0f}** "
        f"(runs: {runs(edge)}; {e_mb:,.0f} MB/s; **{e / p:.2f} x plain**; target ≥ 0.7) |"
    )
    print(
        f"| CPU 0 (nginx + cdnpanel) per segment served, median | plain {p_cpu * 1000:.0f} µs, "
        f"edge {e_cpu * 1000:.0f} µs (the check, the cache and the access log: "
        f"{(e_cpu - p_cpu) * 1000:.0f} µs more) |"
    )
    print(
        f"| origin requests per segment | {origin_fetches / SEGMENTS:.1f} "
        f"({origin_fetches} fetches of {SEGMENTS} segments; goal 1 per edge) |"
    )
    print(f"| viewer sessions counted at the end | {sessions:,} (of {VIEWERS} viewers) |")
    print(f"| answers other than 200 | {bad} |")


if __name__ == "__main__":
    main()
