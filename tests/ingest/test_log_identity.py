"""Logs that share a first line (issue 13): each is counted, once, whatever the order they come
in; a log that cannot be told apart from an earlier copy of another is refused, never half
read. On SQLite and PostgreSQL, for plain files, gzip and standard input."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from cdnpanel.config import Settings
from cdnpanel.ingest import job as job_module
from cdnpanel.ingest import sources as sources_module
from cdnpanel.store.database import Database
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.tables import ingested_files, servers, usage_daily, usage_unattributed
from cdnpanel.wiring import Services, build_services
from tests.ingest.logs import Totals, combined_log, merged, stored_totals, write

FIRST = (
    b'192.0.2.9 - - [20/Nov/2026:10:00:00 +0000] "GET /live/_definst_/cam/first.ts HTTP/1.1" '
    b'200 1000 "-" "ua"\n'
)
FIRST_TOTALS: Totals = {("2026-11-20", "live"): [1000, 1]}


def sibling(lines: int, seed: int) -> tuple[bytes, Totals]:
    """A log beginning with FIRST, then lines of its own."""
    rest, totals = combined_log(lines, seed=seed, start_second=seed * 100_000)
    return FIRST + rest, merged(FIRST_TOTALS, totals)


def prefix(data: bytes, size: int) -> bytes:
    """The whole lines of ``data`` within its first ``size`` bytes."""
    return data[: data.rfind(b"\n", 0, size) + 1]


def ingest(services: Services, path: Path | str, server: str = "HML", **kw):  # type: ignore[no-untyped-def]
    with services.usage.ingest_job(server, workers=kw.pop("workers", 1)) as job:
        return job.ingest(str(path), **kw)


def test_a_different_log_with_the_same_first_line_is_a_log_of_its_own(
    metered: Services, tmp_path: Path
) -> None:
    # The adversary's case: B resumed at A's offset, mid-line, and lost 2 of its 4 requests.
    a, totals_a = sibling(1, seed=1)
    b, totals_b = sibling(3, seed=2)
    assert len(b) > len(a)
    assert ingest(metered, write(tmp_path / "a.log", a)).status == "ingested"
    report = ingest(metered, write(tmp_path / "b.log", b))
    assert (report.status, report.requests + report.unattributed) == ("ingested", 4)
    assert stored_totals(metered) == merged(totals_a, totals_b)
    for again in ("a.log", "b.log"):  # and each is itself again, not the other
        assert ingest(metered, tmp_path / again).status == "up to date"
    write(tmp_path / "b.log.gz", gzip.compress(b))
    assert ingest(metered, tmp_path / "b.log.gz").status == "up to date"
    more, totals_more = combined_log(50, seed=3, start_second=900_000)
    with (tmp_path / "a.log").open("ab") as f:
        f.write(more)
    grown = ingest(metered, tmp_path / "a.log")
    assert grown.requests + grown.unattributed == 50
    assert stored_totals(metered) == merged(totals_a, totals_b, totals_more)
    rows = metered.usage._usage.ledger_rows()
    assert sorted(r["generation"] for r in rows) == [0, 1]
    assert len({r["first_line_hash"] for r in rows}) == 1


def test_a_shorter_log_is_an_earlier_copy_another_log_or_refused(
    metered: Services, tmp_path: Path
) -> None:
    a, totals_a = sibling(3000, seed=1)  # about 300 KB
    ingest(metered, write(tmp_path / "a.log", a))
    # An earlier copy (a copytruncate rotation that missed the last lines): nothing new.
    copy = ingest(metered, write(tmp_path / "a.log.1", prefix(a, len(a) * 2 // 3)))
    assert copy.status == "up to date" and "earlier copy" in copy.notes[0]
    assert "a.log" in copy.notes[0]
    # Another log, still shorter than the first 64 KiB it could be told apart by: refused.
    b, totals_b = sibling(2000, seed=2)
    short = write(tmp_path / "b.log", prefix(b, 40_000))
    refused = ingest(metered, short)
    assert refused.status == "refused" and "too short to be told apart" in refused.notes[0]
    assert refused.lines == 0
    assert stored_totals(metered) == totals_a
    # Once past those 64 KiB (but still shorter than A) it is told apart, and read whole.
    short.write_bytes(b)
    assert len(b) < len(a)
    assert ingest(metered, short).status == "ingested"
    assert stored_totals(metered) == merged(totals_a, totals_b)
    # An earlier copy of A shorter than 64 KiB cannot be told from another log: refused too.
    tiny = ingest(metered, write(tmp_path / "a.log.2", prefix(a, 30_000)))
    assert tiny.status == "refused"
    assert stored_totals(metered) == merged(totals_a, totals_b)


def test_gzip_and_standard_input_with_the_same_first_line(
    metered: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, totals_a = sibling(2000, seed=1)
    b, totals_b = sibling(2500, seed=2)
    c, totals_c = sibling(2200, seed=3)
    d, _ = sibling(2100, seed=4)
    ingest(metered, write(tmp_path / "a.log", a))
    # Small reads: checking B's bytes at A's position leaves its start behind, so a gzip file
    # is read again from its start, and standard input cannot be.
    monkeypatch.setattr(sources_module, "CHUNK_BYTES", 4096)
    assert ingest(metered, write(tmp_path / "b.log.gz", gzip.compress(b)), workers=2).requests
    refused = ingest(metered, "-", stdin=io.BytesIO(d))
    assert refused.status == "refused" and "give it as a file" in refused.notes[0]
    assert ingest(metered, "-", stdin=io.BytesIO(a)).status == "up to date"
    half = ingest(metered, write(tmp_path / "a.half.gz", gzip.compress(prefix(a, len(a) // 2))))
    assert half.status == "up to date" and "earlier copy" in half.notes[0]
    monkeypatch.undo()
    # Standard input whose start is still in memory is read from it.
    assert ingest(metered, "-", stdin=io.BytesIO(c), workers=2).status == "ingested"
    assert stored_totals(metered) == merged(totals_a, totals_b, totals_c)


def test_ledger_rows_from_before_checkpoints_resume_and_gain_them(
    empty_database_url: str, tmp_path: Path
) -> None:
    data, _ = sibling(1000, seed=5)
    half = prefix(data, len(data) // 2)
    old = Database(empty_database_url)
    upgrade(old, "0006")
    with old.write() as conn:
        server_id = conn.execute(
            insert(servers).returning(servers.c.id).values(name="HML", role="edge", created_at=1)
        ).scalar_one()
        conn.execute(
            insert(ingested_files).values(
                server_id=server_id,
                first_line_hash=hashlib.sha256(FIRST).digest(),  # a log's identity
                bytes_done=len(half),
                lines_done=half.count(b"\n"),
                lines_skipped=0,
                format="combined",
                last_path="access.log",
                created_at=1,
                updated_at=1,
            )
        )
    old.dispose()
    services = build_services(Settings(database_url=empty_database_url))  # migrates to 0007+
    [row] = services.usage._usage.ledger_rows()
    assert (row["generation"], row["checkpoint_hash"], row["head_hash"]) == (0, None, None)
    report = ingest(services, write(tmp_path / "access.log", data))
    assert report.lines == data.count(b"\n") - half.count(b"\n")  # resumed where it was
    [row] = services.usage._usage.ledger_rows()
    assert row["bytes_done"] == len(data) and row["checkpoint_hash"] and row["head_hash"]
    services.close()


def test_ingesters_racing_on_logs_that_share_a_first_line(
    metered: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "SEGMENT_BYTES", 16 * 1024)
    a, totals_a = sibling(1500, seed=1)
    b, totals_b = sibling(1500, seed=2)
    paths = [write(tmp_path / "a.log", a), write(tmp_path / "b.log", b)]
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            ingest(metered, path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in [*paths, *paths]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stored_totals(metered) == merged(totals_a, totals_b)


# -- the property: any order of copies, growth and compression counts each log once --------------

_names = itertools.count()


def server_totals(services: Services, server: str) -> Totals:
    with services.db.read() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == server)).scalar()
        counted = conn.execute(
            select(func.sum(usage_daily.c.bytes), func.sum(usage_daily.c.requests)).where(
                usage_daily.c.server_id == server_id
            )
        ).one()
        ghost = conn.execute(
            select(
                func.sum(usage_unattributed.c.bytes), func.sum(usage_unattributed.c.requests)
            ).where(usage_unattributed.c.server_id == server_id)
        ).one()
    return {
        ("all", "all"): [
            int(counted[0] or 0) + int(ghost[0] or 0),
            int(counted[1] or 0) + int(ghost[1] or 0),
        ]
    }


def flat(totals: Totals) -> Totals:
    return {
        ("all", "all"): [sum(v[0] for v in totals.values()), sum(v[1] for v in totals.values())]
    }


LOGS = [sibling(800, seed=seed) for seed in range(1, 4)]  # each over 64 KiB
step = st.tuples(
    st.integers(0, len(LOGS) - 1),  # which log
    st.floats(0.05, 1.0),  # how much of it has been written
    st.sampled_from(["plain", "gzip", "stdin"]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, max_size=8))
def test_any_order_of_copies_counts_each_log_once(
    metered: Services, tmp_path: Path, steps: list[tuple[int, float, str]]
) -> None:
    server = f"P{next(_names)}"
    metered.usage.add_server(server, "edge")
    folder = tmp_path / server
    folder.mkdir()
    for number, (which, share, kind) in enumerate([*steps, *((i, 1.0, "plain") for i in range(3))]):
        data = prefix(LOGS[which][0], max(1, int(len(LOGS[which][0]) * share)) + 1)
        if share == 1.0:
            data = LOGS[which][0]
        if kind == "stdin":
            report = ingest(metered, "-", server=server, stdin=io.BytesIO(data))
        else:
            packed = gzip.compress(data) if kind == "gzip" else data
            report = ingest(metered, write(folder / f"{number}.log", packed), server=server)
        assert report.status in ("ingested", "up to date", "refused"), report
    assert server_totals(metered, server) == flat(merged(*(totals for _d, totals in LOGS)))
