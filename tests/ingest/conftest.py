"""Fixtures of the ingest tests."""

from __future__ import annotations

import pytest

from cdnpanel.wiring import Services


@pytest.fixture
def metered(services: Services) -> Services:
    """An account with the applications the generated logs name (``live``, ``vod``; their
    ``ghost`` is no one's), and the servers HML (an edge) and ORG (an origin)."""
    account = services.accounts.create_account("acme")
    services.applications.create(account.id, "live")
    services.applications.create(account.id, "vod")
    services.usage.add_server("HML", "edge")
    services.usage.add_server("ORG", "origin")
    return services
