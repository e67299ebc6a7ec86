"""The root group and its global options.

Each subcommand's module is imported only when that subcommand runs: ``cdnpanel --help`` and
``cdnpanel call`` must not pay for the server, the store and the ingest code (about 1 s of
imports). The root's help lists the subcommands from ``SUBCOMMANDS``; a test keeps each line
equal to the subcommand's own short help.
"""

from __future__ import annotations

import importlib

import click

from cdnpanel import __version__
from cdnpanel.cli._context import CliState, fail
from cdnpanel.errors import CdnpanelError

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, the first sentence of the subcommand's help)
    "account": ("cdnpanel.cli.accounts:account", "Accounts, identified by their CDN id."),
    "app": (
        "cdnpanel.cli.accounts:app",
        "Applications; names are unique across accounts, as on ScaleEngine.",
    ),
    "call": ("cdnpanel.cli.call:call", "Send COMMAND, signed, and print the answer."),
    "edge": (
        "cdnpanel.cli.origins:edge",
        "Edges: servers near viewers that relay and cache their origins' streams.",
    ),
    "ingest": (
        "cdnpanel.cli.usage:ingest",
        "Ingest access logs of a server into the usage rollups.",
    ),
    "key": (
        "cdnpanel.cli.accounts:key",
        "API keys: several per account; the secret is shown once, at creation.",
    ),
    "meter": (
        "cdnpanel.cli.usage:meter",
        "Usage no access log feeds (SQL, PHP, origin CPU, memory, I/O, disk).",
    ),
    "origin": (
        "cdnpanel.cli.origins:origin",
        "Origins: the media servers (nginx-rtmp) that ingest and serve streams.",
    ),
    "rate": (
        "cdnpanel.cli.usage:rate",
        "Prices per usage type, per account: what usage.data charges.",
    ),
    "serve": (
        "cdnpanel.cli.serve:serve",
        "Run the API server (the schema is created or upgraded first).",
    ),
    "server": (
        "cdnpanel.cli.usage:server",
        "Servers whose access logs are ingested (the names video.servers shows).",
    ),
    "usage": ("cdnpanel.cli.usage:usage", "Usage reports for operators."),
}


class _Group(click.Group):
    """Loads subcommands on demand, and turns cdnpanel's own errors into one readable line
    instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module, attribute = SUBCOMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CdnpanelError as error:
            fail(error)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="cdnpanel")
@click.option(
    "--db",
    "database_url",
    envvar="CDNPANEL_DATABASE_URL",
    help="Database URL (default: ~/.local/share/cdnpanel/cdnpanel.db, embedded SQLite; or "
    "postgresql://user@host/db).",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """cdnpanel: a self-hosted control plane speaking the ScaleEngine v1 API."""
    state = CliState(database_url)
    ctx.obj = state
    ctx.call_on_close(state.close)
