"""Charges: the rates of each account per usage type, and the currency they are in."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select

from cdnpanel.records import Rate
from cdnpanel.store._dialect import insert_or_set
from cdnpanel.store.database import Database
from cdnpanel.store.tables import billing_accounts, rates

__all__ = ["DEFAULT_CURRENCY", "RateStore"]

DEFAULT_CURRENCY = "USD"


class RateStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._set = insert_or_set(
            db, rates, key=("account_id", "type"), set_=("per", "price", "updated_at")
        )
        self._set_currency = insert_or_set(
            db, billing_accounts, key=("account_id",), set_=("currency", "updated_at")
        )

    def set(self, account_id: int, rate: Rate, *, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                self._set,
                {
                    "account_id": account_id,
                    "type": rate.type,
                    "per": rate.per,
                    "price": str(rate.price),
                    "updated_at": now,
                },
            )

    def remove(self, account_id: int, usage_type: str) -> bool:
        with self._db.write() as conn:
            gone = conn.execute(
                delete(rates).where(rates.c.account_id == account_id, rates.c.type == usage_type)
            ).rowcount
        return bool(gone)

    def list(self, account_id: int) -> list[Rate]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(rates.c.type, rates.c.per, rates.c.price)
                .where(rates.c.account_id == account_id)
                .order_by(rates.c.type)
            ).all()
        return [Rate(str(t), str(per), Decimal(price)) for t, per, price in rows]

    def currency(self, account_id: int) -> str:
        with self._db.read() as conn:
            found = conn.execute(
                select(billing_accounts.c.currency).where(
                    billing_accounts.c.account_id == account_id
                )
            ).scalar()
        return DEFAULT_CURRENCY if found is None else str(found)

    def set_currency(self, account_id: int, currency: str, *, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                self._set_currency,
                {"account_id": account_id, "currency": currency, "updated_at": now},
            )
