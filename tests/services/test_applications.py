from __future__ import annotations

from collections.abc import Callable

import pytest

from cdnpanel.errors import Conflict, InvalidParameter, NotFound
from cdnpanel.wiring import Services
from tests.conftest import Tenant


def test_resolve_by_ids_names_and_numeric_strings(
    services: Services, tenant_factory: Callable[..., Tenant]
) -> None:
    tenant = tenant_factory("demo-origin", "demo-vod", "2024")
    apps = {a.name: a for a in services.applications.list_for_account(tenant.account.id)}
    resolve = services.applications.resolve
    origin, vod, numeric = apps["demo-origin"], apps["demo-vod"], apps["2024"]
    assert resolve(tenant.account.id, [origin.id]) == [origin]
    assert resolve(tenant.account.id, ["demo-vod", origin.id, "demo-vod"]) == [vod, origin]
    assert resolve(tenant.account.id, [str(vod.id)]) == [vod]  # a numeric string, no such name
    assert resolve(tenant.account.id, ["2024"]) == [numeric]  # a name wins over an id


def test_resolve_never_reaches_another_account(
    services: Services, tenant_factory: Callable[..., Tenant]
) -> None:
    mine = tenant_factory("mine-origin")
    theirs = tenant_factory("theirs-origin")
    (their_app,) = services.applications.list_for_account(theirs.account.id)
    for ref in (their_app.id, "theirs-origin", str(their_app.id)):
        with pytest.raises(NotFound):
            services.applications.resolve(mine.account.id, [ref])


@pytest.mark.parametrize("name", ["", "a/b", "-x", "a b", "a*", "x" * 101, "é"])
def test_application_names_are_url_safe(
    services: Services, tenant_factory: Callable[..., Tenant], name: str
) -> None:
    tenant = tenant_factory()
    with pytest.raises(InvalidParameter):
        services.applications.create(tenant.account.id, name)


def test_names_unique_across_accounts(
    services: Services, tenant_factory: Callable[..., Tenant]
) -> None:
    tenant_factory("shared-name")
    other = tenant_factory()
    with pytest.raises(Conflict):
        services.applications.create(other.account.id, "shared-name")
