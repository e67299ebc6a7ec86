"""Exactly-once ingest on SQLite and PostgreSQL: re-runs, renames, compression, growing files,
copytruncate rotation, truncated gzip, parallel workers, multi-segment commits, races."""

from __future__ import annotations

import gzip
import io
import threading
from pathlib import Path

import pytest

from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.ingest import job as job_module
from cdnpanel.wiring import Services
from tests.ingest.logs import combined_log, merged, stored_totals, write


def ingest(services: Services, *paths: Path, server: str = "HML", workers: int = 1, **kw):  # type: ignore[no-untyped-def]
    with services.usage.ingest_job(server, workers=workers) as job:
        return [job.ingest(str(p), **kw) for p in paths]


def test_ingest_then_reingest_rename_and_gzip_add_nothing(
    metered: Services, tmp_path: Path
) -> None:
    data, expected = combined_log(3000)
    log = write(tmp_path / "access.log", data)
    [report] = ingest(metered, log)
    assert report.status == "ingested" and report.format == "combined"
    assert report.lines == data.count(b"\n")
    assert report.skipped == 4  # the error-log lines
    assert report.requests + report.unattributed == 3000
    assert stored_totals(metered) == expected
    renamed = log.rename(tmp_path / "access.log.1")
    (tmp_path / "copy.log.gz").write_bytes(gzip.compress(data))
    reports = ingest(metered, log.with_name("access.log.1"), tmp_path / "copy.log.gz", renamed)
    assert [r.status for r in reports] == ["up to date"] * 3
    assert stored_totals(metered) == expected


def test_unknown_applications_are_counted_unattributed(metered: Services, tmp_path: Path) -> None:
    data, expected = combined_log(600)
    ingest(metered, write(tmp_path / "a.log", data))
    rows = metered.usage.unattributed(metered.usage.servers_period("2026-11-01"))
    ghost = {(r["date"], r["app"]): [r["bytes_total"], r["requests_total"]] for r in rows}
    assert ghost == {k: v for k, v in expected.items() if k[1] == "ghost"}
    assert {r["server"] for r in rows} == {"HML"}


def test_a_growing_file_counts_a_partial_last_line_once_whole(
    metered: Services, tmp_path: Path
) -> None:
    data, expected = combined_log(2000)
    cut = len(data) // 2 + 17  # inside a line
    log = write(tmp_path / "access.log", data[:cut])
    ingest(metered, log)
    first = stored_totals(metered)
    assert sum(r[1] for r in first.values()) < 2000
    with log.open("ab") as f:
        f.write(data[cut:])
    ingest(metered, log)
    assert stored_totals(metered) == expected


def test_copytruncate_rotation(metered: Services, tmp_path: Path) -> None:
    before, totals_before = combined_log(1500, seed=1)
    after, totals_after = combined_log(700, seed=2, start_second=9000)
    log = write(tmp_path / "access.log", before[: len(before) // 2])
    ingest(metered, log)
    log.write_bytes(before)  # more lines arrive, then logrotate copies and truncates
    rotated = write(tmp_path / "access.log.1", log.read_bytes())
    log.write_bytes(b"")
    assert ingest(metered, log)[0].status == "waiting for its first line"
    log.write_bytes(after)
    ingest(metered, log, rotated)
    assert stored_totals(metered) == merged(totals_before, totals_after)


def test_truncated_gzip_ingests_what_it_can_then_the_rest(
    metered: Services, tmp_path: Path
) -> None:
    data, expected = combined_log(4000)
    packed = gzip.compress(data)
    partial = write(tmp_path / "access.log.gz", packed[: len(packed) // 2])
    [report] = ingest(metered, partial)
    assert report.status == "ingested"
    assert any("ends early" in note for note in report.notes)
    assert 0 < sum(r[1] for r in stored_totals(metered).values()) < 4000
    partial.write_bytes(packed)
    ingest(metered, partial)
    assert stored_totals(metered) == expected


def test_parallel_workers_and_many_segments_equal_a_plain_run(
    metered: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(job_module, "CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(job_module, "SEGMENT_BYTES", 100 * 1024)
    data, expected = combined_log(5000)
    log = write(tmp_path / "access.log", data)
    [report] = ingest(metered, log, workers=2)
    assert report.requests + report.unattributed == 5000
    assert stored_totals(metered) == expected
    ledger = metered.usage._usage.ledger_rows()
    assert [row["bytes_done"] for row in ledger] == [len(data)]


def test_gzip_and_stdin_streams_with_workers(
    metered: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "SEGMENT_BYTES", 64 * 1024)
    one, totals_one = combined_log(3000, seed=3)
    two, totals_two = combined_log(3000, seed=4, start_second=20000)
    packed = write(tmp_path / "one.log.gz", gzip.compress(one))
    ingest(metered, packed, workers=2)
    ingest(metered, Path("-"), workers=2, stdin=io.BytesIO(two))
    ingest(metered, Path("-"), workers=2, stdin=io.BytesIO(two))  # the same content again
    assert stored_totals(metered) == merged(totals_one, totals_two)


def test_the_same_log_from_two_servers_counts_twice(metered: Services, tmp_path: Path) -> None:
    data, expected = combined_log(500)
    log = write(tmp_path / "a.log", data)
    ingest(metered, log, server="HML")
    ingest(metered, log, server="ORG")
    assert stored_totals(metered) == merged(expected, expected)


def test_two_ingesters_racing_on_one_log_and_on_their_own(
    metered: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "SEGMENT_BYTES", 32 * 1024)
    shared, totals_shared = combined_log(3000, seed=5)
    own, totals_own = combined_log(3000, seed=6, start_second=50000)
    log = write(tmp_path / "shared.log", shared)
    other = write(tmp_path / "own.log", own)
    errors: list[BaseException] = []

    def run(*paths: Path) -> None:
        try:
            ingest(metered, *paths)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(log,)),
        threading.Thread(target=run, args=(log, other)),
        threading.Thread(target=run, args=(log,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stored_totals(metered) == merged(totals_shared, totals_own)


def test_bad_input(metered: Services, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        metered.usage.ingest_job("NOPE")
    with metered.usage.ingest_job("HML") as job:
        with pytest.raises(InvalidParameter, match="format"):
            job.ingest(str(tmp_path / "x"), log_format="apache")
        missing = job.ingest(str(tmp_path / "missing.log"))
        assert missing.status == "unreadable" and "No such file" in missing.notes[0]
        empty = write(tmp_path / "empty.log", b"")
        assert job.ingest(str(empty)).status == "waiting for its first line"
        junk = write(tmp_path / "error.log", b"2026/11/20 10:00:00 [error] 1#1: boom\n")
        assert "give --format" in job.ingest(str(junk)).notes[0]
        binary = write(tmp_path / "bin.log", bytes(b for b in range(256) if b != 10) * 10 + b"\n")
        assert job.ingest(str(binary)).status == "unreadable"
        assert job.ingest(str(binary), log_format="combined").skipped == 1
    assert stored_totals(metered) == {}


@pytest.mark.parametrize(
    "bad",
    [
        b" 200 9223372036854775808 ",
        b" 200 " + b"9" * 25 + b" ",
        b" 200 " + b"9" * 4300 + b" ",
    ],
    ids=["2^63", "25-digits", "4300-digits"],
)
def test_a_hostile_line_never_stops_a_logs_metering(
    metered: Services, tmp_path: Path, bad: bytes
) -> None:
    line = (
        b'192.0.2.1 - - [20/Nov/2026:10:00:00 +0000] "GET /live/a.ts HTTP/1.1" 200 100 "-" "ua"\n'
    )
    hostile = line.replace(b" 200 100 ", bad)
    log = write(tmp_path / "access.log", line + hostile + line + line.replace(b"10:00", b"10:01"))
    [report] = ingest(metered, log)
    assert (report.status, report.requests, report.skipped) == ("ingested", 3, 1)
    assert stored_totals(metered) == {("2026-11-20", "live"): [300, 3]}
    [again] = ingest(metered, log)  # and the re-run is up to date, not stuck at that line
    assert again.status == "up to date"


def test_a_corrupt_gzip_is_unreadable_not_waiting(metered: Services, tmp_path: Path) -> None:
    data, _ = combined_log(200)
    compressed = gzip.compress(data)
    corrupt = write(tmp_path / "corrupt.log.gz", compressed[:10] + b"\xff" * 64 + compressed[74:])
    [report] = ingest(metered, corrupt)
    assert report.status == "unreadable" and "corrupt" in report.notes[0]
    big, _ = combined_log(40_000)  # several MB: the damage lies past the first blocks
    damaged = bytearray(gzip.compress(big))
    cut = len(damaged) * 3 // 4
    damaged[cut : cut + 64] = b"\xff" * 64
    [partly] = ingest(metered, write(tmp_path / "damaged.log.gz", bytes(damaged)))
    assert partly.damaged and any("corrupt" in note for note in partly.notes)
    assert 0 < partly.requests + partly.unattributed < 40_000  # what came before the damage
