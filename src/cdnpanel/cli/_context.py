"""What every CLI command shares: settings from --db or the environment, services on demand."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson

from cdnpanel.errors import CdnpanelError

if TYPE_CHECKING:
    from cdnpanel.config import Settings
    from cdnpanel.wiring import Services

__all__ = ["CliState", "fail", "pass_state", "print_json", "print_json_line", "print_table"]


class CliState:
    """Built lazily, so ``--help`` and argument errors never touch the database."""

    def __init__(self, database_url: str | None) -> None:
        self._database_url = database_url
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        from cdnpanel.config import Settings  # imported here: --help and call need none of it

        overrides: dict[str, Any] = {}
        if self._database_url:
            overrides["database_url"] = self._database_url
        return Settings(**overrides)

    @property
    def services(self) -> Services:
        if self._services is None:
            from cdnpanel.wiring import build_services

            settings = self.settings
            new_file = _new_sqlite_file(settings.database_url)
            self._services = build_services(settings)
            if new_file is not None:
                click.echo(
                    f"note: created a new database at {new_file} (another one: --db URL "
                    "or CDNPANEL_DATABASE_URL)",
                    err=True,
                )
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


pass_state = click.make_pass_decorator(CliState)


def _new_sqlite_file(database_url: str) -> Path | None:
    """The absolute path of an SQLite database file that does not exist yet, else None."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    path = Path(database).absolute()
    return None if path.exists() else path


def print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def print_json_line(value: Any) -> None:
    """One compact JSON object per line, for output that goes on (``ingest --follow``)."""
    click.echo(orjson.dumps(value).decode())


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Rows under a header row, in columns as wide as their widest cell (the last one free)."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    for row in cells:
        aligned = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*aligned, row[-1]]).rstrip())


def fail(error: CdnpanelError) -> NoReturn:
    click.echo(f"error: {error.message}", err=True)
    sys.exit(1)
