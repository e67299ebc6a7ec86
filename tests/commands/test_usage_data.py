"""usage.data through the signed endpoint: the account's rates applied to a month of usage
from ingested logs and meters, against costs worked out here by hand; and setting rates."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdnpanel.errors import Conflict, InvalidParameter
from cdnpanel.services.charges import USAGE_TYPES, parse_price
from tests.commands.conftest import CallCommand
from tests.commands.test_usage import SEED_001_LABELS, usage_world
from tests.conftest import OriginWorld, Tenant

__all__ = ["usage_world"]  # a fixture, imported for pytest

# November 2026 of the tenant (tests/commands/test_usage.py): edge 2,500,003,018 bytes in 6
# requests, origin 40 bytes in 2; December so far: edge 5 bytes, 1 request.
EDGE_NOVEMBER = 2_500_003_018


@pytest.fixture
def priced(usage_world: OriginWorld) -> OriginWorld:
    services = usage_world.services
    account_id = usage_world.tenant.account.id
    charges = services.charges
    charges.set_rate(account_id, "edge-bandwidth", per="GB", price="0.02", currency="EUR")
    charges.set_rate(account_id, "origin-requests", per="1000", price="0.5", currency=None)
    charges.set_rate(account_id, "php-cpu-hours", per="hour", price="0.10", currency=None)
    charges.set_rate(account_id, "origin-disk", per="gb", price="0.05", currency=None)
    services.usage.record_meter(account_id, "php-cpu-seconds", 7200, on=date(2026, 11, 3))
    services.usage.record_meter(account_id, "origin-disk-bytes", 3e9, on=date(2026, 11, 4))
    services.usage.record_meter(account_id, "origin-disk-bytes", 1e9, on=date(2026, 11, 5))
    return usage_world


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], priced: OriginWorld) -> CallCommand:
    return call_as(priced.tenant)


def _by_label(answer: dict[str, Any]) -> dict[str, list[Any]]:
    return {row[0]: row[1:] for row in answer["data"]["vals"]}


def test_a_past_month_costs_what_the_rates_say(call: CallCommand) -> None:
    answer = call("usage.data", starttime="2026-11")
    assert (answer["status"], answer["message"]) == ("success", "Found Usage Data")
    assert answer["currency"] == "EUR"
    assert (answer["starttime"], answer["endtime"], answer["elapsed"]) == (
        "2026-11-01",
        "2026-11-30",
        1.0,
    )
    assert [c[1] for c in answer["data"]["cols"]] == [
        "Name",
        "Usage",
        "Rate",
        "Cost",
        "Estimated Usage",
        "Estimated Cost",
    ]
    rows = _by_label(answer)
    assert list(rows) == [*SEED_001_LABELS, "Total:"]
    # By hand: 2,500,003,018 B at 0.02 per GB; 2 origin requests at 0.5 per 1000; 2 PHP CPU
    # hours at 0.10; the disk's peak, 3 GB, at 0.05 per GB.
    edge = Decimal(EDGE_NOVEMBER) / 10**9 * Decimal("0.02")
    assert edge == Decimal("0.05000006036")
    usage, rate, cost, estimate, estimated_cost = rows["Edge Bandwidth:"]
    assert usage == {"v": EDGE_NOVEMBER, "f": "2.50 GB"}
    assert rate == {"v": 0.02, "f": "0.02 EUR per GB"}
    assert cost == {"v": 0.05, "f": "0.05 EUR"}
    assert (estimate, estimated_cost) == (usage, cost)  # the month is over
    assert rows["Origin Requests:"][2] == {"v": 0.001, "f": "0.00 EUR"}
    assert rows["Origin Requests:"][1] == {"v": 0.5, "f": "0.5 EUR per 1000"}
    assert rows["PHP CPU Hours:"][0]["v"] == 2.0
    assert rows["PHP CPU Hours:"][2] == {"v": 0.2, "f": "0.20 EUR"}
    assert rows["Origin Disk:"][0]["v"] == 3_000_000_000
    assert rows["Origin Disk:"][2] == {"v": 0.15, "f": "0.15 EUR"}
    assert rows["CDN Bandwidth:"][1:3] == [{"v": None, "f": "no rate"}, {"v": 0.0, "f": "0.00 EUR"}]
    total = edge + Decimal("0.001") + Decimal("0.2") + Decimal("0.15")
    assert answer["cost"] == {"v": float(total.quantize(Decimal("0.000001"))), "f": "0.40 EUR"}
    assert rows["Total:"][2] == answer["cost"] and rows["Total:"][4] == answer["estimated_cost"]
    assert answer["estimated_cost"] == answer["cost"]


def test_the_current_month_is_estimated_in_a_straight_line(
    call: CallCommand, priced: OriginWorld
) -> None:
    answer = call("usage.data")  # today is 2026-12-10
    now = priced.clock.now
    december = calendar.timegm((2026, 12, 1, 0, 0, 0))
    gone = (now - december) / (31 * 86400)
    assert answer["starttime"] == "2026-12-01" and answer["elapsed"] == round(gone, 6)
    usage, _rate, cost, estimate, estimated_cost = _by_label(answer)["Edge Bandwidth:"]
    assert usage["v"] == 5
    expected = Decimal(5) / Decimal(repr(gone))
    assert estimate["v"] == int(expected.to_integral_value())
    assert estimated_cost["v"] == pytest.approx(float(expected / 10**9 * Decimal("0.02")), abs=1e-6)
    assert cost["v"] == 0.0  # 5 bytes: 1e-10 EUR
    # A gauge is its own estimate: no disk recorded in December.
    assert _by_label(answer)["Origin Disk:"][3]["v"] == 0


def test_another_account_pays_its_own_rates_only(
    priced: OriginWorld, call_as: Callable[[Tenant], CallCommand]
) -> None:
    answer = call_as(priced.other)("usage.data", starttime="2026-11-01")
    assert answer["currency"] == "USD"
    rows = _by_label(answer)
    assert rows["Edge Bandwidth:"][0]["v"] == 999_999
    assert all(cells[1] == {"v": None, "f": "no rate"} for label, cells in rows.items() if
               label != "Total:")  # fmt: skip
    assert answer["cost"] == {"v": 0.0, "f": "0.00 USD"}
    assert priced.services.charges.rates(priced.other.account.id) == []


@pytest.mark.parametrize("starttime", ["2026-13-01", "yesterday", -5, [1]])
def test_bad_starttime(call: CallCommand, starttime: object) -> None:
    answer = call("usage.data", starttime=starttime)
    assert (answer["status"], answer["code"]) == ("failure", "0008")
    assert "starttime" in answer["message"]


@pytest.mark.parametrize(
    ("usage_type", "per", "price", "currency", "fragment"),
    [
        ("bandwidth", "GB", "1", None, "unknown usage type"),
        ("edge-bandwidth", "hour", "1", None, "per B, KB, MB, GB, TB, PB"),
        ("edge-bandwidth", "GiB", "1", None, "not 'GiB'"),
        ("php-cpu-hours", "GB", "1", None, "per hour"),
        ("edge-requests", "0", "1", None, "per a count"),
        ("edge-requests", "1T", "1", None, "per a count"),
        ("edge-bandwidth", "GB", "-1", None, "from 0 to"),
        ("edge-bandwidth", "GB", "abc", None, "not a number"),
        ("edge-bandwidth", "GB", "NaN", None, "from 0 to"),
        ("edge-bandwidth", "GB", "1e9", None, "from 0 to"),
        ("edge-bandwidth", "GB", "0.0000001", None, "6 decimal places"),
        ("edge-bandwidth", "GB", "1", "usd", "3-letter code"),
    ],
)
def test_setting_a_bad_rate(
    priced: OriginWorld,
    usage_type: str,
    per: str,
    price: str,
    currency: str | None,
    fragment: str,
) -> None:
    charges = priced.services.charges
    before = charges.rates(priced.tenant.account.id)
    with pytest.raises(InvalidParameter, match=fragment):
        charges.set_rate(
            priced.tenant.account.id, usage_type, per=per, price=price, currency=currency
        )
    assert charges.rates(priced.tenant.account.id) == before


def test_a_total_and_its_parts_are_never_both_rated(priced: OriginWorld) -> None:
    charges = priced.services.charges
    account_id = priced.tenant.account.id
    with pytest.raises(Conflict, match="edge-bandwidth"):
        charges.set_rate(account_id, "total-bandwidth", per="GB", price="0.01", currency=None)
    assert charges.remove_rate(account_id, "edge-bandwidth")
    assert not charges.remove_rate(account_id, "edge-bandwidth")
    charges.set_rate(account_id, "total-bandwidth", per="TB", price="9", currency=None)
    with pytest.raises(Conflict, match="total-bandwidth"):
        charges.set_rate(account_id, "cdn-bandwidth", per="GB", price="0.01", currency=None)
    # A new price replaces the old one.
    charges.set_rate(account_id, "total-bandwidth", per="GB", price="0.010", currency=None)
    (total,) = [r for r in charges.rates(account_id) if r.type == "total-bandwidth"]
    assert (total.per, total.price) == ("GB", Decimal("0.01"))


def test_every_usage_type_is_a_summary_row() -> None:
    assert [t.label for t in USAGE_TYPES.values()] == SEED_001_LABELS


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.text(max_size=40))
def test_a_price_is_exact_or_refused(text: str) -> None:
    try:
        price = parse_price(text)
    except InvalidParameter as exc:
        assert exc.param == "price"
        return
    assert Decimal(0) <= price <= Decimal(1_000_000)
    assert Decimal(str(price)) == price and "E" not in str(price)
