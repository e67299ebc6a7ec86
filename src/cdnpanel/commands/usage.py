"""The ``usage.*`` commands: the account's usage over a month."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cdnpanel.commands.params import StartTime
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.commands.video import VideoUsageParams, video_usage_answer
from cdnpanel.records import UsageSummary
from cdnpanel.services.charges import USAGE_TYPES, Charged, rounded
from cdnpanel.services.usage import day_text
from cdnpanel.store.usage import ROLES

__all__ = ["COMMANDS", "format_bytes", "format_count", "format_hours", "summary_rows"]


class SummaryParams(Params):
    starttime: StartTime | None = None


@command(
    "usage.summary",
    params=SummaryParams,
    summary="Summarise the account's usage over a month, in Google Tables format.",
    uses=("usage",),
    reads=True,
)
def summary(context: CommandContext, params: SummaryParams) -> Answer:
    usage = context.services.usage
    period = usage.summary_period(params.starttime)
    rows = summary_rows(usage.summary(context.caller.account_id, period))
    return Answer(
        "Found Usage Summary Data",
        {"data": {"cols": [["string", "Name"], ["number", "Total"]], "vals": rows}},
    )


@command(
    "usage.data",
    params=SummaryParams,
    summary="A month's usage per type with the account's rates, costs, and the estimated usage "
    "and cost at the month's end.",
    uses=("usage", "charges"),
    reads=True,
)
def data(context: CommandContext, params: SummaryParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    period = services.usage.summary_period(params.starttime)
    rows = summary_rows(services.usage.summary(account_id, period))
    used = {label: Decimal(str(cells["v"])) for label, cells in rows}
    percentile = services.usage.bandwidth_95th(account_id, period)
    p95 = USAGE_TYPES["bandwidth-95th"]
    rows.append([p95.label, _quantity(p95.measure, percentile)])
    used[p95.label] = percentile
    charged, gone = services.charges.charges(
        account_id, period, {t.name: used[t.label] for t in USAGE_TYPES.values()}
    )
    currency = services.charges.currency(account_id)
    vals: list[list[Any]] = []
    for (label, usage_cell), item in zip(rows, charged, strict=True):
        estimate = _quantity(item.type.measure, item.estimated_usage)
        vals.append(
            [
                label,
                usage_cell,
                _rate_cell(item, currency),
                _money(item.cost, currency),
                estimate,
                _money(item.estimated_cost, currency),
            ]
        )
    cost = sum((c.cost for c in charged), Decimal(0))
    estimated = sum((c.estimated_cost for c in charged), Decimal(0))
    blank = {"v": None, "f": ""}
    vals.append(
        ["Total:", blank, blank, _money(cost, currency), blank, _money(estimated, currency)]
    )
    return Answer(
        "Found Usage Data",
        {
            "data": {"cols": _DATA_COLUMNS, "vals": vals},
            "currency": currency,
            "starttime": day_text(period.first_day),
            "endtime": day_text(period.last_day),
            "elapsed": round(gone, 6),
            "cost": _money(cost, currency),
            "estimated_cost": _money(estimated, currency),
        },
    )


_DATA_COLUMNS = [
    ["string", "Name"],
    ["number", "Usage"],
    ["number", "Rate"],
    ["number", "Cost"],
    ["number", "Estimated Usage"],
    ["number", "Estimated Cost"],
]


def _money(value: Decimal, currency: str) -> dict[str, Any]:
    exact = rounded(value)
    return {"v": float(exact), "f": f"{rounded(value, 2):,.2f} {currency}"}


def _rate_cell(item: Charged, currency: str) -> dict[str, Any]:
    if item.rate is None:
        return {"v": None, "f": "no rate"}
    per = item.rate.per
    unit = {"bytes": per, "hours": "hour", "mbps": "Mbps"}.get(item.type.measure, per)
    return {"v": float(item.rate.price), "f": f"{item.rate.price:f} {currency} per {unit}"}


def _quantity(measure: str, value: Decimal) -> dict[str, Any]:
    if measure == "bytes":
        return _bytes(int(value.to_integral_value()))
    if measure == "hours":
        hours = float(rounded(value))
        return {"v": hours, "f": format_hours(hours)}
    if measure == "mbps":
        return {"v": float(rounded(value)), "f": f"{rounded(value, 2):,.2f} Mbit/s"}
    return _count(int(value.to_integral_value()))


def summary_rows(usage: UsageSummary) -> list[list[Any]]:
    """The rows of seed 001, in its order: [label, {"v": exact, "f": formatted}]."""
    meters = usage.meters

    def number(name: str) -> int:
        return round(meters[name] or 0)

    bandwidth = [usage.bandwidth[role] for role in ROLES]
    requests = [usage.requests[role] for role in ROLES]
    queries = [number("sql-select"), number("sql-update"), number("sql-other")]
    rows: list[list[Any]] = []
    for label, sent in zip(_ROLE_LABELS, bandwidth, strict=True):
        rows.append([f"{label} Bandwidth:", _bytes(sent)])
    rows.append(["Total Bandwidth:", _bytes(sum(bandwidth))])
    for label, count in zip(_ROLE_LABELS, requests, strict=True):
        rows.append([f"{label} Requests:", _count(count)])
    rows += [
        ["Total Requests:", _count(sum(requests))],
        ["SQL SELECT:", _count(queries[0])],
        ["SQL UPDATE:", _count(queries[1])],
        ["SQL OTHER:", _count(queries[2])],
        ["SQL Replication Bandwidth:", _bytes(number("sql-replication-bytes"))],
        ["SQL CPU Hours:", _hours(meters["sql-cpu-seconds"])],
        ["SQL Query Total:", _count(sum(queries))],
        ["PHP CPU Hours:", _hours(meters["php-cpu-seconds"])],
        ["Origin CPU Hours:", _hours(meters["origin-cpu-seconds"], missing=_COMING_SOON)],
        ["Origin Processes:", _count(number("origin-processes"))],
        ["Origin I/O Transactions:", _count(number("origin-io-transactions"))],
        ["Origin Memory Seconds:", _count(number("origin-memory-seconds"))],
        ["Origin Disk:", _bytes(meters["origin-disk-bytes"], missing=_COMING_SOON)],
    ]
    return rows


_ROLE_LABELS = ("Edge", "CDN", "Origin", "VideoCDN")  # the order of ROLES
_COMING_SOON = "Coming Soon"  # seed 001: what a row nothing has fed yet shows


def _count(value: int) -> dict[str, Any]:
    return {"v": value, "f": format_count(value)}


def _bytes(value: float | None, *, missing: str | None = None) -> dict[str, Any]:
    if value is None and missing is not None:
        return {"v": 0, "f": missing}
    exact = round(value or 0)
    return {"v": exact, "f": format_bytes(exact)}


def _hours(seconds: float | None, *, missing: str | None = None) -> dict[str, Any]:
    if seconds is None and missing is not None:
        return {"v": 0, "f": missing}
    hours = round((seconds or 0) / 3600, 6)
    return {"v": hours, "f": format_hours(hours)}


def format_count(value: int) -> str:
    """``28,103 `` (the seed's trailing space: a count has no unit)."""
    return f"{value:,} "


_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")


def format_bytes(value: int) -> str:
    """Decimal units, as bandwidth is billed: ``0 ``, ``512 B``, ``1.50 GB``."""
    if value == 0:
        return "0 "
    size = float(value)
    unit = 0
    while round(size, 2) >= 1000 and unit < len(_BYTE_UNITS) - 1:
        size /= 1000
        unit += 1
    if unit == 0:
        return f"{value:,} B"
    return f"{size:,.2f} {_BYTE_UNITS[unit]}"


def format_hours(hours: float) -> str:
    """``0 `` or ``1,234.50 ``."""
    if hours == 0:
        return "0 "
    return f"{hours:,.2f} "


@command(
    "usage.vse",
    params=VideoUsageParams,
    summary="video.usage over VOD paths only: every VOD file of an application used in a month "
    "or a day, with its bytes and requests, most first.",
    uses=("applications", "usage"),
    reads=True,
)
def vse(context: CommandContext, params: VideoUsageParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    period = services.usage.video_period(params.year, params.month, params.day)
    total, videos = services.usage.video_usage(
        app, period, url=params.url, vod_only=True, limit=params.limit, offset=params.offset
    )
    return video_usage_answer(app, period, total, videos)


COMMANDS = (summary, data, vse)
