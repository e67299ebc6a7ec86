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

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cdnpanel.errors import CdnpanelError, ReplayedRequest
from cdnpanel.protocol.request import SignedRequest
from cdnpanel.services.authentication import Authenticator, Verified
from cdnpanel.store.database import StoreRun

__all__ = ["FirstAnswer", "Replays", "seal", "unseal"]

log = logging.getLogger("cdnpanel.replays")

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


class Replays:
    """Carries out each change once per signed request; its copies get the first answer.

    ``strict``: every copy is refused instead (``0009``). ``wait``: how long a copy waits for
    the answer of a first that is still being carried out, on any worker or node.
    """

    def __init__(
        self, authenticator: Authenticator, *, run: StoreRun, strict: bool, wait: float
    ) -> None:
        self._authenticator = authenticator
        self._run = run
        self.strict = strict
        self._wait = wait

    async def once(
        self,
        request: SignedRequest,
        verified: Verified,
        carry_out: Callable[[], Awaitable[FirstAnswer]],
    ) -> FirstAnswer:
        """The request's answer: ``carry_out()``'s if its claim is the first, else the first's."""
        if not await self._authenticator.admit(verified):
            if self.strict:
                raise ReplayedRequest()
            return await self._first_answer(request, verified)
        first = await carry_out()
        if not self.strict:
            await self._keep(request, verified, first)
        return first

    async def _keep(self, request: SignedRequest, verified: Verified, first: FirstAnswer) -> None:
        """Keep a change's answer for its copies; a failure in the server (5xx) changed
        nothing, so its claim goes instead and a copy is carried out afresh."""
        authenticator = self._authenticator
        try:
            if first.status >= 500:
                await self._run(lambda: authenticator.release(verified.nonce))
            else:
                await authenticator.record_answer(verified, seal(request.text, first))
        except CdnpanelError as exc:  # the store is unavailable: a copy will hear it pending
            log.warning("could not keep a request's answer for its copies: %s", exc.message)

    async def _first_answer(self, request: SignedRequest, verified: Verified) -> FirstAnswer:
        """A copy of an admitted request: the first one's answer, once it is known."""
        authenticator = self._authenticator
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        pause = 0.005
        while True:
            claim = await self._run(lambda: authenticator.claim_of(verified.nonce))
            if claim is None:  # released: the first failed in the server
                raise ReplayedRequest(ReplayedRequest.FAILED)
            if claim.answer is not None:
                first = unseal(request.text, claim.answer)
                if first is None:
                    raise ReplayedRequest(ReplayedRequest.UNREADABLE)
                return first
            if loop.time() >= deadline:
                raise ReplayedRequest(ReplayedRequest.PENDING)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
