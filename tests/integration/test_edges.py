"""The edge tier on real nginx-rtmp: one origin and two edges from the generated configs, a
publisher on the origin (ffmpeg), players on both edges, checked by cdnpanel on the edges."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdnpanel.origins.nginx_config import (
    NginxConfigOptions,
    render_edge_config,
    render_nginx_config,
)
from tests.integration.conftest import Stack
from tests.integration.media import Ffmpeg, Nginx, Ports, wait_until

pytestmark = pytest.mark.integration


def add_edges(
    stack: Stack, make_prefix: Any, count: int = 2, upstreams: tuple[str, ...] = ("origin1.test",)
) -> list[Nginx]:
    """``count`` edges of ``upstreams``, started from their generated configs."""
    origins = stack.services.origins
    ports = stack.nginx.ports
    origins.update(
        "origin1.test",
        rtmp_url=f"rtmp://127.0.0.1:{ports.rtmp}",
        hls_url=f"http://127.0.0.1:{ports.http}",
    )
    edges = []
    for n in range(1, count + 1):
        edge_ports = Ports.free()
        issued = origins.add_edge(
            f"edge{n}.test",
            origins=list(upstreams),
            control_url=f"http://127.0.0.1:{edge_ports.control}",
            location=f"loc{n}",
        )
        nginx = Nginx(make_prefix(), edge_ports)
        nginx.conf.write_text(
            render_edge_config(
                issued.origin,
                [origins.get(name) for name in upstreams],
                origins.applications(issued.origin.name),
                NginxConfigOptions(
                    prefix=str(nginx.prefix),
                    api_url=stack.server.url,
                    secret=issued.secret,
                    rtmp_listen=f"127.0.0.1:{edge_ports.rtmp}",
                    http_listen=f"127.0.0.1:{edge_ports.http}",
                ),
            )
        )
        nginx.start()
        edges.append(nginx)
    return edges


@pytest.fixture
def fleet(stack_factory: Any, origin_prefix: Any, ffmpeg: Ffmpeg, request: Any) -> Any:
    protection = getattr(request, "param", "none")
    stack: Stack = stack_factory(protection=protection)
    edges = add_edges(stack, origin_prefix)
    ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    wait_until(stack.active, timeout=20, what="cam1 to be live")
    directory = stack.nginx.prefix / "hls.demo-origin.live" / "cam1"
    wait_until(lambda: len(list(directory.glob("*.ts"))) >= 2, timeout=20, what="segments")
    yield stack, edges
    for edge in edges:
        edge.stop()


PLAYLIST = "demo-origin/live/cam1/index.m3u8"


def fetch_all(edge: Nginx, query: str = "") -> list[int]:
    """A viewer's round: the playlist, then every segment it lists (with the same query)."""
    playlist = httpx.get(edge.http_url(PLAYLIST + query), timeout=10)
    statuses = [playlist.status_code]
    if playlist.status_code == 200:
        for line in playlist.text.splitlines():
            if line and not line.startswith("#"):
                assert query == "" or query[1:] in line  # the ticket follows the viewer
                url = edge.http_url("demo-origin/live/cam1/" + line)
                statuses.append(httpx.get(url, timeout=10).status_code)
    return statuses


def origin_segment_fetches(stack: Stack | Nginx) -> Counter[str]:
    nginx = stack.nginx if isinstance(stack, Stack) else stack
    log = Path(nginx.prefix / "access.log").read_text()
    return Counter(re.findall(r'"GET (/demo-origin/live/cam1/[^ ]+\.ts) ', log))


def test_edges_relay_cache_and_count_viewers(fleet: Any, ffmpeg: Ffmpeg) -> None:
    stack, (edge1, edge2) = fleet
    # Players: HLS on both edges, RTMP on one; the origin counts no viewer of its own (the
    # edges' fetches and pull are none).
    ffmpeg.play(edge1.http_url(PLAYLIST), user_agent="player-one")
    ffmpeg.play(edge2.http_url(PLAYLIST), user_agent="player-two")
    ffmpeg.play(edge1.rtmp_url("demo-origin/live/cam1"))
    wait_until(lambda: stack.viewers() == 3, timeout=30, what="3 viewers across the edges")
    detailed = stack.client.viewer.livedetailed("demo-origin", "cam1")
    assert (detailed["viewer_count"], detailed["rtmp"], detailed["hls"]) == (3, 1, 2)
    servers = {s["server"]: (s["location"], s["rtmp"], s["hls"]) for s in detailed["servers"]}
    assert servers == {"edge1.test": ("loc1", 1, 1), "edge2.test": ("loc2", 0, 1)}
    # Twenty viewers at once on each edge: every segment comes from the origin once per edge.
    with ThreadPoolExecutor(40) as pool:
        rounds = list(pool.map(lambda e: fetch_all(e), [edge1] * 20 + [edge2] * 20))
    assert all(status == 200 for statuses in rounds for status in statuses), rounds
    fetched = origin_segment_fetches(stack)
    assert fetched, "the edges fetched no segment from the origin"
    assert max(fetched.values()) <= 2, fetched  # one per edge, whatever the viewers
    # (the 40 fetchers share one address and user agent per edge: one viewer each)
    stack.services.viewers.flush()
    wait_until(lambda: stack.viewers() == 5, timeout=30, what="5 viewers across the edges")


@pytest.mark.parametrize("fleet", ["sevu"], indirect=True)
def test_edges_check_tickets_with_the_viewers_address(fleet: Any, ffmpeg: Ffmpeg) -> None:
    stack, (edge1, edge2) = fleet
    refused = httpx.get(edge1.http_url(PLAYLIST), timeout=10)
    assert refused.status_code == 403
    assert refused.headers["x-cdnpanel-reason"] == "Invalid Auth Token"  # as on the origin
    answer = stack.php(
        "sevu.request", app="demo-origin", video="cam1", **{"pass": "edge-password-1"}, uses=1
    )
    key = answer["ticket"]["key"]
    query = f"?key={key}&pass=edge-password-1"
    assert set(fetch_all(edge1, query)) == {200}
    # uses=1: one session, across the whole fleet.
    assert httpx.get(edge2.http_url(PLAYLIST + query), timeout=10).status_code == 403
    # A ticket bound to the viewer's address: the edge passes the viewer's, not its own.
    bound = stack.php(
        "sevu.request", app="demo-origin", video="cam1", ip="127.0.0.2", **{"pass": "edge-pw-2"}
    )
    bound_query = f"?key={bound['ticket']['key']}&pass=edge-pw-2"
    assert httpx.get(edge2.http_url(PLAYLIST + bound_query), timeout=10).status_code == 403
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as other:
        assert other.get(edge2.http_url(PLAYLIST + bound_query)).status_code == 200
    # RTMP on an edge: refused without a ticket; with one, it plays until the ticket is
    # revoked, which drops it on the edge.
    player = ffmpeg.play(edge1.rtmp_url("demo-origin/live/cam1"))
    assert player.wait(timeout=20) != 0
    rtmp = stack.php("sevu.request", app="demo-origin", video="cam1", **{"pass": "edge-pw-3"})
    ticketed = ffmpeg.play(
        edge2.rtmp_url(f"demo-origin/live/cam1?key={rtmp['ticket']['key']}&pass=edge-pw-3")
    )
    wait_until(
        lambda: stack.client.viewer.livedetailed("demo-origin", "cam1")["rtmp"] == 1,
        timeout=20,
        what="the ticketed RTMP player on edge2",
    )
    assert ticketed.poll() is None
    stack.client.sevu.revoke(rtmp["ticket"]["key"])
    ticketed.wait(timeout=20)  # dropped on the edge


def test_close_stops_the_stream_on_the_edges(fleet: Any, ffmpeg: Ffmpeg) -> None:
    stack, edges = fleet
    players = [ffmpeg.play(edge.rtmp_url("demo-origin/live/cam1")) for edge in edges]
    wait_until(lambda: stack.viewers() >= 2, timeout=20, what="an RTMP player on each edge")
    (live,) = stack.active()
    stack.client.stream.close(stream_id=live["stream_id"], lock=1)
    for player in players:
        player.wait(timeout=30)  # each edge dropped its pull and its players
    wait_until(lambda: stack.viewers() == 0, timeout=20, what="no viewer counted")


def test_each_edges_log_is_its_own_server_in_video_servers(fleet: Any, database_url: str) -> None:
    """Each edge's access log, ingested by the real `cdnpanel ingest` as its own server (role
    edge), is that server's row in video.servers and edge bandwidth in usage.summary: the bytes
    and requests of its lines for the application, counted here from the logs themselves."""
    stack, edges = fleet
    for edge, viewers in zip(edges, (3, 1), strict=True):
        for _ in range(viewers):
            assert set(fetch_all(edge)) == {200}
    expected = {}
    for n, edge in enumerate(edges, start=1):
        code = f"E{n}"
        run_cdnpanel(database_url, "server", "add", code, "--role", "edge")
        log = edge.prefix / "access.log"
        sizes = [
            int(m) for m in re.findall(r'"GET /demo-origin/[^"]*" 200 (\d+) ', log.read_text())
        ]
        expected[code] = (sum(sizes), len(sizes))
        run_cdnpanel(database_url, "ingest", "--format", "cdnpanel", "--server", code, str(log))
    rows = stack.client.video.servers("demo-origin")["data"]
    found: dict[str, tuple[int, int]] = {}
    for row in rows:  # a row per server and day (two days, were the test to cross midnight)
        bytes_, requests = found.get(row["server"], (0, 0))
        found[row["server"]] = (bytes_ + row["bytes_total"], requests + row["requests_total"])
    assert found == expected
    assert expected["E1"][1] > expected["E2"][1] > 0  # more viewers, more requests
    summary = dict(stack.client.usage.summary()["data"]["vals"])
    assert summary["Edge Bandwidth:"]["v"] == sum(b for b, _ in expected.values())
    assert summary["Edge Requests:"]["v"] == sum(r for _, r in expected.values())


def run_cdnpanel(database_url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cdnpanel", "--db", database_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_origin_dies_and_the_edge_serves_hls_from_the_backup_origin(
    stack_factory: Any, origin_prefix: Any, ffmpeg: Ffmpeg
) -> None:
    """demo-origin on origin1 with origin2 as its backup origin; the encoder publishes to both
    (as to a primary and a backup entry point); an edge reaching both keeps serving HLS from
    origin2 once origin1 is gone."""
    stack: Stack = stack_factory()
    origins = stack.services.origins
    ports = Ports.free()
    issued = origins.add(
        "origin2.test",
        control_url=f"http://127.0.0.1:{ports.control}",
        rtmp_url=f"rtmp://127.0.0.1:{ports.rtmp}",
        hls_url=f"http://127.0.0.1:{ports.http}",
    )
    (app,) = origins.applications("origin1.test")
    origins.assign_backup(app, "origin2.test")
    backup = Nginx(origin_prefix(), ports)
    backup.conf.write_text(
        render_nginx_config(
            issued.origin,
            origins.applications("origin2.test"),
            NginxConfigOptions(
                prefix=str(backup.prefix),
                api_url=stack.server.url,
                secret=issued.secret,
                rtmp_listen=f"127.0.0.1:{ports.rtmp}",
                http_listen=f"127.0.0.1:{ports.http}",
            ),
        )
    )
    backup.start()
    (edge,) = add_edges(stack, origin_prefix, 1, ("origin1.test", "origin2.test"))
    try:
        for nginx in (stack.nginx, backup):
            ffmpeg.publish(nginx.rtmp_url("demo-origin/live/cam1"))
        wait_until(lambda: len(stack.active()) == 2, timeout=20, what="cam1 live on both")
        assert {s["origin_url"] for s in stack.active()} == {"origin1.test", "origin2.test"}
        for nginx in (stack.nginx, backup):
            directory = nginx.prefix / "hls.demo-origin.live" / "cam1"
            wait_until(lambda d=directory: len(list(d.glob("*.ts"))) >= 2, timeout=20, what="ts")
        assert set(fetch_all(edge)) == {200}
        assert origin_segment_fetches(stack) and not origin_segment_fetches(backup)
        stack.nginx.kill()  # origin1 is gone, without a goodbye
        # Within the playlist's second in the cache, the edge asks again: origin2 answers.
        wait_until(
            lambda: set(fetch_all(edge)) == {200} and bool(origin_segment_fetches(backup)),
            timeout=15,
            what="HLS from the backup origin",
        )
        for _ in range(3):  # and it keeps serving, playlist and segments
            time.sleep(1.1)
            assert set(fetch_all(edge)) == {200}
    finally:
        edge.stop()
        backup.stop()
