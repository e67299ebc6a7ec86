"""Tables, as SQLAlchemy Core metadata. Alembic migrations create them; this is their shape."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

__all__ = ["accounts", "api_keys", "applications", "metadata", "request_nonces"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are Unix seconds (UTC) as integers: cheap to compare, the same on both backends.

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cdn_id", Integer, nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("api_key", String(64), nullable=False, unique=True),
    # HMAC verification needs the secret itself, so it cannot be stored as a hash.
    Column("secret", String(128), nullable=False),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

applications = Table(
    "applications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    # Unique across accounts, as application names are on ScaleEngine.
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_applications_account_id_name", "account_id", "name"),
)

# One row per accepted signed request, kept until its timestamp leaves the window. The signed
# timestamp leads the key: claims of one moment share a page, and a replay has the same one.
request_nonces = Table(
    "request_nonces",
    metadata,
    Column("signed_at", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("signature", LargeBinary(32), primary_key=True),
    sqlite_with_rowid=False,
)
