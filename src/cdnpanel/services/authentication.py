"""Who sent a signed request: freshness, key, signature, then a once-only claim."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

from cdnpanel.errors import AuthenticationFailed
from cdnpanel.protocol.request import SignedRequest, check_timestamp
from cdnpanel.protocol.signing import verify
from cdnpanel.services._clock import Clock
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.nonces import SWEEP_ROWS, Claim, Nonce, NonceStore

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

    ``verify`` reads, ``admit`` writes: the server admits the requests of a moment together,
    with one commit for all their nonce claims (group commit). A claim then keeps the sealed
    answer its request got (``record_answers``), which a copy finds with ``claim_of``.
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

    def admit(self, batch: Sequence[Verified]) -> list[bool]:
        """Claim each request's nonce, all in one transaction; False marks a replay."""
        admitted = self._nonces.claim_many([v.nonce for v in batch])
        now = int(self._clock())
        for verified, ok in zip(batch, admitted, strict=True):
            if ok:
                self._note_use(verified.caller.key_id, verified.last_used_at, now)
        return admitted

    def record_answers(self, answers: Sequence[tuple[Nonce, bytes]]) -> list[None]:
        """Keep the sealed answers of admitted requests with their claims, in one transaction
        (a group commit's batch: one result per item)."""
        self._nonces.record_answers(answers)
        return [None] * len(answers)

    def claim_of(self, nonce: Nonce) -> Claim | None:
        """A claim as it stands: its sealed answer once known; None if there is none."""
        return self._nonces.claim_of(nonce)

    def release(self, nonce: Nonce) -> None:
        """Forget the claim of a request that failed in the server (it changed nothing), so
        that a copy is carried out afresh."""
        self._nonces.release(nonce)

    def read_use_due(self, verified: Verified) -> bool:
        """Whether a read of this key (which needs no claim: it is answered afresh however
        often it comes) should write the key's 'last used' now; no I/O."""
        return self._use_due(verified.caller.key_id, verified.last_used_at, int(self._clock()))

    def note_read(self, verified: Verified) -> None:
        """Record the use of a read's key (when ``read_use_due``)."""
        self._note_use(verified.caller.key_id, verified.last_used_at, int(self._clock()))

    def _use_due(self, key_id: int, stored: int | None, now: int) -> bool:
        # 'last used' is for people, not for security: write it at most once a minute per key.
        last = max(stored or 0, self._last_used_written.get(key_id, 0))
        return now - last >= self._last_used_interval

    def _note_use(self, key_id: int, stored: int | None, now: int) -> None:
        if self._use_due(key_id, stored, now):
            self._last_used_written[key_id] = now
            self._keys.record_use(key_id=key_id, now=now)

    def sweep_expired_claims(self) -> bool:
        """Forget a batch of claims too old to pass the timestamp check any more; True while
        more remain (a step: the server runs it again, letting requests in between)."""
        before = int(self._clock()) - self.window - _NONCE_SLACK
        return self._nonces.sweep(before=before, rows=SWEEP_ROWS) == SWEEP_ROWS
