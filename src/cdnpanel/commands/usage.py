"""The ``usage.*`` commands: the account's usage over a month."""

from __future__ import annotations

from cdnpanel.commands.params import StartTime
from cdnpanel.commands.registry import Answer, CommandContext, Params, command

__all__ = ["COMMANDS"]


class SummaryParams(Params):
    starttime: StartTime | None = None


@command(
    "usage.summary",
    params=SummaryParams,
    summary="Summarise the account's usage over a month, in Google Tables format.",
    reads=True,
)
def summary(context: CommandContext, params: SummaryParams) -> Answer:
    usage = context.services.usage
    period = usage.summary_period(params.starttime)
    rows = usage.summary(context.caller.account_id, period)
    return Answer(
        "Found Usage Summary Data",
        {"data": {"cols": [["string", "Name"], ["number", "Total"]], "vals": rows}},
    )


COMMANDS = (summary,)
