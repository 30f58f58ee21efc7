"""A large sheet read in windows of rows (coc_intake.sheet_windows): the grid, and the file's outcome, are the ones
the whole sheet's reading gives (docs/decisions.md#performance-and-memory).

Each workbook is read twice: whole (the windows' threshold as it is: every workbook here is small), then with the
threshold at 0 and windows of a few bytes to a few kilobytes, so that windows start and end everywhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.styles import Font

from benchmarks.generate import write_workbook
from coc_intake import outputs, sheet_windows, window_reading
from coc_intake import read as read_module
from coc_intake.engine import check_file
from coc_intake.errors import FileRejected
from coc_intake.limits import DEFAULT_LIMITS, Limits
from coc_intake.read import Grid, open_source

AS_OF = dt.date(2026, 11, 25)
SIZES = (1, 90, 400, 2_000)


class Windowed:
    """Reads with every sheet over the threshold and windows of ``size`` bytes; counts the sheets read in windows
    (none fell back to the whole reading) and the windows."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.sheets = self.windows = 0

    def read(self, path: Path, size: int, limits: Limits = DEFAULT_LIMITS) -> list[Grid]:
        with self.using(size):
            return [s.load(None) for s in open_source(path, path.name, limits)]

    @contextlib.contextmanager
    def using(self, size: int) -> Iterator[None]:
        self.sheets = self.windows = 0
        book, frame = sheet_windows.window_book, sheet_windows.frame

        def counted_book(*args: Any) -> bytes:
            self.windows += 1
            return book(*args)

        def counted_frame(*args: Any) -> pd.DataFrame:
            self.sheets += 1
            return frame(*args)

        with self.monkeypatch.context() as patch:
            patch.setattr(sheet_windows, "WINDOW_THRESHOLD", 0)
            patch.setattr(sheet_windows, "WINDOW_BYTES", size)
            patch.setattr(sheet_windows, "window_book", counted_book)
            patch.setattr(sheet_windows, "frame", counted_frame)
            yield


@pytest.fixture
def windowed(monkeypatch: pytest.MonkeyPatch) -> Windowed:
    return Windowed(monkeypatch)


def whole(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[Grid]:
    return [s.load(None) for s in open_source(path, path.name, limits)]


def assert_same_grids(expected: list[Grid], got: list[Grid]) -> None:
    assert [g.sheet for g in got] == [g.sheet for g in expected]
    for want, have in zip(expected, got, strict=True):
        pd.testing.assert_frame_equal(have.cells, want.cells)
        assert (have.first_row, have.sheet, have.edition) == (want.first_row, want.sheet, want.edition)


def assert_reads_as_whole(path: Path, windowed: Windowed, sizes: tuple[int, ...] = SIZES) -> None:
    """Every sheet read in windows (none falls back to the whole reading), into the whole reading's grids."""
    expected = whole(path)
    for size in sizes:
        got = windowed.read(path, size)
        assert windowed.sheets == len(expected), f"a sheet was read whole with windows of {size} bytes"
        assert_same_grids(expected, got)
    windowed.read(path, 1)
    assert windowed.windows > len(expected), "no sheet was cut into windows"


# --- workbooks of every writer --------------------------------------------------------------------------------


def xlsxwriter_book(path: Path, constant_memory: bool) -> Path:
    """Inline strings (constant_memory) or shared strings; leading blank rows, rows of styled empty cells, numbers,
    dates, booleans, formulas with cached values (an error among them), sparse columns, a column empty in the middle,
    a second sheet and a Summary sheet."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    bold, date = wb.add_format({"bold": True}), wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Assignments")
    ws.write_blank(1, 3, None, bold)  # rows 1-2: nothing with a value, one styled empty cell
    ws.write_row(2, 0, ["Last name", "First name", None, "Start", "Days", "Active", "Note"])
    for i in range(3, 40):
        if i % 7 == 0:
            for c in (0, 4, 9):
                ws.write_blank(i, c, None, bold)  # a row of styled empty cells, one beyond the last column
            continue
        if i % 11 == 0:
            continue  # a blank row
        ws.write_string(i, 0, f"Name {i}")
        if i % 3:
            ws.write_string(i, 1, f"Given ü{i}")
        ws.write_datetime(i, 3, dt.datetime(2027, 1, 1) + dt.timedelta(days=i), date)
        ws.write_number(i, 4, i * 1.5)
        ws.write_boolean(i, 5, i % 2 == 0)
        if i % 5 == 0:
            ws.write_formula(i, 6, f'="n"&{i}', None, f"n{i}")
        if i == 30:
            ws.write_string(i, 8, "far right")
    ws2 = wb.add_worksheet("Other")
    ws2.write_formula(3, 2, "=NA()", None, "#N/A")  # the first cell the reader keeps shows no value
    ws2.write_string(5, 1, "b6")
    ws2.write_number(6, 4, 7)
    summary = wb.add_worksheet("Summary")
    summary.write_row(0, 0, ["Rows", 37])
    wb.close()
    return path


def openpyxl_book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Assignments"
    ws.cell(row=2, column=5).font = Font(bold=True)  # a styled empty cell above everything
    ws.append([])
    for i in range(4, 40):
        if i % 6 == 0:
            for c in (1, 2, 8):
                ws.cell(row=i, column=c).font = Font(italic=True)
            continue
        ws.cell(row=i, column=2, value=f"Name {i}")
        ws.cell(row=i, column=3, value=dt.date(2027, 1, 1) + dt.timedelta(days=i))
        ws.cell(row=i, column=5, value=i if i % 4 else None)
        ws.cell(row=i, column=6, value=i % 3 == 0)
        ws.cell(row=i, column=7, value=f"=B{i}&\"!\"")  # openpyxl writes no cached value
    ws.cell(row=45, column=9, value="last")
    wb.create_sheet("Summary").append(["Rows", 36])
    wb.save(path)
    return path


@pytest.mark.parametrize("constant_memory", [True, False], ids=["inline-strings", "shared-strings"])
def test_an_xlsxwriter_workbook_reads_in_windows_as_whole(tmp_path: Path, windowed: Windowed,
                                                          constant_memory: bool) -> None:
    assert_reads_as_whole(xlsxwriter_book(tmp_path / "book.xlsx", constant_memory), windowed)


def test_an_openpyxl_workbook_reads_in_windows_as_whole(tmp_path: Path, windowed: Windowed) -> None:
    assert_reads_as_whole(openpyxl_book(tmp_path / "book.xlsx"), windowed)


def test_each_window_size_from_one_row_to_the_whole_sheet_reads_as_whole(tmp_path: Path, windowed: Windowed) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=True)
    assert_reads_as_whole(path, windowed, sizes=tuple(range(1, 3_000, 97)) + (10**7,))


class FullDisk(io.BytesIO):
    """A temporary file whose writes fail as on a full disk."""

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("files", ["unnamed", "none", "full disk"])
def test_windows_read_as_whole_whether_given_to_the_reader_as_unnamed_files_or_bytes(
        tmp_path: Path, windowed: Windowed, monkeypatch: pytest.MonkeyPatch, files: str) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=False)
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    full: list[FullDisk] = []
    if files == "none":
        monkeypatch.setattr(sheet_windows, "_unnamed_file", lambda: None)
    elif files == "full disk":
        monkeypatch.setattr(sheet_windows, "_unnamed_file", lambda: full.append(FullDisk()) or full[-1])
    given: list[str | bytes] = []
    book = sheet_windows.window_book

    @contextlib.contextmanager
    def watched(*args: Any) -> Iterator[str | bytes]:
        with book(*args) as made:
            given.append(made)
            yield made

    monkeypatch.setattr(sheet_windows, "window_book", watched)
    assert_reads_as_whole(path, windowed)
    assert given and all(isinstance(g, str if files == "unnamed" else bytes) for g in given)
    assert list(temporary.iterdir()) == []  # nothing named was made, so nothing is left
    assert all(f.closed for f in full) and len(full) == (len(given) if files == "full disk" else 0)


# --- what is read whole ---------------------------------------------------------------------------------------


def handmade(path: Path, sheet_data: str, between: str = "") -> Path:
    """A workbook of one sheet, ``Assignments``, whose <sheetData> holds ``sheet_data`` (and ``between`` comes
    right after its start tag)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    parts = {
        "[Content_Types].xml": f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{pkg}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
        '<sheets><sheet name="Assignments" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships '
        f'xmlns="{pkg}/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
        f'<dimension ref="A1:Z900"/><sheetData>{between}{sheet_data}</sheetData></worksheet>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            book.writestr(name, text)
    path.write_bytes(buffer.getvalue())
    return path


def cell(ref: str, text: str | None = None) -> str:
    return f'<c r="{ref}" s="1"/>' if text is None else f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def rows(*cells_of_rows: tuple[int, list[str]]) -> str:
    return "".join(f'<row r="{n}">{"".join(cells)}</row>' for n, cells in cells_of_rows)


REGULAR = rows((2, [cell("B2", "b2"), cell("C2")]), (3, [cell("A3", "a3")]), (5, [cell("D5", "d5")]),
               (6, [cell("A6")]), (8, [cell("B8", "b8"), cell("E8", "&lt;/row&gt;")]))


def test_a_handwritten_sheet_with_a_stale_dimension_reads_in_windows_as_whole(tmp_path: Path,
                                                                               windowed: Windowed) -> None:
    assert_reads_as_whole(handmade(tmp_path / "book.xlsx", REGULAR), windowed)


@pytest.mark.parametrize(("case", "sheet_data", "between"), [
    ("a comment", REGULAR, "<!-- </row><row r=\"1\"> -->"),
    ("a processing instruction", REGULAR, "<?keep </row>?>"),
    ("CDATA", REGULAR + '<row r="9"><c r="A9" t="inlineStr"><is><t><![CDATA[</row>]]></t></is></c></row>', ""),
    ("a cell without its reference", REGULAR + '<row r="9"><c t="inlineStr"><is><t>i9</t></is></c></row>', ""),
    ("a cell above its window's first row", rows((2, [cell("B2", "b2")]), (5, [cell("D5", "d5"), cell("A3", "a3")])),
     ""),
    ("a cell below the next window's first row", rows((2, [cell("B2", "b2"), cell("B7", "b7")]),
                                                      (5, [cell("D5", "d5")])), ""),
])
def test_a_sheet_its_windows_could_read_otherwise_is_read_whole(tmp_path: Path, windowed: Windowed, case: str,
                                                                 sheet_data: str, between: str) -> None:
    path = handmade(tmp_path / "book.xlsx", sheet_data, between)
    expected = whole(path)
    got = windowed.read(path, 1)
    assert windowed.sheets == 0, case
    assert_same_grids(expected, got)


def many_rows(first: int, count: int) -> str:
    """Rows of three cells: over 4 MiB of XML for 40,000 rows, so the prescan reads the sheet in several chunks."""
    return rows(*((n, [cell(f"A{n}", f"a{n}"), cell(f"B{n}"), cell(f"C{n}", "c" * 40)])
                  for n in range(first, first + count)))


@pytest.mark.parametrize(("case", "stray"), [
    ("written plainly", '<c r="D7" t="inlineStr"><is><t>back</t></is></c>'),
    # A tag too long for the vectorised check: the one-by-one check must see its row too.
    ("with a long start tag", '<c r="D7" s="1" t="inlineStr" cm="1234567890123456"><is><t>back</t></is></c>'),
])
def test_a_cell_naming_an_earlier_row_chunks_later_keeps_the_sheet_from_windows(tmp_path: Path,
                                                                               windowed: Windowed, case: str,
                                                                               stray: str) -> None:
    later = 40_010
    stray_row = f'<row r="{later}">{stray}</row>'
    path = handmade(tmp_path / "book.xlsx", many_rows(1, 40_000) + stray_row + many_rows(later + 1, 5))
    expected = whole(path)
    got = windowed.read(path, 1_000_000)
    assert windowed.sheets == 0, case
    assert_same_grids(expected, got)


def test_a_long_sheet_in_row_order_over_many_chunks_is_read_in_windows(tmp_path: Path, windowed: Windowed) -> None:
    long_tag = '<c r="D40001" s="1" t="inlineStr" cm="1234567890123456"><is><t>d</t></is></c>'
    path = handmade(tmp_path / "book.xlsx", many_rows(1, 40_000) + f'<row r="40001">{long_tag}</row>'
                    + many_rows(40_002, 5))
    expected = whole(path)
    got = windowed.read(path, 1_000_000)
    assert windowed.sheets == 1 and windowed.windows > 3
    assert_same_grids(expected, got)


def rejection(read: Callable[[], object]) -> str:
    with pytest.raises(FileRejected) as caught:
        read()
    return f"{caught.value.code}: {caught.value}"


def test_a_damaged_row_in_a_window_is_rejected_as_the_whole_reading_rejects_it(tmp_path: Path,
                                                                                 windowed: Windowed) -> None:
    path = handmade(tmp_path / "book.xlsx", REGULAR + '<row r="9"><c r="A9"><v>1</c></row>')
    expected = rejection(lambda: whole(path))
    assert rejection(lambda: windowed.read(path, 1)) == expected


class Reading:
    """Counts the windows being read at once (each reading held a moment, so that they meet) and the windows'
    workbooks open at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.books = self.most_books = self.calls = 0
        piece, book = window_reading.window_piece, sheet_windows.window_book

        def counted_piece(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.calls += 1
                self.now += 1
                self.most = max(self.most, self.now)
                failing = self.calls == fail_at
            try:
                time.sleep(0.02)
                if failing:
                    raise sheet_windows.Irregular("the reader failed on a window (test)")
                return piece(*args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1

        @contextlib.contextmanager
        def counted_book(*args: Any) -> Iterator[str | bytes]:
            with book(*args) as made:
                with self.lock:
                    self.books += 1
                    self.most_books = max(self.most_books, self.books)
                try:
                    yield made
                finally:
                    with self.lock:
                        self.books -= 1

        monkeypatch.setattr(window_reading, "window_piece", counted_piece)
        monkeypatch.setattr(sheet_windows, "window_book", counted_book)


@pytest.mark.parametrize(("cores", "at_once"), [(8, 2), (2, 2), (1, 1)])
def test_two_windows_are_read_at_once_on_two_cores_one_on_one_and_never_more(
        tmp_path: Path, windowed: Windowed, monkeypatch: pytest.MonkeyPatch, cores: int, at_once: int) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=True)
    expected = whole(path)
    monkeypatch.setattr(sheet_windows.os, "cpu_count", lambda: cores)
    reading = Reading(monkeypatch)
    assert_same_grids(expected, windowed.read(path, 90))
    assert windowed.sheets == len(expected) and reading.calls > 4
    # The memory a window's reading takes, and its file, are held ``at_once`` times at most.
    assert reading.most == reading.most_books == at_once
    assert reading.books == 0


def test_a_window_the_reader_fails_on_reads_the_sheet_whole_and_leaves_no_file_open(
        tmp_path: Path, windowed: Windowed, monkeypatch: pytest.MonkeyPatch) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=True)
    expected = whole(path)
    reading = Reading(monkeypatch, fail_at=3)
    assert_same_grids(expected, windowed.read(path, 90))
    assert reading.calls >= 3 and windowed.sheets == len(expected) - 1  # the failed sheet was read whole
    assert reading.books == 0  # no window's workbook is left open


class Handed:
    """Records the rows of every window handed to the reader, read from the window's own workbook."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sheets: list[bytes] = []
        piece = window_reading.window_piece

        def recorded(book: str | bytes, *args: Any, **kwargs: Any) -> Any:
            with zipfile.ZipFile(book if isinstance(book, str) else io.BytesIO(book)) as opened:
                self.sheets.append(opened.read("xl/worksheets/sheet1.xml"))
            return piece(book, *args, **kwargs)

        monkeypatch.setattr(window_reading, "window_piece", recorded)


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prescan inflates 16 KiB at a time, so that a sheet of a few hundred KiB is many chunks."""
    monkeypatch.setattr(read_module, "_INFLATED_STEP", 16 * 1024)


def test_windows_are_read_while_the_prescan_scans_the_sheet(tmp_path: Path, windowed: Windowed, small_steps: None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = handmade(tmp_path / "book.xlsx", many_rows(1, 40_000))
    expected = whole(path)
    handed = Handed(monkeypatch)
    with windowed.using(256 * 1024):
        sources = open_source(path, path.name)
        during_scan = len(handed.sheets)
        got = [s.load(None) for s in sources]
    assert during_scan > 4  # read before open_source returned: while the prescan went on
    assert windowed.sheets == 1 and len(handed.sheets) == windowed.windows
    assert_same_grids(expected, got)


def test_the_assignments_sheet_is_the_one_read_while_the_prescan_scans_not_a_larger_other(
        tmp_path: Path, windowed: Windowed, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    for title, rows in (("Archive", 3_000), ("Assignments", 1_000)):  # the larger sheet first
        ws = wb.add_worksheet(title)
        for r in range(rows):
            ws.write_row(r, 0, [f"{title} {r}", f"row {r}", "x" * 20])
    wb.close()
    expected = whole(path)
    ahead: list[str] = []
    reading = read_module.WindowReading

    def recorded(archive: zipfile.ZipFile, part: str, name: str, strings_bytes: int) -> Any:
        ahead.append(name)
        return reading(archive, part, name, strings_bytes)

    monkeypatch.setattr(read_module, "WindowReading", recorded)
    with windowed.using(4 * 1024):
        sources = open_source(path, path.name)
        during_scan = list(ahead)
        got = [s.load(None) for s in sources]
    assert during_scan == ["Assignments"]  # the larger sheet, loaded only if Assignments had no header, was not
    assert ahead == ["Assignments", "Archive"]  # Archive read in windows after the scan, when it was loaded
    assert_same_grids(expected, got)


@pytest.mark.parametrize(("case", "stray", "code"), [
    ("a row beyond the bounds", '<c r="A2000000" t="inlineStr"><is><t>far</t></is></c>', "file-too-large"),
    ("a malformed reference", '<c r="A0" t="inlineStr"><is><t>far</t></is></c>', "unreadable-file"),
])
def test_a_cell_the_prescan_rejects_late_in_the_sheet_never_reaches_the_reader(
        tmp_path: Path, windowed: Windowed, small_steps: None, monkeypatch: pytest.MonkeyPatch, case: str,
        stray: str, code: str) -> None:
    # Windows of a few rows: one is cut as soon as the chunk that holds the stray row is handed over.
    path = handmade(tmp_path / "book.xlsx", many_rows(1, 3_000) + f'<row r="3001">{stray}</row>'
                    + many_rows(3_002, 500))
    expected = rejection(lambda: whole(path))
    assert expected.startswith(code)
    handed = Handed(monkeypatch)
    assert rejection(lambda: windowed.read(path, 2_000)) == expected, case
    assert len(handed.sheets) > 4  # windows before the stray row were read while the scan went on
    assert not any(b'r="3001"' in sheet for sheet in handed.sheets)  # none held the row the scan had not cleared


def test_a_comment_late_in_the_sheet_stops_the_windows_and_reads_it_whole(
        tmp_path: Path, windowed: Windowed, small_steps: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = handmade(tmp_path / "book.xlsx", many_rows(1, 40_000) + "<!-- a comment -->" + many_rows(40_001, 2_000))
    expected = whole(path)
    handed = Handed(monkeypatch)
    got = windowed.read(path, 256 * 1024)
    assert windowed.sheets == 0 and len(handed.sheets) > 4  # windows were read, then given up
    assert not any(b"<!--" in sheet for sheet in handed.sheets)
    assert_same_grids(expected, got)


def test_the_plan_cuts_about_eight_windows_within_the_bounds_two_at_once() -> None:
    mib = 1024 * 1024
    small, large = sheet_windows.SMALLEST_WINDOW_BYTES, sheet_windows.WINDOW_BYTES
    assert sheet_windows.plan(132 * mib, 0).window_bytes == 132 * mib // 8
    assert sheet_windows.plan(40 * mib, 0).window_bytes == small
    assert sheet_windows.plan(1_350 * mib, 0).window_bytes == large
    assert sheet_windows.plan(132 * mib, 3 * mib).at_once == min(2, os.cpu_count() or 1)


def test_a_large_table_of_shared_strings_makes_fewer_larger_windows_read_one_at_a_time() -> None:
    mib = 1024 * 1024
    many = sheet_windows.plan(1_350 * mib, sheet_windows.SHARED_STRINGS_FOR_TWO + 1)
    assert many == sheet_windows.Plan(2 * sheet_windows.WINDOW_BYTES, 1)


@pytest.mark.parametrize("limits", [Limits(max_rows=20), Limits(max_columns=5)], ids=["rows", "columns"])
def test_the_row_and_column_bounds_reject_as_the_whole_reading_does(tmp_path: Path, windowed: Windowed,
                                                                    limits: Limits) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=True)
    expected = rejection(lambda: whole(path, limits))
    assert rejection(lambda: windowed.read(path, 90, limits)) == expected


def test_a_sheet_under_the_threshold_is_read_whole(tmp_path: Path, windowed: Windowed,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = xlsxwriter_book(tmp_path / "book.xlsx", constant_memory=True)
    with windowed.using(90):
        monkeypatch.setattr(sheet_windows, "WINDOW_THRESHOLD", path.stat().st_size * 100)
        whole(path)
    assert windowed.sheets == windowed.windows == 0


# --- random grids ---------------------------------------------------------------------------------------------

VALUES = st.one_of(
    st.none(), st.just("styled"), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6),
    st.integers(-1000, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(),
    st.dates(dt.date(1950, 1, 1), dt.date(2100, 1, 1)), st.just("#error"),
)


def write_grid(path: Path, grid: list[list[Any]], top: int, left: int, writer: str) -> Path:
    if writer == "openpyxl":
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        for r, values in enumerate(grid):
            for c, value in enumerate(values):
                target = ws.cell(row=top + r + 1, column=left + c + 1)
                if value == "styled":
                    target.font = Font(bold=True)
                elif value == "#error":
                    target.value = "=1/0"
                elif value is not None:
                    target.value = value
        wb.save(path)
        return path
    book = xlsxwriter.Workbook(str(path), {"constant_memory": writer == "inline", "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("Assignments")
    bold, date = book.add_format({"bold": True}), book.add_format({"num_format": "yyyy-mm-dd"})
    for r, values in enumerate(grid):
        for c, value in enumerate(values):
            at = (top + r, left + c)
            if value == "styled":
                sheet.write_blank(*at, None, bold)
            elif value == "#error":
                sheet.write_formula(*at, "=1/0", None, "#DIV/0!")
            elif isinstance(value, dt.date):
                sheet.write_datetime(*at, dt.datetime.combine(value, dt.time()), date)
            elif value is not None:
                sheet.write(*at, value)
    book.close()
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grid=st.integers(1, 6).flatmap(lambda width: st.lists(st.lists(VALUES, min_size=width, max_size=width),
                                                          min_size=1, max_size=14)),
    top=st.integers(0, 4), left=st.integers(0, 3), size=st.integers(1, 1_500),
    writer=st.sampled_from(["inline", "shared", "openpyxl"]),
)
def test_any_grid_reads_in_windows_of_any_size_as_whole(tmp_path_factory: pytest.TempPathFactory,
                                                        windowed: Windowed, grid: list[list[Any]], top: int,
                                                        left: int, size: int, writer: str) -> None:
    path = write_grid(tmp_path_factory.mktemp("grid") / "grid.xlsx", grid, top, left, writer)
    expected = whole(path)
    got = windowed.read(path, size)
    assert windowed.sheets == 1
    assert_same_grids(expected, got)


# --- the file's outcome ---------------------------------------------------------------------------------------


def outcome_files(path: Path) -> Iterator[bytes]:
    outcome = check_file(path, path.name, AS_OF)
    yield outputs.results_csv(outcome)
    yield outputs.errors_csv(outcome)


def test_a_census_workbook_has_the_same_outcome_read_in_windows(tmp_path: Path, windowed: Windowed) -> None:
    path = write_workbook(tmp_path / "census.xlsx", 3_000)
    expected = list(outcome_files(path))
    with windowed.using(256 * 1024):
        got = list(outcome_files(path))
    assert windowed.sheets == 1 and windowed.windows > 10
    assert got == expected
    assert expected[0].count(b"\n") > 3_000
