"""Real media processes for integration tests: nginx with the RTMP module, ffmpeg.

Everything listens on 127.0.0.1 only and is stopped by the fixtures that start it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_ports

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def require(binary: str) -> None:
    if not Path(binary).exists():
        pytest.fail(
            f"{binary} is not installed: scripts/test installs nginx, libnginx-mod-rtmp, ffmpeg"
        )


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.2
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class Ports:
    rtmp: int
    http: int
    control: int

    @classmethod
    def free(cls) -> Ports:
        """Three distinct free ports (asked for one at a time, the OS may hand one out twice)."""
        return cls(*free_ports(3))


@dataclass
class Nginx:
    prefix: Path
    ports: Ports
    process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    def rtmp_url(self, path: str) -> str:
        return f"rtmp://127.0.0.1:{self.ports.rtmp}/{path}"

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports.http}/{path}"

    def start(self) -> None:
        require(NGINX)
        # A master and a worker, as in production; its own session, to kill them together.
        with (self.prefix / "nginx.out").open("ab") as log:
            self.process = subprocess.Popen(
                [NGINX, "-p", f"{self.prefix}/", "-c", str(self.conf), "-g", "daemon off;"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, timeout=15, what="nginx to answer /stat")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"nginx exited:\n{self.log()}")
        try:
            url = f"http://127.0.0.1:{self.ports.control}/stat"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL to master and worker: nothing gets to say goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        parts = [self.prefix / "nginx.out", self.prefix / "error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())


class Ffmpeg:
    """Starts ffmpeg publishers and players; stops whatever is left at the end."""

    def __init__(self, logs: Path) -> None:
        require(FFMPEG)
        self._logs = logs
        self._processes: list[subprocess.Popen[bytes]] = []

    def _run(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self._logs / f"ffmpeg-{name}-{len(self._processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(process)
        return process

    def publish(self, url: str, *, keyframe_seconds: float = 1) -> subprocess.Popen[bytes]:
        """A live test pattern (video and audio) at 15 frames a second, paced in real time,
        with a keyframe every ``keyframe_seconds`` (nginx-rtmp cuts HLS segments there)."""
        return self._run(
            "publish",
            [
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=15",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                str(round(15 * keyframe_seconds)),
                "-c:a",
                "aac",
                "-f",
                "flv",
                url,
            ],
        )

    def play(self, url: str, *, user_agent: str | None = None) -> subprocess.Popen[bytes]:
        """A player that reads the stream and throws it away (RTMP or HLS)."""
        agent = ["-user_agent", user_agent] if user_agent else []
        return self._run("play", [*agent, "-i", url, "-f", "null", "-"])

    def stop_all(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def ffmpeg(tmp_path: Path) -> Iterator[Ffmpeg]:
    runner = Ffmpeg(tmp_path)
    yield runner
    runner.stop_all()


@pytest.fixture
def origin_prefix() -> Iterator[Callable[[], Path]]:
    """Returns a function making an nginx prefix directory, removed afterwards.

    Not under pytest's tmp_path: that is mode 0700, and nginx's workers (``nobody`` when the
    master runs as root) must reach the HLS directories under the prefix.
    """
    made: list[Path] = []

    def make() -> Path:
        prefix = Path(tempfile.mkdtemp(prefix="cdnpanel-origin-"))
        prefix.chmod(0o755)
        made.append(prefix)
        return prefix

    yield make
    for prefix in made:
        shutil.rmtree(prefix, ignore_errors=True)
