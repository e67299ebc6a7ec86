"""The ingest job: a log's new whole lines, parsed (in parallel for a plain file), rolled up per
UTC day, server and application, and committed with the ledger's new position.

Exactly once: the ledger says how far the log (known by its server and first line, and told
from another log with the same first line by the bytes before its position) is ingested; a run
starts there and commits a segment (256 MiB of log at most) together with the ledger's move
from that position. Re-running adds nothing; a killed run resumes from its last commit; a log
renamed by rotation, or compressed, carries on where it was; a copytruncate rotation starts a
new log (its first line differs), and the rotated copy is ingested to its end like any other.
A partial last line waits for its newline.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from cdnpanel.errors import InvalidParameter
from cdnpanel.ingest.formats import FORMATS, ChunkTotals, LogFormat, detect_format
from cdnpanel.ingest.sources import (
    CHUNK_BYTES,
    HEAD_BYTES,
    LogSource,
    checkpoint_hash,
    line_ranges,
    open_source,
    read_range_chunks,
    split_lines,
)
from cdnpanel.records import Application
from cdnpanel.services._clock import Clock
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.usage import (
    NO_VIDEO,
    AppDay,
    AppDayVideo,
    Checkpoint,
    LedgerEntry,
    LogPosition,
    Segment,
    Server,
    UsageStore,
)

__all__ = ["SEGMENT_BYTES", "IngestJob", "IngestReport", "Progress"]

SEGMENT_BYTES = 256 * 1024 * 1024
# Below this a log is parsed in-process: starting workers costs more than it saves.
_PARALLEL_FROM = 16 * 1024 * 1024
_MAX_APP = 100
_MAX_CACHED_VIDEOS = 200_000

_Task = tuple[Callable[..., ChunkTotals], tuple[Any, ...], int, bytes | None]
Progress = Callable[["IngestReport"], None]
"""Called as a log is read, with its report so far."""


@dataclass
class IngestReport:
    path: str
    status: str  # ingested, up to date, waiting for its first line, unreadable, refused
    format: str = ""
    lines: int = 0
    skipped: int = 0
    bytes: int = 0
    requests: int = 0
    unattributed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    expected_bytes: int | None = None  # what this run will read, when known (not for gzip)
    damaged: bool = False  # read only in part (corrupt gzip data): the CLI exits 1

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Stop:
    """A log not to read (refused, or an earlier copy), and why."""

    status: str
    why: str


def _worker_start() -> None:
    """Ctrl-C is for the main process, which lets the current segment commit first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _parse_range(
    path: str, start: int, end: int, format_name: str, per_url: bool = True
) -> ChunkTotals:
    """A worker's task: the whole lines of ``[start, end)`` of a plain file."""
    fmt = FORMATS[format_name]
    totals = ChunkTotals()
    for data in read_range_chunks(path, start, end):
        totals.add(fmt.parse(data, per_url=per_url))
    return totals


def _parse_data(data: bytes, format_name: str, per_url: bool = True) -> ChunkTotals:
    """A worker's task: whole lines read (and decompressed) by the main process."""
    fmt = FORMATS[format_name]
    totals = ChunkTotals()
    for piece in split_lines(data):
        totals.add(fmt.parse(piece, per_url=per_url))
    return totals


class IngestJob:
    """Ingests logs of one server. ``workers`` processes parse (default: one per CPU);
    ``per_url``: roll up per video too (video.usage), as by default."""

    def __init__(
        self,
        usage: UsageStore,
        applications: ApplicationStore,
        server: Server,
        *,
        clock: Clock = time.time,
        workers: int | None = None,
        progress: Progress | None = None,
        per_url: bool = True,
    ) -> None:
        self._usage = usage
        self._per_url = per_url
        self._videos: dict[tuple[str, bytes], str] = {}
        self._applications = applications
        self._server = server
        self._clock = clock
        self._workers = max(1, workers or os.cpu_count() or 1)
        self.progress = progress
        self._pool: Executor | None = None
        self._apps: dict[bytes, Application | None] = {}

    def __enter__(self) -> IngestJob:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def ingest(
        self, path: str, *, log_format: str | None = None, stdin: BinaryIO | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        if log_format is not None and log_format not in FORMATS:
            raise InvalidParameter("format", f"unknown; one of {', '.join(FORMATS)}")
        try:
            source = open_source(path, stdin)
            first = source.first_line()
        except OSError as exc:
            return IngestReport(path, "unreadable", notes=[f"{exc.strerror or exc}"])
        if first is None:
            source.close()
            if source.corrupt:
                notes = ["not gzip data, or corrupt before its first line"]
                return IngestReport(path, "unreadable", notes=notes)
            return IngestReport(path, "waiting for its first line")
        fmt = FORMATS[log_format] if log_format else detect_format(first)
        if fmt is None:
            source.close()
            return IngestReport(
                path,
                "unreadable",
                notes=[
                    f"no known format reads its first line; give --format ({', '.join(FORMATS)})"
                ],
            )
        identity = source.identity(first)
        report = IngestReport(path, "ingested", format=fmt.name)
        for attempt in range(5):  # another ingester moving the ledger: start again from it
            if attempt and not source.restart():
                report.status = "refused"
                report.notes.append("another ingester read it at the same time; run again")
                break
            log = self._position(source, identity)
            if isinstance(log, _Stop):
                report.status = log.status
                report.notes.append(log.why)
                break
            if self._run(source, fmt, log, report):
                break
            report.notes.append(f"another ingester moved this log's position (retry {attempt + 1})")
        source.close()
        if source.corrupt:
            report.notes.append("the gzip data is corrupt: what came before is ingested")
            report.damaged = True
        elif source.truncated:
            report.notes.append("the gzip data ends early: what could be read is ingested")
        if report.lines == 0 and report.status == "ingested":
            report.status = "up to date"
        report.seconds = time.perf_counter() - started
        return report

    # -- reading ---------------------------------------------------------------------------------

    def _position(self, source: LogSource, identity: bytes) -> LogPosition | _Stop:
        """Where this log is in the ledger. Each row with its first line is looked at, the least
        ingested first (a stream is read forward):

        - the log reaches the row's position: it is that log when its bytes before the position
          are the row's (its checkpoint), another log otherwise;
        - the log is shorter: it is an earlier copy of that log (nothing new) when its first
          64 KiB are the row's, another log when they differ, and it cannot be told apart when
          it is shorter than those 64 KiB: then it is refused, never half-read.

        Another log gets a row of its own (the next generation), read from its start."""
        entries = self._usage.ledgers(server_id=self._server.id, first_line_hash=identity)
        unsure: LedgerEntry | None = None
        for entry in entries:
            tail = source.tail_before(entry.bytes_done)
            if tail is not None:
                if tail.endswith(b"\n") and (
                    entry.checkpoint_hash is None or checkpoint_hash(tail) == entry.checkpoint_hash
                ):
                    return LogPosition(identity, entry.generation, entry.bytes_done)
                continue
            head = source.head(min(HEAD_BYTES, entry.bytes_done))
            if head is None or entry.head_hash is None:
                unsure = unsure or entry
            elif checkpoint_hash(head) == entry.head_hash:
                return _Stop(
                    "up to date",
                    f"an earlier copy of a log ingested to byte {entry.bytes_done:,} "
                    f"(last read as {entry.last_path})",
                )
        if unsure is not None:
            return _Stop(
                "refused",
                f"its first line is that of a log already ingested to byte "
                f"{unsure.bytes_done:,} (last read as {unsure.last_path}), and it is too short "
                f"to be told apart from an earlier copy of that log, so none of it is read "
                f"(once it is longer, it can be)",
            )
        if entries and not source.restart():
            return _Stop(
                "refused",
                "its first line is that of another log already ingested, but its content "
                "differs, and standard input cannot be read again from its start: give it as "
                "a file to ingest it as a log of its own",
            )
        generation = max((e.generation for e in entries), default=-1) + 1
        return LogPosition(identity, generation, 0)

    def _run(
        self, source: LogSource, fmt: LogFormat, log: LogPosition, report: IngestReport
    ) -> bool:
        """Ingest from ``log.bytes_done``, a segment per commit; False when the ledger moved
        under us (nothing of the failed segment counted)."""
        pending = ChunkTotals()
        start = segment_start = position = log.bytes_done
        tail: bytes | None = None
        end = source.complete_end() if source.seekable else None
        if end is not None:
            report.expected_bytes = report.bytes + max(0, end - start)
        pieces = self._pieces(source, fmt, start, end)
        try:
            for totals, stop, tail in pieces:
                self._report(report, totals, stop - position)
                pending.add(totals)
                position = stop
                if position - segment_start >= SEGMENT_BYTES:
                    at = replace(log, bytes_done=segment_start)
                    if not self._commit(source, fmt, at, position, tail, pending, report):
                        return False
                    pending, segment_start = ChunkTotals(), position
        finally:
            pieces.close()  # cancels what the workers have not started
        if position > segment_start:
            at = replace(log, bytes_done=segment_start)
            return self._commit(source, fmt, at, position, tail, pending, report)
        return True

    def _pieces(
        self, source: LogSource, fmt: LogFormat, start: int, end: int | None
    ) -> Generator[tuple[ChunkTotals, int, bytes | None], None, None]:
        """The log's whole lines from ``start`` parsed, a chunk at a time, in order, with where
        each chunk ends. A plain file's ranges are read and parsed by the workers; a gzip file
        or standard input is read (and decompressed) here and parsed by the workers. A few
        chunks are in flight at most, so memory stays flat whatever the log's size. A stream's
        chunks come with the bytes before their end (a plain file's are read when needed)."""
        if end is not None:
            if end - start < _PARALLEL_FROM or self._workers == 1:
                position = start
                for data in read_range_chunks(source.path, start, end):
                    position += len(data)
                    yield fmt.parse(data, per_url=self._per_url), position, None
                return
            parts = line_ranges(source.path, start, end, -(-(end - start) // CHUNK_BYTES))
            tasks: Iterator[_Task] = (
                (_parse_range, (source.path, a, b, fmt.name, self._per_url), b, None)
                for a, b in parts
            )
        elif self._workers == 1:
            for chunk in source.stream_chunks(start):
                yield _parse_data(chunk.data, fmt.name, self._per_url), chunk.end, chunk.tail
            return
        else:
            tasks = (
                (_parse_data, (chunk.data, fmt.name, self._per_url), chunk.end, chunk.tail)
                for chunk in source.stream_chunks(start)
            )
        pool = self._executor()
        in_flight: deque[tuple[Future[ChunkTotals], int, bytes | None]] = deque()
        try:
            for function, args, end, tail in tasks:
                in_flight.append((pool.submit(function, *args), end, tail))
                if len(in_flight) > self._workers * 2:
                    future, done, before = in_flight.popleft()
                    yield future.result(), done, before
            while in_flight:
                future, done, before = in_flight.popleft()
                yield future.result(), done, before
        finally:
            for future, _end, _tail in in_flight:
                future.cancel()

    def _executor(self) -> Executor:
        if self._pool is None:
            # fork: workers start in milliseconds and only ever run the pure parsers.
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=context, initializer=_worker_start
            )
        return self._pool

    def _report(self, report: IngestReport, totals: ChunkTotals, size: int) -> None:
        report.lines += totals.lines
        report.skipped += totals.skipped
        report.bytes += size
        if self.progress is not None:
            self.progress(report)

    # -- rolling up and committing ---------------------------------------------------------------

    def _commit(
        self,
        source: LogSource,
        fmt: LogFormat,
        log: LogPosition,
        end: int,
        tail: bytes | None,
        totals: ChunkTotals,
        report: IngestReport,
    ) -> bool:
        if tail is None:  # a plain file's: read where the segment ends
            tail = source.tail_before(end)
        head = source.head(min(HEAD_BYTES, end))
        assert tail is not None and head is not None, "a segment ends inside the log"
        segment = self._segment(fmt, totals)
        committed = self._usage.commit_segment(
            server=self._server,
            log=log,
            to=Checkpoint(end, checkpoint_hash(tail), checkpoint_hash(head)),
            segment=segment,
            log_format=fmt.name,
            path=source.path,
            now=int(self._clock()),
        )
        if committed:
            report.requests += sum(v[1] for v in segment.applications.values())
            report.unattributed += sum(v[1] for v in segment.unattributed.values())
        else:  # none of this segment counted: take its lines back out of the report
            report.lines -= totals.lines
            report.skipped -= totals.skipped
            report.bytes -= end - log.bytes_done
        return committed

    def _segment(self, fmt: LogFormat, totals: ChunkTotals) -> Segment:
        applications: dict[AppDay, list[int]] = {}
        videos: dict[AppDayVideo, list[int]] = {}
        unattributed: dict[tuple[int, str], list[int]] = {}
        skipped = totals.skipped
        for key, count in totals.requests.items():
            day, app_name, place = key
            sent = totals.bytes.get(key, 0)
            app = self._application(app_name)
            if app is None:
                name = app_name[:_MAX_APP].decode("utf-8", "replace")
                row = unattributed.setdefault((day, name), [0, 0])
            else:
                row = applications.setdefault(AppDay(app.id, app.account_id, day), [0, 0])
                if self._per_url:
                    video = self._video(fmt, place)
                    per_video = videos.setdefault(
                        AppDayVideo(app.id, app.account_id, day, video), [0, 0]
                    )
                    per_video[0] += sent
                    per_video[1] += count
            row[0] += sent
            row[1] += count
        buckets: dict[tuple[int, int], int] = {}
        for (bucket, app_name), sent in totals.buckets.items():
            app = self._application(app_name)
            if app is not None and sent:
                key = (app.account_id, bucket)
                buckets[key] = buckets.get(key, 0) + sent
        return Segment(applications, unattributed, totals.lines, skipped, videos, buckets)

    def _video(self, fmt: LogFormat, place: bytes) -> str:
        key = (fmt.name, place)
        video = self._videos.get(key)
        if video is None:
            video = self._videos[key] = fmt.video(place) or NO_VIDEO
            if len(self._videos) > _MAX_CACHED_VIDEOS:  # made-up paths must not grow it forever
                self._videos.clear()
        return video

    def _application(self, name: bytes) -> Application | None:
        if name not in self._apps:
            text = name.decode("utf-8", "replace")
            self._apps[name] = self._applications.get_by_name(text) if text else None
        return self._apps[name]
