"""Generated nginx ``combined`` access logs with known totals, for the ingest benchmark.

    python bench/loggen.py SIZE_MB OUT.log   # prints the totals as JSON

Lines look like a streaming edge's: HLS playlists and segments, RTMP-style paths and VOD
files of several applications, IPv4 and IPv6 clients, a few ``-`` byte counts, requests for an
application nobody owns, and (one in 10,000) a garbage line. Time advances one second every
``LINES_PER_SECOND`` lines from 2026-11-20 00:00:00 +0000, so a 1 GB log spans about two days.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

APPS = ("demo-origin", "demo-vod", "news-live", "sports-hd")
UNKNOWN_APP = "nobody-owns-this"
LINES_PER_SECOND = 30
START = datetime(2026, 11, 20, tzinfo=UTC)
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "AppleCoreMedia/1.0.0.21G93 (iPhone; U; CPU OS 17_6 like Mac OS X; en_us)",
    "VLC/3.0.20 LibVLC/3.0.20",
    "ExoPlayerLib/2.19.1",
)


def _bodies(rng: random.Random) -> list[tuple[str, str, str, int]]:
    """(client address, the line after its time, application, bytes) for a pool of requests."""
    pool = []
    for i in range(4096):
        app = UNKNOWN_APP if i % 50 == 0 else APPS[(i // 4) % len(APPS)]
        if i % 7 == 0:
            address = f"2001:db8:{i:x}::{rng.randrange(1, 65535):x}"
        else:
            address = f"198.51.{i % 256}.{rng.randrange(1, 255)}"
        kind = i % 4
        if kind == 0:
            path, sent = f"/{app}/_definst_/cam{i % 20}/playlist.m3u8?key=k{i}", 310
        elif kind == 1:
            path, sent = (
                f"/{app}/_definst_/cam{i % 20}/seg{i}.ts",
                rng.randrange(200_000, 1_200_000),
            )
        elif kind == 2:
            path, sent = f"/{app}/vod/film{i % 30}.mp4", rng.randrange(1_000, 5_000_000)
        else:
            path, sent = f"/{app}/_definst_/cam{i % 20}/chunklist_w{i}.m3u8", 220
        status = 200
        sent_text = str(sent)
        if i % 97 == 0:  # a client gone before the body: nginx logs 0 or "-"
            status, sent, sent_text = 499, 0, "-"
        rest = (
            f'"GET {path} HTTP/1.1" {status} {sent_text} "https://player.example.com/watch" '
            f'"{_AGENTS[i % len(_AGENTS)]}"\n'
        )
        pool.append((address, rest, app, sent))
    return pool


def generate(path: Path, size_bytes: int, *, seed: int = 1) -> dict[str, Any]:
    """Write about ``size_bytes`` of log to ``path``; the totals per UTC day and application."""
    rng = random.Random(seed)
    pool = _bodies(rng)
    totals: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    lines = garbage = written = 0
    second = 0
    with open(path, "w", encoding="ascii", newline="\n") as out:
        while written < size_bytes:
            block: list[str] = []
            for _ in range(1000):  # seconds per block
                moment = START + timedelta(seconds=second)
                stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
                day = moment.date().isoformat()
                for _ in range(LINES_PER_SECOND):
                    address, rest, app, sent = pool[rng.randrange(len(pool))]
                    block.append(f"{address} - - [{stamp}] {rest}")
                    row = totals[(day, app)]
                    row[0] += sent
                    row[1] += 1
                    lines += 1
                    if lines % 10_000 == 0:
                        block.append("2026/11/20 00:00:01 [error] 1234#1234: *1 open() failed\n")
                        garbage += 1
                second += 1
            text = "".join(block)
            out.write(text)
            written += len(text)
    return {
        "lines": lines + garbage,
        "requests": lines,
        "garbage": garbage,
        "bytes": written,
        "days": {f"{day} {app}": row for (day, app), row in sorted(totals.items())},
    }


if __name__ == "__main__":
    size_mb, out = int(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps(generate(out, size_mb * 1024 * 1024), indent=1))
