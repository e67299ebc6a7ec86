"""ASGI app assembly: routes, background loops, and the factory uvicorn workers call."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cdnpanel.commands.registry import Registry
from cdnpanel.config import Settings
from cdnpanel.errors import MalformedRequest, MethodNotAllowed, NoApiHere
from cdnpanel.protocol import envelope
from cdnpanel.store.database import StoreRun
from cdnpanel.web.asgi import CdnpanelApp
from cdnpanel.web.endpoint import CommandEndpoint
from cdnpanel.web.hooks import OriginHooks
from cdnpanel.wiring import Services, build_registry, build_services

__all__ = ["create_app", "create_app_from_environment"]

log = logging.getLogger("cdnpanel.web")

NONCE_SWEEP_SECONDS = 30.0
SESSION_SWEEP_SECONDS = 1.0
ATTEMPT_SWEEP_SECONDS = 60.0
HISTORY_SWEEP_SECONDS = 60.0
# A minute's sample is taken within this many seconds of its start (by whichever process
# claims it first).
HISTORY_SAMPLE_SECONDS = 5.0


def _json_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's refusals (no route, a route's other methods) in the API's envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        status, body = envelope.encode_failure(NoApiHere(request.url.path), elapsed=0.0)
    elif exc.status_code == 405:
        refusal = MethodNotAllowed(request.method, path=request.url.path, takes="POST")
        status, body = envelope.encode_failure(refusal, elapsed=0.0)
    else:  # what Starlette refused, with its status
        status = exc.status_code
        _, body = envelope.encode_failure(MalformedRequest(str(exc.detail)), elapsed=0.0)
    return Response(body, status_code=status, media_type="application/json")


def create_app(
    services: Services, registry: Registry | None = None, *, background: bool = True
) -> CdnpanelApp:
    """The API server on given services (tests pass theirs; workers build from settings).

    ``background=False`` leaves out the loops (sweeps, session writes, reconciliation), for
    tests that drive them by hand.
    """
    endpoint = CommandEndpoint(services, registry or build_registry())
    hooks = OriginHooks(services)
    settings = services.settings

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if not background:
            yield
            return
        async with anyio.create_task_group() as tasks:
            # Store writes, as steps of one short transaction each (see _run_steps).
            steps: list[tuple[str, float, Callable[[], bool]]] = [
                (
                    "sweeping expired replay claims",
                    NONCE_SWEEP_SECONDS,
                    services.authenticator.sweep_expired_claims,
                ),
                (
                    "writing HLS viewer sessions",
                    settings.session_flush_interval,
                    services.viewers.flush_step,
                ),
                (
                    "ending expired HLS viewer sessions",
                    SESSION_SWEEP_SECONDS,
                    services.viewers.sweep_step,
                ),
                (
                    "deleting attempts past the attempt log's retention",
                    ATTEMPT_SWEEP_SECONDS,
                    services.tickets.expire_attempts_step,
                ),
                (
                    "deleting viewer history past its retention",
                    HISTORY_SWEEP_SECONDS,
                    services.history.expire_step,
                ),
            ]
            for what, every, step in steps:
                tasks.start_soon(_run_steps, every, what, step, services.db.run)
            # Network calls: in a thread.
            jobs: list[tuple[str, float, Callable[[], Any]]] = [
                ("reconciling origins", settings.reconcile_interval, services.reconciler.run_once),
                # Reads every live session: in a thread, not on the event loop.
                ("sampling viewer history", HISTORY_SAMPLE_SECONDS, services.history.sample_once),
            ]
            for what, every, job in jobs:
                tasks.start_soon(_every, every, what, job)
            # Everything built so far lives as long as the server: keep it out of the
            # collector's full passes, whose pauses were the p99 of large answers.
            gc.freeze()
            yield
            tasks.cancel_scope.cancel()
        services.viewers.flush()  # sessions noted since the last write

    starlette = Starlette(
        # CdnpanelApp answers /health, the command API and the origins' hooks before Starlette,
        # which keeps the lifespan and answers every other path (404, as JSON).
        routes=[],
        exception_handlers={HTTPException: _json_http_error},
        lifespan=lifespan,
    )
    return CdnpanelApp(starlette, endpoint, hooks)


async def _run_steps(seconds: float, what: str, step: Callable[[], bool], run: StoreRun) -> None:
    """Every ``seconds``, run ``step`` until it says nothing is left, one step at a time.

    On SQLite ``run`` (``Database.run``) runs it on the event loop, like the request path's own
    writes: a step is one short transaction, and requests are served between two steps. (A
    background thread holding the writer made the event loop wait for the whole batch.)
    """
    while True:
        await anyio.sleep(seconds)
        try:
            while await run(step):
                await asyncio.sleep(0)
        except Exception:
            log.exception("%s failed; will retry", what)


async def _every(seconds: float, what: str, work: Callable[[], Any]) -> None:
    """Run ``work`` in a worker thread every ``seconds``; a failure is logged, not fatal."""
    while True:
        await anyio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(work)
        except Exception:
            log.exception("%s failed; will retry", what)


def create_app_from_environment() -> CdnpanelApp:
    """Factory for ``uvicorn --factory``: each worker process builds its own services."""
    return create_app(build_services(Settings(), migrate=False))
