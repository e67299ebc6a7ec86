"""``cdnpanel origin``: the media servers cdnpanel drives, and their nginx configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import click

from cdnpanel.cli._context import CliState, pass_state, print_json, print_table
from cdnpanel.cli.accounts import json_option, when
from cdnpanel.errors import InvalidParameter
from cdnpanel.origins.nginx_config import NginxConfigOptions, render_nginx_config
from cdnpanel.records import Origin
from cdnpanel.services.origins import KINDS

__all__ = ["origin"]


def _origin_json(o: Origin) -> dict[str, object]:
    return {
        "name": o.name,
        "kind": o.kind,
        "control_url": o.control_url,
        "hls_fragment": o.hls_fragment,
        "created": when(o.created_at),
        "last_contact": when(o.last_contact_at),
        "failing_since": when(o.failing_since),
    }


_save_secret_option = click.option(
    "--secret-file",
    "save_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the hook secret to this new file (mode 0600) instead of printing it.",
)


def _refuse_existing(path: Path | None) -> None:
    if path is not None and path.exists():
        raise click.UsageError(f"--secret-file {path} exists already: give a new file")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds the origin's hook secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as file:
        file.write(text)


@click.group()
def origin() -> None:
    """Origins: the media servers (nginx-rtmp) that ingest and serve streams."""


@origin.command("add")
@click.argument("name")
@click.option(
    "--control-url",
    required=True,
    help="Base URL of the origin's /stat and /control, e.g. http://127.0.0.1:8081.",
)
@click.option("--kind", type=click.Choice(KINDS), default=KINDS[0], show_default=True)
@click.option(
    "--hls-fragment",
    type=click.IntRange(1, 30),
    default=2,
    show_default=True,
    help="HLS segment length in seconds; an HLS viewer counts for three of them.",
)
@_save_secret_option
@json_option
@pass_state
def origin_add(
    state: CliState,
    name: str,
    control_url: str,
    kind: str,
    hls_fragment: int,
    save_to: Path | None,
    as_json: bool,
) -> None:
    """Add an origin NAME (the host name clients pass as origin_url); prints its hook secret,
    or writes it to --secret-file."""
    _refuse_existing(save_to)
    issued = state.services.origins.add(
        name, control_url=control_url, kind=kind, hls_fragment=hls_fragment
    )
    if save_to is not None:
        _write_private(save_to, issued.secret + "\n")
    if as_json:
        shown = {} if save_to is not None else {"secret": issued.secret}
        print_json({**_origin_json(issued.origin), **shown})
        return
    click.echo(f"origin:  {issued.origin.name} ({issued.origin.kind}, {issued.origin.control_url})")
    if save_to is not None:
        click.echo(f"secret:  written to {save_to} (readable by you only)")
        return
    click.echo(f"secret:  {issued.secret}")
    click.echo(
        "Keep the secret now: cdnpanel will not show it again. The origin's nginx.conf needs "
        f"it: cdnpanel origin nginx-config {name} --secret-file FILE ...",
        err=True,
    )


@origin.command("list")
@json_option
@pass_state
def origin_list(state: CliState, as_json: bool) -> None:
    """List origins, with when cdnpanel last reached them."""
    origins = state.services.origins.list_origins()
    if as_json:
        print_json({"origins": [_origin_json(o) for o in origins]})
        return
    print_table(
        ["NAME", "KIND", "CONTROL URL", "LAST CONTACT", "STATUS"],
        [
            (
                o.name,
                o.kind,
                o.control_url,
                when(o.last_contact_at),
                f"failing since {when(o.failing_since)}" if o.failing_since else "ok",
            )
            for o in origins
        ],
    )


@origin.command("rotate-secret")
@click.argument("name")
@_save_secret_option
@json_option
@pass_state
def origin_rotate_secret(state: CliState, name: str, save_to: Path | None, as_json: bool) -> None:
    """Give the origin a new hook secret (the old one stops working); prints it once, or
    writes it to --secret-file."""
    _refuse_existing(save_to)
    issued = state.services.origins.rotate_secret(name)
    if save_to is not None:
        _write_private(save_to, issued.secret + "\n")
        if as_json:
            print_json({"name": name, "secret_file": str(save_to)})
        else:
            click.echo(f"secret:  written to {save_to} (readable by you only)")
    elif as_json:
        print_json({"name": name, "secret": issued.secret})
    else:
        click.echo(f"secret:  {issued.secret}")
        click.echo("Write the origin's nginx.conf again with it and reload nginx.", err=True)


@origin.command("nginx-config")
@click.argument("name")
@click.option(
    "--prefix",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Absolute directory where nginx.conf will live; logs and HLS files go under it.",
)
@click.option(
    "--api-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Where nginx reaches cdnpanel (plain HTTP: nginx-rtmp cannot call back over TLS).",
)
@click.option(
    "--secret", "secret", envvar="CDNPANEL_ORIGIN_SECRET", help="The origin's hook secret."
)
@click.option(
    "--secret-file",
    type=click.File("r"),
    help="A file holding the origin's hook secret (first line).",
)
@click.option(
    "--rotate-secret",
    is_flag=True,
    help="Issue a new hook secret and write it into the config (the old one stops working).",
)
@click.option("--rtmp-listen", default="1935", show_default=True, help="PORT or HOST:PORT.")
@click.option(
    "--http-listen", default="8088", show_default=True, help="Playback PORT or HOST:PORT."
)
@click.option(
    "--instance",
    "instances",
    multiple=True,
    default=("live",),
    show_default=True,
    help="Application instance to offer (repeat for several).",
)
@click.option(
    "--publish-from",
    multiple=True,
    help="Network encoders may publish from (repeat); default: anywhere.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the config here instead of printing it.",
)
@json_option
@pass_state
def origin_nginx_config(
    state: CliState,
    name: str,
    prefix: Path,
    api_url: str,
    secret: str | None,
    secret_file: TextIO | None,
    rotate_secret: bool,
    rtmp_listen: str,
    http_listen: str,
    instances: tuple[str, ...],
    publish_from: tuple[str, ...],
    output: Path | None,
    as_json: bool,
) -> None:
    """Print a complete nginx.conf for origin NAME (nginx + libnginx-mod-rtmp)."""
    origins = state.services.origins
    given = [s for s in (secret, secret_file, rotate_secret or None) if s is not None]
    if len(given) != 1:
        raise click.UsageError(
            "give the origin's hook secret with exactly one of --secret, --secret-file "
            "(or CDNPANEL_ORIGIN_SECRET), or issue a new one with --rotate-secret"
        )
    if rotate_secret:
        hook_secret = origins.rotate_secret(name).secret
    elif secret_file is not None:
        hook_secret = secret_file.readline().strip()
    else:
        hook_secret = (secret or "").strip()
    target = origins.get(name)
    try:
        text = render_nginx_config(
            target,
            origins.applications(name),
            NginxConfigOptions(
                prefix=str(prefix),
                api_url=api_url,
                secret=hook_secret,
                rtmp_listen=rtmp_listen,
                http_listen=http_listen,
                instances=instances,
                publish_allow=publish_from,
            ),
        )
    except ValueError as exc:
        raise InvalidParameter("nginx-config", str(exc)) from None
    origins.authenticate_hook(name, hook_secret)  # a wrong secret fails here, not in nginx
    start = f"nginx -p {prefix}/ -c {output or prefix / 'nginx.conf'}"
    if output is not None:
        _write_private(output, text)
    if as_json:
        written = {"written": str(output)} if output is not None else {"config": text}
        print_json({"origin": name, **written, "start": start})
    elif output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}; start nginx with: {start}", err=True)
