"""Who sent a signed request: freshness, key, signature, then a once-only claim."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from cdnpanel.errors import AuthenticationFailed
from cdnpanel.protocol.request import SignedRequest, check_timestamp
from cdnpanel.protocol.signing import verify
from cdnpanel.records import Claim, Nonce
from cdnpanel.services._clock import Clock
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.nonces import SWEEP_ROWS, NonceStore

__all__ = ["Authenticator", "Caller", "Verified"]

# Claims outlive the window by this much, so a clock step on one node cannot reopen it.
_NONCE_SLACK = 5
# Unknown keys are checked against this, so they cost what a wrong signature costs.
_DUMMY_SECRET = hashlib.sha256(b"cdnpanel-unknown-key").hexdigest()


class Caller(NamedTuple):
    """The authenticated account behind a request."""

    account_id: int
    cdn_id: int
    key_id: int


class Verified(NamedTuple):
    """A request whose key and signature check out, not yet admitted: its nonce is unclaimed."""

    caller: Caller
    nonce: Nonce
    last_used_at: int | None


class Authenticator:
    """Checks run cheapest first; nothing is written until the signature has been verified.

    ``verify`` reads, ``admit`` claims the nonce: the claims of a moment are made together, in
    one transaction (the store's group commit). A claim then keeps the sealed answer its
    request got (``record_answer``), which a copy finds with ``claim_of``.
    """

    def __init__(
        self,
        keys: KeyStore,
        nonces: NonceStore,
        *,
        clock: Clock,
        window: int,
        last_used_interval: int = 60,
    ) -> None:
        self._keys = keys
        self._nonces = nonces
        self._clock = clock
        self.window = window
        self._last_used_interval = last_used_interval
        self._last_used_written: dict[int, int] = {}

    def verify(self, request: SignedRequest) -> Verified:
        """Freshness, key and signature; raises unless all three hold."""
        check_timestamp(request.timestamp, now=self._clock(), window=self.window)
        credential = self._keys.find_active_credential(request.api_key)
        if credential is None or credential.cdn_id != request.cdn:
            verify(request.signed_text_candidates(), _DUMMY_SECRET, request.signature)
            raise AuthenticationFailed()
        if not verify(request.signed_text_candidates(), credential.secret, request.signature):
            raise AuthenticationFailed()
        return Verified(
            Caller(credential.account_id, credential.cdn_id, credential.key_id),
            Nonce(credential.key_id, request.signature, request.timestamp),
            credential.last_used_at,
        )

    async def admit(self, verified: Verified) -> bool:
        """Claim the request's nonce; False for a copy of a request claimed before."""
        if not await self._nonces.claim(verified.nonce):
            return False
        await self.note_use(verified)
        return True

    async def record_answer(self, verified: Verified, sealed: bytes) -> None:
        """Keep the sealed answer of an admitted request with its claim, for its copies."""
        await self._nonces.record_answer(verified.nonce, sealed)

    def claim_of(self, nonce: Nonce) -> Claim | None:
        """A claim as it stands: its sealed answer once known; None if there is none."""
        return self._nonces.claim_of(nonce)

    def release(self, nonce: Nonce) -> None:
        """Forget the claim of a request that failed in the server (it changed nothing), so
        that a copy is carried out afresh."""
        self._nonces.release(nonce)

    def use_due(self, verified: Verified) -> bool:
        """Whether this use of the key should write its 'last used' now; no I/O. It is for
        people, not for security: written at most once a minute per key and process."""
        key_id, now = verified.caller.key_id, int(self._clock())
        last = max(verified.last_used_at or 0, self._last_used_written.get(key_id, 0))
        return now - last >= self._last_used_interval

    async def note_use(self, verified: Verified) -> None:
        """Record the key's use, when ``use_due`` (a read, which needs no claim, calls it)."""
        if self.use_due(verified):
            now = int(self._clock())
            self._last_used_written[verified.caller.key_id] = now
            await self._keys.record_use(key_id=verified.caller.key_id, now=now)

    def sweep_expired_claims(self) -> bool:
        """Forget a batch of claims too old to pass the timestamp check any more; True while
        more remain (a step: the server runs it again, letting requests in between)."""
        before = int(self._clock()) - self.window - _NONCE_SLACK
        return self._nonces.sweep(before=before, rows=SWEEP_ROWS) == SWEEP_ROWS
