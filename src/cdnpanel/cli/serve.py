"""``cdnpanel serve``: migrate, optionally set up the demo account, then run uvicorn."""

from __future__ import annotations

import copy
import os
import shlex
from typing import Any

import click
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from cdnpanel.cli._context import CliState, pass_state
from cdnpanel.services.accounts import IssuedKey
from cdnpanel.web.http import PROTOCOL
from cdnpanel.wiring import Services

__all__ = ["serve"]

DEMO_CDN = 158
DEMO_ACCOUNT = "demo"
DEMO_APPLICATION = "demo-origin"


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8080).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes.")
@click.option(
    "--demo",
    is_flag=True,
    help=f"On first start, create account {DEMO_CDN}, a key and application "
    f"{DEMO_APPLICATION!r}, and print the credentials.",
)
@pass_state
def serve(
    state: CliState, host: str | None, port: int | None, workers: int | None, demo: bool
) -> None:
    """Run the API server (the schema is created or upgraded first)."""
    settings = state.settings
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    services = state.services  # creates or upgrades the schema once, before any worker starts
    url = f"http://{host}:{port}/stable/"
    if demo:
        _ensure_demo(services, url)
    # Workers are separate processes that build their own services from the environment.
    os.environ["CDNPANEL_DATABASE_URL"] = settings.database_url
    click.echo(f"cdnpanel API on {url} (database {services.db.url.render_as_string()})", err=True)
    state.close()
    uvicorn.run(
        "cdnpanel.web.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=log_config(),
        access_log=False,  # cdnpanel writes it (web/asgi.py): secrets masked, HLS checks skipped
        server_header=False,
        http=PROTOCOL,  # uvicorn's httptools, with bounded headers and JSON refusals
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging (its access logger carries cdnpanel's access log), plus cdnpanel's."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cdnpanel"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["cdnpanel.access"] = {
        "handlers": ["access"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def _ensure_demo(services: Services, url: str) -> None:
    accounts = services.accounts
    if accounts.find_account(DEMO_CDN) is not None:
        click.echo(
            f"Demo account {DEMO_CDN} exists; its secret was shown when it was created. "
            f"For a new key: cdnpanel key create --cdn {DEMO_CDN}",
            err=True,
        )
        return
    account = accounts.create_account(DEMO_ACCOUNT, cdn_id=DEMO_CDN)
    services.applications.create(account.id, DEMO_APPLICATION)
    issued = accounts.create_key(DEMO_CDN, label="demo")
    click.echo(_demo_banner(issued, url))


def _demo_banner(issued: IssuedKey, url: str) -> str:
    env = {
        "CDNPANEL_URL": url,
        "CDNPANEL_CDN": str(issued.cdn_id),
        "CDNPANEL_API_KEY": issued.key.api_key,
        "CDNPANEL_SECRET": issued.secret,
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"""
Demo account created (shown once; keep it):
  cdn      {issued.cdn_id}
  api_key  {issued.key.api_key}
  secret   {issued.secret}
  app      {DEMO_APPLICATION}

Try it from another terminal:
  export {exports}
  .venv/bin/cdnpanel call video.getapps

Or with nothing but curl and openssl, signed the way the PHP client signs:
  body=$(printf '{{"command":"video.getapps","api_key":"%s","timestamp":%s,"cdn":%s}}' \\
    '{issued.key.api_key}' "$(date +%s)" {issued.cdn_id})
  sig=$(printf %s "$body" | openssl dgst -sha256 -hmac '{issued.secret}' -binary | base64)
  curl -s -F "json=${{body%?}},\\"signature\\":\\"$sig\\"}}" {url}
"""
