"""The hooks origins call, in-process: who may call them, and what they answer."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from cdnpanel.web.app import create_app
from cdnpanel.web.hooks import mask_secrets
from tests.conftest import OriginWorld

HOOKS = "/hooks/origins/origin1.example.net"


@pytest.fixture
def hooks(origin_world: OriginWorld) -> TestClient:
    app = create_app(origin_world.services, background=False)
    return TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 40000))


def callback(
    http: TestClient, world: OriginWorld, event: str, secret: str | None = None, **form: str
) -> int:
    body = {
        "app": "demo-origin/live",
        "addr": "192.0.2.10",
        "clientid": "1",
        "call": event,
        "name": "cam1",
        **form,
    }
    response = http.post(
        f"{HOOKS}/{event}?secret={secret or world.hook_secret}",
        content=urlencode(body),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.headers["content-type"] == "application/json"
    return response.status_code


def test_publish_play_and_done_callbacks(hooks: TestClient, origin_world: OriginWorld) -> None:
    world = origin_world
    assert callback(hooks, world, "publish") == 200
    assert callback(hooks, world, "play", clientid="5") == 200
    (live,) = world.services.streams.active(world.tenant.account.id)
    assert live.viewers == 1
    assert callback(hooks, world, "play_done", clientid="5") == 200
    assert callback(hooks, world, "publish_done") == 200
    assert callback(hooks, world, "done") == 200
    assert world.services.streams.active(world.tenant.account.id) == []


def test_refused_publishes(hooks: TestClient, origin_world: OriginWorld) -> None:
    world = origin_world
    assert callback(hooks, world, "publish", app="stray-app/live") == 403
    assert callback(hooks, world, "publish") == 200
    assert callback(hooks, world, "publish", clientid="3") == 403  # "already publishing"
    assert callback(hooks, world, "publish", app="no-instance") == 400


def test_callbacks_need_the_origins_secret(hooks: TestClient, origin_world: OriginWorld) -> None:
    world = origin_world
    assert callback(hooks, world, "publish", secret="0" * 64) == 403
    response = hooks.post(f"{HOOKS}/publish", content=b"app=demo-origin/live&name=x&clientid=1")
    assert response.status_code == 403
    elsewhere = hooks.post(f"/hooks/origins/nowhere.example.net/publish?secret={world.hook_secret}")
    assert elsewhere.status_code == 403
    assert world.services.streams.active(world.tenant.account.id) == []


def test_callbacks_from_outside_the_hook_networks_are_refused(origin_world: OriginWorld) -> None:
    app = create_app(origin_world.services, background=False)
    outsider = TestClient(app, client=("203.0.113.9", 40000))
    response = outsider.post(
        f"{HOOKS}/publish?secret={origin_world.hook_secret}",
        content=b"app=demo-origin/live&call=publish&name=cam1&clientid=1&addr=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert "CDNPANEL_HOOK_NETWORKS" in response.json()["message"]


def test_hls_check(hooks: TestClient, origin_world: OriginWorld) -> None:
    world = origin_world

    def check(uri: str, secret: str | None = None) -> int:
        headers = {
            "x-original-uri": uri,
            "x-real-ip": "198.51.100.1",
            "x-cdnpanel-secret": secret or world.hook_secret,
        }
        return hooks.get(f"{HOOKS}/hls", headers=headers).status_code

    assert check("/demo-origin/live/cam1/index.m3u8") == 204
    assert check("/demo-origin/live/cam1/0.ts") == 204
    assert check("/stray-app/live/cam1/index.m3u8") == 403
    assert check("/../../etc/passwd") == 403
    assert check("/demo-origin/live/cam1/index.m3u8", secret="wrong") == 403
    world.services.viewers.flush()
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    assert world.services.viewers.count(app, ["cam1"]) == {"cam1": 1}


@pytest.mark.parametrize(
    "body",
    [b"%zz", b"app=" + b"x" * 70000, b"\xff\xfe", b"app=a/b&app=c/d&name=&clientid=1"],
)
def test_malformed_callbacks_are_refused_not_crashed(
    hooks: TestClient, origin_world: OriginWorld, body: bytes
) -> None:
    response = hooks.post(
        f"{HOOKS}/publish?secret={origin_world.hook_secret}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (400, 403)
    assert response.json()["status"] == "failure"


def test_access_log_masks_secrets_and_skips_the_origins_hooks(
    hooks: TestClient, origin_world: OriginWorld, caplog: pytest.LogCaptureFixture
) -> None:
    assert mask_secrets("/hooks/origins/o/publish?secret=abc&x=1") == (
        "/hooks/origins/o/publish?secret=***&x=1"
    )
    secret = origin_world.hook_secret
    with caplog.at_level(logging.INFO, logger="cdnpanel"):
        callback(hooks, origin_world, "publish")  # the server log has its line instead
        headers = {"x-original-uri": "/demo-origin/live/cam1/0.ts", "x-cdnpanel-secret": secret}
        assert hooks.get(f"{HOOKS}/hls", headers=headers).status_code == 204
        assert hooks.post(f"{HOOKS}/a/b?secret={secret}").status_code == 404  # no such hook
        hooks.get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "cdnpanel.access"]
    assert lines == [
        f'127.0.0.1:40000 - "POST {HOOKS}/a/b?secret=*** HTTP/1.1" 404',
        '127.0.0.1:40000 - "GET /health HTTP/1.1" 200',
    ]
    assert any("live: demo-origin/live/cam1 on" in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text


def test_edges_hooks_and_their_fetches_from_the_origin(
    hooks: TestClient, origin_world: OriginWorld
) -> None:
    world = origin_world
    origins = world.services.origins
    edge = origins.add_edge(
        "edge1.example.net", origins=["origin1.example.net"], control_url="http://127.0.0.1:9"
    )
    other = origins.add("origin2.example.net", control_url="http://127.0.0.1:9")
    stray = origins.add_edge(
        "edge2.example.net", origins=["origin2.example.net"], control_url="http://127.0.0.1:9"
    )
    assert other.origin.id != world.origin.id

    def hls(path: str, secret: str, **headers: str) -> int:
        sent = {"x-original-uri": "/demo-origin/live/cam1/0.ts", "x-cdnpanel-secret": secret}
        return hooks.get(f"{path}/hls", headers={**sent, **headers}).status_code

    # The edge checks its own viewers, with its own secret, under /hooks/edges/.
    assert hls("/hooks/edges/edge1.example.net", edge.secret) == 204
    assert hls("/hooks/origins/edge1.example.net", edge.secret) == 403  # not an origin
    assert hls("/hooks/edges/origin1.example.net", world.hook_secret) == 403  # not an edge
    # Its cache fills at the origin pass by its name and secret, and only those.
    fetch = {"x-real-ip": "127.0.0.1", "user-agent": "nginx"}
    good = f"edge1.example.net {edge.secret}"
    assert hls(HOOKS, world.hook_secret, **fetch, **{"x-cdnpanel-edge": good}) == 204
    wrong = f"edge1.example.net {'0' * 64}"
    assert hls(HOOKS, world.hook_secret, **fetch, **{"x-cdnpanel-edge": wrong}) == 403
    elsewhere = f"edge2.example.net {stray.secret}"  # an edge of another origin
    assert hls(HOOKS, world.hook_secret, **fetch, **{"x-cdnpanel-edge": elsewhere}) == 403
    # An edge's RTMP pull plays on the origin without a ticket and is no viewer.
    tcurl = (
        f"rtmp://o/demo-origin/live?cdnpanel_edge=edge1.example.net&cdnpanel_secret={edge.secret}"
    )
    assert callback(hooks, world, "publish") == 200
    assert (
        callback(hooks, world, "play", clientid="7", flashver="cdnpanel-edge", tcurl=tcurl) == 200
    )
    (live,) = world.services.streams.active(world.tenant.account.id)
    assert live.viewers == 0
    forged = tcurl.replace(edge.secret, "0" * 64)
    assert (
        callback(hooks, world, "play", clientid="8", flashver="cdnpanel-edge", tcurl=forged) == 403
    )
    # Encoders publish to origins, never to an edge.
    response = hooks.post(
        f"/hooks/edges/edge1.example.net/publish?secret={edge.secret}",
        content=urlencode(
            {"app": "demo-origin/live", "call": "publish", "name": "x", "clientid": "2"}
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
