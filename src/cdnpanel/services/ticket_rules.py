"""SEVU ticket rules, as pure functions: patterns, IP entries, expiry dates, keys, verdicts.

Nothing here touches the store or the clock; callers pass ``now``. PROTOCOL.md section 6 and
docs/commands/sevu.request.md say what each rule means to a client.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cdnpanel.errors import InvalidParameter

__all__ = [
    "MAX_USES",
    "IpEntry",
    "Patterns",
    "Reason",
    "TicketRules",
    "bind_address",
    "decode_bindings",
    "encode_bindings",
    "hash_pass",
    "new_ticket_key",
    "normalise_address",
    "parse_expiry",
    "parse_ip_entries",
    "parse_patterns",
]

MAX_USES = 1_000_000
MAX_PATTERN = 1000
MAX_LIFETIME_DAYS = 3660
DEFAULT_LIFETIME = timedelta(weeks=1)
IPv4Net = ipaddress.IPv4Network
IPv6Net = ipaddress.IPv6Network


class Reason:
    """Why a playback attempt was refused. The first three are the strings real ScaleEngine
    clients know (nubs/scaleengine-ticket-manager, the v2 sevu_attempt sample)."""

    BAD_IP = "Invalid IP Address"
    EXPIRED = "Expiration date surpassed"
    BAD_TOKEN = "Invalid Auth Token"  # noqa: S105  (a refusal reason)
    REVOKED = "Ticket revoked"
    USED_UP = "Ticket has no uses left"
    WRONG_VIDEO = "Ticket not valid for this video"
    WRONG_APP = "Ticket not valid for this application"
    ADMITTED = "ok"


# -- patterns ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Patterns:
    """Pipe-separated patterns where ``*`` matches any run of characters (``/`` included);
    anchored, case-sensitive; every other character stands for itself.

    Matched without backtracking, whatever a tenant writes: each entry is its literal parts
    between stars, and a value matches when it starts with the first, ends with the last and
    holds the others in order between them, each found leftmost (``str.find``). Leftmost is
    always right for ``*`` alone, so the work is a handful of substring searches, linear in the
    value for each part: a regex (``*`` as ``.*``) took seconds to forever on
    ``*a*a*a*a*a*a*a*a*a*b`` against a 40-character name, on the event loop.
    """

    text: str
    _entries: tuple[tuple[str, ...], ...]  # each entry's literal parts, split at its stars

    def matches(self, value: str) -> bool:
        return any(_glob_matches(parts, value) for parts in self._entries)

    @property
    def entries(self) -> list[str]:
        return self.text.split("|")


def parse_patterns(text: object, param: str) -> Patterns:
    if isinstance(text, str):
        return _parse_patterns_text(text, param)
    raise InvalidParameter(param, "must be a non-empty string of patterns, e.g. cam1|cam2*")


@functools.lru_cache(maxsize=4096)
def _parse_patterns_text(text: str, param: str) -> Patterns:
    """Cached: the usher rebuilds a ticket's rules each time the store reads it."""
    if not text.strip():
        raise InvalidParameter(param, "must be a non-empty string of patterns, e.g. cam1|cam2*")
    if len(text) > MAX_PATTERN:
        raise InvalidParameter(param, f"is longer than {MAX_PATTERN} characters")
    entries = text.split("|")
    for entry in entries:
        if not entry:
            raise InvalidParameter(param, "has an empty entry ('||', or '|' at an end)")
        if not entry.isprintable() or entry != entry.strip():
            raise InvalidParameter(
                param, f"entry {entry[:40]!r} has spaces at an end or control characters"
            )
    return Patterns(text, tuple(tuple(entry.split("*")) for entry in entries))


def _glob_matches(parts: tuple[str, ...], value: str) -> bool:
    """``value`` against one entry's literal parts (split at its stars)."""
    if len(parts) == 1:
        return value == parts[0]
    first, last = parts[0], parts[-1]
    end = len(value) - len(last)
    if end < len(first) or not value.startswith(first) or not value.endswith(last):
        return False
    position = len(first)
    for part in parts[1:-1]:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


# -- IP entries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpEntry:
    """One ``ip`` entry: a network, or ``auto``/``auto/N`` (bound on first use)."""

    text: str
    network: IPv4Net | IPv6Net | None  # None: an auto entry
    auto_prefix: int | None = None  # IPv4 prefix length of an auto entry


def normalise_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A viewer's address; IPv4-mapped IPv6 (``::ffff:1.2.3.4``) counts as the IPv4 address."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_ip_entries(text: object) -> tuple[IpEntry, ...]:
    """``ip`` as sent: pipe-separated; empty means any address."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return ()
    if not isinstance(text, str):
        raise InvalidParameter(
            "ip", "must be a string: addresses, CIDRs, auto or auto/N, '|'-separated"
        )
    if len(text) > MAX_PATTERN:
        raise InvalidParameter("ip", f"is longer than {MAX_PATTERN} characters")
    return tuple(_ip_entry(entry.strip()) for entry in text.split("|"))


def _ip_entry(entry: str) -> IpEntry:
    if entry == "auto":
        return IpEntry(entry, None, 32)
    if entry.startswith("auto/"):
        bits = entry[5:]
        if not bits.isascii() or not bits.isdigit() or not 0 <= int(bits) <= 32:
            raise InvalidParameter("ip", f"{entry!r}: auto/N takes an IPv4 prefix length, 0 to 32")
        return IpEntry(entry, None, int(bits))
    if "%" in entry:
        raise InvalidParameter("ip", f"{entry!r}: zone ids (%eth0) are not addresses viewers have")
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError as exc:
        raise InvalidParameter(
            "ip", f"{entry!r} is not an address, a CIDR (1.2.3.0/24), auto or auto/N: {exc}"
        ) from None
    written = normalise_address(entry.split("/", 1)[0])
    if isinstance(network, ipaddress.IPv6Network) and isinstance(written, ipaddress.IPv4Address):
        # ::ffff:a.b.c.d[/N]: the IPv4 address (viewers' mapped addresses are read so too)
        prefix = network.prefixlen - 96
        if prefix < 0:
            raise InvalidParameter("ip", f"{entry!r}: a mapped IPv4 network needs a prefix ≥ 96")
        network = ipaddress.ip_network(f"{written}/{prefix}", strict=False)
    return IpEntry(entry, network)


def bind_address(
    entry: IpEntry, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> IPv4Net | IPv6Net:
    """The network an auto entry binds to for its first viewer.

    ``auto`` binds the address; ``auto/N`` its IPv4 /N. IPv6 viewers bind their /64 for
    ``auto/N`` with N < 32 (a /24 of IPv6 space would be most of a provider), else the address.
    """
    prefix = entry.auto_prefix if entry.auto_prefix is not None else 32
    if isinstance(address, ipaddress.IPv6Address):
        return ipaddress.ip_network(f"{address}/{64 if prefix < 32 else 128}", strict=False)
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


# -- expiry ----------------------------------------------------------------------------------

_RELATIVE = re.compile(
    r"\+?\s*(\d{1,6})\s*(second|sec|minute|min|hour|day|week|month|year)s?", re.IGNORECASE
)
_UNIT_SECONDS = {
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3600,
    "day": 86400,
    "week": 604800,
}


_UNIX_TIME = re.compile(r"[0-9]{1,20}")  # ASCII digits: "²" is a digit to str.isdigit, not int()


def parse_expiry(value: object, *, now: int) -> int:
    """Unix time of an ``expire``/``expires``/``expire_date``; None gives one week from now.

    Accepted: ``Y-m-d H:i:s`` (UTC), ISO 8601 (UTC unless it carries an offset), a Unix time
    (number or digits), or a relative ``+N unit`` (seconds to years, as PHP's strtotime).
    """
    if value is None:
        return now + int(DEFAULT_LIFETIME.total_seconds())
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidParameter("expire", "must be a date string, a Unix time, or '+N unit'")
    if isinstance(value, int) or _UNIX_TIME.fullmatch(value.strip()):
        moment = int(value)
        if moment > 10**11:
            raise InvalidParameter("expire", "looks like milliseconds: send Unix seconds")
    else:
        moment = _parse_date_text(value.strip(), now)
    if moment <= now:
        raise InvalidParameter(
            "expire", f"{value!r} is not in the future (now is {_date(now)} UTC)"
        )
    if moment > now + MAX_LIFETIME_DAYS * 86400:
        raise InvalidParameter("expire", f"{value!r} is more than {MAX_LIFETIME_DAYS} days away")
    return moment


def _parse_date_text(text: str, now: int) -> int:
    relative = _RELATIVE.fullmatch(text)
    if relative:
        count, unit = int(relative.group(1)), relative.group(2).lower()
        if unit in ("month", "year"):
            return _add_months(now, count * (12 if unit == "year" else 1))
        return now + count * _UNIT_SECONDS[unit]
    if len(text) > 40:
        raise InvalidParameter("expire", "is not a date")
    try:
        moment = datetime.fromisoformat(text.replace(" UTC", "").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            "expire",
            f"{text!r} is not a date: send 'Y-m-d H:i:s' (UTC), ISO 8601, a Unix time or "
            "'+N unit' (e.g. '+1 week', '+24 hours')",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _add_months(now: int, months: int) -> int:
    start = datetime.fromtimestamp(now, UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    if year > 9999:
        raise InvalidParameter("expire", "is too far away")
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- keys and passwords ------------------------------------------------------------------------

_PREFIX_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def new_ticket_key(video: Patterns) -> str:
    """``<video-derived prefix>.<14 hex>.<8 digits>``: the shape of the seed sample
    (``mystream.53ffc996dd39d5.39102367``, PHP uniqid with more entropy), but random
    (about 83 bits), where uniqid is a readable clock."""
    prefix = _PREFIX_CHARS.sub("_", video.entries[0])[:40].strip("_") or "ticket"
    return f"{prefix}.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"


def hash_pass(key: bytes, password: str) -> bytes:
    """A ticket password as kept: HMAC-SHA256 under the installation's key. Deterministic, so
    attempts can be filtered by password; keyed, so a copy of the table alone reveals none."""
    return hmac.digest(key, password.encode("utf-8"), hashlib.sha256)


# -- verdicts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketRules:
    """What a ticket allows, as stored, ready to judge attempts."""

    ticket_id: int
    account_id: int
    pass_hash: bytes
    apps: Patterns
    videos: Patterns
    ip_entries: tuple[IpEntry, ...]
    bound: tuple[str, ...]  # per entry: the network an auto entry bound to, or ""
    uses: int
    used: int
    active: bool
    expires_at: int

    def refusal(
        self,
        *,
        account_id: int,
        pass_hash: bytes,
        app: str,
        video: str,
        address: str,
        now: int,
        new_session: bool,
    ) -> str | None:
        """Why this attempt must be refused, or None. ``new_session`` also checks uses."""
        if not hmac.compare_digest(pass_hash, self.pass_hash) or account_id != self.account_id:
            return Reason.BAD_TOKEN
        if not self.active:
            return Reason.REVOKED
        if now >= self.expires_at:
            return Reason.EXPIRED
        if not self.apps.matches(app):
            return Reason.WRONG_APP
        if not self.videos.matches(video):
            return Reason.WRONG_VIDEO
        if self.allowed_network(address) is None and not (new_session and self.bindable(address)):
            return Reason.BAD_IP
        if new_session and self.uses and self.used >= self.uses:
            return Reason.USED_UP
        return None

    def allowed_network(self, address: str) -> str | None:
        """The entry (or bound network) that lets ``address`` in; None if none does."""
        if not self.ip_entries:
            return "any"
        viewer = normalise_address(address)
        if viewer is None:
            return None
        for entry, bound in zip(self.ip_entries, self.bound, strict=True):
            network = entry.network
            if network is None and bound:
                network = ipaddress.ip_network(bound)
            if network is not None and viewer.version == network.version and viewer in network:
                return str(network)
        return None

    def bindable(self, address: str) -> bool:
        viewer = normalise_address(address)
        return viewer is not None and any(
            e.network is None and not b for e, b in zip(self.ip_entries, self.bound, strict=True)
        )

    def bind(self, address: str) -> tuple[str, ...]:
        """The bindings after admitting ``address``: the first unbound auto entry takes it."""
        if self.allowed_network(address) is not None:
            return self.bound
        viewer = normalise_address(address)
        assert viewer is not None
        bound = list(self.bound)
        for index, entry in enumerate(self.ip_entries):
            if entry.network is None and not bound[index]:
                bound[index] = str(bind_address(entry, viewer))
                break
        return tuple(bound)


def encode_bindings(bound: Sequence[str]) -> str:
    return "|".join(bound)


def decode_bindings(text: str, entries: int) -> tuple[str, ...]:
    parts = text.split("|") if text else []
    return tuple(parts + [""] * (entries - len(parts)))[:entries]
