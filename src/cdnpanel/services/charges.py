"""Charges: an account's rates per usage type, and a period's usage priced (``usage.data``).

The usage types are the rows of ``usage.summary`` and the month's 95th percentile of 5-minute
bandwidth, each with a unit a rate can be per: bandwidth and disk in decimal byte units (``B``
to ``PB``, as bandwidth is billed), the 95th percentile in ``Mbps``, CPU in hours, and counts
per a number of them (``1``, ``1000``, ``1M``...). A total row
(``total-bandwidth``, ``total-requests``, ``sql-queries``) may carry a rate instead of its
parts, never beside one of them: the same bytes would be charged twice.

Money is exact: prices are decimals of at most 6 places, costs are worked out in decimals and
rounded to 6 places only in the answer. Estimates are straight-line: the usage so far divided
by the share of the period gone by (a gauge, the period's peak, is its own estimate).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from cdnpanel.errors import Conflict, InvalidParameter
from cdnpanel.records import Rate
from cdnpanel.services._clock import Clock
from cdnpanel.services.usage import Period
from cdnpanel.store.rates import RateStore

__all__ = ["MAX_PRICE", "USAGE_TYPES", "ChargeService", "Charged", "UsageType"]

MAX_PRICE = Decimal(1_000_000)
_PLACES = 6
_CURRENCY = re.compile(r"[A-Z]{3}")
_BYTE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
_COUNT_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}


@dataclass(frozen=True, slots=True)
class UsageType:
    name: str  # what `cdnpanel rate set --type` takes
    label: str  # its usage.summary row
    measure: str  # bytes, hours or count
    gauge: bool = False  # the period's peak, not a sum
    parts: tuple[str, ...] = ()  # a total: the types it adds up


def _types() -> dict[str, UsageType]:
    roles = ("edge", "cdn", "origin", "videocdn")
    labels = {"edge": "Edge", "cdn": "CDN", "origin": "Origin", "videocdn": "VideoCDN"}
    found = [UsageType(f"{r}-bandwidth", f"{labels[r]} Bandwidth:", "bytes") for r in roles]
    found.append(
        UsageType(
            "total-bandwidth", "Total Bandwidth:", "bytes", parts=tuple(t.name for t in found)
        )
    )
    requests = [UsageType(f"{r}-requests", f"{labels[r]} Requests:", "count") for r in roles]
    found += requests
    found.append(
        UsageType(
            "total-requests", "Total Requests:", "count", parts=tuple(t.name for t in requests)
        )
    )
    found += [
        UsageType("sql-select", "SQL SELECT:", "count"),
        UsageType("sql-update", "SQL UPDATE:", "count"),
        UsageType("sql-other", "SQL OTHER:", "count"),
        UsageType("sql-replication-bandwidth", "SQL Replication Bandwidth:", "bytes"),
        UsageType("sql-cpu-hours", "SQL CPU Hours:", "hours"),
        UsageType(
            "sql-queries",
            "SQL Query Total:",
            "count",
            parts=("sql-select", "sql-update", "sql-other"),
        ),
        UsageType("php-cpu-hours", "PHP CPU Hours:", "hours"),
        UsageType("origin-cpu-hours", "Origin CPU Hours:", "hours"),
        UsageType("origin-processes", "Origin Processes:", "count", gauge=True),
        UsageType("origin-io-transactions", "Origin I/O Transactions:", "count"),
        UsageType("origin-memory-seconds", "Origin Memory Seconds:", "count"),
        UsageType("origin-disk", "Origin Disk:", "bytes", gauge=True),
        # Not a usage.summary row: the month's 95th percentile of 5-minute bandwidth.
        UsageType("bandwidth-95th", "95th Percentile Bandwidth:", "mbps", gauge=True),
    ]
    return {t.name: t for t in found}


USAGE_TYPES: dict[str, UsageType] = _types()
"""In the order of usage.summary's rows, then the 95th percentile."""


@dataclass(frozen=True, slots=True)
class Charged:
    """One usage type over a period: its usage, rate (None: none set), cost and estimates."""

    type: UsageType
    usage: Decimal
    rate: Rate | None
    cost: Decimal
    estimated_usage: Decimal
    estimated_cost: Decimal


def per_size(usage_type: UsageType, per: str) -> int:
    """How many of the type's units one ``per`` is; InvalidParameter when it does not fit."""
    if usage_type.measure == "bytes":
        size = _BYTE_UNITS.get(per.upper())
        if size is None:
            raise InvalidParameter(
                "per", f"{usage_type.name} is priced per {', '.join(_BYTE_UNITS)}, not {per!r}"
            )
        return size
    if usage_type.measure == "mbps":
        if per.lower() not in ("mbps", "mbit/s"):
            raise InvalidParameter("per", f"{usage_type.name} is priced per Mbps, not {per!r}")
        return 1
    if usage_type.measure == "hours":
        if per.lower() != "hour":
            raise InvalidParameter("per", f"{usage_type.name} is priced per hour, not {per!r}")
        return 1
    found = re.fullmatch(r"([1-9][0-9]{0,11})([KMG]?)", per.strip().upper())
    if found is None:
        raise InvalidParameter(
            "per", f"{usage_type.name} is priced per a count: 1, 1000, 1K, 1M..., not {per!r}"
        )
    size = int(found.group(1)) * _COUNT_SUFFIXES[found.group(2)]
    if size > 10**12:
        raise InvalidParameter("per", f"at most 10^12, not {per!r}")
    return size


def parse_price(text: str) -> Decimal:
    try:
        price = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidParameter("price", f"{text[:40]!r} is not a number such as 0.02") from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise InvalidParameter("price", f"must be from 0 to {MAX_PRICE:,}, not {text[:40]}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_PLACES:
        raise InvalidParameter("price", f"has at most {_PLACES} decimal places: {text[:40]}")
    if not price:
        return Decimal(0)
    normal = price.normalize()  # 0.020 -> 0.02, but 100 -> 1E+2: back to a whole number
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


class ChargeService:
    def __init__(self, rates: RateStore, *, clock: Clock = time.time) -> None:
        self._rates = rates
        self._clock = clock

    def set_rate(
        self, account_id: int, usage_type: str, *, per: str, price: str, currency: str | None
    ) -> Rate:
        known = USAGE_TYPES.get(usage_type)
        if known is None:
            raise InvalidParameter(
                "type", f"unknown usage type {usage_type!r}; one of {', '.join(USAGE_TYPES)}"
            )
        per_size(known, per)
        fixed = {"hours": "hour", "mbps": "Mbps"}.get(known.measure, per.strip().upper())
        rate = Rate(known.name, fixed, parse_price(price))
        if currency is not None and not _CURRENCY.fullmatch(currency):
            raise InvalidParameter("currency", f"a 3-letter code such as USD, not {currency!r}")
        rated = {r.type for r in self._rates.list(account_id)} - {known.name}
        clash = [
            t.name
            for t in USAGE_TYPES.values()
            if t.name in rated and (t.name in known.parts or known.name in t.parts)
        ]
        if clash:
            raise Conflict(
                f"{known.name} and {clash[0]} would charge the same usage twice: "
                f"remove the rate of {clash[0]} first"
            )
        now = int(self._clock())
        if currency is not None:
            self._rates.set_currency(account_id, currency, now=now)
        self._rates.set(account_id, rate, now=now)
        return rate

    def remove_rate(self, account_id: int, usage_type: str) -> bool:
        return self._rates.remove(account_id, usage_type)

    def rates(self, account_id: int) -> list[Rate]:
        return self._rates.list(account_id)

    def currency(self, account_id: int) -> str:
        return self._rates.currency(account_id)

    def charges(
        self, account_id: int, period: Period, usage: dict[str, Decimal]
    ) -> tuple[list[Charged], float]:
        """Each usage type's usage over ``period`` (``usage``: by type name, in its measure)
        priced with the account's rates, and the share of the period gone by."""
        rates = {r.type: r for r in self._rates.list(account_id)}
        start = period.first_day * 86400
        length = (period.last_day - period.first_day + 1) * 86400
        gone = min(max(self._clock() - start, 0.0), float(length)) / length
        charged = []
        for usage_type in USAGE_TYPES.values():
            used = usage.get(usage_type.name, Decimal(0))
            if usage_type.gauge or gone >= 1:
                estimate = used
            elif gone <= 0:
                estimate = Decimal(0)
            else:
                estimate = used / Decimal(repr(gone))
            rate = rates.get(usage_type.name)
            charged.append(
                Charged(
                    usage_type,
                    used,
                    rate,
                    _cost(usage_type, rate, used),
                    estimate,
                    _cost(usage_type, rate, estimate),
                )
            )
        return charged, gone


def _cost(usage_type: UsageType, rate: Rate | None, used: Decimal) -> Decimal:
    if rate is None:
        return Decimal(0)
    return used * rate.price / per_size(usage_type, rate.per)


def rounded(value: Decimal, places: int = _PLACES) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
