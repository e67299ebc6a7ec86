"""How stale each cache may be: the one freshness model (docs/architecture.md, "Freshness").

Every cache in cdnpanel is bounded in time. Reads of the signed path (a key's credential, an
account's applications) are cached until the database may have changed: at once for this
process's own commits, within ``others_commits`` for other processes' on SQLite and within
``other_nodes`` for other processes' and nodes' on PostgreSQL. The lookups of the
media servers' hooks (tickets, applications, origins, segment durations) and of reports (server
names) are cached for a fixed time each, because they run for every viewer's every request.
``wiring.build_services`` hands these intervals, and the clocks they are measured on, to the
store and services that keep the caches; tests build their own.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_FRESHNESS", "Freshness"]


@dataclass(frozen=True, slots=True)
class Freshness:
    """Seconds each cache may lag behind the store (a change made in another process or node)."""

    others_commits: float = 0.001
    """SQLite cached reads (key credentials, accounts, an account's applications) after a commit
    by another process: a key revoked with the CLI stops working within this."""
    other_nodes: float = 0.01
    """The same on PostgreSQL, after a commit by another process or node: each look is a round
    trip, made in the background every half of this while requests come (see
    ``Database._cache_version``)."""
    ticket_rules: float = 1.0
    """A ticket's rules, as the usher judges running sessions: revocation and expiry reach them
    within this (a process forgets a ticket it revokes or admits at once)."""
    applications: float = 2.0
    """An application by name (its origin, its protection), for HLS checks."""
    segment_durations: float = 2.0
    """A live stream's HLS segment duration, as the reconciler last read it."""
    origins: float = 5.0
    """An origin by name (its hook secret), for the hooks; a rotated secret takes this long."""
    server_names: float = 5.0
    """Servers' short codes, for usage reports."""

    def others_check_interval(self, backend: str) -> float:
        """How often cached reads look at other processes' commits on ``backend`` (SQLAlchemy's
        backend name: ``sqlite``, ``postgresql``)."""
        return self.others_commits if backend == "sqlite" else self.other_nodes


DEFAULT_FRESHNESS = Freshness()
