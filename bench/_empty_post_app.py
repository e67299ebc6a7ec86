"""The ceiling of the signed benchmark: cdnpanel's own server and ASGI entry point, with the
command endpoint's work taken out.

Run as ``python bench/_empty_post_app.py PORT`` (by ``signed_api.py --ceiling``): the same
uvicorn settings as ``cdnpanel serve``, the same ``/health``, the same access log, and a
command endpoint that reads the POST body as the real one does (``_read_body``) and answers a
fixed ``video.getapps`` answer without parsing, verifying or reading anything. What a signed
request costs beyond this is the signed work itself; the ratio of this to ``/health`` is the
highest a signed request can reach on this stack.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from cdnpanel.cli.serve import log_config
from cdnpanel.web.app import create_app_from_environment
from cdnpanel.web.asgi import CdnpanelApp
from cdnpanel.web.endpoint import _JSON_HEADERS, _content_headers
from cdnpanel.web.http import PROTOCOL

_ANSWER = (
    b'{"data":[{"id":1,"name":"demo-origin"},{"id":2,"name":"demo-vod"},'
    b'{"id":3,"name":"demo-live"}],"message":"Found Applications","status":"success",'
    b'"handle_time":"0.0000 seconds"}'
)
_HEADERS = [*_JSON_HEADERS, (b"content-length", str(len(_ANSWER)).encode())]


def create() -> CdnpanelApp:
    app = create_app_from_environment()
    real = app._commands

    async def empty_endpoint(scope: Any, receive: Any, send: Any) -> None:
        _content_type, declared = _content_headers(scope["headers"])
        await real._read_body(receive, declared)
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _ANSWER})

    app._commands = empty_endpoint  # type: ignore[assignment]
    return app


if __name__ == "__main__":
    uvicorn.run(  # as cdnpanel serve runs it (cli/serve.py), one worker
        "_empty_post_app:create",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="info",
        log_config=log_config(),
        access_log=False,
        server_header=False,
        http=PROTOCOL,
    )
