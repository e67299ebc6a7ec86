"""Fixtures for tests against a real origin: nginx + libnginx-mod-rtmp (Debian), fed and watched
by ffmpeg, driven by a real ``cdnpanel serve``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdnpanel.client import Client
from cdnpanel.config import Settings
from cdnpanel.origins.nginx_config import NginxConfigOptions, render_nginx_config
from cdnpanel.wiring import Services, build_services
from tests.conftest import LiveServer
from tests.integration.media import Nginx, Ports, ffmpeg, origin_prefix

__all__ = ["ffmpeg", "origin_prefix"]  # fixtures, imported for pytest

CLIENTS = Path(__file__).with_name("clients")

HLS_FRAGMENT = 1  # seconds: an HLS viewer is counted for 3 s after its last request
RECONCILE_EVERY = 1
ORIGIN_LOST_AFTER = 3


@dataclass
class Stack:
    services: Services
    server: LiveServer
    nginx: Nginx
    client: Client
    hook_secret: str
    api_key: str
    api_secret: str

    def active(self) -> list[dict[str, Any]]:
        return list(self.client.stream.active()["data"])

    def viewers(self, url: str = "cam1") -> int:
        return int(self.client.vsn.viewercount("demo-origin", url)["viewer_count"])

    def history(self) -> list[Any]:
        account = self.services.accounts.get_account(158)
        return self.services.streams.history(account.id)

    def php(self, command: str, **params: Any) -> dict[str, Any]:
        """The command sent by the seed documentation's own PHP code (php-cli + curl)."""
        argv = ["php", str(CLIENTS / "seed_client.php"), f"{self.server.url}/stable/", "158"]
        argv += [self.api_key, self.api_secret, command, json.dumps(params)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr + done.stdout
        return dict(json.loads(done.stdout))


def write_config(
    services: Services,
    nginx: Nginx,
    server: LiveServer,
    secret: str,
    edit: Callable[[str], str] | None = None,
) -> None:
    (origin,) = services.origins.list_origins()
    text = render_nginx_config(
        origin,
        services.origins.applications(origin.name),
        NginxConfigOptions(
            prefix=str(nginx.prefix),
            api_url=server.url,
            secret=secret,
            rtmp_listen=f"127.0.0.1:{nginx.ports.rtmp}",
            http_listen=f"127.0.0.1:{nginx.ports.http}",
        ),
    )
    nginx.conf.write_text(edit(text) if edit else text)


@pytest.fixture
def stack_factory(
    database_url: str,
    live_server_factory: Callable[..., LiveServer],
    origin_prefix: Callable[[], Path],
) -> Iterator[Callable[..., Stack]]:
    built: list[Stack] = []

    def build(
        *,
        edit: Callable[[str], str] | None = None,
        secret_override: str | None = None,
        protection: str = "none",
        publishing: str = "open",
    ) -> Stack:
        services = build_services(Settings(database_url=database_url))
        account = services.accounts.create_account("live", cdn_id=158)
        app = services.applications.create(account.id, "demo-origin", publishing=publishing)
        services.applications.protect(app, protection)
        key = services.accounts.create_key(158)
        ports = Ports.free()
        issued = services.origins.add(
            "origin1.test",
            control_url=f"http://127.0.0.1:{ports.control}",
            hls_fragment=HLS_FRAGMENT,
        )
        services.origins.assign(app, "origin1.test")
        server = live_server_factory(
            database_url,
            CDNPANEL_RECONCILE_INTERVAL=str(RECONCILE_EVERY),
            CDNPANEL_ORIGIN_LOST_AFTER=str(ORIGIN_LOST_AFTER),
        )
        nginx = Nginx(origin_prefix(), ports)
        write_config(services, nginx, server, secret_override or issued.secret, edit)
        nginx.start()
        client = Client(f"{server.url}/stable/", 158, key.key.api_key, key.secret)
        stack = Stack(services, server, nginx, client, issued.secret, key.key.api_key, key.secret)
        built.append(stack)
        return stack

    yield build
    for stack in built:
        stack.nginx.stop()
        stack.client.close()
        stack.services.close()


@pytest.fixture
def stack(stack_factory: Callable[..., Stack]) -> Stack:
    return stack_factory()
