"""Usage metering from the command line: servers, ingesting their access logs, meters."""

from __future__ import annotations

import glob
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import FrameType

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from cdnpanel.cli._context import CliState, pass_state, print_json, print_json_line, print_table
from cdnpanel.cli.accounts import json_option, when
from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.ingest.formats import FORMATS
from cdnpanel.ingest.job import IngestJob, IngestReport
from cdnpanel.records import Rate
from cdnpanel.services.charges import USAGE_TYPES
from cdnpanel.services.usage import METERS, ROLES, Period, day_of, parse_day
from cdnpanel.store.usage import Server

__all__ = ["ingest", "meter", "rate", "server", "usage"]


def _server_json(s: Server) -> dict[str, object]:
    return {"name": s.name, "role": s.role, "created": when(s.created_at)}


@click.group()
def server() -> None:
    """Servers whose access logs are ingested (the names video.servers shows)."""


@server.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="The usage.summary category its traffic counts in.",
)
@json_option
@pass_state
def server_add(state: CliState, name: str, role: str, as_json: bool) -> None:
    """Add a server NAME (a short code such as HML) with its role."""
    added = state.services.usage.add_server(name, role)
    if as_json:
        print_json(_server_json(added))
    else:
        click.echo(f"server {added.name} ({added.role}) added")


@server.command("list")
@json_option
@pass_state
def server_list(state: CliState, as_json: bool) -> None:
    """List servers."""
    servers = state.services.usage.list_servers()
    if as_json:
        print_json({"servers": [_server_json(s) for s in servers]})
        return
    if not servers:
        click.echo("no servers yet: cdnpanel server add NAME --role edge", err=True)
    print_table(
        ["NAME", "ROLE", "CREATED"], [(s.name, s.role, when(s.created_at)) for s in servers]
    )


# -- ingest -----------------------------------------------------------------------------------


@click.command()
@click.option("--server", "server_name", required=True, help="The server the logs come from.")
@click.option(
    "--format",
    "log_format",
    type=click.Choice(list(FORMATS)),
    help="The log format (default: recognised from each log's first line).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes parsing in parallel (default: one per CPU).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep ingesting what the logs gain (and logs the patterns newly match) until stopped.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.5, 3600),
    default=10.0,
    show_default=True,
    help="Seconds between rounds with --follow.",
)
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object with a report per log (with --follow: one JSON line a report).",
)
@pass_state
def ingest(
    state: CliState,
    server_name: str,
    log_format: str | None,
    workers: int | None,
    follow: bool,
    interval: float,
    files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Ingest access logs of a server into the usage rollups.

    FILES are plain or gzip logs, or - for standard input; patterns (quoted, e.g.
    '/var/log/nginx/access.log*') are expanded each round. Each log counts once, whatever
    its name: running again adds only what it gained since.
    """
    if "-" in files and (follow or len(files) > 1):
        raise click.UsageError("- (standard input) is read alone, and without --follow")
    console = Console(stderr=True)
    show_progress = console.is_terminal
    failed = False
    reports: list[dict[str, object]] = []
    job = state.services.usage.ingest_job(server_name, workers=workers)
    with job, _stop_signals() as stopping:
        while True:
            for path in _expand(files):
                if stopping():
                    break
                report = _ingest_one(job, path, log_format, console, show_progress)
                failed |= report.status in ("unreadable", "refused") or report.damaged
                if follow and report.status == "up to date":
                    continue
                if as_json and follow:
                    print_json_line(_report_json(server_name, report))
                elif as_json:
                    reports.append(_report_json(server_name, report))
                else:
                    _print_report(report, console if show_progress else None)
            if not follow or stopping():
                break
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stopping():
                time.sleep(min(0.2, interval))
    if as_json and not follow:
        print_json({"server": server_name, "logs": reports})
    if failed:
        sys.exit(1)


def _report_json(server_name: str, r: IngestReport) -> dict[str, object]:
    return {
        "server": server_name,
        "path": r.path,
        "status": r.status,
        "format": r.format or None,
        "lines": r.lines,
        "skipped": r.skipped,
        "bytes": r.bytes,
        "requests": r.requests,
        "unattributed": r.unattributed,
        "seconds": round(r.seconds, 3),
        "notes": r.notes,
    }


def _expand(files: tuple[str, ...]) -> Iterator[str]:
    for pattern in files:
        if pattern == "-" or not glob.has_magic(pattern):
            yield pattern
        else:
            yield from sorted(glob.glob(pattern))


def _ingest_one(
    job: IngestJob, path: str, log_format: str | None, console: Console, show_progress: bool
) -> IngestReport:
    stdin = sys.stdin.buffer if path == "-" else None
    if not show_progress:
        return job.ingest(path, log_format=log_format, stdin=stdin)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=False),
        TextColumn("{task.fields[lines]:>12,} lines  {task.fields[rate]:>9,.0f} lines/s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(path, total=None, lines=0, rate=0.0)
        started = time.perf_counter()

        def update(report: IngestReport) -> None:
            elapsed = time.perf_counter() - started
            progress.update(
                task,
                completed=report.bytes,
                total=report.expected_bytes,
                lines=report.lines,
                rate=report.lines / elapsed if elapsed > 0 else 0.0,
            )

        job.progress = update
        try:
            return job.ingest(path, log_format=log_format, stdin=stdin)
        finally:
            job.progress = None


def _print_report(report: IngestReport, console: Console | None) -> None:
    line = _summary(report)
    if console is not None:
        console.print(line, highlight=False, markup=False)
    else:
        click.echo(line, err=report.status in ("unreadable", "refused"))


def _summary(r: IngestReport) -> str:
    if r.status in ("unreadable", "refused", "waiting for its first line"):
        detail = f": {'; '.join(r.notes)}" if r.notes else ""
        return f"{r.path}: {r.status}{detail}"
    text = (
        f"{r.path}: {r.status} ({r.format}): {r.lines:,} lines, {r.bytes / 1e6:,.1f} MB in "
        f"{r.seconds:.2f} s ({r.lines_per_second:,.0f} lines/s); {r.requests:,} requests"
    )
    if r.unattributed:
        text += f", {r.unattributed:,} for no known application"
    if r.skipped:
        lines = "line" if r.skipped == 1 else "lines"
        text += f"; {r.skipped:,} {lines} skipped (not in the {r.format} format)"
    for note in r.notes:
        text += f"; {note}"
    return text


@contextmanager
def _stop_signals() -> Iterator[_Stopping]:
    """SIGINT/SIGTERM let the segment being committed finish, then stop."""
    stopping = _Stopping()
    previous = {sig: signal.signal(sig, stopping.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stopping:
    def __init__(self) -> None:
        self.requested = 0

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.requested += 1
        if self.requested > 1:  # a second Ctrl-C: now (what was committed stays)
            raise KeyboardInterrupt
        click.echo("stopping after this log (Ctrl-C again to stop now)", err=True)

    def __call__(self) -> bool:
        return self.requested > 0


# -- meters -----------------------------------------------------------------------------------


@click.group()
def meter() -> None:
    """Usage no access log feeds (SQL, PHP, origin CPU, memory, I/O, disk)."""


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value)
    except InvalidParameter as exc:
        raise click.BadParameter(exc.message) from None


@meter.command("record")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option(
    "--type", "meter_type", type=click.Choice(list(METERS)), required=True, help="The meter."
)
@click.option("--value", type=float, required=True, help="The amount, in the meter's unit.")
@click.option("--date", "on", callback=_date, help="The UTC day (YYYY-MM-DD; default today).")
@json_option
@pass_state
def meter_record(
    state: CliState, cdn: int, meter_type: str, value: float, on: date | None, as_json: bool
) -> None:
    """Record usage for an account's day: counters add up, gauges set the day's level."""
    account = state.services.accounts.get_account(cdn)
    kind, day = state.services.usage.record_meter(account.id, meter_type, value, on=on)
    if as_json:
        print_json(
            {"cdn": cdn, "type": kind.name, "kind": kind.kind, "date": day.isoformat(),
             "value": value, "unit": kind.unit}
        )  # fmt: skip
        return
    verb = "set to" if kind.kind == "gauge" else "added"
    click.echo(f"{kind.name} for cdn {cdn} on {day.isoformat()}: {value:g} {kind.unit} {verb}")


@meter.command("types")
@json_option
def meter_types(as_json: bool) -> None:
    """List the meters, their units and the usage.summary row each feeds."""
    if as_json:
        print_json(
            {"meters": [{"type": m.name, "kind": m.kind, "unit": m.unit,
                         "description": m.description} for m in METERS.values()]}
        )  # fmt: skip
        return
    print_table(
        ["TYPE", "KIND", "UNIT", "DESCRIPTION"],
        [(m.name, m.kind, m.unit, m.description) for m in METERS.values()],
    )


# -- rates (usage.data's charges) -------------------------------------------------------------


@click.group()
def rate() -> None:
    """Prices per usage type, per account: what usage.data charges."""


def _rate_json(r: Rate, currency: str) -> dict[str, object]:
    return {"type": r.type, "per": r.per, "price": str(r.price), "currency": currency}


@rate.command("set")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option(
    "--type",
    "usage_type",
    type=click.Choice(list(USAGE_TYPES)),
    required=True,
    help="The usage type (a usage.summary row).",
)
@click.option(
    "--per",
    required=True,
    help="The unit priced: B, KB, MB, GB, TB or PB (bytes); hour (CPU); 1, 1000, 1K, 1M (counts).",
)
@click.option("--price", required=True, help="The price per unit, e.g. 0.02 (6 decimals at most).")
@click.option(
    "--currency", help="The account's currency, 3 letters (default USD); for all its rates."
)
@json_option
@pass_state
def rate_set(
    state: CliState,
    cdn: int,
    usage_type: str,
    per: str,
    price: str,
    currency: str | None,
    as_json: bool,
) -> None:
    """Set an account's price for a usage type (replacing its earlier one)."""
    account = state.services.accounts.get_account(cdn)
    charges = state.services.charges
    found = charges.set_rate(account.id, usage_type, per=per, price=price, currency=currency)
    money = charges.currency(account.id)
    if as_json:
        print_json({"cdn": cdn, **_rate_json(found, money)})
        return
    click.echo(f"{found.type} for cdn {cdn}: {found.price:f} {money} per {found.per}")


@rate.command("list")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@json_option
@pass_state
def rate_list(state: CliState, cdn: int, as_json: bool) -> None:
    """List an account's rates."""
    account = state.services.accounts.get_account(cdn)
    charges = state.services.charges
    money = charges.currency(account.id)
    found = charges.rates(account.id)
    if as_json:
        print_json({"cdn": cdn, "currency": money, "rates": [_rate_json(r, money) for r in found]})
        return
    print_table(["TYPE", "PRICE", "PER"], [(r.type, f"{r.price:f} {money}", r.per) for r in found])


@rate.command("remove")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option("--type", "usage_type", type=click.Choice(list(USAGE_TYPES)), required=True)
@json_option
@pass_state
def rate_remove(state: CliState, cdn: int, usage_type: str, as_json: bool) -> None:
    """Remove an account's rate for a usage type (usage.data then charges nothing for it)."""
    account = state.services.accounts.get_account(cdn)
    if not state.services.charges.remove_rate(account.id, usage_type):
        raise NotFound("rate", usage_type, scope=f"for cdn {cdn}")
    if as_json:
        print_json({"cdn": cdn, "type": usage_type, "removed": True})
        return
    click.echo(f"{usage_type} for cdn {cdn}: rate removed")


# -- reports for operators ---------------------------------------------------------------------


@click.group()
def usage() -> None:
    """Usage reports for operators."""


@usage.command("unattributed")
@click.option("--from", "first", help="First UTC day (YYYY-MM-DD; default 30 days ago).")
@click.option("--to", "last", help="Last UTC day (YYYY-MM-DD; default today).")
@json_option
@pass_state
def usage_unattributed(state: CliState, first: str | None, last: str | None, as_json: bool) -> None:
    """Traffic for applications no account owns, by day, server and the name the URL gave."""
    today = datetime.now(UTC).date()
    last_day = parse_day(last, "to") if last else today
    first_day = parse_day(first, "from") if first else last_day - timedelta(days=29)
    rows = state.services.usage.unattributed(Period(day_of(first_day), day_of(last_day)))
    if as_json:
        print_json({"unattributed": rows})
        return
    if not rows:
        click.echo("no unattributed traffic in that period", err=True)
    print_table(
        ["DATE", "SERVER", "REQUESTS", "BYTES", "APPLICATION"],
        [
            (
                row["date"],
                row["server"],
                f"{row['requests_total']:,}",
                f"{row['bytes_total']:,}",
                row["app"] or "(no application)",
            )
            for row in rows
        ],
    )
