"""Hostile requests for every command, signed with a valid key: never a 5xx, always the JSON
envelope, ``param`` in the client's names, a small answer (bench/hostile.py runs the same
generator for 100,000 requests against a real server)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cdnpanel.protocol.signing import attach_signature, sign
from cdnpanel.web.app import create_app
from cdnpanel.wiring import Services, build_registry
from tests.client_styles import urlencoded
from tests.conftest import FrozenClock, Tenant
from tests.hostile import ENVELOPE_NAMES, hostile_request, judge

REGISTRY = build_registry()
URLENCODED = "application/x-www-form-urlencoded"


@pytest.fixture
def http(services: Services) -> TestClient:
    return TestClient(create_app(services), raise_server_exceptions=False)


@pytest.fixture
def tenant(tenant_factory: Callable[..., Tenant]) -> Tenant:
    return tenant_factory("demo-origin", "demo-vod")


@pytest.mark.parametrize("name", REGISTRY.names())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_requests_get_small_json_failures_never_a_5xx(
    http: TestClient, tenant: Tenant, clock: FrozenClock, name: str, data: st.DataObject
) -> None:
    command = REGISTRY.get(name)
    content_type, body = data.draw(
        hostile_request(
            command.name,
            command.parameter_names,
            api_key=tenant.key.key.api_key,
            secret=tenant.key.secret,
            cdn=tenant.cdn,
            now=int(clock.now),
        )
    )
    response = http.post("/stable/", content=body, headers={"content-type": content_type})
    outcome = judge(response.status_code, response.content, command.parameter_names)
    assert outcome.ok, outcome.problem


def _signed(
    tenant: Tenant, clock: FrozenClock, command: str, tail: str = "", **members: Any
) -> bytes:
    text = json.dumps(
        {"command": command, "api_key": tenant.key.key.api_key, "timestamp": int(clock.now),
         "cdn": tenant.cdn, **members}
    )  # fmt: skip
    text = text[:-1] + tail + "}"
    return urlencoded(attach_signature(text, sign(text, tenant.key.secret)))[1]


TICKET = {"app": "demo-origin", "video": "cam1", "pass": "s3cret-1234"}


@pytest.mark.parametrize(
    ("command", "members", "param"),
    [
        ("video.servers", {"app": 2**63}, "app[0]"),
        ("video.servers", {"app": "9" * 25}, None),  # a name nobody has: 0010
        ("vsn.viewercount", {"app": 2**63, "url": "cam1"}, "app"),
        ("vsn.viewercount", {"app": "²", "url": "cam1"}, None),
        ("stream.active", {"app": [2**64]}, "app[0]"),
        ("stream.close", {"app": 2**63, "inst": "live", "stream": "cam1"}, "app"),
        ("sevu.request", {**TICKET, "expire": "²"}, "expire"),
        ("sevu.request", {**TICKET, "expire": "9" * 5000}, "expire"),
        ("usage.summary", {"starttime": "9999-12-31"}, "starttime"),
        ("usage.summary", {"starttime": "9999-12"}, "starttime"),  # found by bench/hostile.py
        ("video.servers", {"app": "demo-origin", "starttime": "9999-12-31"}, "starttime"),
        ("video.getapps", {"timestamp": "--5"}, "timestamp"),
        ("video.getapps", {"timestamp": "²"}, "timestamp"),
        ("video.getapps", {"cdn": "--5"}, "cdn"),
        ("video.getapps", {"cdn": "²"}, "cdn"),
    ],
)
def test_what_the_adversary_found_gets_a_json_failure(
    http: TestClient,
    tenant: Tenant,
    clock: FrozenClock,
    command: str,
    members: dict[str, Any],
    param: str | None,
) -> None:
    body = _signed(tenant, clock, command, **members)
    response = http.post("/stable/", content=body, headers={"content-type": URLENCODED})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "failure" and answer.get("param") == param, answer


def test_the_last_month_a_report_covers(
    http: TestClient, tenant: Tenant, clock: FrozenClock
) -> None:
    body = _signed(tenant, clock, "usage.summary", starttime="9999-11")
    response = http.post("/stable/", content=body, headers={"content-type": URLENCODED})
    assert response.json()["status"] == "success"


@pytest.mark.parametrize("depth", [990, 1023])
def test_json_nested_as_deep_as_orjson_reads_is_no_500(
    http: TestClient, tenant: Tenant, clock: FrozenClock, depth: int
) -> None:
    nested = ',"deep":' + "[" * depth + "]" * depth
    for tail in (nested, nested + ',"timestamp":1'):  # the second: a duplicate member check
        body = _signed(tenant, clock, "video.getapps", tail=tail)
        response = http.post("/stable/", content=body, headers={"content-type": URLENCODED})
        assert response.status_code == 200 and response.json()["status"] == "failure"


def test_the_judge_refuses_what_the_endpoint_must_never_answer() -> None:
    names = ["app", "url"]
    assert not judge(500, b'{"status":"failure","code":"0004"}', names).ok
    assert not judge(200, b"<html>", names).ok
    leaked = orjson.dumps({"status": "failure", "param": "url.function-after[x]"})
    assert not judge(200, leaked, names).ok
    assert not judge(200, orjson.dumps({"status": "failure", "message": "x" * 5000}), names).ok
    assert judge(
        200, orjson.dumps({"status": "failure", "code": "0008", "param": "app[2]"}), names
    ).ok
    assert all(re.fullmatch(r"[a-z_]+", n) for n in ENVELOPE_NAMES)


def test_an_error_never_echoes_a_large_body(http: TestClient) -> None:
    body = b"json=" + b"%7B%22a%22" + b"x" * 900_000 + b"&&=&"  # strict parsing refuses it
    response = http.post("/stable/", content=body, headers={"content-type": URLENCODED})
    assert response.status_code == 200 and response.json()["code"] == "0007"
    assert len(response.content) < 2048


def test_a_signature_starting_with_plus_sent_unescaped_verifies(
    http: TestClient, tenant: Tenant, clock: FrozenClock
) -> None:
    # Such clients put the signature into the body without escaping '+', which then reads as a
    # space: 1 signature in 64 starts with one (and as many end with one).
    for attempt in range(2000):
        members = {
            "command": "video.getapps",
            "api_key": tenant.key.key.api_key,
            "timestamp": int(clock.now),
            "cdn": tenant.cdn,
            "nonce": f"n{attempt}",
        }
        text = json.dumps(members, separators=(",", ":"))
        signature = sign(text, tenant.key.secret)
        if signature.startswith("+"):
            break
    else:
        pytest.fail("no signature starting with '+' in 2,000 tries")
    wire = attach_signature(text, signature, escape_slashes=False)
    body = ("json=" + quote(wire, safe="+")).encode()
    response = http.post("/stable/", content=body, headers={"content-type": URLENCODED})
    assert response.json()["status"] == "success", response.json()
