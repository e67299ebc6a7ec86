"""Tables, as SQLAlchemy Core metadata. Alembic migrations create them; this is their shape."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

__all__ = [
    "accounts",
    "api_keys",
    "applications",
    "attempt_counts",
    "billing_accounts",
    "edge_origins",
    "history_samples",
    "ingested_files",
    "installation_keys",
    "metadata",
    "origins",
    "rates",
    "request_nonces",
    "servers",
    "stream_locks",
    "stream_users",
    "streams",
    "ticket_attempts",
    "tickets",
    "usage_account_5min",
    "usage_account_daily",
    "usage_account_server_daily",
    "usage_daily",
    "usage_meters",
    "usage_unattributed",
    "usage_videos_daily",
    "usage_videos_monthly",
    "viewer_counts",
    "viewer_days",
    "viewer_hours",
    "viewer_minutes",
    "viewer_server_minutes",
    "viewer_sessions",
    "viewer_uniques",
]

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

# Media servers cdnpanel drives. The hook secret is only ever compared, so only its SHA-256 is
# kept (it is 32 random bytes: a fast hash is enough).
origins = Table(
    "origins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(253), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("control_url", String(500), nullable=False),
    Column("hook_secret_hash", LargeBinary(32), nullable=False),
    Column("hls_fragment", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The reconciler's lease: the worker that moves it forward polls the origin this round.
    Column("reconcile_due_at", BigInteger, nullable=True),
    Column("last_contact_at", BigInteger, nullable=True),
    Column("failing_since", BigInteger, nullable=True),
    # "origin" (takes encoders) or "edge" (relays its origins' streams to viewers), 0011.
    Column("role", String(16), nullable=False, server_default="origin"),
    # A label for where the server is (e.g. fra), for viewers by location.
    Column("location", String(100), nullable=True),
    # Where edges reach the origin's RTMP and HLS (None: its name, ports 1935 and 8088).
    Column("rtmp_url", String(500), nullable=True),
    Column("hls_url", String(500), nullable=True),
)

# The origins each edge pulls from, in order: the first first, the others as backups.
edge_origins = Table(
    "edge_origins",
    metadata,
    Column("edge_id", Integer, ForeignKey("origins.id"), primary_key=True),
    Column("origin_id", Integer, ForeignKey("origins.id"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_edge_origins_origin_id", "origin_id"),
)

applications = Table(
    "applications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    # Unique across accounts, as application names are on ScaleEngine.
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("origin_id", Integer, ForeignKey("origins.id"), nullable=True),
    # "none" or "sevu": playback needs a SEVU ticket.
    Column("protection", String(16), nullable=False, server_default="none"),
    # "open" or "credentials": publishing needs a stream user's name and password (0010).
    Column("publishing", String(16), nullable=False, server_default="open"),
    # The second origin its encoders publish to, for edges to fall back on (0011).
    Column("backup_origin_id", Integer, ForeignKey("origins.id"), nullable=True),
    Index("ix_applications_account_id_name", "account_id", "name"),
)

# Stream users (sevu.addstreamuser): who may publish a stream of an application ("*": every
# stream of it), the password only as a keyed hash, and the stream's settings. user_name ""
# with no pass_hash: no credentials asked for that stream, its settings kept.
stream_users = Table(
    "stream_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False),
    Column("stream", String(100), nullable=False),
    Column("user_name", String(100), nullable=False),
    Column("pass_hash", LargeBinary(32), nullable=True),
    Column("record", Boolean, nullable=False, server_default=text("false")),
    Column("record_type", String(32), nullable=True),
    Column("segment_type", String(16), nullable=True),
    Column("segment_value", String(100), nullable=True),
    Column("save_folder", String(255), nullable=True),
    Column("ga_key", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint(
        "application_id", "stream", "user_name", name="uq_stream_users_app_stream_user"
    ),
    Index("ix_stream_users_account_id", "account_id"),
)

# Streams closed with stream.close lock: a publish of the name is refused while locked.
stream_locks = Table(
    "stream_locks",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("stream", String(512), primary_key=True),
    Column("locked_at", BigInteger, nullable=False),
)

# Publishing sessions: live while ended_at is NULL, kept as history afterwards.
streams = Table(
    "streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False),
    Column("origin_id", Integer, ForeignKey("origins.id"), nullable=False),
    Column("inst", String(100), nullable=False),
    Column("name", String(512), nullable=False),
    # The media server's own id of the publishing connection (nginx-rtmp: its clientid).
    Column("client_id", String(64), nullable=False),
    Column("publisher_addr", String(64), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Column("end_reason", String(64), nullable=True),
    # The target duration of the stream's HLS playlist on the origin (whole seconds), once read:
    # what HLS viewer sessions last by (services/viewers.py).
    Column("hls_segment_seconds", Integer, nullable=True),
    # The stream user its publisher was admitted with (None: none asked), migration 0010.
    Column("stream_user_id", Integer, nullable=True),
    # One live publisher per name on an origin, as the media server itself allows.
    Index(
        "uq_streams_live_name",
        "origin_id",
        "application_id",
        "inst",
        "name",
        unique=True,
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index(
        "ix_streams_live_account",
        "account_id",
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index("ix_streams_origin_id_client_id", "origin_id", "client_id"),
    # A stream by name, live or ended (the newest first: by id within the name).
    Index("ix_streams_name", "application_id", "inst", "name"),
)

# Viewers watching now. RTMP players are one row per connection (viewer = the client id) until
# their play_done; HLS viewers are one row per (viewer, stream) that expires unless refreshed.
viewer_sessions = Table(
    "viewer_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin_id", Integer, ForeignKey("origins.id"), nullable=False),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False),
    Column("inst", String(100), nullable=False),
    Column("path", String(512), nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("viewer", String(200), nullable=False),
    Column("address", String(64), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    # The SEVU ticket that admitted the session (protected applications).
    Column("ticket_id", Integer, nullable=True),
    UniqueConstraint(
        "origin_id",
        "protocol",
        "viewer",
        "application_id",
        "inst",
        "path",
        name="uq_viewer_sessions_identity",
    ),
    Index("ix_viewer_sessions_expires_at", "expires_at"),
    Index("ix_viewer_sessions_application_id_path", "application_id", "path"),
)

# Viewer counters, kept in step with viewer_sessions in the same transactions, so counting
# viewers reads a few rows instead of scanning sessions.
viewer_counts = Table(
    "viewer_counts",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("inst", String(100), primary_key=True),
    Column("rtmp", Integer, nullable=False, server_default="0"),
    Column("hls", Integer, nullable=False, server_default="0"),
)

# Viewer history (issue 17, 0014), sampled once a minute from the live sessions. Paths are
# stream names or VOD paths; "" stands for the whole application. ``minute``, ``hour`` and
# ``day`` are Unix times of their start (UTC). Kept: minutes 14 days, hours and days 13 months.
# WITHOUT ROWID on SQLite: a series (vsn.viewerhistorybyname) reads one range of the key.
# Concurrent viewers per minute and application and path (all servers and protocols together),
# and the same split by server (the origin or edge they watched on) and protocol.
viewer_minutes = Table(
    "viewer_minutes",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("viewers", Integer, nullable=False),
    Index("ix_viewer_minutes_minute", "minute"),
    sqlite_with_rowid=False,
)

viewer_server_minutes = Table(
    "viewer_server_minutes",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("origin_id", Integer, primary_key=True),
    Column("protocol", String(8), primary_key=True),
    Column("viewers", Integer, nullable=False),
    Index("ix_viewer_server_minutes_minute", "minute"),
    sqlite_with_rowid=False,
)

# Per application and path (all servers and protocols) per hour and per day: the peak of the
# minute samples' totals, viewer-minutes (the sum of them), and (days) unique viewers: a ticket,
# else the viewer's address and user agent (RTMP: its address).
viewer_hours = Table(
    "viewer_hours",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("peak", Integer, nullable=False),
    Column("viewer_minutes", BigInteger, nullable=False),
    Index("ix_viewer_hours_hour", "hour"),
    sqlite_with_rowid=False,
)

viewer_days = Table(
    "viewer_days",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("peak", Integer, nullable=False),
    Column("viewer_minutes", BigInteger, nullable=False),
    Column("uniques", Integer, nullable=False, server_default="0"),
    Index("ix_viewer_days_day", "day"),
    sqlite_with_rowid=False,
)

# Who was seen on each day (today's and yesterday's only), to count unique viewers once.
viewer_uniques = Table(
    "viewer_uniques",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("who", LargeBinary(16), primary_key=True),
    Index("ix_viewer_uniques_day", "day"),
    sqlite_with_rowid=False,
)

# The minutes sampled: one process of one node samples each minute (the first to claim it).
history_samples = Table(
    "history_samples",
    metadata,
    Column("minute", BigInteger, primary_key=True, autoincrement=False),
)

# One row per accepted signed request, kept until its timestamp leaves the window. The signed
# timestamp leads the key: claims of one moment share a page, and a replay has the same one.
request_nonces = Table(
    "request_nonces",
    metadata,
    Column("signed_at", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("signature", LargeBinary(32), primary_key=True),
    # The answer the request got (a change's: a copy gets it again), sealed with a key derived
    # from the request's own text; NULL until it is known.
    Column("answer", LargeBinary),
    sqlite_with_rowid=False,
)

# PostgreSQL: one row whose version moves with every change to the tables the cached reads
# read (accounts, api_keys, applications), made by triggers in the change's own transaction;
# each process looks at it to know when its cached values may be stale (Database.cached).
# SQLite has PRAGMA data_version for this; the row stays at 0 there.
cache_version = Table(
    "cache_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

# Keys of this installation, made by the migration that needs them (e.g. the key ticket
# passwords are hashed under), so every node of a shared database has the same.
installation_keys = Table(
    "installation_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# SEVU tickets. Patterns and IP entries are kept as the client sent them; ip_bound holds, per
# ip entry, the network an auto entry bound to on first use ("" while unbound).
tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("key", String(100), nullable=False, unique=True),
    Column("pass_hash", LargeBinary(32), nullable=False),
    Column("apps", String(1000), nullable=False),
    Column("videos", String(1000), nullable=False),
    Column("ip", String(1000), nullable=False),
    Column("ip_bound", String(1000), nullable=False, server_default=""),
    Column("uses", Integer, nullable=False),
    Column("used", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

# Every admission decision on a protected application (sevu.errorcount counts them). The
# password tried is kept as its keyed hash, never in clear.
ticket_attempts = Table(
    "ticket_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("ticket_id", Integer, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("key", String(100), nullable=False),
    Column("pass_hash", LargeBinary(32), nullable=True),
    Column("app", String(100), nullable=False),
    Column("inst", String(100), nullable=False),
    Column("video", String(512), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("success", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("server", String(253), nullable=False),
    Column("protocol", String(8), nullable=False, server_default=""),  # hls or rtmp (0012)
    # sevu.errorcount counts no filter, app and video (with or without success) from
    # attempt_counts; these indexes serve the other filters, each led by the account. The key's
    # also gives sevu.errorlog its time order; the time's is for the retention sweep (0012).
    Index("ix_ticket_attempts_account_key_at", "account_id", "key", "at"),
    Index("ix_ticket_attempts_account_video", "account_id", "video"),
    Index("ix_ticket_attempts_account_ip", "account_id", "ip"),
    Index("ix_ticket_attempts_account_pass", "account_id", "pass_hash"),
    Index("ix_ticket_attempts_at", "at"),
)

# Attempt counters kept in step with ticket_attempts (same transactions), for the sevu.errorcount
# filters that match many rows: everything, one application, one video, each split by
# success. The selective filters (key, ip, pass) count on their indexes.
attempt_counts = Table(
    "attempt_counts",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("dimension", String(8), primary_key=True),  # "all", "app" or "video"
    Column("value", String(512), primary_key=True),
    Column("success", Integer, primary_key=True),
    Column("attempts", BigInteger, nullable=False),
)

# Usage metering. Days are whole days since 1970-01-01 (UTC), as integers.

# The machines whose access logs are ingested: a short name (the code video.servers shows, e.g.
# HML) and the usage category their traffic counts in.
servers = Table(
    "servers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # edge, cdn, origin or videocdn
    Column("created_at", BigInteger, nullable=False),
)

# The ledger of ingested logs: a log is known by its server and its first line (the same content
# under another name, or gzipped, is the same log; a copytruncate rotation starts a new one), and
# ingested up to ``bytes_done`` (of its uncompressed content, always at a line's end). It moves
# forward in the same transaction as the rollups it fed. ``checkpoint_hash`` is the SHA-256 of
# the (up to 4 KiB) bytes before ``bytes_done`` and ``head_hash`` that of the first (up to
# 64 KiB) bytes: a log resumes only if its own bytes there are the same, and a different log
# with the same first line is another ``generation``.
ingested_files = Table(
    "ingested_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("server_id", Integer, ForeignKey("servers.id"), nullable=False),
    Column("first_line_hash", LargeBinary(32), nullable=False),
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("bytes_done", BigInteger, nullable=False),
    Column("checkpoint_hash", LargeBinary(32)),  # NULL: ingested before checkpoints (0007)
    Column("head_hash", LargeBinary(32)),
    Column("lines_done", BigInteger, nullable=False),
    Column("lines_skipped", BigInteger, nullable=False),
    Column("format", String(16), nullable=False),
    Column("last_path", String(1000), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint(
        "server_id", "first_line_hash", "generation", name="uq_ingested_files_identity"
    ),
)

# Bytes and requests per day, server and application (video.servers).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("server_id", Integer, ForeignKey("servers.id"), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
)

# Bytes and requests per application, day and video: the stream name or VOD path the URL named
# (video.usage, usage.vse; 0013). ``kind`` is "vod" for a VOD path (it has a "/" or a file
# extension), "live" for a stream name, "" for requests that named no video. The month's totals
# are kept beside them in the same transactions (video.usage for a month reads one row per URL).
# The indexes by bytes and video give the reports their order (most bytes first, ties by video
# in reverse) by reading them backwards, without sorting.
usage_videos_daily = Table(
    "usage_videos_daily",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("video", String(512), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Index("ix_usage_videos_daily_bytes", "application_id", "day", "bytes", "video"),
)

# ``month``: the day number (days since 1970-01-01) of the month's first day.
usage_videos_monthly = Table(
    "usage_videos_monthly",
    metadata,
    Column("application_id", Integer, ForeignKey("applications.id"), primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("video", String(512), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Index("ix_usage_videos_monthly_bytes", "application_id", "month", "bytes", "video"),
)

# Charges (0015): the currency an account's rates are in (USD without a row), and its price per
# usage type: ``per`` is the unit priced (``GB``, ``1000``, ``hour``), ``price`` the decimal
# text, kept exact (money is never a float in the store).
billing_accounts = Table(
    "billing_accounts",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Bytes per account, server role and UTC 5-minute bucket (minutes since 1970 // 5), from the
# logs: the samples of the 95th percentile CDNs bill bandwidth by (usage.data).
usage_account_5min = Table(
    "usage_account_5min",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

rates = Table(
    "rates",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("type", String(40), primary_key=True),
    Column("per", String(16), nullable=False),
    Column("price", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# The same per account, day and server (video.servers for all of an account's applications) and
# per account, day and role (usage.summary), kept in the same transactions.
usage_account_server_daily = Table(
    "usage_account_server_daily",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("server_id", Integer, ForeignKey("servers.id"), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
)

usage_account_daily = Table(
    "usage_account_daily",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
)

# Traffic for applications no account owns (or requests with no application), by the name the
# URL gave: counted, not dropped, so an operator can see it.
usage_unattributed = Table(
    "usage_unattributed",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("server_id", Integer, ForeignKey("servers.id"), primary_key=True),
    Column("app", String(100), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
)

# Usage no access log feeds (SQL, PHP, origin CPU, memory, I/O, disk), recorded per account and
# day by `cdnpanel meter record`; each record adds to the day's value.
usage_meters = Table(
    "usage_meters",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("meter", String(40), primary_key=True),
    Column("value", Float, nullable=False),
)
