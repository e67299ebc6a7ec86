"""Who sent a signed request: freshness, key, signature, then a once-only claim."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cdnpanel.errors import AuthenticationFailed, ReplayedRequest
from cdnpanel.protocol.request import SignedRequest, check_timestamp
from cdnpanel.protocol.signing import verify
from cdnpanel.services._clock import Clock
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.nonces import NonceStore

__all__ = ["Authenticator", "Caller"]

# Claims outlive the window by this much, so a clock step on one node cannot reopen it.
_NONCE_SLACK = 5
# Unknown keys are checked against this, so they cost what a wrong signature costs.
_DUMMY_SECRET = hashlib.sha256(b"cdnpanel-unknown-key").hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated account behind a request."""

    account_id: int
    cdn_id: int
    key_id: int


class Authenticator:
    """Checks run cheapest first; nothing is written until the signature has been verified."""

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

    def authenticate(self, request: SignedRequest) -> Caller:
        now = self._clock()
        check_timestamp(request.timestamp, now=now, window=self.window)
        credential = self._keys.find_active_credential(request.api_key)
        if credential is None or credential.cdn_id != request.cdn:
            verify(request.signed_text_candidates(), _DUMMY_SECRET, request.signature)
            raise AuthenticationFailed()
        if not verify(request.signed_text_candidates(), credential.secret, request.signature):
            raise AuthenticationFailed()
        if not self._nonces.claim(
            key_id=credential.key_id,
            signature=request.signature,
            expires_at=request.timestamp + self.window + _NONCE_SLACK,
        ):
            raise ReplayedRequest()
        self._note_use(credential.key_id, credential.last_used_at, int(now))
        return Caller(credential.account_id, credential.cdn_id, credential.key_id)

    def _note_use(self, key_id: int, stored: int | None, now: int) -> None:
        # 'last used' is for people, not for security: write it at most once a minute per key.
        last = max(stored or 0, self._last_used_written.get(key_id, 0))
        if now - last >= self._last_used_interval:
            self._last_used_written[key_id] = now
            self._keys.record_use(key_id=key_id, now=now)

    def sweep_expired_claims(self) -> int:
        return self._nonces.sweep(now=int(self._clock()))
