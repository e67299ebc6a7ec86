"""The origin adapter's contract, written once and run on the real nginx-rtmp adapter (Debian's
nginx + libnginx-mod-rtmp, fed by ffmpeg) and on the test fake (tests/fake_origin.py) alike, so
that the unit tests' fake behaves as the media server the services drive.

What an adapter promises (``origins/adapter.py``): a snapshot of the streams and RTMP clients
live now; a stream's HLS target duration once its playlist exists, None before; dropping one
player or the publisher says how many connections went, 0 for one that is not there; and an
origin that is down raises ``OriginUnavailable`` promptly from every call, never hangs.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from cdnpanel.errors import OriginUnavailable
from cdnpanel.origins.adapter import OriginAdapter, OriginSnapshot, StreamSnapshot
from cdnpanel.records import Origin
from tests.conftest import FrozenClock
from tests.fake_origin import FakeOrigin
from tests.integration.conftest import Stack
from tests.integration.media import Ffmpeg, wait_until

pytestmark = pytest.mark.integration

APP, INST = "demo-origin", "live"
KEYFRAME_SECONDS = 2  # the encoder's keyframe interval: nginx-rtmp's segment length


class Rig(Protocol):
    """An origin with an adapter, and the encoders and players a test drives against it."""

    adapter: OriginAdapter
    origin: Origin

    def publish(self, name: str) -> None: ...
    def play(self, name: str) -> None: ...
    def take_down(self) -> None: ...


class RealRig:
    def __init__(self, stack: Stack, ffmpeg: Ffmpeg) -> None:
        self._stack, self._ffmpeg = stack, ffmpeg
        self.adapter = stack.services.adapters["nginx-rtmp"]
        self.origin = stack.services.origins.get("origin1.test")
        self._encoders: list[subprocess.Popen[bytes]] = []

    def publish(self, name: str) -> None:
        url = self._stack.nginx.rtmp_url(f"{APP}/{INST}/{name}")
        self._encoders.append(self._ffmpeg.publish(url, keyframe_seconds=KEYFRAME_SECONDS))

    def play(self, name: str) -> None:
        self._ffmpeg.play(self._stack.nginx.rtmp_url(f"{APP}/{INST}/{name}"))

    def take_down(self) -> None:
        self._stack.nginx.stop()


class FakeRig:
    """The fake, driven the way the real media server behaves: a publisher's playlist declares
    its keyframe interval once the stream is live."""

    def __init__(self, clock: FrozenClock) -> None:
        self.fake = FakeOrigin(clock)
        self.adapter = self.fake
        self.origin = Origin(
            id=1,
            name="origin1.test",
            kind="nginx-rtmp",
            control_url="http://127.0.0.1:1",
            hook_secret_hash=b"h" * 32,
            hls_fragment=KEYFRAME_SECONDS,
            created_at=1,
        )
        self._players = 0

    def publish(self, name: str) -> None:
        self.fake.publish(APP, INST, name, client_id=f"pub-{name}", seconds=0)
        self.fake.segment_seconds[(APP, INST, name)] = KEYFRAME_SECONDS

    def play(self, name: str) -> None:
        self._players += 1
        self.fake.play(APP, INST, name, client_id=f"play-{self._players}")

    def take_down(self) -> None:
        self.fake.down = True


@pytest.fixture(params=["nginx-rtmp", "fake"])
def rig(request: pytest.FixtureRequest, clock: FrozenClock) -> Iterator[Rig]:
    if request.param == "fake":
        yield FakeRig(clock)
        return
    stack: Stack = request.getfixturevalue("stack")
    ffmpeg: Ffmpeg = request.getfixturevalue("ffmpeg")
    yield RealRig(stack, ffmpeg)


@pytest.fixture
def backend() -> str:
    """The contract is the media server's: one store (SQLite) is enough behind it."""
    return "sqlite"


def stream(rig: Rig, name: str) -> Callable[[], StreamSnapshot | None]:
    def find() -> StreamSnapshot | None:
        snapshot: OriginSnapshot = rig.adapter.snapshot(rig.origin)
        found = [s for s in snapshot.streams if (s.app, s.inst, s.name) == (APP, INST, name)]
        return found[0] if found else None

    return find


def publisher(rig: Rig, name: str) -> Callable[[], object]:
    return lambda: (found := stream(rig, name)()) is not None and found.publisher


def players(rig: Rig, name: str, count: int) -> Callable[[], object]:
    """The stream's players once there are ``count`` (0: the stream may be gone too)."""

    def find() -> object:
        found = stream(rig, name)()
        if found is None:
            return count == 0
        return len(found.players) == count and (found.players or True)

    return find


def test_an_idle_origin_has_no_streams(rig: Rig) -> None:
    assert rig.adapter.snapshot(rig.origin).streams == ()
    assert rig.adapter.hls_segment_seconds(rig.origin, app=APP, inst=INST, name="none") is None


def test_a_stream_with_its_publisher_and_players(rig: Rig) -> None:
    rig.publish("cam1")
    wait_until(publisher(rig, "cam1"), timeout=20, what="the publisher in the snapshot")
    live = stream(rig, "cam1")()
    assert live is not None and live.seconds >= 0
    assert live.publisher is not None and live.publisher.address
    for _ in range(2):
        rig.play("cam1")
    wait_until(players(rig, "cam1", 2), timeout=20, what="two players in the snapshot")
    now = stream(rig, "cam1")()
    assert now is not None
    ids = {p.client_id for p in now.players}
    assert len(ids) == 2 and live.publisher.client_id not in ids
    assert all(p.seconds >= 0 and p.address for p in now.players)


def test_the_segment_duration_is_the_keyframe_interval_once_there_is_a_playlist(
    rig: Rig,
) -> None:
    rig.publish("cam2")
    seconds = wait_until(
        lambda: rig.adapter.hls_segment_seconds(rig.origin, app=APP, inst=INST, name="cam2"),
        timeout=30,
        what="the stream's playlist",
    )
    assert seconds == KEYFRAME_SECONDS


def test_dropping_a_player_and_the_publisher_says_how_many_went(rig: Rig) -> None:
    rig.publish("cam3")
    wait_until(publisher(rig, "cam3"), timeout=20, what="the stream")
    rig.play("cam3")
    wait_until(players(rig, "cam3", 1), timeout=20, what="a player")
    live = stream(rig, "cam3")()
    assert live is not None
    (player,) = live.players
    drop = rig.adapter.drop_player
    assert drop(rig.origin, app=APP, inst=INST, name="cam3", client_id="999999") == 0
    assert drop(rig.origin, app=APP, inst=INST, name="cam3", client_id=player.client_id) == 1
    wait_until(players(rig, "cam3", 0), timeout=20, what="the player gone")
    assert rig.adapter.drop_publisher(rig.origin, app=APP, inst=INST, name="nosuch") == 0
    assert rig.adapter.drop_publisher(rig.origin, app=APP, inst=INST, name="cam3") == 1
    wait_until(lambda: not publisher(rig, "cam3")(), timeout=20, what="the publisher gone")


def test_an_origin_that_is_down_fails_every_call_promptly(rig: Rig) -> None:
    rig.take_down()
    calls: list[Callable[[], object]] = [
        lambda: rig.adapter.snapshot(rig.origin),
        lambda: rig.adapter.hls_segment_seconds(rig.origin, app=APP, inst=INST, name="cam1"),
        lambda: rig.adapter.drop_publisher(rig.origin, app=APP, inst=INST, name="cam1"),
        lambda: rig.adapter.drop_player(rig.origin, app=APP, inst=INST, name="cam1", client_id="1"),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(OriginUnavailable):
            call()
        assert time.monotonic() - started < 10  # the origin timeout, never a hang
