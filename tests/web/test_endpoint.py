"""The command endpoint in-process, on both backends: every client style, every refusal."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cdnpanel.records import Nonce
from cdnpanel.services.authentication import Caller, Verified
from cdnpanel.store.tables import request_nonces
from cdnpanel.store.tables import tickets as ticket_rows
from cdnpanel.web.app import create_app
from cdnpanel.wiring import Services
from tests.client_styles import envelope, multipart, perl_wire, php_wire, ruby_wire, urlencoded
from tests.conftest import FrozenClock, Tenant


@pytest.fixture
def http(services: Services) -> TestClient:
    return TestClient(create_app(services), raise_server_exceptions=False)


@pytest.fixture
def tenant(tenant_factory: Callable[..., Tenant]) -> Tenant:
    return tenant_factory("demo-origin", "demo-vod")


def claims(services: Services) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(request_nonces)).scalar_one())


def signed(
    tenant: Tenant,
    clock: FrozenClock,
    command: str = "video.getapps",
    *,
    style: Callable[..., str] = php_wire,
    **params: Any,
) -> str:
    members = envelope(command, tenant.key.key.api_key, tenant.cdn, int(clock.now), **params)
    return style(members, tenant.key.secret)


def post(
    http: TestClient,
    wire: str,
    *,
    path: str = "/stable/",
    encode: Callable[[str], tuple[str, bytes]] = multipart,
) -> dict[str, Any]:
    content_type, body = encode(wire)
    response = http.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("style", "encode"),
    [
        (php_wire, multipart),
        (perl_wire, urlencoded),
        (ruby_wire, multipart),
        (php_wire, lambda w: ("application/json", w.encode())),
    ],
    ids=["php-multipart", "perl-urlencoded", "ruby-multipart", "raw-json"],
)
def test_getapps_answers_every_client_style(
    http: TestClient,
    tenant: Tenant,
    clock: FrozenClock,
    style: Callable[..., str],
    encode: Callable[[str], tuple[str, bytes]],
) -> None:
    answer = post(http, signed(tenant, clock, style=style), encode=encode)
    assert answer["status"] == "success"
    assert [a["name"] for a in answer["data"]] == ["demo-origin", "demo-vod"]
    assert answer["handle_time"].endswith(" seconds")


@pytest.mark.parametrize("path", ["/", "/stable/", "/dev/", "/0.8/", "/v1/", "/stable"])
def test_every_api_prefix_is_the_same_api(
    http: TestClient, tenant: Tenant, clock: FrozenClock, path: str
) -> None:
    assert post(http, signed(tenant, clock), path=path)["status"] == "success"


def test_unknown_prefix_is_a_json_404(http: TestClient) -> None:
    response = http.post("/wp-admin/", content=b"json={}")
    assert response.status_code == 404
    assert response.json()["code"] == "0007"
    assert "/stable/" in response.json()["message"]


def test_every_refusal_outside_the_api_is_its_envelope(http: TestClient) -> None:
    # Paths of several segments (Starlette's routing), a hook's other methods, /health's.
    deep = http.get("/wp-admin/setup.php")
    assert deep.status_code == 404
    assert deep.json()["code"] == "0007" and "/stable/" in deep.json()["message"]
    hook = http.get("/hooks/origins/o/publish")
    assert (hook.status_code, hook.json()["code"]) == (405, "0011")
    assert "takes POST" in hook.json()["message"]
    health = http.post("/health")
    assert (health.status_code, health.json()["code"]) == (405, "0011")
    assert health.json()["message"] == "/health takes GET or HEAD only (got POST)"
    assert health.headers["allow"] == "GET, HEAD"


TICKET = {"app": "demo-origin", "video": "cam1", "pass": "s3cret-1234"}


def tickets(services: Services) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(ticket_rows)).scalar_one())


def raw_post(http: TestClient, wire: str) -> bytes:
    content_type, body = multipart(wire)
    response = http.post("/stable/", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    return response.content


def without_handle_time(answer: bytes) -> bytes:
    return re.sub(rb',"handle_time":"[0-9.]+ seconds"', b"", answer)


def test_a_copy_of_a_change_gets_the_first_answer_and_changes_nothing(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    wire = signed(tenant, clock, "sevu.request", **TICKET)
    first = raw_post(http, wire)
    assert orjson.loads(first)["status"] == "success"
    copies = [raw_post(http, wire) for _ in range(3)]
    assert {without_handle_time(c) for c in copies} == {without_handle_time(first)}
    assert claims(services) == 1 and tickets(services) == 1
    clock.advance(301)
    assert post(http, wire)["code"] == "0002"  # after the window: a timestamp error


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.lists(st.integers(0, 3), min_size=1, max_size=10))
def test_any_order_of_copies_carries_each_change_out_once(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock, order: list[int]
) -> None:
    clock.advance(1)  # requests of this example sign another second than the last example's
    wires = [signed(tenant, clock, "sevu.request", nonce=f"n{i}", **TICKET) for i in range(4)]
    before = tickets(services)
    answers: dict[int, set[bytes]] = {}
    for i in order:
        answers.setdefault(i, set()).add(without_handle_time(raw_post(http, wires[i])))
    assert all(len(seen) == 1 for seen in answers.values())  # every copy: the first answer
    keys = {orjson.loads(next(iter(seen)))["ticket"]["key"] for seen in answers.values()}
    assert len(keys) == len(answers) == tickets(services) - before


def test_a_copy_of_a_failed_change_gets_the_same_failure(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    wire = signed(tenant, clock, "sevu.revoke", key="no-such-ticket")
    first = raw_post(http, wire)
    assert orjson.loads(first)["code"] == "0010"
    assert without_handle_time(raw_post(http, wire)) == without_handle_time(first)


def test_the_kept_answer_is_sealed_the_password_never_in_clear(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    post(http, signed(tenant, clock, "sevu.request", **TICKET))
    with services.db.read() as conn:
        [kept] = conn.execute(select(request_nonces.c.answer)).scalars().all()
    assert kept and b"s3cret-1234" not in kept and b"Ticket created" not in kept


def test_a_copy_waits_for_the_first_answer_and_hears_of_a_failure_in_the_server(
    services_factory: Callable[..., Services], clock: FrozenClock
) -> None:
    services = services_factory(replay_wait=0.2)
    account = services.accounts.create_account("waiting")
    tenant = Tenant(account, services.accounts.create_key(account.cdn_id))
    http = TestClient(create_app(services), raise_server_exceptions=False)
    wire = signed(tenant, clock, "sevu.revoke", key="no-such-ticket")
    members = orjson.loads(wire)
    nonce = Nonce(tenant.key.key.id, base64.b64decode(members["signature"]), members["timestamp"])
    # Claimed, its answer never kept: the first copy's server died while carrying it out.
    assert asyncio.run(
        services.authenticator.admit(Verified(Caller(0, 0, nonce.key_id), nonce, None))
    )
    pending = post(http, wire)
    assert pending["code"] == "0009" and "still being carried out" in pending["message"]
    services.authenticator.release(nonce)  # what a failure in the server (5xx) does
    assert post(http, wire)["code"] == "0010"  # carried out afresh


def test_a_replayed_read_is_answered_afresh_and_writes_nothing(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    # Deterministic clients (the PHP seed code, Ruby, WordPress) poll with identical requests.
    wire = signed(tenant, clock, "vsn.viewercount", app="demo-origin", url="cam1")
    answers = [post(http, wire) for _ in range(3)]
    assert [a["status"] for a in answers] == ["success"] * 3
    services.applications.create(tenant.account.id, "demo-late")
    later = post(http, signed(tenant, clock))
    assert [a["name"] for a in later["data"]] == ["demo-origin", "demo-vod", "demo-late"]
    assert [a["name"] for a in post(http, signed(tenant, clock))["data"]][-1] == "demo-late"
    assert claims(services) == 0
    clock.advance(301)
    assert post(http, wire)["code"] == "0002"  # still only within its timestamp window


def test_strict_replays_refuse_reads_too(
    services_factory: Callable[..., Services], clock: FrozenClock
) -> None:
    strict = services_factory(replays="strict")
    account = strict.accounts.create_account("strict")
    tenant = Tenant(account, strict.accounts.create_key(account.cdn_id))
    http = TestClient(create_app(strict), raise_server_exceptions=False)
    wire = signed(tenant, clock)
    assert post(http, wire)["status"] == "success"
    assert post(http, wire)["code"] == "0009"
    change = signed(tenant, clock, "sevu.request", app="strict-app", video="*", **{"pass": "pw"})
    strict.applications.create(account.id, "strict-app")
    assert post(http, change)["status"] == "success"
    assert post(http, change)["code"] == "0009"


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_stale_and_future_timestamps(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock, offset: int
) -> None:
    wire = signed(tenant, clock)
    clock.advance(-offset)
    answer = post(http, wire)
    assert answer["code"] == "0002"
    assert answer["server_time"] == int(clock.now)
    assert "UTC" in answer["message"]
    assert claims(services) == 0


def test_window_edges_are_inclusive(http: TestClient, tenant: Tenant, clock: FrozenClock) -> None:
    for offset in (300, -300):
        wire = signed(tenant, clock)
        clock.advance(offset)
        assert post(http, wire)["status"] == "success"
        clock.advance(1 - offset)  # a new second, so the next request has its own signature


def test_unknown_key_and_wrong_signature_answer_alike(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    members = envelope("video.getapps", tenant.key.key.api_key, tenant.cdn, int(clock.now))
    wrong_secret = post(http, php_wire(members, "not-the-secret"))
    unknown_key = post(http, php_wire({**members, "api_key": "NOPE" * 8}, tenant.key.secret))
    for answer in (wrong_secret, unknown_key):
        answer.pop("handle_time")
    assert wrong_secret == unknown_key
    assert wrong_secret["code"] == "0001"
    assert claims(services) == 0


def test_a_key_only_opens_its_own_account(
    http: TestClient, services: Services, tenant_factory: Callable[..., Tenant], clock: FrozenClock
) -> None:
    mine = tenant_factory("mine-origin")
    theirs = tenant_factory("theirs-origin")
    # My key, their CDN id: refused, even with a good signature.
    members = envelope("video.getapps", mine.key.key.api_key, theirs.cdn, int(clock.now))
    assert post(http, php_wire(members, mine.key.secret))["code"] == "0001"
    # My key and CDN: only my applications.
    answer = post(http, signed(mine, clock))
    assert [a["name"] for a in answer["data"]] == ["mine-origin"]


def test_revoked_key_is_refused(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    services.accounts.revoke_key(tenant.cdn, tenant.key.key.api_key)
    assert post(http, signed(tenant, clock))["code"] == "0001"


def test_several_keys_per_account_for_rotation(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    second = services.accounts.create_key(tenant.cdn, label="next")
    members = envelope("video.getapps", second.key.api_key, tenant.cdn, int(clock.now))
    assert post(http, php_wire(members, second.secret))["status"] == "success"
    assert post(http, signed(tenant, clock))["status"] == "success"


def test_last_used_is_recorded(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    post(http, signed(tenant, clock))
    (key,) = services.accounts.list_keys(tenant.cdn)
    assert key.last_used_at == int(clock.now)


def test_unknown_command_and_parameters_are_named(
    http: TestClient, tenant: Tenant, clock: FrozenClock
) -> None:
    unknown = post(http, signed(tenant, clock, "video.nosuch"))
    assert unknown["code"] == "0000"
    assert "video.getapps" in unknown["message"]
    extra = post(http, signed(tenant, clock, app="x"))
    assert (extra["code"], extra["param"]) == ("0008", "app")


def test_missing_envelope_fields_are_named(http: TestClient, tenant: Tenant) -> None:
    answer = post(http, '{"command":"video.getapps","signature":"x"}')
    assert answer["code"] == "0006"
    assert answer["fields"] == ["cdn", "api_key", "timestamp"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_a_json_405(http: TestClient, method: str) -> None:
    response = http.request(method, "/stable/")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "0011"


def test_large_bodies_are_refused_by_declared_and_by_streamed_length(
    http: TestClient, services: Services
) -> None:
    limit = services.settings.max_body_bytes
    declared = http.post("/stable/", content=b"x" * (limit + 1))
    assert (declared.status_code, declared.json()["code"]) == (413, "0012")

    def chunks() -> Any:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = http.post("/stable/", content=chunks())
    assert (streamed.status_code, streamed.json()["code"]) == (413, "0012")


BAD_BODIES: list[tuple[str | None, bytes, str]] = [
    (None, b"", "0007"),
    ("application/x-www-form-urlencoded", b"", "0007"),
    ("text/plain", b"hello", "0007"),
    ("multipart/form-data", b"--x--", "0007"),
    ("application/x-www-form-urlencoded", b"json=%zz", "0007"),
    ("application/x-www-form-urlencoded", b"json=1&json=2", "0007"),
    ("application/x-www-form-urlencoded", b"json=" + b"%5B" * 3000, "0007"),
    ("application/json", b"[]", "0007"),
    ("application/json", b'{"a":NaN}', "0007"),
    ("application/json", '{"command":"é"'.encode("latin-1"), "0007"),
    ("application/json", b'{"command":"x"}', "0006"),
    (
        "application/json",
        b'{"command":"x","cdn":1,"api_key":"k","timestamp":true,"signature":"x"}',
        "0008",
    ),
    (
        "application/json",
        b'{"command":"x","cdn":1,"api_key":"k","timestamp":1795000000,"signature":"zz"}',
        "0003",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "code"), BAD_BODIES)
def test_bad_input_answers_json_and_writes_nothing(
    http: TestClient, services: Services, content_type: str | None, body: bytes, code: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = http.post("/stable/", content=body, headers=headers)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["code"]) == ("failure", code)
    assert answer["message"]
    assert claims(services) == 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    content_type=st.sampled_from(
        [
            None,
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "text/plain",
        ]
    ),
)
def test_no_input_gets_a_5xx(http: TestClient, body: bytes, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = http.post("/stable/", content=body, headers=headers)
    assert response.status_code < 500
    assert orjson.loads(response.content)["status"] == "failure"


def test_secrets_and_signatures_never_reach_the_log(
    http: TestClient, tenant: Tenant, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = signed(tenant, clock)
    post(http, wire)
    post(http, wire)
    post(
        http,
        php_wire(
            envelope("video.getapps", tenant.key.key.api_key, tenant.cdn, int(clock.now)), "bad"
        ),
    )
    signature = orjson.loads(wire)["signature"]
    assert tenant.key.secret not in caplog.text
    assert signature not in caplog.text


def test_identical_commands_of_one_second_pass_with_distinct_nonces(
    http: TestClient, tenant: Tenant, clock: FrozenClock
) -> None:
    first = post(http, signed(tenant, clock, "sevu.request", nonce="a1", **TICKET))
    second = post(http, signed(tenant, clock, "sevu.request", nonce="b2", **TICKET))
    assert first["status"] == second["status"] == "success"
    replay = post(http, signed(tenant, clock, "sevu.request", nonce="a1", **TICKET))
    assert replay["ticket"] == first["ticket"]  # a true copy: the first answer again


async def test_a_body_that_stalls_fails_after_the_body_timeout(
    services_factory: Callable[..., Services],
) -> None:
    app = create_app(services_factory(body_timeout=0.2), background=False)
    sent: list[dict[str, Any]] = []
    stalled = asyncio.Event()

    async def receive_nothing() -> dict[str, Any]:
        stalled.set()
        await asyncio.Event().wait()  # the client sent headers and stopped
        raise AssertionError("unreachable")

    async def receive_once() -> dict[str, Any]:
        return {"type": "http.request", "body": b"json=1", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/stable/", "headers": []}
    started = time.monotonic()
    await asyncio.wait_for(app(scope, receive_nothing, send), timeout=5)
    assert stalled.is_set() and 0.2 <= time.monotonic() - started < 2
    assert sent[0]["status"] == 200
    answer = orjson.loads(sent[1]["body"])
    assert (answer["code"], answer["message"]) == (
        "0007",
        "The request body did not arrive within 0.2 s",
    )
    # The next request is read as usual, and a cancellation that is not the timeout's goes on.
    sent.clear()
    await app(scope, receive_once, send)
    assert orjson.loads(sent[1]["body"])["code"] == "0007"  # '1' is not a JSON object
    task = asyncio.create_task(app(scope, receive_nothing, send))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_reads_still_record_when_their_key_was_last_used(
    http: TestClient, services: Services, tenant: Tenant, clock: FrozenClock
) -> None:
    assert post(http, signed(tenant, clock))["status"] == "success"
    (key,) = services.accounts.list_keys(tenant.cdn)
    assert key.last_used_at == int(clock.now)
