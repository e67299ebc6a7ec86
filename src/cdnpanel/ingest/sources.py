"""Where log bytes come from: a plain file (read in parallel ranges), a gzip file or standard
input (read as one stream). Offsets are in the uncompressed content and always at a line's end:
a partial last line waits for its newline.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = [
    "CHECKPOINT_BYTES",
    "CHUNK_BYTES",
    "FIRST_LINE_LIMIT",
    "HEAD_BYTES",
    "PARSE_BYTES",
    "LogSource",
    "StreamChunk",
    "checkpoint_hash",
    "line_ranges",
    "open_source",
    "read_range_chunks",
    "split_lines",
]

CHUNK_BYTES = 8 * 1024 * 1024  # a read of a stream, a worker's task
# What one parse call gets: small enough for the text and its matches to stay in the CPU's
# caches (measured: 512 KiB pieces parse about 1.2 times faster than 8 MiB ones).
PARSE_BYTES = 512 * 1024
FIRST_LINE_LIMIT = 64 * 1024
CHECKPOINT_BYTES = 4 * 1024  # the bytes before a ledger position that it is checked by
HEAD_BYTES = 64 * 1024  # a log's first bytes, that a shorter copy of it is checked by
_INFLATE_STEP = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class StreamChunk:
    """Whole lines of a stream, where they end in its uncompressed content, and the (up to
    4 KiB) bytes before that end: what the ledger's checkpoint there is made of."""

    data: bytes
    end: int
    tail: bytes


def checkpoint_hash(tail: bytes) -> bytes:
    """The ledger's checkpoint: a hash of the bytes just before a position."""
    return hashlib.sha256(tail).digest()


class LogSource:
    """One log: its first line (its identity), the bytes before a position (to tell it from
    another log with the same first line), and its bytes from an offset on.

    A stream (gzip, standard input) is read forward once: what was read but not yet used is
    kept in a buffer (``_buf``, from content offset ``_buf_start``), so looking at the first
    line and at checkpoints costs no second read."""

    def __init__(self, path: str, stream: BinaryIO | None = None) -> None:
        self.path = path
        self._stream = stream  # standard input
        self.compressed = False
        self.seekable = stream is None
        self._buf = b""
        self._buf_start = 0
        self._reader: BinaryIO | None = None  # the open stream _buf came from
        self._ended = False  # _reader has given all it has
        self._first = b""  # a stream's first 64 KiB, as it is read
        self._consumed = False  # stream_chunks has taken the buffer
        self._end: int | None = None  # a plain file's last whole line's end, once looked up
        self.truncated = False  # a gzip member that ends early
        self.corrupt = False  # gzip data that cannot be inflated (not merely cut short)
        if stream is None:
            with open(path, "rb") as probe:
                self.compressed = probe.read(2) == _GZIP_MAGIC
            self.seekable = not self.compressed

    def first_line(self) -> bytes | None:
        """The first line (with its newline; at most 64 KiB of it), or None until it is whole."""
        if self.seekable:
            with open(self.path, "rb") as file:
                head = file.read(FIRST_LINE_LIMIT)
                end = head.find(b"\n")
                if end < 0:
                    if len(head) < FIRST_LINE_LIMIT:
                        return None
                    while (more := file.read(CHUNK_BYTES)) and b"\n" not in more:
                        pass
                    return head if more else None
                return head[: end + 1]
        while len(self._buf) < FIRST_LINE_LIMIT and b"\n" not in self._buf and self._read():
            pass
        end = self._buf.find(b"\n")
        if end < 0:
            return self._buf[:FIRST_LINE_LIMIT] if len(self._buf) > FIRST_LINE_LIMIT else None
        return self._buf[: min(end + 1, FIRST_LINE_LIMIT)]

    def tail_before(self, offset: int) -> bytes | None:
        """The (up to 4 KiB) bytes before ``offset``, or None when the log is shorter (for a
        plain file: its whole lines end before it). A stream is read forward to ``offset``:
        ask in increasing order, before ``stream_chunks``."""
        size = min(CHECKPOINT_BYTES, offset)
        if self.seekable:
            if offset > self.complete_end():
                return None
            with open(self.path, "rb") as file:
                file.seek(offset - size)
                tail = file.read(size)
        else:
            keep_from = offset - size
            assert keep_from >= self._buf_start, "a stream's checkpoints come in order"
            while self._buf_start + len(self._buf) < offset:
                if not self._read():
                    return None
                # What comes before the checkpoint goes once the buffer is large: until then a
                # stream can be read again from its start without reading it again.
                if len(self._buf) > 4 * CHUNK_BYTES:
                    drop = min(len(self._buf), keep_from - self._buf_start)
                    self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
            tail = self._buf[keep_from - self._buf_start : offset - self._buf_start]
        return tail

    def head(self, size: int) -> bytes | None:
        """The first ``size`` (at most 64 KiB) bytes, or None when the log is shorter."""
        assert size <= HEAD_BYTES
        if self.seekable:
            with open(self.path, "rb") as file:
                head = file.read(size)
        else:
            while len(self._first) < size and self._read():
                pass
            head = self._first[:size]
        return head if len(head) == size else None

    def restart(self) -> bool:
        """Read a stream again from its start; False when that cannot be done (standard input
        whose first bytes are gone)."""
        if self.seekable or (self._buf_start == 0 and not self._consumed):
            return True
        if self._stream is not None:
            return False
        self.close()
        self._buf_start, self._ended, self._consumed, self._first = 0, False, False, b""
        return True

    def close(self) -> None:
        """Close what reading the first line opened, when the bytes after it are not read."""
        reader, self._reader, self._buf = self._reader, None, b""
        if reader is not None and reader is not self._stream:
            reader.close()

    def identity(self, first_line: bytes) -> bytes:
        return hashlib.sha256(first_line[:FIRST_LINE_LIMIT]).digest()

    def size(self) -> int:
        return os.path.getsize(self.path)

    def complete_end(self) -> int:
        """Where the last whole line of a plain file ends (a partial last line waits); looked
        up once, so a log still growing is read to where it was then."""
        if self._end is not None:
            return self._end
        size = self.size()
        with open(self.path, "rb") as file:
            position = size
            while position > 0:
                step = min(CHUNK_BYTES, position)
                file.seek(position - step)
                block = file.read(step)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    self._end = position - step + newline + 1
                    return self._end
                position -= step
        self._end = 0
        return 0

    def stream_chunks(self, start: int) -> Iterator[StreamChunk]:
        """Whole lines of a gzip file or standard input, from ``start`` on, chunk by chunk."""
        assert start >= self._buf_start
        self._consumed = True
        position = self._buf_start
        pending = b""
        tail = b""
        try:
            while True:
                if not self._buf and not self._read():
                    break
                block, self._buf = self._buf, b""
                data = pending + block
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                data = data[:cut]
                if not data:
                    continue
                begin, position = position, position + len(data)
                tail = (tail + data[-CHECKPOINT_BYTES:])[-CHECKPOINT_BYTES:]
                if position <= start:
                    continue
                yield StreamChunk(data[max(0, start - begin) :], position, tail)
        finally:
            self._buf_start = position
            self.close()

    def _read(self) -> bool:
        """Read a stream's next block onto the buffer; False at its end."""
        if self._ended:
            return False
        if self._reader is None:
            self._reader = self._raw_reader()
        block = self._reader.read(CHUNK_BYTES)
        if not block:
            self._ended = True
            return False
        self._buf += block
        if len(self._first) < HEAD_BYTES:
            self._first += block[: HEAD_BYTES - len(self._first)]
        return True

    def _raw_reader(self) -> BinaryIO:
        if self._stream is not None:
            return self._stream
        if self.compressed:
            return _Gunzip(self.path, self)  # type: ignore[return-value]
        return open(self.path, "rb")  # closed by close()


class _Gunzip:
    """A gzip file's content (all its members), block by block. Unlike ``gzip.open``, a file
    that ends early (still being written, or cut) gives everything up to where it ends, and the
    source is marked truncated; corrupt data ends the content there too."""

    def __init__(self, path: str, source: LogSource) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._source = source
        self._inflate = zlib.decompressobj(wbits=31)
        self._fed = False  # the current member has had input
        self._pending = b""  # input read past a member's end: the next member's
        self._done = False

    def read(self, size: int) -> bytes:
        out: list[bytes] = []
        produced = 0
        while produced < size and not self._done:
            raw = self._inflate.unconsumed_tail or self._pending or self._file.read(1024 * 1024)
            self._pending = b""
            if not raw:
                if self._fed and not self._inflate.eof:
                    self._source.truncated = True
                self._done = True
                break
            self._fed = True
            try:
                # At most 1 MiB a call: corrupt data raises and loses that call's output, so
                # what came before the damage is kept but for less than a MiB.
                block = self._inflate.decompress(raw, min(size - produced, _INFLATE_STEP))
            except zlib.error:
                self._source.truncated = self._source.corrupt = True
                self._done = True
                break
            out.append(block)
            produced += len(block)
            if self._inflate.eof:  # a member's end: another may follow
                self._pending = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
                self._fed = False
        return b"".join(out)

    def close(self) -> None:
        self._file.close()


def open_source(path: str, stdin: BinaryIO | None = None) -> LogSource:
    """``-`` is standard input."""
    if path == "-":
        assert stdin is not None
        return LogSource("<stdin>", stream=stdin)
    return LogSource(path)


def line_ranges(path: str, start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """``[start, end)`` of a file cut into about ``parts`` ranges, each ending at a line's end."""
    if end <= start:
        return []
    bounds = [start]
    with open(path, "rb") as file:
        for part in range(1, parts):
            target = start + (end - start) * part // parts
            if target <= bounds[-1]:
                continue
            file.seek(target)
            file.readline()
            position = file.tell()
            if position >= end:
                break
            bounds.append(position)
    bounds.append(end)
    return list(itertools.pairwise(bounds))


def read_range_chunks(path: str, start: int, end: int, size: int = PARSE_BYTES) -> Iterator[bytes]:
    """Whole lines of ``[start, end)`` (both at line ends), about ``size`` bytes at a time (more
    when a single line is longer)."""
    with open(path, "rb") as file:
        file.seek(start)
        position = start
        carry = b""
        while position < end:
            block = file.read(min(size, end - position))
            if not block:
                break
            position += len(block)
            data = carry + block
            if position >= end:
                yield data
                return
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                yield data[:cut]


def split_lines(data: bytes, size: int = PARSE_BYTES) -> Iterator[bytes]:
    """Whole lines (``data`` ends at a line's end) in pieces of about ``size`` bytes."""
    start = 0
    while len(data) - start > size:
        cut = data.find(b"\n", start + size - 1) + 1
        if cut == 0:
            break
        yield data[start:cut]
        start = cut
    if start < len(data):
        yield data[start:] if start else data
