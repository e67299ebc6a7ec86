"""Calling commands through the signed endpoint, in-process, as a real client would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from cdnpanel.web.app import create_app
from tests.client_styles import envelope, multipart, php_wire
from tests.conftest import OriginWorld, Tenant

CallCommand = Callable[..., dict[str, Any]]


@pytest.fixture
def call_as(origin_world: OriginWorld) -> Callable[[Tenant], CallCommand]:
    """``call_as(tenant)(command, **params)``: the answer of one signed request."""
    http = TestClient(create_app(origin_world.services, background=False))

    def as_tenant(tenant: Tenant) -> CallCommand:
        def call(command: str, **params: Any) -> dict[str, Any]:
            origin_world.clock.advance(1)  # a fresh timestamp: never a replay of the last call
            members = envelope(
                command, tenant.key.key.api_key, tenant.cdn, int(origin_world.clock.now), **params
            )
            content_type, body = multipart(php_wire(members, tenant.key.secret))
            response = http.post("/stable/", content=body, headers={"content-type": content_type})
            assert response.status_code == 200, response.text
            return dict(response.json())

        return call

    return as_tenant
