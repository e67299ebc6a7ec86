"""Build request bodies the way each known ScaleEngine client does (see PROTOCOL.md §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from typing import Any
from urllib.parse import urlencode


def _hmac_b64(text: str, secret: str, *, padded: bool = True) -> str:
    digest = hmac.digest(secret.encode(), text.encode("utf-8"), hashlib.sha256)
    encoded = base64.b64encode(digest).decode()
    return encoded if padded else encoded.rstrip("=")


def php_wire(members: dict[str, Any], secret: str) -> str:
    """json_encode, sign, add 'signature' last, json_encode again (so the signature has \\/)."""
    signed = json.dumps(members, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
    signature = _hmac_b64(signed, secret)
    return signed[:-1] + ',"signature":"' + signature.replace("/", "\\/") + '"}'


def perl_wire(members: dict[str, Any], secret: str, *, seed: int = 0) -> str:
    """encode_json in random key order, raw UTF-8, no \\/; signature spliced before '}'."""
    items = list(members.items())
    random.Random(seed).shuffle(items)
    signed = json.dumps(dict(items), separators=(",", ":"), ensure_ascii=False)
    signature = _hmac_b64(signed, secret, padded=False)
    signature += "=" * (-len(signature) % 4)  # the Perl sample pads by hand
    return signed[:-1] + ',"signature":"' + signature + '"}'


def ruby_wire(members: dict[str, Any], secret: str) -> str:
    """JSON.generate: insertion order, raw UTF-8, '/' unescaped; signature last."""
    signed = json.dumps(members, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(
        {**members, "signature": _hmac_b64(signed, secret)},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def csharp_wire(members: dict[str, Any], secret: str) -> str:
    """ScaleEngine's C# sample: indented JSON with every space removed, '/' as '\\/'."""
    signed = json.dumps(members, indent=2).replace("\n", "").replace(" ", "").replace("/", "\\/")
    return json.dumps({**members, "signature": _hmac_b64(signed, secret)}, indent=1)


def urlencoded(wire: str) -> tuple[str, bytes]:
    return "application/x-www-form-urlencoded", urlencode({"json": wire}).encode()


def multipart(
    wire: str, *, extra_parts: str = "", boundary: str | None = None
) -> tuple[str, bytes]:
    boundary = boundary or "------------------------" + uuid.uuid4().hex[:16]
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"\r\n\r\n'
        f"{wire}\r\n"
        f"{extra_parts}"
        f"--{boundary}--\r\n"
    )
    return f"multipart/form-data; boundary={boundary}", body.encode("utf-8")


def envelope(command: str, api_key: str, cdn: int, timestamp: int, **params: Any) -> dict[str, Any]:
    return {"command": command, "api_key": api_key, "timestamp": timestamp, "cdn": cdn, **params}
