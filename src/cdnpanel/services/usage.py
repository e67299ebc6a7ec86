"""Usage: servers whose logs are ingested, meters no log feeds, and the two reports.

``video.servers`` (seed 000) answers 30 days of bytes and requests per day and server for some
applications; ``usage.summary`` (seed 001) a month of usage per category, in the Google Tables
shape, each value exact (``v``) and formatted (``f``).

Periods are whole UTC days. A date string names a day (``video.servers``: the first of 30 days)
or the month it falls in (``usage.summary``); a Unix time names the day it falls in, the first
of 30 days for both commands, as the seed pages say.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.ingest.formats import BUCKET_MINUTES
from cdnpanel.ingest.job import IngestJob, Progress
from cdnpanel.records import Application, DayTotal, ServerDay, UsageSummary, VideoUsage
from cdnpanel.services._cache import TtlCache
from cdnpanel.services._clock import Clock
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.usage import ROLES, Server, UsageStore

__all__ = [
    "METERS",
    "ROLES",
    "SERVER_NAME",
    "Meter",
    "Period",
    "UsageService",
    "VideoPeriod",
]

DELIVERY_ROLES = ("edge", "cdn", "videocdn")  # servers whose bytes viewers received
SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_EPOCH = date(1970, 1, 1)
_DAYS = 30  # video.servers, and usage.summary from a Unix time
_LONG_DAYS = 90  # video.cdnlong
_LAST_UNIX_DAY = (date(9999, 12, 31) - _EPOCH).days - _DAYS
# The last day a report may start on: its month (usage.summary) or its 30 days (video.servers)
# must end within the calendar (bench/hostile.py found 9999-12-01 overflowing the month's end).
_LAST_REPORT_DAY = date(9999, 11, 30)


@dataclass(frozen=True, slots=True)
class Meter:
    name: str
    unit: str  # what `meter record --value` is in
    kind: str  # counter: records add up; gauge: a record sets the day's level, reports its peak
    description: str


METERS: dict[str, Meter] = {
    m.name: m
    for m in (
        Meter("sql-select", "queries", "counter", "SQL SELECT statements"),
        Meter("sql-update", "queries", "counter", "SQL UPDATE (and INSERT, DELETE) statements"),
        Meter("sql-other", "queries", "counter", "other SQL statements"),
        Meter("sql-replication-bytes", "bytes", "counter", "SQL replication traffic"),
        Meter("sql-cpu-seconds", "seconds", "counter", "CPU time of the SQL servers"),
        Meter("php-cpu-seconds", "seconds", "counter", "CPU time of PHP"),
        Meter("origin-cpu-seconds", "seconds", "counter", "CPU time on the origins"),
        Meter("origin-processes", "processes", "gauge", "processes on the origins"),
        Meter("origin-io-transactions", "transactions", "counter", "origin disk I/O operations"),
        Meter("origin-memory-seconds", "seconds", "counter", "origin memory use"),
        Meter("origin-disk-bytes", "bytes", "gauge", "origin disk space used"),
    )
}


@dataclass(frozen=True, slots=True)
class VideoPeriod:
    """The day or the month a per-URL report covers: ``name`` as the answer shows it
    (``2026-11`` or ``2026-11-20``) and its day number or its first day's."""

    name: str
    day: int | None = None
    month: int | None = None


@dataclass(frozen=True, slots=True)
class Period:
    first_day: int  # days since 1970-01-01, UTC
    last_day: int

    @property
    def days(self) -> range:
        return range(self.first_day, self.last_day + 1)


def day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


def day_of(moment: date) -> int:
    return (moment - _EPOCH).days


def parse_day(text: str, param: str = "date") -> date:
    """``YYYY-MM-DD`` (also ``YYYY-MM``: the month's first day)."""
    value = text.strip()
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
            parsed = date.fromisoformat(value + "-01")
        elif re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            parsed = date.fromisoformat(value)
        else:
            raise InvalidParameter(
                param, f"{text[:40]!r} is not a date: give YYYY-MM-DD (e.g. 2025-01-01)"
            )
    except ValueError:
        raise InvalidParameter(param, f"{text[:40]!r} is not a valid date") from None
    if not _EPOCH <= parsed <= _LAST_REPORT_DAY:
        raise InvalidParameter(
            param, f"{value!r} is outside the days reports cover (1970-01-01 to {_LAST_REPORT_DAY})"
        )
    return parsed


def _unix_day(seconds: int, param: str) -> int:
    day = seconds // 86400
    if not 0 <= day <= _LAST_UNIX_DAY:
        raise InvalidParameter(param, f"{seconds} is not a Unix time this report can start at")
    return day


class UsageService:
    def __init__(
        self,
        usage: UsageStore,
        applications: ApplicationStore,
        *,
        clock: Clock = time.time,
        freshness: Freshness = DEFAULT_FRESHNESS,
        per_url: bool = True,
    ) -> None:
        """``per_url``: ingests roll up per video too."""
        self._usage = usage
        self._per_url = per_url
        self._applications = applications
        self._clock = clock
        self._server_names: TtlCache[int, dict[int, str]] = TtlCache(
            self._load_server_names, ttl=freshness.server_names, clock=clock
        )

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    # -- servers and meters (operators) ----------------------------------------------------

    def add_server(self, name: str, role: str) -> Server:
        if not SERVER_NAME.fullmatch(name):
            raise InvalidParameter(
                "name",
                "a server name is 1 to 32 letters, digits, '.', '_' or '-' (the short code "
                "video.servers shows, e.g. HML)",
            )
        if role not in ROLES:
            raise InvalidParameter("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        server = self._usage.create_server(name=name, role=role, now=int(self._clock()))
        self._server_names.forget(0)
        return server

    def list_servers(self) -> list[Server]:
        return self._usage.list_servers()

    def server(self, name: str) -> Server:
        server = self._usage.get_server(name)
        if server is None:
            raise NotFound("server", name, scope="(see `cdnpanel server list`)")
        return server

    def ingest_job(
        self, server_name: str, *, workers: int | None = None, progress: Progress | None = None
    ) -> IngestJob:
        return IngestJob(
            self._usage,
            self._applications,
            self.server(server_name),
            clock=self._clock,
            workers=workers,
            progress=progress,
            per_url=self._per_url,
        )

    def record_meter(
        self, account_id: int, meter: str, value: float, *, on: date | None = None
    ) -> tuple[Meter, date]:
        kind = METERS.get(meter)
        if kind is None:
            raise InvalidParameter("type", f"unknown meter {meter!r}; one of {', '.join(METERS)}")
        if not (value >= 0 and value < 2**53):  # also refuses NaN
            raise InvalidParameter("value", f"must be a number from 0 to 2^53, not {value}")
        when = on or self._today()
        self._usage.record_meter(
            account_id=account_id,
            day=day_of(when),
            meter=meter,
            value=value,
            gauge=kind.kind == "gauge",
        )
        return kind, when

    def unattributed(self, period: Period) -> list[dict[str, Any]]:
        names = self._server_names.get(0)
        return [
            {
                "date": day_text(day),
                "server": names.get(server_id, str(server_id)),
                "app": app,
                "bytes_total": sent,
                "requests_total": count,
            }
            for day, server_id, app, sent, count in self._usage.unattributed(
                first_day=period.first_day, last_day=period.last_day
            )
        ]

    # -- video.servers ----------------------------------------------------------------------

    def servers_period(self, starttime: str | int | None) -> Period:
        """30 days from ``starttime`` (a date or a Unix time), or the last 30 days."""
        if starttime is None:
            first = day_of(self._today()) - _DAYS + 1
        elif isinstance(starttime, int):
            first = _unix_day(starttime, "starttime")
        else:
            first = day_of(parse_day(starttime, "starttime"))
        return Period(first, first + _DAYS - 1)

    def video_servers(
        self, account_id: int, apps: Sequence[Application], period: Period
    ) -> list[ServerDay]:
        """Per day and server, the bytes and requests of these applications together: every
        day of the period up to today (UTC) for each server that served them in it, by date
        then server. Days still to come have no rows."""
        totals = self._servers_by_day(account_id, {a.id for a in apps}, period)
        names = self._server_names.get(0)
        servers = sorted(
            ((names.get(server, str(server)), server) for server in {s for _d, s in totals}),
        )
        nothing = (0, 0)
        data = []
        today = day_of(self._today())
        for day in period.days:
            if day > today:
                break
            text = day_text(day)
            for name, server in servers:
                sent, count = totals.get((day, server), nothing)
                data.append(ServerDay(text, name, sent, count))
        return data

    def _servers_by_day(
        self, account_id: int, chosen: set[int], period: Period
    ) -> dict[tuple[int, int], tuple[int, int]]:
        """(day, server) -> (bytes, requests) of the chosen applications. The cost is the rows
        read: all of an account's applications come from the account's own rollup, and more
        than half of them as the account's total less the others'."""
        window = {"first_day": period.first_day, "last_day": period.last_day}
        if len(chosen) > 1:  # one application's rows are never more than the account's
            everything = {a.id for a in self._applications.list_for_account(account_id)}
            if len(chosen) * 2 > len(everything):
                return self._all_less(account_id, everything - chosen, window)
        rows = self._usage.servers_by_day(chosen, **window)
        return {(day, server): (sent, count) for day, server, sent, count in rows}

    def _all_less(
        self, account_id: int, others: set[int], window: dict[str, int]
    ) -> dict[tuple[int, int], tuple[int, int]]:
        """The account's totals by day and server, less those of the ``others``."""
        rows = self._usage.account_servers_by_day(account_id, **window)
        totals = {(day, server): (sent, count) for day, server, sent, count in rows}
        if not others:
            return totals
        for day, server, sent, count in self._usage.servers_by_day(others, **window):
            left = totals[(day, server)]
            totals[(day, server)] = (left[0] - sent, left[1] - count)
        # a row exists only where a request was logged; keep it that way
        return {key: value for key, value in totals.items() if value[1] > 0}

    def _load_server_names(self, _key: int) -> dict[int, str]:
        return {s.id: s.name for s in self._usage.list_servers()}

    # -- video.usage, usage.vse, video.cdnlong ------------------------------------------------

    def video_period(self, year: int | None, month: int | None, day: int | None) -> VideoPeriod:
        """A day (with ``day``) or a month; the current month (UTC) by default."""
        today = self._today()
        if year is None and (month is not None or day is not None):
            year = today.year
        if month is None and day is not None:
            raise InvalidParameter("month", "give the month of the day (1-12) with day")
        chosen_year = today.year if year is None else year
        chosen_month = today.month if month is None else month
        if not 1970 <= chosen_year <= 9999:
            raise InvalidParameter("year", f"{chosen_year} is not a year from 1970 to 9999")
        if not 1 <= chosen_month <= 12:
            raise InvalidParameter("month", f"{chosen_month} is not a month: give 1 to 12")
        first = date(chosen_year, chosen_month, 1)
        if day is None:
            return VideoPeriod(first.isoformat()[:7], month=day_of(first))
        try:
            chosen = first.replace(day=day)
        except ValueError:
            raise InvalidParameter(
                "day", f"{first:%Y-%m} has no day {day}: give 1 to its last day"
            ) from None
        return VideoPeriod(chosen.isoformat(), day=day_of(chosen))

    def video_usage(
        self,
        app: Application,
        period: VideoPeriod,
        *,
        url: str | None = None,
        vod_only: bool = False,
        limit: int,
        offset: int,
    ) -> tuple[int, list[VideoUsage]]:
        """Every video (stream name or VOD path) of the application used in the period, with
        its bytes and requests, most bytes first: how many, and ``limit`` from ``offset``."""
        return self._usage.videos(
            app.id,
            day=period.day,
            month=period.month,
            video=url,
            kind="vod" if vod_only else None,
            limit=limit,
            offset=offset,
        )

    def cdnlong_period(self, starttime: str | int | None) -> Period:
        """90 days from ``starttime`` (a date or a Unix time), or the 90 days to today."""
        if starttime is None:
            first = day_of(self._today()) - _LONG_DAYS + 1
        elif isinstance(starttime, int):
            first = _unix_day(starttime, "starttime")
        else:
            first = day_of(parse_day(starttime, "starttime"))
        return Period(first, first + _LONG_DAYS - 1)

    def daily_totals(self, account_id: int, app: Application, period: Period) -> list[DayTotal]:
        """The application's bytes and requests on every day of the period up to today (UTC),
        all servers together; a day without requests is a zero."""
        totals = self._servers_by_day(account_id, {app.id}, period)
        per_day: dict[int, list[int]] = {}
        for (day, _server), (sent, count) in totals.items():
            row = per_day.setdefault(day, [0, 0])
            row[0] += sent
            row[1] += count
        today = day_of(self._today())
        return [
            DayTotal(day_text(day), *per_day.get(day, (0, 0)))
            for day in period.days
            if day <= today
        ]

    # -- usage.summary ----------------------------------------------------------------------

    def summary_period(self, starttime: str | int | None) -> Period:
        """The month ``starttime`` (a date) falls in, 30 days from it (a Unix time), or the
        current month."""
        if isinstance(starttime, int):
            first = _unix_day(starttime, "starttime")
            return Period(first, first + _DAYS - 1)
        if starttime is None:
            month = self._today().replace(day=1)
        else:
            month = parse_day(starttime, "starttime").replace(day=1)
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        return Period(day_of(month), day_of(following) - 1)

    def summary(self, account_id: int, period: Period) -> UsageSummary:
        """The account's usage over the period, by server role and meter."""
        window = {"first_day": period.first_day, "last_day": period.last_day}
        roles = self._usage.totals_by_role(account_id, **window)
        found = self._usage.meters(account_id, **window)
        meters: dict[str, float | None] = {}
        for name, meter in METERS.items():
            values = found.get(name)
            meters[name] = (
                None if values is None else (values[1] if meter.kind == "gauge" else values[0])
            )
        return UsageSummary(
            bandwidth={role: roles.get(role, (0, 0))[0] for role in ROLES},
            requests={role: roles.get(role, (0, 0))[1] for role in ROLES},
            meters=meters,
        )

    # -- the 95th percentile (usage.data) ---------------------------------------------------

    def bandwidth_95th(self, account_id: int, period: Period) -> Decimal:
        """The 95th percentile, in Mbit/s, of the account's delivered bandwidth (its edge, cdn
        and videocdn servers' bytes; origins feed the edges) over the period's 5-minute
        buckets up to now, as CDNs bill it: every bucket is a sample (none is 0 bytes), the
        top 5 % are dropped and the highest left is the rate."""
        first = period.first_day * 1440 // BUCKET_MINUTES
        end = (period.last_day + 1) * 1440 // BUCKET_MINUTES - 1
        last = min(end, int(self._clock()) // 60 // BUCKET_MINUTES)
        if last < first:
            return Decimal(0)
        samples = last - first + 1
        found = self._usage.bucket_bytes(account_id, first=first, last=last, roles=DELIVERY_ROLES)
        # Sorted, highest first: the rate is sample number floor(5 % of them) (0-based),
        # the highest once the top 5 % are set aside; a bucket without traffic is 0.
        drop = samples * 5 // 100
        ordered = sorted(found, reverse=True)
        rate_bytes = ordered[drop] if drop < len(ordered) else 0
        return Decimal(rate_bytes * 8) / (BUCKET_MINUTES * 60) / 10**6
