"""Replay protection: each (key, signature) is claimed once while its timestamp is valid, and
the claim keeps the (sealed) answer its request got, for copies of a change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, tuple_, update

from cdnpanel.records import Claim, Nonce
from cdnpanel.store._dialect import insert_or_ignore
from cdnpanel.store.database import Database
from cdnpanel.store.group_commit import WriteKind
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import request_nonces

__all__ = ["SWEEP_ROWS", "NonceStore"]

SWEEP_ROWS = 256


_WHERE_NONCE = (
    (request_nonces.c.signed_at == bindparam("w_signed_at"))
    & (request_nonces.c.key_id == bindparam("w_key_id"))
    & (request_nonces.c.signature == bindparam("w_signature"))
)


def _where(nonce: Nonce) -> dict[str, Any]:
    return {
        "w_signed_at": nonce.signed_at,
        "w_key_id": nonce.key_id,
        "w_signature": nonce.signature,
    }


_RECORD_ANSWER = Prepared(
    update(request_nonces).where(_WHERE_NONCE).values(answer=bindparam("answer"))
)


def _record_answers_in(conn: Connection, answers: Sequence[tuple[Nonce, bytes]]) -> list[None]:
    _RECORD_ANSWER.rowcount_many(
        conn, [_where(nonce) | {"answer": answer} for nonce, answer in answers]
    )
    return [None] * len(answers)


class NonceStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # PostgreSQL: one multi-row INSERT whose RETURNING names the fresh claims (one round
        # trip). SQLite: one INSERT per claim whose rowcount says fresh or not (in-process, no
        # round trips: a third of the multi-row INSERT's cost).
        claim = insert_or_ignore(db, request_nonces).values(  # a claim has no answer yet
            signed_at=bindparam("signed_at"),
            key_id=bindparam("key_id"),
            signature=bindparam("signature"),
        )
        self._claim_returning = claim.returning(
            request_nonces.c.key_id, request_nonces.c.signature, request_nonces.c.signed_at
        )
        self._claim_one = Prepared(claim)
        self._claims: WriteKind[Nonce, bool] = WriteKind(
            "replay claims", self._claim_in, keeps_cached_reads=True
        )
        self._answers: WriteKind[tuple[Nonce, bytes], None] = WriteKind(
            "answers kept for copies", _record_answers_in, keeps_cached_reads=True
        )

    async def claim(self, nonce: Nonce) -> bool:
        """True for the first claim of this signature; False for a replay, on any node. Made
        with the other writes of the moment, in one transaction (``Database.submit``)."""
        return await self._db.submit(self._claims, nonce)

    async def record_answer(self, nonce: Nonce, answer: bytes) -> None:
        """Keep a claim's answer (sealed), with the other writes of the moment."""
        await self._db.submit(self._answers, (nonce, answer))

    def _claim_in(self, conn: Connection, nonces: Sequence[Nonce]) -> list[bool]:
        """Claim several on one connection; True where the claim is the first. A nonce that
        appears twice in ``nonces`` is won by its first occurrence."""
        fresh: dict[Nonce, None] = dict.fromkeys(nonces)
        rows = [
            {"signed_at": n.signed_at, "key_id": n.key_id, "signature": n.signature} for n in fresh
        ]
        if self._db.is_sqlite:
            counts = self._claim_one.rowcounts(conn, rows)
            inserted = {n for n, count in zip(fresh, counts, strict=True) if count == 1}
        else:
            # SQLAlchemy sends the rows as one multi-VALUES INSERT ("insertmanyvalues").
            inserted = {
                Nonce(row.key_id, bytes(row.signature), row.signed_at)
                for row in conn.execute(self._claim_returning, rows)
            }
        won: list[bool] = []
        for nonce in nonces:
            won.append(nonce in inserted)
            inserted.discard(nonce)  # a second copy in the same batch is a replay
        return won

    def release(self, nonce: Nonce) -> None:
        """Forget a claim whose request changed nothing (it failed in the server), so that a
        copy is carried out afresh."""
        with self._db.write(keeps_cached_reads=True) as conn:
            conn.execute(delete(request_nonces).where(_WHERE_NONCE), _where(nonce))

    def claim_of(self, nonce: Nonce) -> Claim | None:
        """The claim as it stands now (never a cached read); None when there is none."""
        with self._db.read() as conn:
            row = conn.execute(
                select(request_nonces.c.answer).where(_WHERE_NONCE), _where(nonce)
            ).first()
        return None if row is None else Claim(None if row.answer is None else bytes(row.answer))

    def sweep(self, *, before: int, rows: int = SWEEP_ROWS) -> int:
        """Delete up to ``rows`` claims of requests signed before ``before`` (they can no longer
        be replayed), oldest first, in one short transaction; returns how many went.

        The server calls it again while it returns ``rows``, letting requests in between: the
        writer (which request handlers wait for) is never held for long, even after a busy hour.
        """
        key = tuple_(
            request_nonces.c.signed_at, request_nonces.c.key_id, request_nonces.c.signature
        )
        oldest = (
            select(request_nonces.c.signed_at, request_nonces.c.key_id, request_nonces.c.signature)
            .where(request_nonces.c.signed_at < before)
            .order_by(request_nonces.c.signed_at)
            .limit(rows)
        )
        with self._db.write(keeps_cached_reads=True) as conn:
            return int(conn.execute(delete(request_nonces).where(key.in_(oldest))).rowcount)
