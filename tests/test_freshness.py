"""The freshness model: each cache's bound is the one ``Freshness`` says, injected through
``wiring.build_services``, and a change made by another process shows exactly past it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cdnpanel.errors import PermissionDenied
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.wiring import Services
from tests.conftest import FrozenClock


@pytest.mark.parametrize("bound", [0.5, 3.0, DEFAULT_FRESHNESS.origins])
def test_a_rotated_hook_secret_reaches_another_process_within_its_bound(
    services_factory: Callable[..., Services], clock: FrozenClock, bound: float
) -> None:
    freshness = Freshness(origins=bound)
    cli, server = services_factory(), services_factory(freshness=freshness)
    old = cli.origins.add("o1.example.net", control_url="http://127.0.0.1:1").secret
    assert server.origins.authenticate_hook("o1.example.net", old).name == "o1.example.net"
    new = cli.origins.rotate_secret("o1.example.net").secret  # in another process
    clock.advance(bound - 0.01)
    server.origins.authenticate_hook("o1.example.net", old)  # still cached
    clock.advance(0.02)
    with pytest.raises(PermissionDenied):
        server.origins.authenticate_hook("o1.example.net", old)
    assert server.origins.authenticate_hook("o1.example.net", new).name == "o1.example.net"


async def test_a_revoked_ticket_reaches_another_process_within_its_bound(
    services_factory: Callable[..., Services], clock: FrozenClock
) -> None:
    freshness = Freshness(ticket_rules=4.0)
    cli, server = services_factory(), services_factory(freshness=freshness)
    account = cli.accounts.create_account("a")
    cli.applications.create(account.id, "demo-origin")
    issued = await cli.tickets.issue(account.id, app="demo-origin", video="*", password="pw")
    key = issued.ticket.key
    assert server.tickets.rules(key) is not None and server.tickets.rules(key).active  # type: ignore[union-attr]
    cli.tickets.revoke(account.id, key)
    clock.advance(3.9)
    assert server.tickets.rules(key).active  # type: ignore[union-attr]
    clock.advance(0.2)
    assert not server.tickets.rules(key).active  # type: ignore[union-attr]
