"""First answers: what an identical copy of a change gets (docs/protocol.md, section 3).

A change is carried out once; its answer is kept with its replay claim, so that a copy of the
request (the same key and signature: a client's retry after a lost answer, a deterministic
client sending twice in one second, the same request on another worker or node) gets that
answer again, byte for byte apart from ``handle_time``, with no second effect.

The answer may hold a secret (``sevu.request`` answers the ticket's password), so it is sealed
(AES-GCM) with a key derived from the request's own text, which the store never holds: only
someone holding the request itself can open it, and they know what is in it already.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["FirstAnswer", "seal", "unseal"]

_CONTEXT = b"cdnpanel first answer\x00"
_NONCE_BYTES = 12


class FirstAnswer(NamedTuple):
    """An answer as it was given: its HTTP status and members (all but ``handle_time``)."""

    status: int
    body: dict[str, Any]


def _key(request_text: str) -> bytes:
    return hashlib.sha256(_CONTEXT + request_text.encode("utf-8", "surrogatepass")).digest()


def seal(request_text: str, answer: FirstAnswer) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    plain = answer.status.to_bytes(2, "big") + orjson.dumps(answer.body)
    return nonce + AESGCM(_key(request_text)).encrypt(nonce, plain, None)


def unseal(request_text: str, sealed: bytes) -> FirstAnswer | None:
    """The answer; None when this request's text does not open it (not the same request)."""
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        plain = AESGCM(_key(request_text)).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        return None
    return FirstAnswer(int.from_bytes(plain[:2], "big"), orjson.loads(plain[2:]))
