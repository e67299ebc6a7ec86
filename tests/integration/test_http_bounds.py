"""What reaches the real server before a request does: headers too large, too slow, or not
HTTP at all. Each gets the JSON failure envelope (or a closed connection), and nothing holds
the server (issue 13: 64 MB headers were accepted, silent connections stayed open for good)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server(live_server_factory: Callable[..., LiveServer], database_url: str) -> LiveServer:
    return live_server_factory(
        database_url, CDNPANEL_HEADER_TIMEOUT="1", CDNPANEL_MAX_HEADER_BYTES="16384"
    )


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer_of(sock: socket.socket) -> tuple[int, dict[str, object] | None]:
    """The status and JSON body the server answered before closing; (0, None) if it closed
    without a word."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    if not data:
        return 0, None
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


@pytest.mark.parametrize("backend", ["sqlite"])  # the HTTP layer: the same on both stores
def test_oversized_headers_get_431_and_the_server_stays_well(server: LiveServer) -> None:
    with connect(server) as sock:
        # Twice the limit: all of it read by the server before it closes (no reset).
        sock.sendall(b"POST /stable/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
        status, body = answer_of(sock)
    assert status == 431 and body is not None and body["code"] == "0007"
    assert httpx.get(f"{server.url}/health").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("sent", [b"", b"POST /stable/ HTTP/1.1\r\nHost: x\r\nX-Half: "])
def test_silent_and_slow_headers_are_cut_off(server: LiveServer, sent: bytes) -> None:
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(sent)
        status, body = answer_of(sock)  # the server closes; recv returns
    assert time.monotonic() - started < 5  # the header timeout is 1 s
    assert status == 408 and body is not None and body["code"] == "0007"


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /stable/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /stable/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /stable/ HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
        b"GARBAGE\x01\x02 / HTTP/9\r\n\r\n",
    ],
    ids=["content-length", "chunk-size", "nul", "not-http"],
)
def test_malformed_http_gets_the_json_envelope(server: LiveServer, request_bytes: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(request_bytes)
        status, body = answer_of(sock)
    assert status == 400 and body is not None
    assert body["status"] == "failure" and body["code"] == "0007"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_kept_alive_connections_get_a_deadline_per_request(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        for _ in range(3):  # one connection, requests more than a header timeout apart
            assert http.get("/health").status_code == 200
            time.sleep(1.5)
