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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from cdnpanel.records import Application, Origin

__all__ = ["ACCESS_LOG_FORMAT", "NginxConfigOptions", "render_nginx_config"]

_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LISTEN = re.compile(r"(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}")
DEFAULT_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

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
    instances: Sequence[str] = ("live",)
    control_allow: Sequence[str] = ("127.0.0.1", "::1")
    publish_allow: Sequence[str] = ()
    """Networks encoders may publish from; empty: any (cdnpanel still checks the application)."""
    rtmp_module: str = DEFAULT_MODULE


def render_nginx_config(
    origin: Origin, applications: Sequence[Application], options: NginxConfigOptions
) -> str:
    """The nginx.conf text; ValueError names an option that cannot work."""
    prefix = _absolute_dir(options.prefix)
    api = urlsplit(options.api_url.rstrip("/"))
    if api.scheme != "http" or not api.hostname or api.query:
        raise ValueError(
            "api_url must be an http:// URL (nginx-rtmp calls back over plain HTTP), "
            "e.g. http://127.0.0.1:8080"
        )
    api_host = api.netloc
    control = urlsplit(origin.control_url)
    control_listen = f"{control.hostname}:{control.port or 80}"
    for name, value in (("rtmp_listen", options.rtmp_listen), ("http_listen", options.http_listen)):
        if not _LISTEN.fullmatch(value):
            raise ValueError(f"{name} must be PORT or HOST:PORT, not {value!r}")
    for inst in options.instances:
        if not _INSTANCE.fullmatch(inst):
            raise ValueError(f"instance {inst!r}: letters, digits, '.', '_' or '-'")
    if not options.instances:
        raise ValueError("at least one instance (e.g. live)")
    hook = f"http://{api_host}{api.path}/hooks/origins/{origin.name}"
    secret = options.secret
    fragment = origin.hls_fragment
    # Segments are cut at keyframes, so they last the encoder's keyframe interval when that is
    # longer than hls_fragment (x264's default is 10 s): a minute of them keeps 3 to 6 in the
    # playlist for keyframe intervals up to 20 s, as players want (they start 3 from the end).
    playlist_seconds = max(fragment * 6, PLAYLIST_SECONDS)
    pairs = [(app.name, inst) for app in applications for inst in options.instances]

    rtmp_apps = "\n".join(
        _indent(
            f"""application {app}/{inst} {{
    live on;
{_allow_publish(options.publish_allow)}    hls on;
    hls_path {_hls_dir(prefix, app, inst)};
    hls_nested on;
    hls_fragment {fragment}s;
    hls_playlist_length {playlist_seconds}s;
    on_publish {hook}/publish?secret={secret};
    on_publish_done {hook}/publish_done?secret={secret};
    on_play {hook}/play?secret={secret};
    on_play_done {hook}/play_done?secret={secret};
}}""",
            8,
        )
        for app, inst in pairs
    )
    playback = "\n".join(
        _indent(
            f"""location /{app}/{inst}/ {{
    auth_request /_cdnpanel/hls-auth;
    auth_request_set $cdnpanel_refusal $upstream_http_x_cdnpanel_reason;
    error_page 403 = @cdnpanel_refused;
    alias {_hls_dir(prefix, app, inst)}/;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    add_header Cache-Control no-cache;
    add_header Access-Control-Allow-Origin *;
    sub_filter_types application/vnd.apple.mpegurl;
    sub_filter_once off;
    sub_filter '.ts' '.ts$is_args$args';
}}""",
            8,
        )
        for app, inst in pairs
    )
    control_allow = "".join(f"        allow {net};\n" for net in options.control_allow)
    control_hls = "".join(
        f"        location /hls/{app}/{inst}/ {{\n"
        f"            alias {_hls_dir(prefix, app, inst)}/;\n"
        "        }\n"
        for app, inst in pairs
    )
    no_apps = (
        "        # No application is served by this origin yet: add one with\n"
        f"        #   cdnpanel app update --origin {origin.name} APP\n"
        "        # then write this file again and reload nginx.\n"
        if not pairs
        else ""
    )
    return f"""# nginx.conf for the cdnpanel origin {origin.name}, written by
#   cdnpanel origin nginx-config {origin.name}
# Start:  nginx -p {prefix}/ -c {prefix}/nginx.conf        (add -g 'daemon off;' to stay in the
#         foreground, e.g. under systemd)
# After adding an application to this origin, write this file again, then reload:
#         nginx -p {prefix}/ -c {prefix}/nginx.conf -s reload
# It holds the origin's hook secret: keep it readable by nginx's user only.

load_module {options.rtmp_module};
# One worker: /stat and /control only see the RTMP sessions of the worker that answers them.
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;

events {{
    worker_connections 4096;
}}

rtmp {{
    # Without the play arguments, which carry ticket passwords.
    log_format cdnpanel '{RTMP_ACCESS_LOG_FORMAT}';
    access_log {prefix}/rtmp-access.log cdnpanel;
    server {{
        listen {options.rtmp_listen};
        chunk_size 4096;
        notify_method post;
        drop_idle_publisher 30s;
{no_apps}{rtmp_apps}
    }}
}}

http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    # The line cdnpanel's usage metering reads (cdnpanel ingest --format cdnpanel), with the
    # path but not the query string: ?key=...&pass=... carries ticket passwords.
    map $request_uri $cdnpanel_path {{
        "~^(?<path>[^?]*)" $path;
    }}
    log_format cdnpanel '{ACCESS_LOG_FORMAT}';
    access_log {prefix}/access.log cdnpanel;
    client_body_temp_path {prefix}/temp-client-body;
    proxy_temp_path {prefix}/temp-proxy;
    fastcgi_temp_path {prefix}/temp-fastcgi;
    uwsgi_temp_path {prefix}/temp-uwsgi;
    scgi_temp_path {prefix}/temp-scgi;

    upstream cdnpanel {{
        server {api_host};
        keepalive 32;
    }}

    # Stat and control: cdnpanel's control URL for this origin ({origin.control_url}).
    server {{
        listen {control_listen};
        access_log off;  # cdnpanel's own polling is not usage
{control_allow}        deny all;
        location = /stat {{
            rtmp_stat all;
        }}
        location /control {{
            rtmp_control all;
        }}
        # The HLS playlists, read by cdnpanel for their segment duration (no ticket asked).
{control_hls}    }}

    # Playback: /<app>/<inst>/<stream>/index.m3u8, every request checked by cdnpanel.
    server {{
        listen {options.http_listen};
        # A segment gone from the playlist is a 404, not an error line quoting the request
        # (its query string carries the ticket's password).
        log_not_found off;
        location = /_cdnpanel/hls-auth {{
            internal;
            proxy_pass http://cdnpanel{api.path}/hooks/origins/{origin.name}/hls;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Cdnpanel-Secret {secret};
        }}
{playback}
        # A refused player learns why: cdnpanel's reason in a header and as the body.
        location @cdnpanel_refused {{
            default_type text/plain;
            add_header X-Cdnpanel-Reason $cdnpanel_refusal always;
            add_header Cache-Control no-store always;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Expose-Headers X-Cdnpanel-Reason always;
            return 403 "403 refused by cdnpanel: $cdnpanel_refusal\n";
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


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


def _allow_publish(networks: Sequence[str]) -> str:
    if not networks:
        return ""
    lines = "".join(f"    allow publish {net};\n" for net in networks)
    return lines + "    deny publish all;\n"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())
