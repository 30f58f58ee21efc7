"""A large sheet's windows (``sheet_windows``) read by the reader in threads, as the prescan clears them
(docs/decisions.md#performance-and-memory).

The reader (fastexcel) lets go of the GIL while it parses, so two windows are read at once on two cores while this
thread goes on scanning and cutting the sheet; the prescan hands each chunk over only once it has checked it, so
the reader never sees a cell the prescan has not cleared.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import fastexcel
import pyarrow as pa

from coc_intake import sheet_windows
from coc_intake.sheet_windows import Irregular, Piece, Window


def is_reader_failure(exc: BaseException) -> bool:
    """An error of the reader's: a Python exception, or a panic of its Rust code (pyo3's PanicException derives
    from BaseException, so ``except Exception`` lets it end the process with a traceback)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


class WindowReading:
    """A sheet's windows read by the reader in threads as the sheet's chunks are fed, two at once where the plan
    says so (the reader lets go of the GIL while it parses): the windows waiting or being read are never more than
    the plan's ``at_once``, which bounds the memory. Fed by the prescan as it clears the chunks, so that the reading
    overlaps the scan, or by ``_windowed`` after it.

    Anything irregular (a window the reader fails on, a sheet the cutter cannot cut) gives the reading up; its
    ``result`` then raises ``Irregular`` and the sheet is read whole.
    """

    #: Chunks held back from the reading: the scan checks a cell cut at a chunk's end with the next chunk, so a
    #: chunk is cleared once the scan has asked for the one after the next.
    HELD_BACK = 2

    def __init__(self, archive: zipfile.ZipFile, part: str, name: str, strings_bytes: int) -> None:
        self.plan = sheet_windows.plan(archive.getinfo(part).file_size, strings_bytes)
        self._base = sheet_windows.base_book(archive, part)
        self._part, self._name = part, name
        self._cutter = sheet_windows.Cutter(self.plan.window_bytes)
        self._done: list[tuple[Piece | None, int]] = []
        self._reading: deque[Future[tuple[Piece | None, int]]] = deque()
        self._books: list[contextlib.ExitStack] = []
        self._pool = ThreadPoolExecutor(self.plan.at_once, thread_name_prefix="coc-window")
        self._irregular: Irregular | None = None
        self._held: deque[bytes] = deque()

    def cleared(self, chunks: Iterable[bytes], regular: Callable[[], bool]) -> Iterator[bytes]:
        """``chunks`` for the scan; each is fed to the reading once the scan has cleared it and while ``regular()``
        says the sheet can still be read in windows. The last chunks are fed by ``finish``."""
        for chunk in chunks:
            self._held.append(chunk)
            if len(self._held) > self.HELD_BACK:
                cleared = self._held.popleft()
                if regular():
                    self.feed(cleared)
                else:
                    self._give_up_reading(Irregular("the sheet cannot be read in windows"))
            yield chunk

    def feed(self, chunk: bytes) -> None:
        if self._irregular is not None:
            return
        try:
            for window in self._cutter.feed(chunk):
                self._read(window)
        except Irregular as exc:
            self._give_up_reading(exc)

    def finish(self, windowable: bool) -> None:
        """The scan is over: the last chunks and window, if the sheet may be read in windows."""
        if not windowable:
            self.give_up()
            return
        while self._held:
            self.feed(self._held.popleft())
        if self._irregular is None:
            try:
                for window in self._cutter.end():
                    self._read(window)
            except Irregular as exc:
                self._give_up_reading(exc)

    def result(self) -> list[tuple[Piece | None, int]]:
        """Each window's piece and the row its reading starts at, in order; raises ``Irregular``."""
        try:
            while self._reading and self._irregular is None:
                self._collect()
        finally:
            self._close()
        if self._irregular is not None:
            raise self._irregular
        return self._done

    def give_up(self) -> None:
        """Stop: the windows not yet read are not read, and every window's file is closed."""
        self._give_up_reading(Irregular("the reading in windows was given up"))

    def _give_up_reading(self, why: Irregular) -> None:
        self._irregular = self._irregular or why
        self._close()

    def _close(self) -> None:
        self._held.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._reading.clear()
        for held in self._books:  # the windows never read after a failure; the others closed their own
            held.close()
        self._books.clear()

    def _read(self, window: Window) -> None:
        while len(self._reading) >= self.plan.at_once and self._irregular is None:
            self._collect()
        if self._irregular is not None:
            return
        held = contextlib.ExitStack()
        self._books.append(held)
        book = held.enter_context(sheet_windows.window_book(self._base, self._part, window))
        # Only the first window with a value looks for the row the reader starts at; which one that is may not be
        # known yet, so every window read before a value has been seen looks.
        find_top = all(piece is None for piece, _ in self._done)
        self._reading.append(self._pool.submit(_read_window, held, book, self._name, window.first_row, find_top))

    def _collect(self) -> None:
        try:
            self._done.append(self._reading.popleft().result())
        except Irregular as exc:
            self._give_up_reading(exc)


def _read_window(held: contextlib.ExitStack, book: str | bytes, name: str, row: int, find_top: bool
                 ) -> tuple[Piece | None, int]:
    """One window read in a thread; its workbook's file is closed as soon as it is read."""
    with held:
        return window_piece(book, name, row, find_top)


def window_piece(book: str | bytes, name: str, row: int, find_top: bool) -> tuple[Piece | None, int]:
    """The window's cells from sheet row ``row`` (its first cell's), and the row of its first cell with a value
    when ``find_top`` (else ``row``).

    The reader starts a sheet at its first cell with a value, which a window cannot tell: so it is read from the
    row above its first cell, taken for a header row (none of the window's cells is in it, and its Empty cell
    fixes where the reader starts), or from row 1 with no header.
    """
    try:
        reader = fastexcel.read_excel(book)
        sheet = reader.load_sheet(name, header_row=None if row == 1 else row - 2, skip_rows=0, dtypes="string")
        columns = sheet.available_columns()
        batch = sheet.to_arrow() if columns else None
        if batch is None or not batch.num_rows:
            return None, row
        top = row
        if find_top and all(batch.column(i).is_null()[0].as_py() for i in range(batch.num_columns)):
            # Row ``row`` shows no value, but a cell the reader keeps may show none (an error): ask the reader.
            top = row + batch.num_rows - reader.load_sheet(name, header_row=None, dtypes="string").height
    except BaseException as exc:
        if not is_reader_failure(exc):
            raise
        raise Irregular(f"the reader failed on a window ({type(exc).__name__})") from exc
    values: dict[int, pa.Array] = {info.absolute_index: batch.column(i) for i, info in enumerate(columns)}
    return Piece(start=row, height=batch.num_rows, columns=values), top
