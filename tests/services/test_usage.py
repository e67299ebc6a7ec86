"""Usage service: number formatting, periods, servers and meters."""

from __future__ import annotations

from datetime import date

import pytest

from cdnpanel.commands.usage import format_bytes, format_count, format_hours
from cdnpanel.errors import Conflict, InvalidParameter
from cdnpanel.services.usage import Period
from cdnpanel.wiring import Services


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 "),
        (1, "1 B"),
        (999, "999 B"),
        (1000, "1.00 KB"),
        (999_994, "999.99 KB"),
        (999_999, "1.00 MB"),
        (1_500_000_000, "1.50 GB"),
        (2_000_000_000_000_000, "2.00 PB"),
        (10**21, "1,000.00 EB"),
    ],
)
def test_format_bytes(value: int, text: str) -> None:
    assert format_bytes(value) == text


def test_format_count_and_hours() -> None:
    assert format_count(0) == "0 "
    assert format_count(28103) == "28,103 "
    assert format_hours(0) == "0 "
    assert format_hours(1234.5) == "1,234.50 "


def day(text: str) -> int:
    return (date.fromisoformat(text) - date(1970, 1, 1)).days


def test_periods(services: Services) -> None:
    usage = services.usage  # the frozen clock is 2026-11-18
    assert usage.servers_period("2026-02-10") == Period(day("2026-02-10"), day("2026-03-11"))
    assert usage.servers_period(None) == Period(day("2026-10-20"), day("2026-11-18"))
    assert usage.summary_period(None) == Period(day("2026-11-01"), day("2026-11-30"))
    assert usage.summary_period("2024-02-14") == Period(day("2024-02-01"), day("2024-02-29"))
    assert usage.summary_period("2026-12") == Period(day("2026-12-01"), day("2026-12-31"))
    assert usage.summary_period(86400 * 3 + 5) == Period(3, 32)
    for bad in ("2026-02-30", "26-1-1", "2026/01/01", "0000-00-00"):
        with pytest.raises(InvalidParameter, match="starttime"):
            usage.summary_period(bad)
    with pytest.raises(InvalidParameter, match="starttime"):
        usage.servers_period(10**13)


def test_servers(services: Services) -> None:
    usage = services.usage
    usage.add_server("HML", "edge")
    usage.add_server("lon-1.edge", "videocdn")
    assert [(s.name, s.role) for s in usage.list_servers()] == [
        ("HML", "edge"),
        ("lon-1.edge", "videocdn"),
    ]
    with pytest.raises(Conflict, match="HML"):
        usage.add_server("HML", "cdn")
    for name in ("", "-x", "a b", "x" * 33, "../etc", "HML;DROP"):
        with pytest.raises(InvalidParameter, match="name"):
            usage.add_server(name, "edge")
    with pytest.raises(InvalidParameter, match="role"):
        usage.add_server("NEW", "proxy")
    assert len(usage.list_servers()) == 2


def test_meters_refuse_bad_values(services: Services) -> None:
    account = services.accounts.create_account("acme")
    usage = services.usage
    with pytest.raises(InvalidParameter, match="unknown meter"):
        usage.record_meter(account.id, "cpu", 1)
    for value in (-1, float("nan"), float("inf"), 2.0**60):
        with pytest.raises(InvalidParameter, match="value"):
            usage.record_meter(account.id, "sql-select", value)
    meter, when = usage.record_meter(account.id, "sql-select", 3)
    assert (meter.kind, when) == ("counter", date(2026, 11, 18))
