"""Generated access logs with known totals, for the ingest tests."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cdnpanel.store.tables import applications, usage_daily, usage_unattributed
from cdnpanel.wiring import Services

Totals = dict[tuple[str, str], list[int]]  # (UTC date, app) -> [bytes, requests]

START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


def combined_log(
    lines: int,
    *,
    apps: tuple[str, ...] = ("live", "vod", "ghost"),
    seed: int = 7,
    start_second: int = 0,
) -> tuple[bytes, Totals]:
    """nginx combined lines over a UTC midnight, some with other offsets, some garbage."""
    rng = random.Random(seed)
    out: list[bytes] = []
    totals: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for i in range(lines):
        moment = START + timedelta(seconds=start_second + i * 3)
        offset = (0, 330, -300)[i % 3]  # +0000, +0530, -0500
        local = moment + timedelta(minutes=offset)
        sign = "+" if offset >= 0 else "-"
        stamp = (
            local.strftime("%d/%b/%Y:%H:%M:%S ")
            + f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        )
        app = apps[rng.randrange(len(apps))]
        sent = rng.randrange(0, 2_000_000)
        addr = f"2001:db8::{i:x}" if i % 5 == 0 else f"198.51.100.{i % 250}"
        sent_text = "-" if i % 41 == 0 else str(sent)
        if sent_text == "-":
            sent = 0
        out.append(
            f'{addr} - - [{stamp}] "GET /{app}/_definst_/cam{i % 4}/seg{i}.ts HTTP/1.1" 200 '
            f'{sent_text} "-" "ExoPlayerLib/2.19.1"\n'.encode()
        )
        row = totals[(moment.date().isoformat(), app)]
        row[0] += sent
        row[1] += 1
        if i % 997 == 0:
            out.append(b"2026/11/20 22:00:00 [error] 1#1: *9 upstream timed out\n")
    return b"".join(out), dict(totals)


def merged(*parts: Totals) -> Totals:
    total: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for part in parts:
        for key, (sent, count) in part.items():
            total[key][0] += sent
            total[key][1] += count
    return dict(total)


def stored_totals(services: Services) -> Totals:
    """What the rollups hold: per UTC date and application (unattributed by their name)."""
    found: Totals = {}
    with services.db.read() as conn:
        rows = conn.execute(
            select(
                usage_daily.c.day,
                applications.c.name,
                func.sum(usage_daily.c.bytes),
                func.sum(usage_daily.c.requests),
            )
            .join(applications, applications.c.id == usage_daily.c.application_id)
            .group_by(usage_daily.c.day, applications.c.name)
        ).all()
        rows += conn.execute(
            select(
                usage_unattributed.c.day,
                usage_unattributed.c.app,
                func.sum(usage_unattributed.c.bytes),
                func.sum(usage_unattributed.c.requests),
            ).group_by(usage_unattributed.c.day, usage_unattributed.c.app)
        ).all()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for day, app, sent, count in rows:
        key = ((epoch + timedelta(days=int(day))).date().isoformat(), app)
        row = found.setdefault(key, [0, 0])
        row[0] += int(sent)
        row[1] += int(count)
    return found


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
