"""The ``sevu.*`` commands: SEVU (the Virtual Usher) tickets and their attempt log."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import Field, StrictInt, StrictStr

from cdnpanel.commands.params import Flag, StartTime, WholeNumber, unix_time
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.errors import InvalidParameter
from cdnpanel.protocol import codes
from cdnpanel.records import LoggedAttempt, Ticket
from cdnpanel.services.ticket_rules import Reason, normalise_address

__all__ = ["COMMANDS"]

NEVER = "0000-00-00 00:00:00"


Text = Annotated[StrictStr, Field(max_length=1000, description="text of at most 1000 characters")]
Expiry = Annotated[
    StrictStr | StrictInt,
    Field(description="a date and time, a Unix time, or a time from now such as +2 hours"),
]


class RequestParams(Params):
    app: Text
    video: Text
    password: Annotated[StrictStr, Field(alias="pass", max_length=256)]
    ip: Text | None = None
    uses: WholeNumber = 0
    # Clients send the expiry under three names (DOC and WordPress: expire; the Guzzle client and
    # the C# sample: expires; v2: expire_date).
    expire: Expiry | None = None
    expires: Expiry | None = None
    expire_date: Expiry | None = None


@command(
    "sevu.request",
    params=RequestParams,
    summary="Issue a SEVU ticket: who (ip) may play which apps and videos, how often, until when.",
    uses=("tickets",),
)
async def request(context: CommandContext, params: RequestParams) -> Answer:
    expiries = [v for v in (params.expire, params.expires, params.expire_date) if v is not None]
    if len(expiries) > 1 and len(set(expiries)) > 1:
        raise InvalidParameter("expire", "expire, expires and expire_date disagree: send one")
    issued = await context.services.tickets.issue(
        context.caller.account_id,
        app=params.app,
        video=params.video,
        password=params.password,
        ip=params.ip,
        uses=params.uses,
        expire=expiries[0] if expiries else None,
    )
    return Answer(
        "Ticket created",
        {"ticket": _ticket_fields(issued.ticket, password=issued.password)},
    )


class KeyParams(Params):
    key: Annotated[StrictStr, Field(min_length=1, max_length=100)]


class StatusParams(KeyParams):
    password: Annotated[StrictStr | None, Field(alias="pass", max_length=256)] = None


@command(
    "sevu.status",
    params=StatusParams,
    summary="A ticket's criteria, uses remaining, last use and whether it is active.",
    uses=("tickets",),
    reads=True,
)
def status(context: CommandContext, params: StatusParams) -> Answer:
    tickets = context.services.tickets
    ticket = tickets.get(context.caller.account_id, params.key)
    # Passwords are kept as a keyed hash: status can only confirm one the caller sends.
    password = params.password
    if password is not None and not tickets.password_matches(ticket, password):
        raise InvalidParameter("pass", "is not this ticket's password")
    fields = _ticket_fields(ticket, password=password)
    fields["uses_remaining"] = None if ticket.uses == 0 else max(0, ticket.uses - ticket.used)
    fields["uses_used"] = ticket.used
    fields["ip_bound"] = ticket.ip_bound
    return Answer("Ticket found", fields)


@command(
    "sevu.revoke",
    params=KeyParams,
    summary="Revoke a ticket: new and running viewers with it are refused within seconds.",
    uses=("tickets", "viewers", "streams"),
    blocking_io=True,  # it drops the ticket's RTMP players on their origins
)
def revoke(context: CommandContext, params: KeyParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    # Its RTMP players are read before the revocation lands: from then on the reconciler may
    # drop them too, and whoever gets there first, they are this revocation's drops.
    before = services.tickets.get(account_id, params.key)
    players = services.viewers.rtmp_players_of_ticket(before.id)
    ticket = services.tickets.revoke(account_id, params.key)
    dropped = services.streams.drop_players(players)
    return Answer(
        "Ticket revoked", {"key": ticket.key, "active": False, "players_dropped": dropped}
    )


class ErrorCountParams(Params):
    key: Annotated[StrictStr, Field(max_length=100)] | None = None
    app: Annotated[StrictStr, Field(max_length=100)] | None = None
    video: Annotated[StrictStr, Field(max_length=512)] | None = None
    ip: Annotated[StrictStr, Field(max_length=64)] | None = None
    password: Annotated[StrictStr | None, Field(alias="pass", max_length=256)] = None
    success: Flag | None = None
    limit: WholeNumber | None = None
    seek: WholeNumber = 0


@command(
    "sevu.errorcount",
    params=ErrorCountParams,
    summary="Count playback attempts with tickets, by key, app, video, ip, pass or success.",
    uses=("tickets",),
    reads=True,
)
def errorcount(context: CommandContext, params: ErrorCountParams) -> Answer:
    if params.ip and normalise_address(params.ip) is None:
        raise InvalidParameter("ip", "must be the one IP address of a viewer, e.g. 198.51.100.7")
    count = context.services.tickets.count_attempts(
        context.caller.account_id,
        key=params.key or None,
        app=params.app or None,
        video=params.video or None,
        ip=params.ip or None,
        password=params.password or None,
        success=None if params.success is None else bool(params.success),
        limit=params.limit,
        seek=params.seek,
    )
    # The seed page answers 2051 "found" or 2050 "none found" as an int code, on success.
    found = codes.SEVU_FAILED_ATTEMPTS if count else codes.SEVU_NO_FAILED_ATTEMPTS
    return Answer(found.title, {"code": int(found.code), "error_count": count})


MAX_ERRORLOG_LIMIT = 1000
MAX_SEEK = 1_000_000  # a page past the millionth attempt: narrow by starttime instead


class ErrorLogParams(KeyParams):
    starttime: StartTime | None = None
    success: Flag | None = None
    limit: Annotated[WholeNumber, Field(ge=1, le=MAX_ERRORLOG_LIMIT)] = 100
    seek: Annotated[WholeNumber, Field(le=MAX_SEEK)] = 0


@command(
    "sevu.errorlog",
    params=ErrorLogParams,
    summary="A ticket's playback attempts in time order: when, from where, what, how, and why.",
    uses=("tickets",),
    reads=True,
)
def errorlog(context: CommandContext, params: ErrorLogParams) -> Answer:
    tickets = context.services.tickets
    since = None if params.starttime is None else unix_time(params.starttime, "starttime")
    page = tickets.attempt_log(
        context.caller.account_id,
        params.key,
        since=since,
        success=None if params.success is None else bool(params.success),
        limit=params.limit,
        seek=params.seek,
    )
    rows = [_attempt_row(logged) for logged in page.attempts]
    return Answer(
        "Found Ticket Attempts" if page.total else "No Ticket Attempts Found",
        {"data": rows, "total": page.total, "kept_since": _date(tickets.attempts_kept_since())},
    )


def _attempt_row(logged: LoggedAttempt) -> dict[str, Any]:
    """One attempt, with the v2 ``sevu_attempt`` object's names where it has one."""
    attempt = logged.attempt
    return {
        "id": logged.id,
        "datetime": _date(attempt.at),
        "key": attempt.key,
        "ip": attempt.ip,
        "app": attempt.app,
        "appinst": attempt.inst,
        "video": attempt.video,
        "protocol": attempt.protocol or None,
        "success": int(attempt.success),
        "reason": "Admitted" if attempt.reason == Reason.ADMITTED else attempt.reason,
        "server": attempt.server,
        "pass_matched": logged.pass_matched,
    }


def _ticket_fields(ticket: Ticket, *, password: str | None) -> dict[str, Any]:
    return {
        "key": ticket.key,
        "pass": password,
        "app": ticket.apps,
        "video": ticket.videos,
        "ip": ticket.ip,
        "uses": ticket.uses,
        "active": ticket.active,
        "created_date": _date(ticket.created_at),
        "used_date": _date(ticket.used_at),
        "expire_date": _date(ticket.expires_at),
    }


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return NEVER
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


COMMANDS = (request, status, revoke, errorcount, errorlog)
