"""The SDK against handler functions (no patching), and its signing against the server's verify."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from cdnpanel.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    ReplayError,
    ServerError,
    TransportError,
)
from cdnpanel.client._errors import APIError, api_error
from cdnpanel.protocol import codes
from cdnpanel.protocol.request import parse_request
from cdnpanel.protocol.signing import verify

SECRET = "f" * 64
URL = "http://cdnpanel.test/stable/"


def received_json(request: httpx.Request) -> str:
    return parse_qs(request.content.decode())["json"][0]


def envelope_response(**body: Any) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(body))


def make_client(handler: Any, **options: Any) -> Client:
    return Client(
        URL,
        158,
        "K" * 32,
        SECRET,
        transport=httpx.MockTransport(handler),
        clock=lambda: 1_795_000_000,
        sleep=lambda _s: None,
        **options,
    )


def test_requests_are_signed_like_the_php_client_and_verify() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(received_json(request))
        return envelope_response(status="success", message="ok", data=[])

    with make_client(handler) as client:
        answer = client.video.getapps()
    assert answer["data"] == []
    request = parse_request(seen[0])
    assert (request.command, request.cdn, request.timestamp) == (
        "video.getapps",
        158,
        1_795_000_000,
    )
    assert verify(request.signed_text_candidates(), SECRET, request.signature)
    assert list(orjson.loads(seen[0]))[-1] == "signature"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("0001", AuthenticationError),
        ("0008", InvalidRequestError),
        ("0009", ReplayError),
        ("0013", ServerError),
    ],
)
def test_failures_raise_typed_errors_with_code_and_message(
    code: str, error: type[Exception]
) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return envelope_response(status="failure", code=code, message="nope", param="app")

    with make_client(handler, max_retries=0) as client, pytest.raises(error) as caught:
        client.call("video.getapps")
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.message == "nope"  # type: ignore[attr-defined]


# Codes of successful answers (sevu.errorcount's counts), not failures.
SUCCESS_CODES = {codes.SEVU_FAILED_ATTEMPTS, codes.SEVU_NO_FAILED_ATTEMPTS}


@pytest.mark.parametrize(
    "code", [c for c in codes.CODES if c not in SUCCESS_CODES], ids=lambda c: c.code
)
def test_every_failure_code_of_the_protocol_has_its_typed_error(code: codes.Code) -> None:
    error = api_error({"status": "failure", "code": code.code, "message": "m"})
    assert type(error) is not APIError, f"{code.code} {code.name} has no typed SDK error"
    assert (error.code, error.message) == (code.code, "m")


def test_connection_failures_and_503_are_retried_with_the_same_body() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) == 1:
            raise httpx.ConnectError("refused")
        if len(bodies) == 2:
            return httpx.Response(
                503, content=orjson.dumps({"status": "failure", "code": "0013", "message": "busy"})
            )
        return envelope_response(status="success", message="ok")

    with make_client(handler, max_retries=2) as client:
        assert client.call("video.getapps")["status"] == "success"
    assert len(set(bodies)) == 1 and len(bodies) == 3


def test_read_timeouts_are_not_retried() -> None:
    calls = 0

    def handler(_request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow")

    with make_client(handler) as client, pytest.raises(TransportError):
        client.call("video.getapps")
    assert calls == 1


def test_non_json_answers_are_transport_errors() -> None:
    bad_gateway = httpx.Response(502, content=b"<html>bad gateway</html>")
    with (
        make_client(lambda _r: bad_gateway) as client,
        pytest.raises(TransportError, match="HTTP 502"),
    ):
        client.call("video.getapps")


async def test_async_client_shares_the_same_behaviour() -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused")
        return envelope_response(status="success", message="ok", data=[{"id": 1, "name": "a"}])

    async def no_sleep(_seconds: float) -> None:
        return None

    async with AsyncClient(
        URL, "158", "K" * 32, SECRET, transport=httpx.MockTransport(handler), sleep=no_sleep
    ) as client:
        answer = await client.video.getapps()
    assert answer["data"][0]["name"] == "a"
    assert calls == 2


def test_secret_is_not_in_repr() -> None:
    client = make_client(lambda _r: envelope_response(status="success", message=""))
    assert SECRET not in repr(client)
    assert SECRET not in repr(client._signer)
    client.close()


def test_command_methods_send_the_parameter_names_clients_use() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(parse_request(received_json(request)).params)
        return envelope_response(status="success", message="ok")

    with make_client(handler) as client:
        client.sevu.request("demo-origin", "cam*", "pw", ip="auto/24", uses=1)
        client.sevu.status("k.1", password="pw")
        client.sevu.revoke("k.1")
        client.sevu.errorcount(key="k.1", success=False, limit=25)
        client.vsn.viewercount("demo-origin", ["cam1", "_root_"])
        client.stream.close(stream_id=17)
        client.stream.active(app=["demo-origin"])
    assert sent == [
        {"app": "demo-origin", "video": "cam*", "ip": "auto/24", "uses": 1, "pass": "pw"},
        {"key": "k.1", "pass": "pw"},
        {"key": "k.1"},
        {"key": "k.1", "success": 0, "limit": 25},
        {"app": "demo-origin", "url": ["cam1", "_root_"]},
        {"stream_id": 17},
        {"app": ["demo-origin"]},
    ]
