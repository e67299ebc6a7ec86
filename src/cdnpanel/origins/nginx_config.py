"""A complete nginx.conf for an nginx-rtmp origin, wired to cdnpanel.

What it sets up, from one file in an otherwise empty directory (the nginx prefix):

- RTMP ingest and playback on ``rtmp_listen``: one ``application APP/INST`` block per cdnpanel
  application served by the origin and per instance, because nginx-rtmp matches application
  names exactly; each calls cdnpanel on publish, publish_done, play and play_done.
- HLS written by nginx-rtmp (nested: ``<stream>/index.m3u8``) and served over HTTP on
  ``http_listen`` at ScaleEngine's ``/<app>/<inst>/<stream>/index.m3u8``, every playlist and
  segment request checked by cdnpanel through ``auth_request``. Playlists are rewritten so that
  segment URLs carry the playlist's query (a SEVU ``key``/``pass`` follows the viewer).
- ``/stat`` and ``/control`` on the origin's control URL, open to ``control_allow`` only.
- One worker process: stat and control only see the RTMP sessions of the worker they run in.

Every path is absolute under ``prefix``: nginx-rtmp creates only the last directory of an
``hls_path`` and reads relative paths against the working directory, not the prefix.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import SplitResult, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from cdnpanel.origins.adapter import DEFAULT_INSTANCE
from cdnpanel.origins.nginx_rtmp import EDGE_FLASHVER, EDGE_NAME_ARG, EDGE_SECRET_ARG
from cdnpanel.records import Application, Origin

__all__ = ["ACCESS_LOG_FORMAT", "NginxConfigOptions", "render_edge_config", "render_nginx_config"]

_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LISTEN = re.compile(r"(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}")
DEFAULT_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


@functools.cache
def _template(name: str = "nginx.conf.j2") -> Template:
    """Loaded on first use: the CLI's other origin commands need no template engine."""
    environment = Environment(
        loader=PackageLoader("cdnpanel.origins", "templates"),
        # nginx's syntax, not HTML: nothing is escaped, so every value is checked before it
        # goes in (render_nginx_config).
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    return environment.get_template(name)


ACCESS_LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_iso8601] "$request_method $cdnpanel_path '
    '$server_protocol" $status $bytes_sent "$http_referer" "$http_user_agent" $host $request_time'
)
"""The HTTP access-log line cdnpanel's usage metering reads (``cdnpanel ingest``): nginx
``combined`` with the ISO time, ``$bytes_sent`` and more, and the request's path without its
query string, which carries ticket passwords (``?key=...&pass=...``)."""

PLAYLIST_SECONDS = 60
"""The least ``hls_playlist_length`` of a generated config."""

RTMP_ACCESS_LOG_FORMAT = (
    '$remote_addr [$time_local] $command "$app" "$name" "" - $bytes_received $bytes_sent '
    '"$pageurl" "$flashver" ($session_readable_time)'
)
"""nginx-rtmp's own ``combined`` line with its ``"$args"`` left empty: the play arguments carry
ticket passwords (``cdnpanel ingest --format nginx-rtmp`` reads it as before)."""


@dataclass(frozen=True, slots=True)
class NginxConfigOptions:
    prefix: str
    """Absolute directory of nginx.conf; logs, HLS and temporary files go under it."""
    api_url: str
    """Where nginx reaches cdnpanel over HTTP, e.g. http://127.0.0.1:8080."""
    secret: str = field(repr=False)
    rtmp_listen: str = "1935"
    http_listen: str = "8088"
    instances: Sequence[str] = (DEFAULT_INSTANCE,)
    control_allow: Sequence[str] = ("127.0.0.1", "::1")
    publish_allow: Sequence[str] = ()
    """Networks encoders may publish from; empty: any (cdnpanel still checks the application)."""
    rtmp_module: str = DEFAULT_MODULE
    cache_max_size: str = "1g"
    """An edge's HLS cache on disk at most (nginx's size syntax: 512m, 4g)."""


def _checked(options: NginxConfigOptions) -> tuple[str, SplitResult]:
    """The prefix and the API URL, once every option is known to fit in a config."""
    prefix = _absolute_dir(options.prefix)
    api = _api_url(options.api_url)
    for name, value in (("rtmp_listen", options.rtmp_listen), ("http_listen", options.http_listen)):
        if not _LISTEN.fullmatch(value):
            raise ValueError(f"{name} must be PORT or HOST:PORT, not {value!r}")
    if not options.instances:
        raise ValueError("at least one instance (e.g. live)")
    for inst in options.instances:
        if not _INSTANCE.fullmatch(inst):
            raise ValueError(f"instance {inst!r}: letters, digits, '.', '_' or '-'")
    if not _SECRET.fullmatch(options.secret):
        raise ValueError("the hook secret is the 64 hex digits cdnpanel issued")
    return prefix, api


_SECRET = re.compile(r"[0-9A-Za-z_-]{16,128}")
_SIZE = re.compile(r"[1-9][0-9]{0,5}[kmg]")
PLAYLIST_TTL = "1s"
SEGMENT_TTL = "10m"


@dataclass(frozen=True, slots=True)
class _EdgePair:
    app: str
    inst: str
    origin: str
    rtmp: str
    upstream: str


@dataclass(frozen=True, slots=True)
class _Upstream:
    name: str
    origin: str
    address: str
    backups: tuple[str, ...]
    backup_addresses: tuple[str, ...]


def render_edge_config(
    edge: Origin,
    origins: Sequence[Origin],
    applications: Sequence[Application],
    options: NginxConfigOptions,
) -> str:
    """The nginx.conf text of an edge (``templates/edge.conf.j2``): ``origins`` are the ones
    it pulls from, ``applications`` theirs. HLS is fetched from an application's origin, from
    its backup origin when that fails; RTMP pulled from its origin."""
    prefix, api = _checked(options)
    if not _SIZE.fullmatch(options.cache_max_size):
        raise ValueError(f"cache size must be like 512m or 4g, not {options.cache_max_size!r}")
    for origin in origins:
        for address in (origin.rtmp_address, origin.hls_address):
            if not _LISTEN.fullmatch(address):
                raise ValueError(
                    f"origin {origin.name}: {address!r} is no HOST:PORT "
                    f"(cdnpanel origin update {origin.name} --rtmp-url/--hls-url)"
                )
    by_id = {o.id: o for o in origins}
    # One upstream per application's origins that this edge reaches: the first its origin,
    # the second (its backup origin, which its encoders also publish to) a `backup` server.
    upstreams: dict[tuple[int, ...], _Upstream] = {}
    pairs: list[_EdgePair] = []
    for app in applications:
        reached = tuple(i for i in app.origin_ids if i in by_id)
        if not reached:
            continue
        first, backups = by_id[reached[0]], [by_id[i] for i in reached[1:]]
        if reached not in upstreams:
            upstreams[reached] = _Upstream(
                name=f"cdnpanel_origin_{len(upstreams) + 1}",
                origin=first.name,
                address=first.hls_address,
                backups=tuple(o.name for o in backups),
                backup_addresses=tuple(o.hls_address for o in backups),
            )
        pairs.extend(
            _EdgePair(app.name, inst, first.name, first.rtmp_address, upstreams[reached].name)
            for inst in options.instances
        )
    control = urlsplit(edge.control_url)
    return _template("edge.conf.j2").render(
        edge=edge.name,
        origin_names=[o.name for o in origins],
        control_url=edge.control_url,
        control_listen=f"{control.hostname}:{control.port or 80}",
        prefix=prefix,
        rtmp_module=options.rtmp_module,
        rtmp_listen=options.rtmp_listen,
        http_listen=options.http_listen,
        api_host=api.netloc,
        api_path=api.path,
        hook=f"http://{api.netloc}{api.path}/hooks/edges/{edge.name}",
        secret=options.secret,
        pairs=pairs,
        upstreams=list(upstreams.values()),
        control_allow=options.control_allow,
        cache_max_size=options.cache_max_size,
        playlist_ttl=PLAYLIST_TTL,
        segment_ttl=SEGMENT_TTL,
        edge_flashver=EDGE_FLASHVER,
        edge_name_arg=EDGE_NAME_ARG,
        edge_secret_arg=EDGE_SECRET_ARG,
        access_log_format=ACCESS_LOG_FORMAT,
        rtmp_log_format=RTMP_ACCESS_LOG_FORMAT,
    )


def render_nginx_config(
    origin: Origin, applications: Sequence[Application], options: NginxConfigOptions
) -> str:
    """The nginx.conf text (``templates/nginx.conf.j2``); ValueError names an option that
    cannot work."""
    prefix, api = _checked(options)
    control = urlsplit(origin.control_url)
    fragment = origin.hls_fragment
    return _template().render(
        origin=origin.name,
        control_url=origin.control_url,
        control_listen=f"{control.hostname}:{control.port or 80}",
        prefix=prefix,
        rtmp_module=options.rtmp_module,
        rtmp_listen=options.rtmp_listen,
        http_listen=options.http_listen,
        api_host=api.netloc,
        api_path=api.path,
        hook=f"http://{api.netloc}{api.path}/hooks/origins/{origin.name}",
        secret=options.secret,
        fragment=fragment,
        # Segments are cut at keyframes, so they last the encoder's keyframe interval when that
        # is longer than hls_fragment (x264's default is 10 s): a minute of them keeps 3 to 6
        # in the playlist for keyframe intervals up to 20 s, as players want (they start 3
        # from the end).
        playlist_seconds=max(fragment * 6, PLAYLIST_SECONDS),
        pairs=[(app.name, inst) for app in applications for inst in options.instances],
        publish_allow=options.publish_allow,
        control_allow=options.control_allow,
        hls_dir=lambda app, inst: _hls_dir(prefix, app, inst),
        access_log_format=ACCESS_LOG_FORMAT,
        rtmp_log_format=RTMP_ACCESS_LOG_FORMAT,
    )


def _api_url(url: str) -> SplitResult:
    api = urlsplit(url.rstrip("/"))
    if api.scheme != "http" or not api.hostname or api.query:
        raise ValueError(
            "api_url must be an http:// URL (nginx-rtmp calls back over plain HTTP), "
            "e.g. http://127.0.0.1:8080"
        )
    return api


def _absolute_dir(prefix: str) -> str:
    path = PurePosixPath(prefix)
    if not path.is_absolute() or any(c in prefix for c in " ;{}'\"\n\t"):
        raise ValueError(
            f"prefix must be an absolute directory without spaces or quotes, not {prefix!r}"
        )
    return str(path)


def _hls_dir(prefix: str, app: str, inst: str) -> str:
    # Directly under the prefix: nginx-rtmp creates only the last directory of hls_path.
    return f"{prefix}/hls.{app}.{inst}"
