"""What the benchmarks share: a pinned cdnpanel server, wrk, and pre-signed request bodies.

The server runs on CPU 0 and wrk on CPU 1, so neither steals the other's core; machines here
are shared and noisy, so every benchmark reports ratios of runs made side by side.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cdnpanel.config import Settings
from cdnpanel.protocol.signing import attach_signature, encode_php_json, sign
from cdnpanel.records import Account
from cdnpanel.wiring import Services, build_services

HERE = Path(__file__).resolve().parent
SIGNED_LUA = HERE / "signed_bodies.lua"


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/bench")


def bench_database(
    workdir: Path, name: str = "bench", *, backend: str = "sqlite"
) -> tuple[str, Services, Account]:
    """A fresh database holding the account 158 ("bench"): its URL, services on it, and the
    account. SQLite: the file ``workdir/name.db``. PostgreSQL: a new database on the server
    ``CDNPANEL_BENCH_POSTGRES_URL`` names (by default the machine's, as the tests use it),
    dropped when the benchmark exits."""
    if backend == "postgresql":
        url = _fresh_postgres_database(name)
    else:
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    services = build_services(Settings(database_url=url))
    return url, services, services.accounts.create_account("bench", cdn_id=158)


def _fresh_postgres_database(name: str) -> str:
    import atexit

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(
        os.environ.get("CDNPANEL_BENCH_POSTGRES_URL")
        or os.environ.get("CDNPANEL_TEST_POSTGRES_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    database = f"cdnpanel_{name}_{os.getpid()}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()

    atexit.register(drop)
    return admin.set(database=database).render_as_string(hide_password=False)


def signed_bodies(
    api_key: str,
    secret: str,
    cdn: int,
    count: int,
    *,
    command: str = "video.getapps",
    params: Mapping[str, Any] | None = None,
    padded: bool = False,
) -> list[str]:
    """Distinct, valid urlencoded bodies signed like the PHP client, as a stream of requests
    from one key: timestamps advance through the list (from 200 s ago, one second per 500
    bodies) and each body has its own ``nonce`` member (cdnpanel's, sent by the SDK), so no
    body repeats and replay protection is on for every request.

    ``padded=True`` makes them the way this benchmark did until 2026-12-01: no nonce,
    timestamps cycling over the last 250 s and, beyond 250 bodies, up to ``count / 250``
    leading spaces in the JSON text (a 230-byte request became 1.1 KB on average)."""
    now = int(time.time())
    bodies = []
    for i in range(count):
        timestamp = now - (i % 250) if padded else now - 200 + i // 500
        members = {"command": command, "api_key": api_key, "timestamp": timestamp, "cdn": cdn}
        members.update(params or {})
        if not padded:
            members["nonce"] = f"{i:x}"
        signed_text = encode_php_json(members)
        if padded and i >= 250:
            signed_text = signed_text.replace("{", "{" + " " * (i // 250), 1)
        wire = attach_signature(signed_text, sign(signed_text, secret))
        bodies.append("json=" + quote(wire, safe=""))
    return bodies


def wrk(args: list[str], *, cpu: int = 1) -> str:
    done = subprocess.run(
        ["taskset", "-c", str(cpu), "wrk", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"wrk failed: {done.stdout}{done.stderr}")
    return done.stdout


def signed_wrk(
    base: str,
    bodies: list[str],
    workdir: Path,
    *,
    seconds: int,
    connections: int,
    latency: bool = True,
    delay_ms: float | None = None,
) -> str:
    """wrk posting the pre-signed ``bodies`` (each once, in turn) to ``base``/stable/, with
    ``delay_ms`` per connection between requests when paced."""
    body_file = workdir / f"bodies-{time.monotonic_ns()}.txt"
    body_file.write_text("\n".join(bodies))
    args = ["-t1", f"-c{connections}", f"-d{seconds}s", *(["--latency"] if latency else [])]
    pacing = [f"{delay_ms:.3f}"] if delay_ms is not None else []
    return wrk([*args, "-s", str(SIGNED_LUA), f"{base}/stable/", "--", str(body_file), *pacing])


def parse_rps(output: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]


def parse_percentile(output: str, pct: str) -> float:
    """A latency percentile of wrk --latency output, in ms."""
    match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", output)
    assert match, output
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def counted(output: str, what: str) -> int:
    """A count the Lua scripts print, e.g. 'non-success answers: 0'."""
    match = re.search(rf"{what}: (\d+)", output)
    return int(match.group(1)) if match else -1


@contextlib.contextmanager
def server(
    database_url: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    empty_commands: bool = False,
) -> Iterator[str]:
    """``cdnpanel serve`` with one worker pinned to CPU 0; yields its base URL.
    ``empty_commands``: the same server with the command endpoint's work taken out
    (``_empty_post_app.py``), the ceiling of the signed benchmark."""
    port = 18000 + os.getpid() % 1000
    environment = {**os.environ, "CDNPANEL_DATABASE_URL": database_url, **(env or {})}
    if empty_commands:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(HERE), os.environ.get("PYTHONPATH")])
        )
        command = [sys.executable, str(HERE / "_empty_post_app.py"), str(port)]
    else:
        command = [sys.executable, "-m", "cdnpanel", "serve", "--port", str(port)]
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait()


def paced_delay_ms(rate: float, connections: int) -> float:
    """The per-connection delay (Lua ``delay()``) that holds ``connections`` to ``rate`` rps."""
    return max(connections / rate * 1000, 0.1)


def corrected_delay_ms(rate: float, connections: int, delay_ms: float, achieved: float) -> float:
    """The delay for ``rate`` rps, from a paced probe that achieved ``achieved`` rps with
    ``delay_ms``: a connection's cycle is its delay plus the request's own latency, which the
    probe measures (without it, a paced run falls short of its rate by that latency)."""
    latency_ms = max(connections / achieved * 1000 - delay_ms, 0.0)
    return max(connections / rate * 1000 - latency_ms, 0.1)
