"""``cdnpanel account``, ``key`` and ``app``: the admin side of accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from cdnpanel.cli._context import CliState, pass_state, print_json
from cdnpanel.store.records import Account, ApiKey, Application

__all__ = ["account", "app", "key"]

_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _account_json(a: Account) -> dict[str, object]:
    return {"cdn": a.cdn_id, "name": a.name, "created": _when(a.created_at)}


def _key_json(k: ApiKey) -> dict[str, object]:
    return {
        "api_key": k.api_key,
        "label": k.label,
        "active": k.active,
        "created": _when(k.created_at),
        "last_used": _when(k.last_used_at),
        "revoked": _when(k.revoked_at),
    }


def _app_json(a: Application) -> dict[str, object]:
    return {"id": a.id, "name": a.name, "created": _when(a.created_at)}


@click.group()
def account() -> None:
    """Accounts, identified by their CDN id."""


@account.command("create")
@click.option("--name", required=True, help="The account's display name.")
@click.option(
    "--cdn", type=click.IntRange(min=1), help="CDN id to use (default: the next free one)."
)
@_json_option
@pass_state
def account_create(state: CliState, name: str, cdn: int | None, as_json: bool) -> None:
    """Create an account."""
    created = state.services.accounts.create_account(name, cdn_id=cdn)
    if as_json:
        print_json(_account_json(created))
    else:
        click.echo(f"created account {created.name!r} with CDN id {created.cdn_id}")


@account.command("list")
@_json_option
@pass_state
def account_list(state: CliState, as_json: bool) -> None:
    """List accounts."""
    accounts = state.services.accounts.list_accounts()
    if as_json:
        print_json({"accounts": [_account_json(a) for a in accounts]})
        return
    for a in accounts:
        click.echo(f"{a.cdn_id:>8}  {a.name}")


@click.group()
def key() -> None:
    """API keys: several per account; the secret is shown once, at creation."""


@key.command("create")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option("--label", default="", help="A note to tell keys apart.")
@_json_option
@pass_state
def key_create(state: CliState, cdn: int, label: str, as_json: bool) -> None:
    """Create an API key and print its secret (this once only)."""
    issued = state.services.accounts.create_key(cdn, label=label)
    if as_json:
        print_json({"cdn": cdn, "api_key": issued.key.api_key, "secret": issued.secret})
        return
    click.echo(f"cdn:     {cdn}")
    click.echo(f"api_key: {issued.key.api_key}")
    click.echo(f"secret:  {issued.secret}")
    click.echo("Keep the secret now: cdnpanel will not show it again.", err=True)


@key.command("list")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@_json_option
@pass_state
def key_list(state: CliState, cdn: int, as_json: bool) -> None:
    """List an account's keys (never their secrets)."""
    keys = state.services.accounts.list_keys(cdn)
    if as_json:
        print_json({"cdn": cdn, "keys": [_key_json(k) for k in keys]})
        return
    for k in keys:
        status = "active" if k.active else f"revoked {_when(k.revoked_at)}"
        click.echo(f"{k.api_key}  {status:<28} last used {_when(k.last_used_at)}  {k.label}")


@key.command("revoke")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.argument("api_key")
@_json_option
@pass_state
def key_revoke(state: CliState, cdn: int, api_key: str, as_json: bool) -> None:
    """Revoke a key: requests signed with it are refused from now on."""
    state.services.accounts.revoke_key(cdn, api_key)
    if as_json:
        print_json({"cdn": cdn, "api_key": api_key, "revoked": True})
    else:
        click.echo(f"revoked {api_key}")


@click.group()
def app() -> None:
    """Applications; names are unique across accounts, as on ScaleEngine."""


@app.command("create")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option("--name", required=True, help="Application name, e.g. demo-origin.")
@_json_option
@pass_state
def app_create(state: CliState, cdn: int, name: str, as_json: bool) -> None:
    """Create an application in an account."""
    owner = state.services.accounts.get_account(cdn)
    created = state.services.applications.create(owner.id, name)
    if as_json:
        print_json({"cdn": cdn, **_app_json(created)})
    else:
        click.echo(f"created application {created.name!r} (id {created.id}) in CDN {cdn}")


@app.command("list")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@_json_option
@pass_state
def app_list(state: CliState, cdn: int, as_json: bool) -> None:
    """List an account's applications."""
    owner = state.services.accounts.get_account(cdn)
    apps = state.services.applications.list_for_account(owner.id)
    if as_json:
        print_json({"cdn": cdn, "applications": [_app_json(a) for a in apps]})
        return
    for a in apps:
        click.echo(f"{a.id:>6}  {a.name}")
