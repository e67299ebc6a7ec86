"""The root group and its global options."""

from __future__ import annotations

import click

from cdnpanel.cli import accounts, call, origins, serve, usage
from cdnpanel.cli._context import CliState, fail
from cdnpanel.errors import CdnpanelError

__all__ = ["main"]


class _Group(click.Group):
    """Turns cdnpanel's own errors into one readable line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CdnpanelError as error:
            fail(error)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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


main.add_command(serve.serve)
main.add_command(accounts.account)
main.add_command(accounts.key)
main.add_command(accounts.app)
main.add_command(origins.origin)
main.add_command(usage.server)
main.add_command(usage.ingest)
main.add_command(usage.meter)
main.add_command(usage.usage)
main.add_command(call.call)
