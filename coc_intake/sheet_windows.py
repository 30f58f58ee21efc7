"""A large sheet read in windows of rows (docs/decisions.md#performance-and-memory).

The reader (calamine, under fastexcel) holds a sheet's cells twice before it returns any: their sparse list, then
the dense range built from it; for a million rows of 28 columns that is 2.4 GB. So a large sheet's XML is cut at
row ends into windows, each window is read as a small workbook of its own (every other part as it was), and the
windows' Arrow columns are laid end to end where the whole sheet's reading would have put them.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pandas as pd
import pyarrow as pa

#: A sheet part whose XML is larger than this is read in windows: two windows at a time on two cores take half the
#: time of the whole sheet's reading (the reader lets go of the GIL while it parses), from ~25,000 rows of the
#: 28-column census on.
WINDOW_THRESHOLD = 32 * 1024 * 1024
#: The largest window read beside another: ~95,000 rows of the census, whose reading peaks at ~0.25 GB, so two at
#: once hold what one window of twice the size did.
WINDOW_BYTES = 128 * 1024 * 1024
#: The smallest window worth a reader of its own (each starts a workbook: its parts, its shared strings).
SMALLEST_WINDOW_BYTES = 16 * 1024 * 1024
#: Shared strings over this are parsed again by each window's reader and held by it: the windows are then read one
#: at a time, twice as large, as few as the memory allows.
SHARED_STRINGS_FOR_TWO = 32 * 1024 * 1024
#: Parts up to this size are stored in each window's workbook as they are; larger ones are deflated (once).
_STORED_PART_BYTES = 1024 * 1024
#: Bytes of XML before <sheetData> (the sheet's properties, views, column widths) a window repeats.
_PREFIX_BYTES = 16 * 1024 * 1024
_SHEET_DATA, _SHEET_DATA_END, _ROW_END = b"<sheetData>", b"</sheetData>", b"</row>"
_NO_SHEET_DATA = b"<sheetData/>"
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
#: A cell's start tag with its reference (the prescan's fast scan let through no other kind), its row taken.
_FIRST_CELL = re.compile(rb'<c\sr="[A-Z]{1,3}([0-9]{1,7})"')
_STEP = 4 * 1024 * 1024


class Irregular(Exception):
    """The sheet is not written so that its windows read as the whole sheet does: it is read whole."""


@dataclass(frozen=True)
class Window:
    """One window's sheet part: the sheet's own XML up to <sheetData>, the window's rows, then the part closed (the
    reader stops at </sheetData>: nothing after it is read)."""

    head: bytes
    rows: memoryview
    """A view of the rows being cut, not a copy of them (a window is 256 MiB): valid until the next window is
    asked for, when it is released."""
    tail: bytes
    first_row: int
    """The row of the window's first cell."""

    @property
    def size(self) -> int:
        return len(self.head) + len(self.rows) + len(self.tail)


@dataclass(frozen=True)
class Plan:
    """How a sheet part is cut and read: windows of about ``window_bytes``, ``at_once`` of them read together."""

    window_bytes: int
    at_once: int


def plan(part_bytes: int, shared_strings_bytes: int) -> Plan:
    """About eight windows, two read at once, each between ``SMALLEST_WINDOW_BYTES`` and ``WINDOW_BYTES``; with a
    large table of shared strings, which every window's reader parses and holds again, windows of twice
    ``WINDOW_BYTES`` one at a time."""
    if shared_strings_bytes > SHARED_STRINGS_FOR_TWO:
        return Plan(2 * WINDOW_BYTES, 1)
    at_once = min(2, os.cpu_count() or 1)
    return Plan(min(WINDOW_BYTES, max(SMALLEST_WINDOW_BYTES, part_bytes // 8)), at_once)


def chunks_of(stream: IO[bytes]) -> Iterator[bytes]:
    """The part's bytes, inflated a step at a time."""
    while chunk := stream.read(_STEP):
        yield chunk


class Cutter:
    """Cuts a sheet's rows into windows of about ``size`` bytes, each after a </row>, as its XML is fed a chunk at a
    time (by the prescan as it clears the chunks, or from the zip); windows without a cell are left out, and each
    window yielded is valid until the next chunk is fed. Only for a sheet without comments, CDATA or processing
    instructions, which could hide a tag or show one that is not (the prescan knows)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._body = bytearray()
        self._head: bytes | None = None
        self._tail = b""
        self._searched = 0
        self.closed = False
        """The sheet data has ended: what comes after is not read."""

    def feed(self, chunk: bytes) -> Iterator[Window]:
        if self.closed:
            return
        self._body += chunk
        if self._head is None:
            body = self._body
            if not (_SHEET_DATA in body or _NO_SHEET_DATA in body or len(body) > _PREFIX_BYTES):
                return
            self._start()
            if self.closed:
                return
        yield from self._cut()

    def end(self) -> Iterator[Window]:
        """The chunks are all fed: the last window."""
        if self.closed:
            return
        if self._head is None:
            self._start()
            if self.closed:
                return
        yield from self._cut()
        if not self.closed:
            raise Irregular("the sheet data is not closed")

    def _start(self) -> None:
        body = self._body
        start = body.find(_SHEET_DATA)
        if start < 0 and _NO_SHEET_DATA in body:
            self.closed = True  # not a row
            return
        root = _ROOT.search(body, body.find(b"?>") + 2 if body.startswith(b"<?") else 0)
        if start < 0 or root is None or root.start() > start:
            raise Irregular("no <sheetData> start tag where the reader looks for it")
        start += len(_SHEET_DATA)
        self._head, self._tail = bytes(body[:start]), _SHEET_DATA_END + b"</" + root[1] + b">"
        del body[:start]

    def _cut(self) -> Iterator[Window]:
        body, size, head = self._body, self._size, self._head
        assert head is not None
        end = body.find(_SHEET_DATA_END, self._searched)
        stop = end if end >= 0 else len(body)
        # Cut after the first row that ends past ``size`` bytes: a row longer than a window makes a window of its own.
        while (cut := body.find(_ROW_END, max(0, size - len(_ROW_END)), stop)) >= 0:
            cut += len(_ROW_END)
            if (row := _first_cell(body, cut)) is not None:  # a window without a cell adds nothing
                with memoryview(body) as whole, whole[:cut] as rows:
                    yield Window(head, rows, self._tail, row)
            del body[:cut]
            stop -= cut
        if end >= 0:
            if (row := _first_cell(body, stop)) is not None:
                with memoryview(body) as whole, whole[:stop] as rows:
                    yield Window(head, rows, self._tail, row)
            self.closed = True
            body.clear()
            return
        self._searched = max(0, len(body) - len(_SHEET_DATA_END) + 1)


def _first_cell(body: bytearray, stop: int) -> int | None:
    """The row of the first cell before ``stop``."""
    found = _FIRST_CELL.search(body, 0, stop)
    return None if found is None else int(found[1])


def base_book(archive: zipfile.ZipFile, part: str) -> bytes:
    """Every part of the workbook but the sheet ``part``, for each window's workbook to add its sheet to."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        for info in archive.infolist():
            if info.filename == part:
                continue
            stored = info.file_size <= _STORED_PART_BYTES
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            copy.file_size = info.file_size
            with archive.open(info) as source, book.open(copy, "w") as target:
                for chunk in chunks_of(source):
                    target.write(chunk)
    return out.getvalue()


@contextlib.contextmanager
def window_book(base: bytes, part: str, window: Window) -> Iterator[str | bytes]:
    """The base workbook with the window's sheet part added, stored (deflating it would cost more than it saves).

    Given to the reader as the path of a file without a name (Linux's O_TMPFILE, in the temporary directory) while
    the context lasts: the reader then reads the part from the file, where bytes would be copied twice more (the
    workbook's bytes, and the reader's own copy of them: a 256 MiB window costs ~0.35 s and 512 MB of memory). A
    file without a name is gone with its descriptor, even if the process is killed: no copy of the rows stays
    behind. Where there is none, or it cannot be written (a full disk), the workbook's bytes are given.
    """
    file = _unnamed_file()
    if file is not None:
        with file:
            try:
                file.write(base)
                _add_part(file, part, window)
                file.flush()
            except OSError:  # a full or failing temporary directory: the window fits in memory, as it always did
                pass
            else:
                yield f"/proc/self/fd/{file.fileno()}"
                return
    out = io.BytesIO(base)
    _add_part(out, part, window)
    yield out.getvalue()


def _add_part(out: IO[bytes], part: str, window: Window) -> None:
    out.seek(0, io.SEEK_END)
    info = zipfile.ZipInfo(part, date_time=(1980, 1, 1, 0, 0, 0))
    info.file_size = window.size
    with zipfile.ZipFile(out, "a") as book, book.open(info, "w") as target:
        for piece in (window.head, window.rows, window.tail):
            target.write(piece)


def _unnamed_file() -> IO[bytes] | None:
    """A new file without a name, readable by the reader at /proc/self/fd/N; None where the system or the
    temporary directory's file system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        fd = os.open(tempfile.gettempdir(), flag | os.O_RDWR, 0o600)
    except OSError:
        return None
    return os.fdopen(fd, "w+b")


@dataclass
class Piece:
    """One window's cells as the reader returned them."""

    start: int
    """The sheet row of ``columns``' first value."""
    height: int
    columns: dict[int, pa.Array]
    """Column index (0 = A) → its values, ``height`` of them."""

    @property
    def end(self) -> int:
        """The sheet row of the last value."""
        return self.start + self.height - 1


@dataclass
class Assembled:
    columns: dict[int, pa.ChunkedArray]
    height: int


def assemble(pieces: list[Piece], first: int) -> Assembled:
    """The pieces' columns end to end from sheet row ``first`` (the whole sheet's first cell with a value): rows
    between pieces, and a column a piece lacks, are nulls; every column from the leftmost to the rightmost of any
    piece is there, as in the whole sheet's range."""
    if not pieces:
        return Assembled({}, 0)
    for before, after in itertools.pairwise(pieces):
        if after.start <= before.end:
            raise Irregular(f"cells of rows {after.start}-{before.end} are in two windows")
    if not pieces[0].start <= first <= pieces[0].end:
        raise Irregular(f"the first row {first} is not in the first window")
    left = min(min(p.columns) for p in pieces)
    right = max(max(p.columns) for p in pieces)
    chunks: dict[int, list[pa.Array]] = {c: [] for c in range(left, right + 1)}
    row = first
    for piece in pieces:
        gap, skip = max(0, piece.start - row), max(0, row - piece.start)
        length = piece.height - skip
        for column, parts in chunks.items():
            if gap:
                parts.append(pa.nulls(gap, pa.string()))
            values = piece.columns.get(column)
            parts.append(pa.nulls(length, pa.string()) if values is None else values.slice(skip))
        row = piece.end + 1
    return Assembled({c: pa.chunked_array(parts, pa.string()) for c, parts in chunks.items()}, row - first)


def frame(assembled: Assembled, dtype: Any) -> pd.DataFrame:
    """The columns as a frame of ``dtype`` Series over the Arrow data (no copy)."""
    return pd.DataFrame(
        {c: pd.Series(dtype.__from_arrow__(values))
         for c, values in assembled.columns.items()}
    )
