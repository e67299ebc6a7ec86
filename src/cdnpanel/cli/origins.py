"""``cdnpanel origin`` and ``cdnpanel edge``: the media servers cdnpanel drives, and their
nginx configuration."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from cdnpanel.cli._context import CliState, pass_state, print_json, print_table
from cdnpanel.cli.accounts import json_option, when
from cdnpanel.errors import InvalidParameter
from cdnpanel.origins.nginx_config import (
    NginxConfigOptions,
    render_edge_config,
    render_nginx_config,
)
from cdnpanel.records import EDGE, Origin
from cdnpanel.services.origins import KINDS, OriginService

__all__ = ["edge", "origin"]


def _origin_json(o: Origin, names: dict[int, str] | None = None) -> dict[str, object]:
    shown: dict[str, object] = {
        "name": o.name,
        "role": o.role,
        "kind": o.kind,
        "control_url": o.control_url,
        "location": o.location,
    }
    if o.is_edge:
        shown["origins"] = [(names or {}).get(i, str(i)) for i in o.upstreams]
    else:
        shown |= {"hls_fragment": o.hls_fragment, "rtmp": o.rtmp_address, "hls": o.hls_address}
    return shown | {
        "created": when(o.created_at),
        "last_contact": when(o.last_contact_at),
        "failing_since": when(o.failing_since),
    }


def _status(o: Origin) -> str:
    return f"failing since {when(o.failing_since)}" if o.failing_since else "ok"


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
@click.option(
    "--rtmp-url",
    help="Where edges pull RTMP from, rtmp://HOST[:PORT] (default: NAME, port 1935).",
)
@click.option(
    "--hls-url",
    help="Where edges fetch HLS from, http://HOST[:PORT] (default: NAME, port 8088).",
)
@click.option("--location", help="A label for where the server is, e.g. fra.")
@_save_secret_option
@json_option
@pass_state
def origin_add(
    state: CliState,
    name: str,
    control_url: str,
    kind: str,
    hls_fragment: int,
    rtmp_url: str | None,
    hls_url: str | None,
    location: str | None,
    save_to: Path | None,
    as_json: bool,
) -> None:
    """Add an origin NAME (the host name clients pass as origin_url); prints its hook secret,
    or writes it to --secret-file."""
    _refuse_existing(save_to)
    issued = state.services.origins.add(
        name,
        control_url=control_url,
        kind=kind,
        hls_fragment=hls_fragment,
        rtmp_url=rtmp_url,
        hls_url=hls_url,
        location=location,
    )
    _issued(issued.origin, issued.secret, save_to, as_json)


def _issued(server: Origin, secret: str, save_to: Path | None, as_json: bool) -> None:
    """Show a new server and its secret, once (or write the secret to ``save_to``)."""
    if save_to is not None:
        _write_private(save_to, secret + "\n")
    if as_json:
        shown = {} if save_to is not None else {"secret": secret}
        print_json({**_origin_json(server), **shown})
        return
    click.echo(f"{server.role}:  {server.name} ({server.kind}, {server.control_url})")
    if save_to is not None:
        click.echo(f"secret:  written to {save_to} (readable by you only)")
        return
    click.echo(f"secret:  {secret}")
    click.echo(
        f"Keep the secret now: cdnpanel will not show it again. The {server.role}'s nginx.conf "
        f"needs it: cdnpanel {server.role} nginx-config {server.name} --secret-file FILE ...",
        err=True,
    )


@origin.command("update")
@click.argument("name")
@click.option("--rtmp-url", help="rtmp://HOST[:PORT] where edges pull from; '' for the default.")
@click.option("--hls-url", help="http://HOST[:PORT] where edges fetch HLS; '' for the default.")
@click.option("--location", help="A label for where the server is; '' for none.")
@json_option
@pass_state
def origin_update(
    state: CliState,
    name: str,
    rtmp_url: str | None,
    hls_url: str | None,
    location: str | None,
    as_json: bool,
) -> None:
    """Change where edges reach origin NAME, or its location label."""
    changes = {"rtmp_url": rtmp_url, "hls_url": hls_url, "location": location}
    changed = state.services.origins.update(
        name, **{k: v for k, v in changes.items() if v is not None}
    )
    if as_json:
        print_json(_origin_json(changed))
        return
    click.echo(
        f"origin:  {changed.name}: RTMP {changed.rtmp_address}, HLS {changed.hls_address}, "
        f"location {changed.location or '-'}"
    )
    click.echo("Write its edges' nginx.conf again and reload them.", err=True)


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
        [(o.name, o.kind, o.control_url, when(o.last_contact_at), _status(o)) for o in origins],
    )


@origin.command("rotate-secret")
@click.argument("name")
@_save_secret_option
@json_option
@pass_state
def origin_rotate_secret(state: CliState, name: str, save_to: Path | None, as_json: bool) -> None:
    """Give the origin a new hook secret (the old one stops working); prints it once, or
    writes it to --secret-file."""
    _rotate(state, state.services.origins.get(name), save_to, as_json)


def _rotate(state: CliState, server: Origin, save_to: Path | None, as_json: bool) -> None:
    _refuse_existing(save_to)
    name = server.name
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
        click.echo(
            f"Write the {server.role}'s nginx.conf again with it and reload nginx.", err=True
        )


def _config_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``origin nginx-config`` and ``edge nginx-config`` share."""
    options: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
        click.option(
            "--prefix",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Absolute directory where nginx.conf will live; logs and HLS files go under it.",
        ),
        click.option(
            "--api-url",
            default="http://127.0.0.1:8080",
            show_default=True,
            help="Where nginx reaches cdnpanel (plain HTTP: nginx-rtmp cannot call back over TLS).",
        ),
        click.option(
            "--secret", "secret", envvar="CDNPANEL_ORIGIN_SECRET", help="The hook secret."
        ),
        click.option(
            "--secret-file",
            type=click.File("r"),
            help="A file holding the hook secret (first line).",
        ),
        click.option(
            "--rotate-secret",
            is_flag=True,
            help="Issue a new hook secret and write it into the config (the old one stops).",
        ),
        click.option("--rtmp-listen", default="1935", show_default=True, help="PORT or HOST:PORT."),
        click.option(
            "--http-listen", default="8088", show_default=True, help="Playback PORT or HOST:PORT."
        ),
        click.option(
            "--instance",
            "instances",
            multiple=True,
            default=("live",),
            show_default=True,
            help="Application instance to offer (repeat for several).",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the config here instead of printing it.",
        ),
        json_option,
        pass_state,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _hook_secret(
    origins: OriginService,
    name: str,
    secret: str | None,
    secret_file: TextIO | None,
    rotate_secret: bool,
) -> str:
    given = [s for s in (secret, secret_file, rotate_secret or None) if s is not None]
    if len(given) != 1:
        raise click.UsageError(
            "give the hook secret with exactly one of --secret, --secret-file "
            "(or CDNPANEL_ORIGIN_SECRET), or issue a new one with --rotate-secret"
        )
    if rotate_secret:
        return origins.rotate_secret(name).secret
    if secret_file is not None:
        return secret_file.readline().strip()
    return (secret or "").strip()


def _put_config(
    role: str, name: str, text: str, prefix: Path, output: Path | None, as_json: bool
) -> None:
    start = f"nginx -p {prefix}/ -c {output or prefix / 'nginx.conf'}"
    if output is not None:
        _write_private(output, text)
    if as_json:
        written = {"written": str(output)} if output is not None else {"config": text}
        print_json({role: name, **written, "start": start})
    elif output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}; start nginx with: {start}", err=True)


@origin.command("nginx-config")
@click.argument("name")
@click.option(
    "--publish-from",
    multiple=True,
    help="Network encoders may publish from (repeat); default: anywhere.",
)
@_config_options
def origin_nginx_config(
    state: CliState,
    name: str,
    publish_from: tuple[str, ...],
    prefix: Path,
    api_url: str,
    secret: str | None,
    secret_file: TextIO | None,
    rotate_secret: bool,
    rtmp_listen: str,
    http_listen: str,
    instances: tuple[str, ...],
    output: Path | None,
    as_json: bool,
) -> None:
    """Print a complete nginx.conf for origin NAME (nginx + libnginx-mod-rtmp)."""
    origins = state.services.origins
    target = origins.get(name)
    if target.is_edge:
        raise click.UsageError(f"{name} is an edge: cdnpanel edge nginx-config {name}")
    hook_secret = _hook_secret(origins, name, secret, secret_file, rotate_secret)
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
    _put_config("origin", name, text, prefix, output, as_json)


@click.group()
def edge() -> None:
    """Edges: servers near viewers that relay and cache their origins' streams."""


@edge.command("add")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An origin it pulls from (repeat; an application's backup origin too, for failover).",
)
@click.option(
    "--control-url",
    required=True,
    help="Base URL of the edge's /stat and /control, e.g. http://127.0.0.1:8091.",
)
@click.option("--kind", type=click.Choice(KINDS), default=KINDS[0], show_default=True)
@click.option("--location", help="A label for where the edge is, e.g. fra.")
@_save_secret_option
@json_option
@pass_state
def edge_add(
    state: CliState,
    name: str,
    origins: tuple[str, ...],
    control_url: str,
    kind: str,
    location: str | None,
    save_to: Path | None,
    as_json: bool,
) -> None:
    """Add an edge NAME pulling from its --origin(s); prints its hook secret, or writes it to
    --secret-file."""
    _refuse_existing(save_to)
    issued = state.services.origins.add_edge(
        name, origins=origins, control_url=control_url, kind=kind, location=location
    )
    _issued(issued.origin, issued.secret, save_to, as_json)


@edge.command("update")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="The origins it pulls from, all of them (repeat).",
)
@click.option("--location", help="A label for where the edge is; '' for none.")
@json_option
@pass_state
def edge_update(
    state: CliState, name: str, origins: tuple[str, ...], location: str | None, as_json: bool
) -> None:
    """Change the origins edge NAME pulls from, or its location label."""
    service = state.services.origins
    service.get_edge(name)
    if origins:
        service.set_edge_origins(name, origins)
    changed = service.update(name, **({"location": location} if location is not None else {}))
    names = {o.id: o.name for o in service.list_origins(None)}
    if as_json:
        print_json(_origin_json(changed, names))
        return
    pulls = ", ".join(names.get(i, "?") for i in changed.upstreams)
    click.echo(f"edge:  {changed.name}: pulls from {pulls}; location {changed.location or '-'}")
    if origins:
        click.echo("Write its nginx.conf again and reload it.", err=True)


@edge.command("list")
@json_option
@pass_state
def edge_list(state: CliState, as_json: bool) -> None:
    """List edges, the origins each pulls from, and when cdnpanel last reached them."""
    service = state.services.origins
    names = {o.id: o.name for o in service.list_origins(None)}
    edges = service.list_origins(EDGE)
    if as_json:
        print_json({"edges": [_origin_json(e, names) for e in edges]})
        return
    print_table(
        ["NAME", "ORIGINS", "LOCATION", "CONTROL URL", "LAST CONTACT", "STATUS"],
        [
            (
                e.name,
                ", ".join(names.get(i, "?") for i in e.upstreams),
                e.location or "-",
                e.control_url,
                when(e.last_contact_at),
                _status(e),
            )
            for e in edges
        ],
    )


@edge.command("remove")
@click.argument("name")
@json_option
@pass_state
def edge_remove(state: CliState, name: str, as_json: bool) -> None:
    """Remove edge NAME: its viewers stop counting and its hook secret stops working."""
    ended = state.services.origins.remove_edge(name)
    if as_json:
        print_json({"removed": name, "viewer_sessions_ended": ended})
        return
    click.echo(f"removed edge {name} ({ended} viewer sessions ended); stop its nginx too.")


@edge.command("rotate-secret")
@click.argument("name")
@_save_secret_option
@json_option
@pass_state
def edge_rotate_secret(state: CliState, name: str, save_to: Path | None, as_json: bool) -> None:
    """Give the edge a new hook secret (the old one stops working); prints it once, or
    writes it to --secret-file."""
    _rotate(state, state.services.origins.get_edge(name), save_to, as_json)


@edge.command("nginx-config")
@click.argument("name")
@click.option(
    "--cache-size",
    default="1g",
    show_default=True,
    help="The HLS cache's size on disk at most, e.g. 512m or 4g.",
)
@_config_options
def edge_nginx_config(
    state: CliState,
    name: str,
    cache_size: str,
    prefix: Path,
    api_url: str,
    secret: str | None,
    secret_file: TextIO | None,
    rotate_secret: bool,
    rtmp_listen: str,
    http_listen: str,
    instances: tuple[str, ...],
    output: Path | None,
    as_json: bool,
) -> None:
    """Print a complete nginx.conf for edge NAME (nginx + libnginx-mod-rtmp)."""
    service = state.services.origins
    target = service.get_edge(name)
    hook_secret = _hook_secret(service, name, secret, secret_file, rotate_secret)
    servers = {o.id: o for o in service.list_origins(None)}
    try:
        text = render_edge_config(
            target,
            [servers[i] for i in target.upstreams if i in servers],
            service.applications(name),
            NginxConfigOptions(
                prefix=str(prefix),
                api_url=api_url,
                secret=hook_secret,
                rtmp_listen=rtmp_listen,
                http_listen=http_listen,
                instances=instances,
                cache_max_size=cache_size,
            ),
        )
    except ValueError as exc:
        raise InvalidParameter("nginx-config", str(exc)) from None
    service.authenticate_hook(name, hook_secret, EDGE)  # a wrong secret fails here
    _put_config("edge", name, text, prefix, output, as_json)
