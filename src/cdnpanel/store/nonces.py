"""Replay protection: each (key, signature) is claimed once while its timestamp is valid."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from cdnpanel.store._dialect import insert_or_ignore
from cdnpanel.store.database import Database
from cdnpanel.store.tables import request_nonces

__all__ = ["NonceStore"]


class NonceStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # RETURNING tells a fresh insert from a skipped one on both backends; rowcount does not.
        self._claim = insert_or_ignore(db, request_nonces).returning(request_nonces.c.key_id)

    def claim(self, *, key_id: int, signature: bytes, expires_at: int) -> bool:
        """True for the first claim of this signature; False for a replay, on any node."""
        with self._db.write() as conn:
            inserted = conn.execute(
                self._claim, {"key_id": key_id, "signature": signature, "expires_at": expires_at}
            ).first()
        return inserted is not None

    def sweep(self, *, now: int, slice_seconds: int = 5) -> int:
        """Delete claims whose timestamps have left the window.

        Deletes a few seconds' worth of claims per transaction, so the writer is never held
        for long even after a busy hour.
        """
        with self._db.read() as conn:
            oldest = conn.execute(select(func.min(request_nonces.c.expires_at))).scalar()
        if oldest is None or oldest >= now:
            return 0
        removed = 0
        bound = oldest
        while bound < now:
            bound = min(bound + slice_seconds, now)
            with self._db.write() as conn:
                removed += conn.execute(
                    delete(request_nonces).where(request_nonces.c.expires_at < bound)
                ).rowcount
        return removed
