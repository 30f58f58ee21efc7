"""``results.xlsx``: the employer's own rows back, marked per cell, ready to fix and re-upload
(docs/outputs.md#resultsxlsx)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from coc_intake import schemas, template, xlsx
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
    bad_text: Format
    wrap: Format
    text: Format
    messages: Format

    @classmethod
    def of(cls, wb: Workbook) -> _Formats:
        return cls(bold=wb.add_format({**xlsx.BOLD, "valign": "top"}),
                   head=wb.add_format({**xlsx.HEADER, "text_wrap": True, "valign": "top"}),
                   # Marked cells are text like the rest of their column (``_rows_sheet``).
                   bad=wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
                   bad_text=wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006", **xlsx.TEXT}),
                   wrap=wb.add_format({"text_wrap": True, "valign": "top"}),
                   text=wb.add_format(xlsx.TEXT), messages=wb.add_format({"text_wrap": True}))


@dataclass(frozen=True)
class RowsSheet:
    """A sheet of the employer's rows of one status: ``Row``, the employer's own columns in their order, the
    ``extra`` columns, then ``Messages``. Each sheet of rows is one more of these (docs/outputs.md#resultsxlsx)."""

    title: str
    status: RowStatus
    notes: Callable[[pd.DataFrame], pd.Series]
    """Which findings of the sheet's rows mark cells and fill ``Messages``."""
    extra: Callable[[CheckedRows, pd.Index], dict[str, list[str]]] = lambda outcome, wanted: {}
    """Columns between the employer's and ``Messages``: header → one text per row."""


def _request_ids(outcome: CheckedRows, wanted: pd.Index) -> dict[str, list[str]]:
    return {"Request ID": [str(v) for v in outcome.rows.loc[wanted, "request_id"].tolist()]}


#: The sheets of rows, in order.
ROWS_SHEETS = (
    RowsSheet("Fix and resubmit", RowStatus.REJECTED, lambda findings: findings["severity"].eq("error")),
    RowsSheet("Referred", RowStatus.REFERRED, lambda findings: findings["code"].isin(REFERRAL_CODES),
              extra=_request_ids),
)
#: The first column of each sheet of rows: the row's number in the file it came from.
ROW_COLUMN = "Row"
MESSAGES_COLUMN = "Messages"
MESSAGES_WIDTH = 60.0


def build_results_workbook(outcome: Outcome, as_of: dt.date) -> bytes:
    """The workbook's bytes. Every cell is written as text or a number, never as a formula."""
    buffer = io.BytesIO()
    wb = xlsx.new_workbook(buffer)
    # A fixed creation date keeps the file identical when the same bytes are processed again.
    wb.set_properties({"title": f"Intake results for {outcome.file}", "created": dt.datetime.combine(as_of, dt.time())})
    formats = _Formats.of(wb)
    _summary_sheet(wb, outcome, as_of, formats)
    if isinstance(outcome, CheckedRows) and outcome.raw is not None:
        for spec in ROWS_SHEETS:
            _rows_sheet(wb, spec, outcome, formats)
        if outcome.rows["status"].eq(RowStatus.ALREADY_REQUESTED).any():
            _already_sheet(wb, outcome, formats.head)
    _errors_sheet(wb, outcome.findings, formats)
    wb.close()
    return buffer.getvalue()


# --- Summary -------------------------------------------------------------------------------------------------

_SUMMARY_WIDTHS = (34.0, 100.0)


def summary_texts(outcome: Outcome, as_of: dt.date) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The Summary's (label, value) lines and its most frequent problems ('code (count)', first message); also the
    Summary of the workbook ``coc validate --annotate`` marks (``coc_intake/annotate.py``)."""
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    return _summary_lines(outcome, as_of, counts), _top_problems(outcome.findings)


def _summary_sheet(wb: Workbook, outcome: Outcome, as_of: dt.date, formats: _Formats) -> None:
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    lines, problems = summary_texts(outcome, as_of)
    summary = wb.add_worksheet("Summary")
    summary.set_column(0, 0, _SUMMARY_WIDTHS[0], formats.wrap)
    summary.set_column(1, 1, _SUMMARY_WIDTHS[1], formats.wrap)
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
        summary.write_string(r, 1, sample)
        _fit_height(summary, r, [problem, sample])
        r += 1
    r += 1
    advice = _advice(outcome, counts)
    summary.write_string(r, 0, "What to do next", formats.bold)
    summary.write_string(r, 1, advice)
    _fit_height(summary, r, ["", advice])
    xlsx.print_setup(summary, header_rows=0)
    summary.activate()


def _fit_height(sheet: Worksheet, r: int, texts: list[str]) -> None:
    """Make Summary row ``r`` tall enough for its wrapped texts (xlsxwriter leaves heights to Excel, which does
    not fit them when it opens the file)."""
    lines = max(xlsx.line_count(t, w) for t, w in zip(texts, _SUMMARY_WIDTHS, strict=True))
    if lines > 1:
        sheet.set_row(r, xlsx.height_of(lines))


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
    """Up to ten problem codes, each as 'code (count)' and its first message: the errors, most frequent first,
    then the warnings (an error stops a row; a warning does not, so errors are never crowded out)."""
    ranked: list[tuple[str, str, int]] = []
    for severity in ("error", "warning"):
        mine = findings[findings["severity"].eq(severity)]
        ranked += [(severity, code, n) for code, n in Counter(mine["code"]).most_common()]
    top: list[tuple[str, str]] = []
    for severity, code, n in ranked[:10]:
        first = findings.loc[findings["code"].eq(code) & findings["severity"].eq(severity), "message"].iloc[0]
        top.append((f"{code} ({n})", str(first)))
    return top


def _advice(outcome: Outcome, counts: Mapping[str, int]) -> str:
    if outcome.status == FileResult.REJECTED_FILE:
        return "The whole file was rejected: see the Errors sheet, correct the file and submit it again."
    if counts.get(RowStatus.REJECTED):
        return ("Open 'Fix and resubmit', correct the highlighted cells (each has a comment saying what is wrong), "
                "and drop that sheet's workbook into the inbox again as it is. Approved and referred rows are "
                "already requested: do not send them again.")
    return "Nothing to fix. Referred rows will be reviewed by a specialist."


# --- Sheets of rows (Fix and resubmit, Referred) -------------------------------------------------------------


def _rows_sheet(wb: Workbook, spec: RowsSheet, outcome: CheckedRows, formats: _Formats) -> None:
    """One sheet of rows (``spec``). Cell ``c`` of the employer's row is in column ``c + 1``, after ``Row``."""
    assert outcome.raw is not None
    sheet = wb.add_worksheet(spec.title)
    raw = outcome.raw
    letters = list(raw.columns)
    wanted = outcome.rows.index[outcome.rows["status"].eq(spec.status)]
    extra = spec.extra(outcome, wanted)
    headers = [ROW_COLUMN, *(xlsx.fit(h) for h in outcome.headers), *extra, MESSAGES_COLUMN]
    messages, marks = _row_notes(outcome, wanted, spec.notes)
    cells = raw.loc[wanted].to_numpy(dtype=object)
    code_columns = _code_columns(outcome)
    widths = _rows_layout(sheet, headers, cells, extra, code_columns, formats)
    _rows_validations(sheet, outcome)
    for c, text in enumerate(headers):
        sheet.write_string(0, c, text, formats.head)
    head_lines = max(xlsx.line_count(h, w) for h, w in zip(headers, widths, strict=True))
    if head_lines > 1:
        sheet.set_row(0, xlsx.height_of(head_lines))
    first_extra = len(letters) + 1
    extra_texts = list(extra.values())
    for i, (row, values) in enumerate(zip(wanted.tolist(), cells, strict=True), start=1):
        sheet.write_number(i, 0, row)
        texts = [_cell_text(value) for value in values]
        _write_cells(sheet, i, texts, [marks.get((row, letter)) for letter in letters], formats, code_columns)
        for k, column in enumerate(extra_texts):
            sheet.write_string(i, first_extra + k, column[i - 1])
        joined = "\n".join(messages.get(row, []))
        sheet.write_string(i, len(headers) - 1, joined)
        lines = xlsx.line_count(joined, MESSAGES_WIDTH)
        if lines > 1:
            sheet.set_row(i, xlsx.height_of(lines))
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, len(wanted), len(headers) - 1)
    xlsx.print_setup(sheet)


def _rows_layout(sheet: Worksheet, headers: list[str], cells: Any, extra: Mapping[str, list[str]],
                 code_columns: set[int], formats: _Formats) -> list[float]:
    """Column widths from a sample of the rows, the employer's columns formatted as text, ``Messages`` wrapped;
    returns the widths."""
    sample = cells[xlsx.sample_positions(len(cells))] if len(cells) else cells
    employer = [xlsx.width_of(h, (_cell_text(v) for v in sample[:, c])) if len(sample) else xlsx.width_of(h, [])
                for c, h in enumerate(headers[1:len(headers) - 1 - len(extra)])]
    extras = [xlsx.width_of(h, texts[:: max(1, len(texts) // xlsx.WIDTH_SAMPLE_ROWS)]) for h, texts in extra.items()]
    row_width = xlsx.width_of(ROW_COLUMN, [str(len(cells) * 1000)], low=5.0)
    widths = [row_width, *employer, *extras, MESSAGES_WIDTH]
    sheet.set_column(0, 0, row_width)
    for c, width in enumerate(employer, start=1):
        # Cells of code columns stay text when corrected (a ZIP keeps its zeros, a date stays as typed). Only
        # they carry a format: a style on every cell costs about a third more time on a large sheet.
        sheet.set_column(c, c, width, formats.text if c in code_columns else None)
    for c, width in enumerate(extras, start=1 + len(employer)):
        sheet.set_column(c, c, width)
    # Bottom-aligned like every other cell of the row (the default), so a tall row reads along its last line.
    sheet.set_column(len(widths) - 1, len(widths) - 1, MESSAGES_WIDTH, formats.messages)
    return widths


def _code_columns(outcome: CheckedRows) -> set[int]:
    """Sheet columns (after ``Row``) of the employer's columns of code fields (``xlsx.CODE_TYPES``) and dates."""
    assert outcome.raw is not None
    position = {letter: c + 1 for c, letter in enumerate(outcome.raw.columns)}
    fields = schemas.fields()
    return {position[letter] for key, letter in outcome.letters.items()
            if letter in position and (fields[key].type in xlsx.CODE_TYPES or fields[key].type == "date")}


def _rows_validations(sheet: Worksheet, outcome: CheckedRows) -> None:
    """The template's dropdowns on the employer's columns of enumerated fields, to the sheet's last row: the lists
    whose values fit in the validation itself (255 characters; the host country's does not)."""
    lists = template.dropdown_lists()
    position = {letter: c for c, letter in enumerate(outcome.raw.columns if outcome.raw is not None else [])}
    fields = schemas.fields()
    for key, letter in outcome.letters.items():
        values = lists.get(key)
        if not values or letter not in position or len(",".join(values)) > 255:
            continue
        col = position[letter] + 1
        sheet.data_validation(1, col, xlsx.LAST_ROW, col, template.list_validation(fields[key], values))


def _row_notes(outcome: Outcome, wanted: pd.Index, notes: Callable[[pd.DataFrame], pd.Series]
               ) -> tuple[dict[int, list[str]], dict[tuple[int, str], list[str]]]:
    """Each row's messages, and each marked cell's (row, column letter) notes."""
    findings = outcome.findings
    mine = findings[findings["row"].isin(wanted) & notes(findings)]
    messages: dict[int, list[str]] = {}
    marks: dict[tuple[int, str], list[str]] = {}
    for row, column, text in zip(mine["row"].tolist(), mine["column"].tolist(), mine["message"].tolist(),
                                 strict=True):
        letter = column if isinstance(column, str) else None
        messages.setdefault(int(row), []).append(f"{letter}: {text}" if letter else str(text))
        if letter:
            marks.setdefault((int(row), letter), []).append(str(text))
    return messages, marks


def _write_cells(sheet: Worksheet, i: int, texts: list[str], notes_of: list[list[str] | None], formats: _Formats,
                 code_columns: set[int], first: int = 1) -> None:
    """Row ``i``'s employer cells, from column ``first`` on (after ``Row``)."""
    if texts and max(map(len, texts)) > xlsx.CELL_CHARS:
        texts, notes_of = _cut_long_cells(texts, notes_of)
    # Runs of plain cells go in one call (xlsxwriter's per-call overhead is most of its cost), in column order,
    # so that the shared strings are numbered as if written one by one. Marked cells and empty ones (which
    # write_row would leave out, write_string keeps) are written one by one.
    start = 0
    for c, notes in enumerate(notes_of):
        if notes or not texts[c]:
            if start < c:
                sheet.write_row(i, first + start, texts[start:c])
            if notes:
                bad = formats.bad_text if first + c in code_columns else formats.bad
                sheet.write_string(i, first + c, texts[c], bad)
                sheet.write_comment(i, first + c, "\n".join(notes)[:30000], {"x_scale": 3, "y_scale": 2})
            else:
                sheet.write_string(i, first + c, texts[c])
            start = c + 1
    if start < len(texts):
        sheet.write_row(i, first + start, texts[start:])


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


ERRORS_COLUMNS = ["row", "column", "field", "code", "severity", "message", "value"]
_ERRORS_MESSAGE_WIDTH = 80.0


def _errors_sheet(wb: Workbook, findings: pd.DataFrame, formats: _Formats) -> None:
    errors = wb.add_worksheet("Errors")
    columns = ERRORS_COLUMNS
    for c, name in enumerate(columns):
        errors.write_string(0, c, name, formats.head)
    shown = findings.head(MAX_ERROR_SHEET_ROWS)
    sample = shown.iloc[list(xlsx.sample_positions(len(shown)))]
    for c, name in enumerate(columns):
        if name == "message":
            errors.set_column(c, c, _ERRORS_MESSAGE_WIDTH, formats.wrap)
        else:
            texts = (_cell_text(v) for v in sample[name].tolist()) if name in sample else iter(())
            errors.set_column(c, c, xlsx.width_of(name, texts))
    for i, rec in enumerate(records(shown, columns), start=1):
        for c, value in enumerate(rec.values()):
            if c == 0 and value is not None:
                errors.write_number(i, c, value)
            else:
                errors.write_string(i, c, xlsx.fit(_cell_text(value)))
        lines = xlsx.line_count(str(rec["message"] or ""), _ERRORS_MESSAGE_WIDTH)
        if lines > 1:
            errors.set_row(i, xlsx.height_of(lines))
    if len(findings) > MAX_ERROR_SHEET_ROWS:
        errors.write_string(len(shown) + 1, 0, f"… {len(findings) - len(shown)} more findings in errors.csv")
    errors.autofilter(0, 0, len(shown), len(columns) - 1)
    errors.freeze_panes(1, 0)
    xlsx.print_setup(errors)
