"""``cdnpanel account``, ``key`` and ``app``: the admin side of accounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from cdnpanel.cli._context import CliState, pass_state, print_json, print_table
from cdnpanel.records import Account, ApiKey, Application
from cdnpanel.services.applications import PROTECTIONS, PUBLISHING

if TYPE_CHECKING:
    from cdnpanel.wiring import Services

__all__ = ["account", "app", "json_option", "key", "when"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _account_json(a: Account) -> dict[str, object]:
    return {"cdn": a.cdn_id, "name": a.name, "created": when(a.created_at)}


def _key_json(k: ApiKey) -> dict[str, object]:
    return {
        "api_key": k.api_key,
        "label": k.label,
        "active": k.active,
        "created": when(k.created_at),
        "last_used": when(k.last_used_at),
        "revoked": when(k.revoked_at),
    }


def _app_json(a: Application, origins: Mapping[int, str]) -> dict[str, object]:
    """``origins``: every origin's name by id."""
    return {
        "id": a.id,
        "name": a.name,
        "created": when(a.created_at),
        "origin": origins.get(a.origin_id or 0),
        "backup_origin": origins.get(a.backup_origin_id or 0),
        "protection": a.protection,
        "publishing": a.publishing,
    }


def _origin_names(services: Services) -> dict[int, str]:
    return {o.id: o.name for o in services.origins.list_origins()}


@click.group()
def account() -> None:
    """Accounts, identified by their CDN id."""


@account.command("create")
@click.option("--name", required=True, help="The account's display name.")
@click.option(
    "--cdn", type=click.IntRange(min=1), help="CDN id to use (default: the next free one)."
)
@json_option
@pass_state
def account_create(state: CliState, name: str, cdn: int | None, as_json: bool) -> None:
    """Create an account."""
    created = state.services.accounts.create_account(name, cdn_id=cdn)
    if as_json:
        print_json(_account_json(created))
    else:
        click.echo(f"created account {created.name!r} with CDN id {created.cdn_id}")


@account.command("list")
@json_option
@pass_state
def account_list(state: CliState, as_json: bool) -> None:
    """List accounts."""
    accounts = state.services.accounts.list_accounts()
    if as_json:
        print_json({"accounts": [_account_json(a) for a in accounts]})
        return
    print_table(
        ["CDN", "CREATED", "NAME"], [(a.cdn_id, when(a.created_at), a.name) for a in accounts]
    )


@click.group()
def key() -> None:
    """API keys: several per account; the secret is shown once, at creation."""


@key.command("create")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option("--label", default="", help="A note to tell keys apart.")
@json_option
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
@json_option
@pass_state
def key_list(state: CliState, cdn: int, as_json: bool) -> None:
    """List an account's keys (never their secrets)."""
    keys = state.services.accounts.list_keys(cdn)
    if as_json:
        print_json({"cdn": cdn, "keys": [_key_json(k) for k in keys]})
        return
    print_table(
        ["API KEY", "CREATED", "LAST USED", "STATUS", "LABEL"],
        [
            (
                k.api_key,
                when(k.created_at),
                when(k.last_used_at),
                "active" if k.active else f"revoked {when(k.revoked_at)}",
                k.label,
            )
            for k in keys
        ],
    )


@key.command("revoke")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.argument("api_key")
@json_option
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


_origin_option = click.option(
    "--origin", "origin_name", help="The origin (media server) that ingests and serves it."
)
_backup_origin_option = click.option(
    "--backup-origin",
    "backup_origin",
    help="A second origin its encoders also publish to, that edges fetch its HLS from when "
    "its origin fails; '' for none.",
)
_protection_option = click.option(
    "--protection",
    type=click.Choice(PROTECTIONS),
    help="none: anyone may play; sevu: playback needs a SEVU ticket.",
)
_publishing_option = click.option(
    "--publishing",
    type=click.Choice(PUBLISHING),
    help="credentials (the default for a new application): encoders publish with a stream "
    "user's name and password (sevu.addstreamuser); open: only streams that have a stream "
    "user ask for them.",
)


@app.command("create")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.option("--name", required=True, help="Application name, e.g. demo-origin.")
@_origin_option
@_protection_option
@_publishing_option
@json_option
@pass_state
def app_create(
    state: CliState,
    cdn: int,
    name: str,
    origin_name: str | None,
    protection: str | None,
    publishing: str | None,
    as_json: bool,
) -> None:
    """Create an application in an account."""
    services = state.services
    owner = services.accounts.get_account(cdn)
    if origin_name is not None:
        services.origins.get(origin_name)  # refuse an unknown origin before creating anything
    created = services.applications.create(owner.id, name, publishing=publishing or "credentials")
    if origin_name is not None:
        created = services.origins.assign(created, origin_name)
    if protection is not None:
        created = services.applications.protect(created, protection)
    if as_json:
        print_json({"cdn": cdn, **_app_json(created, _origin_names(services))})
        return
    click.echo(f"created application {created.name!r} (id {created.id}) in CDN {cdn}")
    if created.needs_credentials:
        click.echo(
            "Encoders publish with a stream user's name and password: add one with "
            f"cdnpanel call sevu.addstreamuser app={created.name} stream=NAME user=U pass=P "
            f"(or open publishing: cdnpanel app update --cdn {cdn} {created.name} "
            "--publishing open).",
            err=True,
        )
    if origin_name is not None:
        _say_reload(origin_name)


@app.command("update")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@click.argument("name")
@_origin_option
@_backup_origin_option
@_protection_option
@_publishing_option
@json_option
@pass_state
def app_update(
    state: CliState,
    cdn: int,
    name: str,
    origin_name: str | None,
    backup_origin: str | None,
    protection: str | None,
    publishing: str | None,
    as_json: bool,
) -> None:
    """Change an application's settings."""
    services = state.services
    owner = services.accounts.get_account(cdn)
    (application,) = services.applications.resolve(owner.id, [name])
    if origin_name is not None:
        application = services.origins.assign(application, origin_name)
    if backup_origin is not None:
        application = services.origins.assign_backup(application, backup_origin or None)
    if protection is not None:
        application = services.applications.protect(application, protection)
    if publishing is not None:
        application = services.applications.set_publishing(application, publishing)
    if as_json:
        print_json({"cdn": cdn, **_app_json(application, _origin_names(services))})
        return
    click.echo(f"updated application {application.name!r} in CDN {cdn}")
    for changed in (origin_name, backup_origin):
        if changed:
            _say_reload(changed)
    if backup_origin:
        click.echo(
            f"Its encoders publish to {backup_origin} too; write the configs of the edges that "
            "reach both origins again (cdnpanel edge nginx-config ...) and reload them.",
            err=True,
        )


def _say_reload(origin_name: str) -> None:
    click.echo(
        f"The origin's nginx.conf names its applications: write it again "
        f"(cdnpanel origin nginx-config {origin_name} ...) and reload nginx.",
        err=True,
    )


@app.command("list")
@click.option("--cdn", type=int, required=True, help="The account's CDN id.")
@json_option
@pass_state
def app_list(state: CliState, cdn: int, as_json: bool) -> None:
    """List an account's applications."""
    owner = state.services.accounts.get_account(cdn)
    apps = state.services.applications.list_for_account(owner.id)
    origins = _origin_names(state.services)
    if as_json:
        listed = [_app_json(a, origins) for a in apps]
        print_json({"cdn": cdn, "applications": listed})
        return
    print_table(
        ["ID", "NAME", "ORIGIN", "BACKUP ORIGIN", "PROTECTION", "PUBLISHING", "CREATED"],
        [
            (
                a.id,
                a.name,
                origins.get(a.origin_id or 0, "-"),
                origins.get(a.backup_origin_id or 0, "-"),
                a.protection,
                a.publishing,
                when(a.created_at),
            )
            for a in apps
        ],
    )
