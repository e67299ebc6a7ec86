"""HMAC-SHA256 request signatures, as every known ScaleEngine client makes them.

The signed text is the request JSON without its ``signature`` member; the secret is the private
key string's bytes (not hex-decoded). Clients encode JSON differently (PHP escapes ``/`` and
writes ``\\uXXXX``, Perl shuffles keys, Ruby writes raw UTF-8), but each builds its wire text by
adding ``,"signature":"..."`` before the final ``}`` of the text it signed. So the server
verifies against the received text with that member cut out, and only falls back to
re-encodings of the parsed object when the cut text does not match.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cdnpanel.errors import MalformedSignature

__all__ = [
    "attach_signature",
    "decode_signature",
    "encode_php_json",
    "sign",
    "signed_text_candidates",
    "verify",
]

SIGNATURE_MEMBER = "signature"
_DIGEST_SIZE = hashlib.sha256().digest_size
_BASE64_DIGEST_LENGTH = 44
# The member's value is a JSON string: runs of plain characters between escapes (written
# unrolled: an alternation per character made the cut cost 4 µs instead of 1).
_MEMBER_VALUE = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TRAILING_MEMBER = re.compile(r',\s*"signature"\s*:\s*' + _MEMBER_VALUE + r"\s*(?=\}\s*$)")
_ANY_MEMBER = re.compile(r'"signature"\s*:\s*' + _MEMBER_VALUE)
_BASE64_ALPHABET = re.compile(rb"[A-Za-z0-9+/]*")
_COMPACT_MEMBER = ',"signature":"'
# The member and its value (44 base64 characters, a few more when PHP escapes '/' as '\/').
_COMPACT_TAIL = 128


def sign(signed_text: str, secret: str) -> str:
    """base64(HMAC-SHA256(secret, signed_text)), padded, as the PHP client computes it."""
    digest = hmac.digest(secret.encode("utf-8"), signed_text.encode("utf-8"), "sha256")
    return base64.b64encode(digest).decode("ascii")


def encode_php_json(members: Mapping[str, Any]) -> str:
    """JSON text as PHP ``json_encode`` writes it by default: compact, ``\\/``, ``\\uXXXX``."""
    text = json.dumps(members, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("/", "\\/")


def attach_signature(signed_text: str, signature: str, *, escape_slashes: bool = True) -> str:
    """The wire text: the signed text with the signature member added last, like PHP does."""
    value = signature.replace("/", "\\/") if escape_slashes else signature
    body = signed_text.rstrip()
    if not body.endswith("}"):
        raise ValueError("signed text must be a JSON object")
    separator = "" if body[:-1].rstrip().endswith("{") else ","
    return f'{body[:-1]}{separator}"{SIGNATURE_MEMBER}":"{value}"}}'


def decode_signature(value: object) -> bytes:
    """The 32 digest bytes of a base64 signature; padding optional, as the Perl client pads."""
    if not isinstance(value, str) or not value:
        raise MalformedSignature(
            "Failed HMAC-SHA256 Signature: 'signature' must be a non-empty base64 string"
        )
    if len(value) == _BASE64_DIGEST_LENGTH:  # what every client sends: padded, standard
        try:
            digest = binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            pass  # the checks below say what is wrong with it
        else:
            if len(digest) == _DIGEST_SIZE:
                return digest
    if len(value) == 2 * _DIGEST_SIZE and all(c in "0123456789abcdefABCDEF" for c in value):
        raise MalformedSignature(
            "Failed HMAC-SHA256 Signature: 'signature' looks like hex; send the base64 of the "
            "raw 32-byte digest (PHP: base64_encode(hash_hmac('sha256', $json, $key, true)))"
        )
    # A '+' sent unescaped in an urlencoded body arrives as a space; base64 has no spaces. A
    # space at either end is such a '+' too (1 signature in 64 starts with one): only the other
    # white space is stripped.
    raw = value.strip("\t\r\n\v\f").replace(" ", "+").rstrip("=").encode("ascii", "replace")
    if not _BASE64_ALPHABET.fullmatch(raw) or len(raw) % 4 == 1:
        raise MalformedSignature(
            "Failed HMAC-SHA256 Signature: 'signature' is not standard base64 "
            "(send base64 of the raw 32-byte HMAC-SHA256, not hex)"
        )
    # The alphabet is checked above; strict_mode also refuses a wrong final padding.
    try:
        digest = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except binascii.Error:
        raise MalformedSignature(
            "Failed HMAC-SHA256 Signature: 'signature' is not base64"
        ) from None
    if len(digest) != _DIGEST_SIZE:
        raise MalformedSignature(
            f"Failed HMAC-SHA256 Signature: 'signature' decodes to {len(digest)} bytes; an "
            f"HMAC-SHA256 has {_DIGEST_SIZE}"
        )
    return digest


def signed_text_candidates(wire_text: str, members: Mapping[str, Any]) -> Iterator[str]:
    """The texts the client may have signed, most likely first; later ones are built lazily."""
    cut = _cut_compact_trailing_member(wire_text)
    if cut is None:
        cut = _cut_trailing_member(wire_text)
    if cut is not None:
        yield cut
    else:
        # A signature member that is not last: cut it with the comma on either side.
        for match in _ANY_MEMBER.finditer(wire_text):
            before, after = wire_text[: match.start()], wire_text[match.end() :]
            stripped_after = after.lstrip()
            if stripped_after.startswith(","):
                yield before + stripped_after[1:].lstrip()
            stripped_before = before.rstrip()
            if stripped_before.endswith(","):
                yield stripped_before[:-1] + after
    unsigned = {k: v for k, v in members.items() if k != SIGNATURE_MEMBER}
    try:
        php = encode_php_json(unsigned)
        compact = json.dumps(unsigned, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:  # nested deeper than any client's encoder writes (PHP: 512 levels)
        return
    yield php
    yield compact
    # ScaleEngine's C# sample strips every space, even inside values, before signing.
    yield re.sub(r"\s+", "", php)


def _cut_compact_trailing_member(wire_text: str) -> str | None:
    """The text without its signature, when that is the last member written without spaces
    (``...,"signature":"..."}``, as PHP, Perl and Ruby write it); None for any other layout.

    The common case, with string searches over the text's last bytes; the regular expression
    takes the others.
    """
    if not wire_text.endswith('"}'):
        return None
    start = wire_text.rfind(_COMPACT_MEMBER, len(wire_text) - _COMPACT_TAIL)
    if start < 0 or wire_text.find('"', start + len(_COMPACT_MEMBER)) != len(wire_text) - 2:
        return None
    return wire_text[:start] + "}"


def _cut_trailing_member(wire_text: str) -> str | None:
    """The text without its last member, when that is the signature, in any spacing."""
    trailing = _TRAILING_MEMBER.search(wire_text, _trailing_search_start(wire_text))
    if trailing is None:
        return None
    return wire_text[: trailing.start()] + wire_text[trailing.end() :]


def _trailing_search_start(wire_text: str) -> int:
    position = wire_text.rfind('"' + SIGNATURE_MEMBER + '"')
    if position <= 0:
        return len(wire_text)
    comma = wire_text.rfind(",", 0, position)
    return comma if comma >= 0 else position


def verify(candidates: Iterable[str], secret: str, signature: bytes) -> bool:
    """True when any candidate text, signed with ``secret``, gives ``signature``.

    Each comparison is constant-time; the number of candidates tried depends only on the
    request, never on the secret.
    """
    keyed = _keyed(secret)
    for text in candidates:
        mac = keyed.copy()
        mac.update(text.encode("utf-8"))
        if hmac.compare_digest(mac.digest(), signature):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC already keyed with ``secret``, to copy per message: OpenSSL 3 sets up a key in
    about a microsecond, a third of a whole one-shot ``hmac.digest`` of a request."""
    return hmac.new(secret.encode("utf-8"), digestmod="sha256")
