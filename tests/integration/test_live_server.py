"""A real server process, real clients (PHP, Perl, Ruby, the SDK), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cdnpanel.client import AuthenticationError, Client, TimestampError
from cdnpanel.config import Settings
from cdnpanel.freshness import DEFAULT_FRESHNESS
from cdnpanel.store.tables import tickets
from cdnpanel.wiring import build_services
from tests.client_styles import envelope, php_wire, urlencoded
from tests.conftest import LiveServer

pytestmark = pytest.mark.integration
CLIENTS = Path(__file__).with_name("clients")


@pytest.fixture
def provisioned(database_url: str) -> Any:
    services = build_services(Settings(database_url=database_url))
    account = services.accounts.create_account("live", cdn_id=158)
    services.applications.create(account.id, "demo-origin")
    services.applications.create(account.id, "demo-vod")
    issued = services.accounts.create_key(158)
    other = services.accounts.create_account("other")
    services.applications.create(other.id, "other-origin")
    yield services, issued
    services.close()


@pytest.fixture
def server(
    live_server_factory: Callable[..., LiveServer], database_url: str, provisioned: Any
) -> LiveServer:
    return live_server_factory(database_url)


def run_client(argv: list[str]) -> dict[str, Any]:
    tool = shutil.which(argv[0])
    if tool is None:
        pytest.fail(f"{argv[0]} is not installed: scripts/test installs it")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize(
    "interpreter",
    [
        ["php", str(CLIENTS / "seed_client.php")],
        ["perl", str(CLIENTS / "perl_client.pl")],
        ["ruby", str(CLIENTS / "ruby_client.rb")],
    ],
    ids=["php-seed", "perl", "ruby"],
)
def test_real_clients_call_getapps(
    server: LiveServer, provisioned: Any, interpreter: list[str]
) -> None:
    _services, issued = provisioned
    answer = run_client(
        [
            *interpreter,
            f"{server.url}/stable/",
            "158",
            issued.key.api_key,
            issued.secret,
            "video.getapps",
        ]
    )
    assert answer["status"] == "success", answer
    assert [a["name"] for a in answer["data"]] == ["demo-origin", "demo-vod"]


def test_php_client_with_wrong_secret_is_refused(server: LiveServer, provisioned: Any) -> None:
    _services, issued = provisioned
    answer = run_client(
        [
            "php",
            str(CLIENTS / "seed_client.php"),
            f"{server.url}/stable/",
            "158",
            issued.key.api_key,
            "0" * 64,
            "video.getapps",
        ]
    )
    assert (answer["status"], answer["code"]) == ("failure", "0001")


def test_sdk_end_to_end_with_stale_and_future_clocks(server: LiveServer, provisioned: Any) -> None:
    _services, issued = provisioned
    url = f"{server.url}/stable/"
    with Client(url, 158, issued.key.api_key, issued.secret) as client:
        assert client.video.getapps()["status"] == "success"
    for skew in (-400, 400):
        with (
            Client(
                url, 158, issued.key.api_key, issued.secret, clock=lambda s=skew: time.time() + s
            ) as client,
            pytest.raises(TimestampError, match="UTC"),
        ):
            client.video.getapps()


def test_replays_across_requests(server: LiveServer, provisioned: Any) -> None:
    _services, issued = provisioned

    def twice(command: str, **params: Any) -> list[dict[str, Any]]:
        members = envelope(command, issued.key.api_key, 158, int(time.time()), **params)
        content_type, body = urlencoded(php_wire(members, issued.secret))
        url = f"{server.url}/stable/"
        headers = {"content-type": content_type}
        return [httpx.post(url, content=body, headers=headers).json() for _ in range(2)]

    reads = twice("video.getapps")
    assert [a["status"] for a in reads] == ["success", "success"]  # a read: afresh
    changes = twice("sevu.request", app="demo-origin", video="cam1", **{"pass": "s3cret-1234"})
    assert changes[0]["status"] == "success"  # a change: once, and the copy gets its answer
    assert changes[1]["ticket"] == changes[0]["ticket"]


@pytest.mark.parametrize(
    "interpreter",
    [["php", str(CLIENTS / "seed_client.php")], ["ruby", str(CLIENTS / "ruby_client.rb")]],
    ids=["php-seed", "ruby"],
)
def test_deterministic_clients_can_poll_within_one_second(
    server: LiveServer, provisioned: Any, interpreter: list[str]
) -> None:
    """The PHP seed code, the Ruby client and the WordPress plugin sign deterministically: the
    same read twice in one second is the same request byte for byte, and must be answered."""
    _services, issued = provisioned
    argv = [
        *interpreter, f"{server.url}/stable/", "158", issued.key.api_key, issued.secret,
        "vsn.viewercount", json.dumps({"app": "demo-origin", "url": "cam1"}),
    ]  # fmt: skip
    for _attempt in range(10):  # until both calls sign the same second (they take ~0.1 s)
        started = time.time()
        answers = [run_client(argv) for _ in range(2)]
        if int(time.time()) == int(started):
            break
    else:
        pytest.fail("could not make two calls within one second")
    assert [a["status"] for a in answers] == ["success", "success"], answers
    assert answers[0]["viewer_count"] == answers[1]["viewer_count"] == 0


def test_concurrent_copies_on_two_workers_carry_out_one_and_all_get_its_answer(
    live_server_factory: Callable[..., LiveServer], database_url: str, provisioned: Any
) -> None:
    services, issued = provisioned
    server = live_server_factory(database_url, workers=2)
    url = f"{server.url}/stable/"
    started = int(time.time())
    for round_number in range(15):
        members = envelope(
            "sevu.request", issued.key.api_key, 158, started - round_number,
            app="demo-origin", video=f"cam{round_number}", **{"pass": "s3cret-1234"},
        )  # fmt: skip
        wire = php_wire(members, issued.secret)
        content_type, body = urlencoded(wire)
        barrier = threading.Barrier(8)
        answers: list[dict[str, Any]] = []

        def send(
            body: bytes = body,
            barrier: threading.Barrier = barrier,
            answers: list[dict[str, Any]] = answers,
            content_type: str = content_type,
        ) -> None:
            # A fresh connection per copy, so the kernel spreads them over both workers.
            with httpx.Client() as http:
                barrier.wait()
                answer = http.post(url, content=body, headers={"content-type": content_type}).json()
            answers.append(answer)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a["status"] for a in answers] == ["success"] * 8, answers
        assert len({a["ticket"]["key"] for a in answers}) == 1, answers  # the first's answer
    with services.db.read() as conn:  # one ticket a round: the copies had no second effect
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 15


def test_server_log_never_holds_secrets_or_signatures(server: LiveServer, provisioned: Any) -> None:
    _services, issued = provisioned
    url = f"{server.url}/stable/"
    with Client(url, 158, issued.key.api_key, issued.secret) as client:
        client.video.getapps()
    wire = php_wire(envelope("video.getapps", issued.key.api_key, 158, int(time.time())), "wrong")
    httpx.post(url, content=urlencoded(wire)[1], headers={"content-type": urlencoded(wire)[0]})
    httpx.post(
        url, content=b"json=%7B", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    server.process.terminate()
    server.process.wait(timeout=15)
    log = server.log()
    assert "POST /stable/" in log
    assert issued.secret not in log
    assert json.loads(wire)["signature"] not in log


def test_a_client_that_stalls_mid_body_gets_a_json_failure(
    live_server_factory: Callable[..., LiveServer], database_url: str, provisioned: Any
) -> None:
    server = live_server_factory(database_url, CDNPANEL_BODY_TIMEOUT="1")
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /stable/ HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\n"
            b"json=%7B%22command%22"
        )
        started = time.monotonic()
        reply = b""
        while b"handle_time" not in reply:
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk
    assert 1 <= time.monotonic() - started < 4
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["message"] == "The request body did not arrive within 1 s"
    # The server goes on answering.
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_changes_made_by_the_cli_reach_the_very_next_request(
    live_server_factory: Callable[..., LiveServer],
    database_url: str,
    backend: str,
    provisioned: Any,
) -> None:
    # The server keeps key and application reads until the database changes: another process's
    # commit (here the CLI's) must reach every worker's next request once the freshness bound
    # has passed (1 ms on SQLite, 10 ms on PostgreSQL, where other nodes are told the same way).
    bound = DEFAULT_FRESHNESS.others_check_interval(backend)
    _services, issued = provisioned
    server = live_server_factory(database_url, workers=2)

    def cli(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cdnpanel", "--db", database_url, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        time.sleep(bound)

    def getapps() -> list[str]:
        # A new connection each time, so the calls spread over both workers.
        with Client(f"{server.url}/stable/", 158, issued.key.api_key, issued.secret) as client:
            return [a["name"] for a in client.video.getapps()["data"]]

    for _ in range(8):  # the workers have read (and kept) the key and the applications
        assert getapps() == ["demo-origin", "demo-vod"]
    cli("app", "create", "--cdn", "158", "--name", "added-by-cli")
    for _ in range(8):
        assert getapps() == ["demo-origin", "demo-vod", "added-by-cli"]
    cli("key", "revoke", "--cdn", "158", issued.key.api_key)
    for _ in range(8):
        with pytest.raises(AuthenticationError):
            getapps()
