"""``results.xlsx``: the employer's own rows back, marked per cell, ready to fix and re-upload
(docs/outputs.md#resultsxlsx)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from coc_intake import xlsx
from coc_intake.catalog import REFERRAL_CODES
from coc_intake.engine import CheckedRows, Outcome
from coc_intake.findings import records
from coc_intake.states import FileResult, RowStatus

#: Above this many findings the Errors sheet is cut (errors.csv always has them all).
MAX_ERROR_SHEET_ROWS = 100_000
_DATE_CELL = re.compile(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$")


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    match = _DATE_CELL.match(text)
    return match.group(1) if match else text


@dataclass(frozen=True)
class _Formats:
    bold: Format
    head: Format
    bad: Format
    wrap: Format

    @classmethod
    def of(cls, wb: Workbook) -> _Formats:
        return cls(bold=wb.add_format(xlsx.BOLD), head=wb.add_format(xlsx.HEADER),
                   bad=wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
                   wrap=wb.add_format({"text_wrap": True, "valign": "top"}))


def build_results_workbook(outcome: Outcome, as_of: dt.date) -> bytes:
    """The workbook's bytes. Every cell is written as text or a number, never as a formula."""
    buffer = io.BytesIO()
    wb = xlsx.new_workbook(buffer)
    # A fixed creation date keeps the file identical when the same bytes are processed again.
    wb.set_properties({"title": f"Intake results for {outcome.file}", "created": dt.datetime.combine(as_of, dt.time())})
    formats = _Formats.of(wb)
    _summary_sheet(wb, outcome, as_of, formats)
    if isinstance(outcome, CheckedRows) and outcome.raw is not None:
        _rows_sheet(wb, "Fix and resubmit", outcome, RowStatus.REJECTED, formats.head, formats.bad)
        _rows_sheet(wb, "Referred", outcome, RowStatus.REFERRED, formats.head, formats.bad)
        if outcome.rows["status"].eq(RowStatus.ALREADY_REQUESTED).any():
            _already_sheet(wb, outcome, formats.head)
    _errors_sheet(wb, outcome.findings, formats.head)
    wb.close()
    return buffer.getvalue()


# --- Summary -------------------------------------------------------------------------------------------------


def summary_texts(outcome: Outcome, as_of: dt.date) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The Summary's (label, value) lines and its most frequent problems ('code (count)', first message); also the
    Summary of the workbook ``coc validate --annotate`` marks (``coc_intake/annotate.py``)."""
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    return _summary_lines(outcome, as_of, counts), _top_problems(outcome.findings)


def _summary_sheet(wb: Workbook, outcome: Outcome, as_of: dt.date, formats: _Formats) -> None:
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    lines, problems = summary_texts(outcome, as_of)
    summary = wb.add_worksheet("Summary")
    summary.set_column(0, 0, 34)
    summary.set_column(1, 1, 100)
    summary.write_string(0, 0, f"Results for {outcome.file}", formats.bold)
    r = 2
    for label, value in lines:
        summary.write_string(r, 0, label, formats.bold)
        summary.write_string(r, 1, value)
        r += 1
    r += 1
    summary.write_string(r, 0, "Most frequent problems", formats.bold)
    r += 1
    for problem, sample in problems:
        summary.write_string(r, 0, problem)
        summary.write_string(r, 1, sample, formats.wrap)
        r += 1
    r += 1
    summary.write_string(r, 0, "What to do next", formats.bold)
    summary.write_string(r, 1, _advice(outcome, counts), formats.wrap)


def _summary_lines(outcome: Outcome, as_of: dt.date, counts: Mapping[str, int]) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = [("Checked on", as_of.isoformat()),
                                    ("File status", outcome.status)]
    if counts:
        lines += [("Rows", str(counts["rows"])), ("Approved", str(counts[RowStatus.APPROVED])),
                  ("Referred to a specialist", str(counts[RowStatus.REFERRED])),
                  ("Rejected", str(counts[RowStatus.REJECTED]))]
        if counts[RowStatus.ALREADY_REQUESTED.key]:  # the line appears only when there are such rows
            lines.append(("Already requested earlier", str(counts[RowStatus.ALREADY_REQUESTED.key])))
    return lines


def _top_problems(findings: pd.DataFrame) -> list[tuple[str, str]]:
    """The ten most frequent error and warning codes, each as 'code (count)' and its first message."""
    top = Counter(findings.loc[findings["severity"].isin(["error", "warning"]), "code"]).most_common(10)
    return [(f"{code} ({n})", str(findings.loc[findings["code"].eq(code), "message"].iloc[0])) for code, n in top]


def _advice(outcome: Outcome, counts: Mapping[str, int]) -> str:
    if outcome.status == FileResult.REJECTED_FILE:
        return "The whole file was rejected: see the Errors sheet, correct the file and submit it again."
    if counts.get(RowStatus.REJECTED):
        return ("Open 'Fix and resubmit', correct the highlighted cells (each has a comment saying what is wrong), "
                "and drop that sheet's workbook into the inbox again as it is. Approved and referred rows are "
                "already requested: do not send them again.")
    return "Nothing to fix. Referred rows will be reviewed by a specialist."


# --- Fix and resubmit, Referred ------------------------------------------------------------------------------


def _rows_sheet(wb: Workbook, title: str, outcome: CheckedRows, status: RowStatus, head: Format,
                bad: Format) -> None:
    assert outcome.raw is not None
    sheet = wb.add_worksheet(title)
    raw = outcome.raw
    letters = list(raw.columns)
    wanted = outcome.rows.index[outcome.rows["status"].eq(status)]
    extra = len(letters)
    _rows_header(sheet, outcome.headers, extra, status, head)
    messages, marks = _row_notes(outcome, wanted, status)
    cells = raw.loc[wanted].to_numpy(dtype=object)
    ids = outcome.rows.loc[wanted, "request_id"].tolist()
    for i, (row, values) in enumerate(zip(wanted.tolist(), cells, strict=True), start=1):
        texts = [_cell_text(value) for value in values]
        _write_cells(sheet, i, texts, [marks.get((row, letter)) for letter in letters], bad)
        joined = " | ".join(messages.get(row, []))
        if status == RowStatus.REFERRED:
            sheet.write_string(i, extra, str(ids[i - 1]))
            sheet.write_string(i, extra + 1, joined)
        else:
            sheet.write_string(i, extra, joined)
    sheet.freeze_panes(1, 0)


def _rows_header(sheet: Worksheet, headers: list[str], extra: int, status: str, head: Format) -> None:
    for c, text in enumerate(headers):
        sheet.write_string(0, c, xlsx.fit(text), head)
    sheet.write_string(0, extra, "Request ID" if status == RowStatus.REFERRED else "Messages", head)
    if status == RowStatus.REFERRED:
        sheet.write_string(0, extra + 1, "Messages", head)


def _row_notes(outcome: Outcome, wanted: pd.Index, status: str
               ) -> tuple[dict[int, list[str]], dict[tuple[int, str], list[str]]]:
    """Each row's messages, and each marked cell's (row, column letter) notes."""
    findings = outcome.findings
    relevant = (findings["severity"].eq("error") if status == RowStatus.REJECTED
                else findings["code"].isin(REFERRAL_CODES))
    mine = findings[findings["row"].isin(wanted) & relevant]
    messages: dict[int, list[str]] = {}
    marks: dict[tuple[int, str], list[str]] = {}
    for row, column, text in zip(mine["row"].tolist(), mine["column"].tolist(), mine["message"].tolist(),
                                 strict=True):
        letter = column if isinstance(column, str) else None
        messages.setdefault(int(row), []).append(f"{letter}: {text}" if letter else str(text))
        if letter:
            marks.setdefault((int(row), letter), []).append(str(text))
    return messages, marks


def _write_cells(sheet: Worksheet, i: int, texts: list[str], notes_of: list[list[str] | None], bad: Format) -> None:
    if texts and max(map(len, texts)) > xlsx.CELL_CHARS:
        texts, notes_of = _cut_long_cells(texts, notes_of)
    # Runs of plain cells go in one call (xlsxwriter's per-call overhead is most of its cost), in column order,
    # so that the shared strings are numbered as if written one by one. Marked cells and empty ones (which
    # write_row would leave out, write_string keeps) are written one by one.
    start = 0
    for c, notes in enumerate(notes_of):
        if notes or not texts[c]:
            if start < c:
                sheet.write_row(i, start, texts[start:c])
            if notes:
                sheet.write_string(i, c, texts[c], bad)
                sheet.write_comment(i, c, "\n".join(notes)[:30000], {"x_scale": 3, "y_scale": 2})
            else:
                sheet.write_string(i, c, texts[c])
            start = c + 1
    if start < len(texts):
        sheet.write_row(i, start, texts[start:])


def _cut_long_cells(texts: list[str], notes_of: list[list[str] | None]
                    ) -> tuple[list[str], list[list[str] | None]]:
    """The row's cells with each one over Excel's limit cut visibly (``xlsx.fit``) and marked with a comment
    saying so: xlsxwriter would otherwise drop the rest without a word (docs/decisions.md#outputs)."""
    fitted = [xlsx.fit(text) for text in texts]
    notes = [
        [*(notes or []), f"{xlsx.cut_note(len(text))}: only its start is shown here. Shorten the value."]
        if len(text) > xlsx.CELL_CHARS else notes
        for text, notes in zip(texts, notes_of, strict=True)
    ]
    return fitted, notes
def _already_sheet(wb: Workbook, outcome: CheckedRows, head: Format) -> None:
    """The rows an earlier file or run already requested, as the employer wrote them, with that request and batch:
    nothing to fix or send again."""
    assert outcome.raw is not None
    sheet = wb.add_worksheet("Already requested")
    extra = len(outcome.raw.columns)
    for c, text in enumerate([*outcome.headers, "Request ID", "Batch"]):
        sheet.write_string(0, c, text, head)
    mine = outcome.rows[outcome.rows["status"].eq(RowStatus.ALREADY_REQUESTED)]
    cells = outcome.raw.loc[mine.index].to_numpy(dtype=object)
    for i, (values, rid, batch) in enumerate(zip(cells, mine["request_id"].tolist(),
                                                 mine["earlier_batch"].astype(object).tolist(), strict=True), start=1):
        sheet.write_row(i, 0, [_cell_text(value) for value in values])
        sheet.write_string(i, extra, str(rid))
        sheet.write_string(i, extra + 1, str(batch))
    sheet.freeze_panes(1, 0)


# --- Errors --------------------------------------------------------------------------------------------------


def _errors_sheet(wb: Workbook, findings: pd.DataFrame, head: Format) -> None:
    errors = wb.add_worksheet("Errors")
    columns = ["row", "column", "field", "code", "severity", "message", "value"]
    for c, name in enumerate(columns):
        errors.write_string(0, c, name, head)
    errors.set_column(5, 5, 90)
    shown = findings.head(MAX_ERROR_SHEET_ROWS)
    for i, rec in enumerate(records(shown, columns), start=1):
        for c, value in enumerate(rec.values()):
            if c == 0 and value is not None:
                errors.write_number(i, c, value)
            else:
                errors.write_string(i, c, xlsx.fit(_cell_text(value)))
    if len(findings) > MAX_ERROR_SHEET_ROWS:
        errors.write_string(len(shown) + 1, 0, f"… {len(findings) - len(shown)} more findings in errors.csv")
    errors.autofilter(0, 0, len(shown), len(columns) - 1)
