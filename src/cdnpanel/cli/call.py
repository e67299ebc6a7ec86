"""``cdnpanel call COMMAND key=value key:=json ...``: one signed command through the SDK."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from cdnpanel.cli._context import print_json
from cdnpanel.client import APIError, Client, ClientError

__all__ = ["call"]


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        if ":=" in item and item.index(":=") < item.index("=") + 1:
            name, raw = item.split(":=", 1)
            try:
                params[name] = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise click.BadParameter(f"{name}:= needs JSON ({exc})") from None
        elif "=" in item:
            name, value = item.split("=", 1)
            params[name] = value
        else:
            raise click.BadParameter(
                f"{item!r}: write name=value, or name:=JSON for numbers and lists"
            )
    return params


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("command")
@click.argument("params", nargs=-1)
@click.option(
    "--url", envvar="CDNPANEL_URL", default="http://127.0.0.1:8080/stable/", show_default=True
)
@click.option(
    "--cdn", envvar="CDNPANEL_CDN", type=int, required=True, help="CDN id (or CDNPANEL_CDN)."
)
@click.option("--api-key", envvar="CDNPANEL_API_KEY", required=True, help="Or CDNPANEL_API_KEY.")
@click.option("--secret", envvar="CDNPANEL_SECRET", required=True, help="Or CDNPANEL_SECRET.")
@click.option(
    "--json", "_as_json", is_flag=True, help="Accepted as everywhere: the answer is JSON already."
)
def call(
    command: str,
    params: tuple[str, ...],
    url: str,
    cdn: int,
    api_key: str,
    secret: str,
    _as_json: bool,
) -> None:
    """Send COMMAND, signed, and print the answer.

    Parameters are name=value (a string) or name:=JSON (numbers, lists):

        cdnpanel call video.getapps
        cdnpanel call video.servers app:='[1,2]' starttime=2026-11-01
    """
    with Client(url, cdn, api_key, secret) as client:
        try:
            print_json(client.call(command, _parse_params(params)))
        except APIError as error:
            print_json(error.response)
            sys.exit(1)
        except ClientError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
