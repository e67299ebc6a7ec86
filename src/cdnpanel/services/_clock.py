"""Time and randomness are injected, so tests freeze them instead of patching modules."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "SystemTokens", "TokenSource"]

Clock = Callable[[], float]
"""Returns the current Unix time in seconds (UTC), like ``time.time``."""


class TokenSource(Protocol):
    def api_key(self) -> str: ...

    def secret(self) -> str: ...


class SystemTokens:
    """Credentials shaped like ScaleEngine's: 32 upper-case alphanumerics, a 64-hex secret."""

    _ALPHABET = string.ascii_uppercase + string.digits

    def api_key(self) -> str:
        return "".join(secrets.choice(self._ALPHABET) for _ in range(32))

    def secret(self) -> str:
        return secrets.token_hex(32)
