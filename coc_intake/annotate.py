"""``coc validate FILE --annotate OUT.xlsx``: the employer's own workbook marked where the check found problems
(docs/commands.md#coc-validate).

For an ``.xlsx`` the workbook itself is loaded with openpyxl and edited: on the data sheet intake read, each problem
cell is filled and commented, a ``Messages`` column lists every finding of a row, and a ``Summary`` sheet goes
first; every other sheet, format, width and validation stays as it was. Intake ignores both additions
(``workbook.MESSAGES_COLUMN``, ``engine.SUMMARY_SHEET``), so the workbook, once fixed, can be sent as it is. For a
``.csv`` the marked workbook is the generated one of ``results.xlsx``. OUT is written only once everything
succeeded, through a temporary file renamed over it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterator
from copy import copy
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from coc_intake import xlsx
from coc_intake.engine import SUMMARY_SHEET, CheckedRows, Outcome
from coc_intake.findings import records
from coc_intake.redact import redact
from coc_intake.states import FileResult, RowStatus
from coc_intake.workbook import MESSAGES_COLUMN, build_results_workbook, summary_texts

#: Who writes the comments: a comment by this author is the check's own, replaced when the workbook is marked again.
AUTHOR = "coc validate"
#: Light red for a cell with an error, light yellow for one with only warnings, referral reasons or notices.
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
NOTICE_FILL = PatternFill(fill_type="solid", start_color="FFFFEB9C", end_color="FFFFEB9C")
_OUR_FILLS = {"FFFFC7CE", "FFFFEB9C"}
#: The file codes of a file the reader could not take: nothing of it can be marked.
UNREAD_CODES = frozenset({"unreadable-file", "unsupported-format", "file-too-large"})
_WORKBOOK_SUFFIXES = {".xlsx", ".xltx"}
MESSAGES_WIDTH = 80
#: Excel's limit on a comment's text is 32,767 characters; a cell's comment never needs more than a screen.
COMMENT_CHARS = 30_000


class AnnotateError(Exception):
    """Why OUT cannot be written, said as what to do about it."""


@dataclass(frozen=True)
class Written:
    """What the marked workbook holds: ``cells`` marked and ``rows`` with messages (0 and 0 for a generated one)."""

    path: Path
    cells: int
    rows: int
    generated: bool
    formulas: int = 0


def check_target(file: Path, out: Path) -> None:
    """Refuse an OUT that cannot or must not be written, before the file is checked."""
    if out.suffix.casefold() != ".xlsx":
        raise AnnotateError(f"--annotate {out} must end in .xlsx, for example --annotate {file.stem}-checked.xlsx.")
    if out.is_dir():
        raise AnnotateError(f"--annotate {out} is a folder. Give the path of the workbook to write, for example "
                            f"--annotate {out / (file.stem + '-checked.xlsx')}.")
    if not out.parent.is_dir():
        raise AnnotateError(f"The folder {out.parent} of --annotate does not exist. Create it first or choose "
                            "another path.")
    if _same_file(file, out):
        raise AnnotateError(f"--annotate {out} is the file being checked; the check never changes it. Give another "
                            f"name, for example --annotate {file.stem}-checked.xlsx.")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_annotated(file: Path, outcome: Outcome, out: Path, as_of: dt.date) -> Written:
    """Write OUT: the employer's workbook marked (``.xlsx``) or the generated results workbook (``.csv``)."""
    if PurePath(file.name).suffix.casefold() not in _WORKBOOK_SUFFIXES:
        _replace(out, build_results_workbook(outcome, as_of))
        return Written(out, 0, 0, generated=True)
    unread = [f for f in records(outcome.findings) if f["code"] in UNREAD_CODES]
    if unread:
        raise AnnotateError(f"No marked workbook was written: the file could not be read ({unread[0]['code']}). "
                            "Fix what the message above says, then run the check again.")
    wb = _load(file)
    cells, rows, formulas = mark_workbook(wb, outcome, as_of)
    buffer = io.BytesIO()
    wb.save(buffer)
    _replace(out, buffer.getvalue())
    return Written(out, cells, rows, generated=False, formulas=formulas)


def _load(file: Path) -> Workbook:
    try:
        return load_workbook(file, rich_text=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a workbook it cannot take
        raise AnnotateError(f"openpyxl could not open {file.name} to mark it ({type(exc).__name__}). Open it in "
                            "Excel, save it as an Excel Workbook (.xlsx), then run the check again.") from None


def _replace(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` all at once: a temporary file beside it (readable by its owner only, since it holds
    the employer's cells), renamed over it."""
    fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, out)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise AnnotateError(f"{out} could not be written ({exc.strerror or exc}). Check that the folder is "
                            "writable and that the file is not open in Excel, then run the check again.") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- marking the workbook ------------------------------------------------------------------------------------


def mark_workbook(wb: Workbook, outcome: Outcome, as_of: dt.date) -> tuple[int, int, int]:
    """Mark ``wb`` in place; (cells marked, rows with messages, formulas on the data sheet)."""
    sheet = _data_sheet(wb, outcome)
    cells = rows = formulas = 0
    if sheet is not None:
        _unmark(sheet)
        cells = _mark_cells(sheet, outcome.findings)
        if outcome.header_row is not None:
            rows = _messages_column(sheet, outcome.header_row, outcome.findings)
        formulas = sum(1 for cell in _cells(sheet) if cell.data_type == "f")
    _summary_sheet(wb, outcome, as_of, sheet)
    return cells, rows, formulas


def _data_sheet(wb: Workbook, outcome: Outcome) -> Worksheet | None:
    """The sheet intake read (None when it found none, e.g. no header row)."""
    if outcome.sheet is None:
        return None
    if outcome.sheet not in wb.sheetnames:
        raise AnnotateError(f"The sheet '{outcome.sheet}' that was checked is not in the workbook openpyxl opened. "
                            "Save the workbook again in Excel and run the check again.")
    if outcome.sheet.strip().casefold() == SUMMARY_SHEET.casefold():
        raise AnnotateError(f"The data is on a sheet named '{outcome.sheet}', the name of the sheet the marked "
                            "workbook adds. Rename that sheet (for example to Assignments) and run the check again.")
    found = wb[outcome.sheet]
    if not isinstance(found, Worksheet):
        raise AnnotateError(f"'{outcome.sheet}' is not a worksheet. Save the workbook again in Excel and run the "
                            "check again.")
    return found


def _cells(sheet: Worksheet) -> Iterator[Cell]:
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell, Cell):
                yield cell


def _unmark(sheet: Worksheet) -> None:
    """Take off the marks of an earlier check (its comments, and its fills where the cell has its comment), so that
    a cell fixed since is not shown as a problem still."""
    for cell in _cells(sheet):
        if cell.comment is not None and cell.comment.author == AUTHOR:
            cell.comment = None
            if cell.fill.fill_type == "solid" and str(cell.fill.start_color.rgb) in _OUR_FILLS:
                cell.fill = PatternFill(fill_type=None)


def _notes(findings: pd.DataFrame) -> dict[tuple[int, str], list[tuple[str, str]]]:
    """(sheet row, column letter) → [(severity, message)] of the findings that name a cell."""
    notes: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for rec in records(findings, ["row", "column", "severity", "message"]):
        if rec["row"] is not None and rec["column"]:
            notes.setdefault((int(rec["row"]), str(rec["column"])), []).append(
                (str(rec["severity"]), redact(str(rec["message"]))))
    return notes


def _mark_cells(sheet: Worksheet, findings: pd.DataFrame) -> int:
    """Fill and comment every cell a finding names; a comment of the employer's own is kept (the fill and the
    Messages column still show the problem). The cells' values are the employer's and stay as typed."""
    notes = _notes(findings)
    for (row, letter), found in notes.items():
        cell = sheet[f"{letter}{row}"]
        cell.fill = copy(ERROR_FILL if any(sev == "error" for sev, _ in found) else NOTICE_FILL)
        if cell.comment is None:
            text = "\n".join(message for _, message in found)[:COMMENT_CHARS]
            cell.comment = Comment(text, AUTHOR, width=360, height=max(80, min(400, 20 * (len(text) // 50 + 2))))
    return len(notes)


def _messages_column(sheet: Worksheet, header_row: int, findings: pd.DataFrame) -> int:
    """The ``Messages`` column (an earlier check's reused and emptied, else a new one after the last used column):
    one line per finding of each data row, wrapped. Returns how many rows have messages."""
    column = _find_messages(sheet, header_row) or _new_messages(sheet, header_row)
    for row in range(header_row + 1, sheet.max_row + 1):
        sheet.cell(row, column).value = None
    lines: dict[int, list[str]] = {}
    for rec in records(findings, ["row", "column", "message"]):
        if rec["row"] is not None and int(rec["row"]) > header_row:
            where = f"{rec['column']}: " if rec["column"] else ""
            lines.setdefault(int(rec["row"]), []).append(where + redact(str(rec["message"])))
    wrap = Alignment(wrap_text=True, vertical="top")
    for row, texts in lines.items():
        cell = sheet.cell(row, column)
        cell.value = xlsx.fit("\n".join(texts))
        cell.data_type = "s"  # a message is text, even one beginning with '='
        cell.alignment = wrap
    return len(lines)


def _find_messages(sheet: Worksheet, header_row: int) -> int | None:
    for cell in sheet[header_row]:
        if isinstance(cell.value, str) and cell.value.strip().casefold() == MESSAGES_COLUMN.casefold():
            return int(cell.column)
    return None


def _new_messages(sheet: Worksheet, header_row: int) -> int:
    """A ``Messages`` header after the last used column, styled as the header cell before it."""
    column: int = sheet.max_column + 1
    while column > 2 and sheet.cell(header_row, column - 1).value is None and _empty_column(sheet, column - 1):
        column -= 1
    header = sheet.cell(header_row, column)
    header.value = MESSAGES_COLUMN
    before = sheet.cell(header_row, column - 1) if column > 1 else None
    if before is not None and before.has_style:
        header._style = copy(before._style)
    else:
        header.font = Font(bold=True)
    sheet.column_dimensions[get_column_letter(column)].width = MESSAGES_WIDTH
    return column


def _empty_column(sheet: Worksheet, column: int) -> bool:
    return all(sheet.cell(row, column).value is None for row in range(1, sheet.max_row + 1))


# --- the Summary sheet ---------------------------------------------------------------------------------------


def _summary_sheet(wb: Workbook, outcome: Outcome, as_of: dt.date, data: Worksheet | None) -> None:
    """A ``Summary`` sheet first (an earlier check's replaced), opened when the workbook is."""
    if SUMMARY_SHEET in wb.sheetnames:
        earlier = wb[SUMMARY_SHEET]
        if not _is_ours(earlier):
            raise AnnotateError(f"The workbook already has a sheet named '{SUMMARY_SHEET}', the name of the sheet "
                                "the marked workbook adds. Rename it and run the check again.")
        wb.remove(earlier)
    summary = wb.create_sheet(SUMMARY_SHEET, 0)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    summary.column_dimensions["A"].width = 34
    summary.column_dimensions["B"].width = 100
    lines, problems = summary_texts(outcome, as_of)
    _put(summary, 1, 1, f"Results for {outcome.file}", bold)
    r = 3
    for label, value in lines:
        _put(summary, r, 1, label, bold)
        _put(summary, r, 2, value)
        r += 1
    _put(summary, r + 1, 1, "Most frequent problems", bold)
    r += 2
    for problem, sample in problems:
        _put(summary, r, 1, problem)
        _put(summary, r, 2, sample).alignment = wrap
        r += 1
    _put(summary, r + 1, 1, "What to do next", bold)
    _put(summary, r + 1, 2, advice(outcome, data)).alignment = wrap
    _select_first(wb)


def _put(sheet: Worksheet, row: int, column: int, text: str, font: Font | None = None) -> Any:
    """A text cell (never a formula, whatever it begins with), SSNs masked."""
    cell = sheet.cell(row, column)
    cell.value = xlsx.fit(redact(text))
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def _is_ours(sheet: Any) -> bool:
    """Whether a ``Summary`` sheet is one an earlier check added (its first cell says whose results it holds)."""
    first = sheet["A1"].value if isinstance(sheet, Worksheet) else None
    return isinstance(first, str) and first.startswith("Results for ")


def _select_first(wb: Workbook) -> None:
    """Open on the Summary sheet alone (several selected tabs would make Excel edit them as a group)."""
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = False
    wb.active = 0
    wb.worksheets[0].sheet_view.tabSelected = True


def advice(outcome: Outcome, data: Worksheet | None) -> str:
    """What to do next, for the marked workbook."""
    where = f"the '{data.title}' sheet" if data is not None else "the workbook"
    if outcome.status == FileResult.REJECTED_FILE:
        return (f"The whole file would be rejected: correct what the problems above say on {where} (the marked "
                "cells have comments), then run coc validate on this workbook again.")
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    if counts.get(RowStatus.REJECTED):
        return (f"On {where}, correct the highlighted cells (each has a comment saying what is wrong; the Messages "
                "column lists every problem of the row), run coc validate on this workbook again, then send it as "
                "it is: the Messages column and this sheet are ignored on intake.")
    return ("Nothing to fix: the workbook can be sent as it is (the Messages column and this sheet are ignored on "
            "intake). Referred rows will be reviewed by a specialist.")
