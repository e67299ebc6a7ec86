"""usage.data through the signed endpoint: the account's rates applied to a month of usage
from ingested logs and meters, against costs worked out here by hand; and setting rates."""

from __future__ import annotations

import calendar
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
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
    assert list(rows) == [*SEED_001_LABELS, "95th Percentile Bandwidth:", "Total:"]
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
    assert all(
        cells[1] == {"v": None, "f": "no rate"}
        for label, cells in rows.items()
        if label != "Total:"
    )
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
    labels = [t.label for t in USAGE_TYPES.values()]
    assert labels == [*SEED_001_LABELS, "95th Percentile Bandwidth:"]


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


def _generated_logs(tmp_path: Path, seed: int = 17) -> tuple[list[Path], dict[int, int]]:
    """Logs of November 2026 in three formats from two edges (combined with local offsets,
    JSON lines with msec times, nginx-rtmp) and one origin; and the edges' bytes per UTC
    5-minute bucket, as the test works them out itself."""
    rng = random.Random(seed)
    november = calendar.timegm((2026, 11, 1, 0, 0, 0))
    buckets: dict[int, int] = defaultdict(int)
    combined, json_lines, rtmp, origin = [], [], [], []
    for n in range(4000):
        moment = november + rng.randrange(30 * 86400)
        sent = rng.choice([rng.randrange(1, 10**6), rng.randrange(10**6, 10**9)])
        kind = n % 4
        if kind == 3:  # the origin's own traffic (to the edges): not delivered bandwidth
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))
            origin.append(
                f'10.0.0.1 - - [{stamp}] "GET /demo-origin/live/cam1/{n}.ts HTTP/1.1" '
                f'200 {sent} "-" "nginx"\n'
            )
            continue
        buckets[moment // 300] += sent
        if kind == 0:
            offset = rng.choice([0, 330, -300])  # +0000, +0530, -0500
            local = time.gmtime(moment + offset * 60)
            sign = "+" if offset >= 0 else "-"
            zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S ", local) + zone
            combined.append(
                f'198.51.100.{n % 200} - - [{stamp}] "GET /demo-origin/live/cam1/'
                f'{n}.ts HTTP/1.1" 200 {sent} "-" "VLC/3.0.20"\n'
            )
        elif kind == 1:
            record = {
                "msec": f"{moment}.{n % 1000:03d}",
                "request_uri": f"/demo-vod/vod/f{n}.mp4/seg.ts",
                "bytes_sent": sent,
            }
            json_lines.append(json.dumps(record) + "\n")
        else:
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))
            received = rng.randrange(0, sent + 1)
            rtmp.append(
                f'192.0.2.{n % 200} [{stamp}] PLAY "demo-origin/live" "cam1" "" - '
                f'{received} {sent - received} "" "LNX 9,0,124,2" (1m 4s)\n'
            )
    paths = []
    for name, lines in (
        ("edge", combined),
        ("json", json_lines),
        ("rtmp", rtmp),
        ("origin", origin),
    ):
        path = tmp_path / f"{name}.log"
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    return paths, dict(buckets)


def test_the_95th_percentile_of_generated_logs(
    origin_world: OriginWorld, tmp_path: Path, call_as: Callable[[Tenant], CallCommand]
) -> None:
    world = origin_world
    world.clock.now = 1_796_900_000.0  # 2026-12-10: November is over
    services = world.services
    services.applications.create(world.tenant.account.id, "demo-vod")
    for server, role in (("E1", "edge"), ("E2", "edge"), ("E3", "cdn"), ("O1", "origin")):
        services.usage.add_server(server, role)
    paths, buckets = _generated_logs(tmp_path)
    for server, path in zip(("E1", "E2", "E3", "O1"), paths, strict=True):
        with services.usage.ingest_job(server, workers=1) as job:
            assert job.ingest(str(path)).status == "ingested"
    samples = 30 * 288
    ordered = sorted(buckets.values(), reverse=True)
    assert len(ordered) > samples * 5 // 100  # enough busy buckets for the rate not to be 0
    expected = Decimal(ordered[samples * 5 // 100] * 8) / 300 / 10**6
    services.charges.set_rate(
        world.tenant.account.id, "bandwidth-95th", per="mbps", price="1.5", currency=None
    )
    answer = call_as(world.tenant)("usage.data", starttime="2026-11")
    usage, rate, cost, estimate, _ = _by_label(answer)["95th Percentile Bandwidth:"]
    assert usage["v"] == float(expected.quantize(Decimal("0.000001")))
    assert usage["f"] == f"{expected:,.2f} Mbit/s" and estimate == usage
    assert rate == {"v": 1.5, "f": "1.5 USD per Mbps"}
    assert cost["v"] == float((expected * Decimal("1.5")).quantize(Decimal("0.000001")))
    # The other account has no traffic in these logs.
    other = call_as(world.other)("usage.data", starttime="2026-11")
    assert _by_label(other)["95th Percentile Bandwidth:"][0] == {"v": 0.0, "f": "0.00 Mbit/s"}
