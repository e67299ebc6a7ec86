"""ASGI app assembly: routes, the background sweeper, and the factory uvicorn workers call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdnpanel.commands.registry import Registry
from cdnpanel.config import Settings
from cdnpanel.web.endpoint import CommandEndpoint, run_in_thread, run_inline
from cdnpanel.wiring import Services, build_registry, build_services

__all__ = ["create_app", "create_app_from_environment"]

log = logging.getLogger("cdnpanel.web")

# Version prefixes clients use: /stable/, /dev/, /0.8/ ...; all serve the same API.
_PREFIX = "{prefix:str}"
_API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NONCE_SWEEP_SECONDS = 30.0
_HEALTH_BODY = orjson.dumps({"status": "ok"})


async def health(_request: Request) -> Response:
    return Response(_HEALTH_BODY, media_type="application/json")


def _json_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {
        "status": "failure",
        "code": "0007",
        "message": f"{exc.detail}: the API is POST /stable/",
    }
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type="application/json")


def create_app(services: Services, registry: Registry | None = None) -> Starlette:
    """The API server on given services (tests pass theirs; workers build from settings)."""
    run_blocking = run_inline if services.db.is_sqlite else run_in_thread
    endpoint = CommandEndpoint(services, registry or build_registry(), run_blocking=run_blocking)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep_nonces_forever, services)
            yield
            tasks.cancel_scope.cancel()

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/", endpoint.respond, methods=_API_METHODS),
            Route(f"/{_PREFIX}/", endpoint.respond, methods=_API_METHODS),
            Route(f"/{_PREFIX}", endpoint.respond, methods=_API_METHODS),
        ],
        exception_handlers={HTTPException: _json_http_error},
        lifespan=lifespan,
    )


async def _sweep_nonces_forever(services: Services) -> None:
    while True:
        await anyio.sleep(NONCE_SWEEP_SECONDS)
        try:
            await anyio.to_thread.run_sync(services.authenticator.sweep_expired_claims)
        except Exception:
            log.exception("sweeping expired replay claims failed; will retry")


def create_app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory``: each worker process builds its own services."""
    return create_app(build_services(Settings(), migrate=False))
