"""``results.xlsx``: the employer's own rows back, marked per cell, ready to fix and re-upload (SPEC §5)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from typing import Any

import pandas as pd
import xlsxwriter

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


def build_results_workbook(outcome: Outcome, as_of: dt.date) -> bytes:
    """The workbook's bytes. Every cell is written as text or a number, never as a formula."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                      "strings_to_numbers": False, "strings_to_urls": False})
    # A fixed creation date keeps the file identical when the same bytes are processed again.
    wb.set_properties({"title": f"Intake results for {outcome.file}", "created": dt.datetime.combine(as_of, dt.time())})
    bold = wb.add_format({"bold": True})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    bad = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    findings = outcome.findings
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}

    summary = wb.add_worksheet("Summary")
    summary.set_column(0, 0, 34)
    summary.set_column(1, 1, 100)
    summary.write_string(0, 0, f"Results for {outcome.file}", bold)
    r = 2
    lines: list[tuple[str, str]] = [("Checked on", as_of.isoformat()),
                                    ("File status", outcome.status)]
    if counts:
        lines += [("Rows", str(counts["rows"])), ("Approved", str(counts[RowStatus.APPROVED])),
                  ("Referred to a specialist", str(counts[RowStatus.REFERRED])),
                  ("Rejected", str(counts[RowStatus.REJECTED]))]
    for label, value in lines:
        summary.write_string(r, 0, label, bold)
        summary.write_string(r, 1, value)
        r += 1
    r += 1
    summary.write_string(r, 0, "Most frequent problems", bold)
    r += 1
    top = Counter(findings.loc[findings["severity"].isin(["error", "warning"]), "code"]).most_common(10)
    for code, n in top:
        sample = findings.loc[findings["code"].eq(code), "message"].iloc[0]
        summary.write_string(r, 0, f"{code} ({n})")
        summary.write_string(r, 1, str(sample), wrap)
        r += 1
    r += 1
    summary.write_string(r, 0, "What to do next", bold)
    if outcome.status == FileResult.REJECTED_FILE:
        advice = "The whole file was rejected: see the Errors sheet, correct the file and submit it again."
    elif counts.get(RowStatus.REJECTED):
        advice = ("Open 'Fix and resubmit', correct the highlighted cells (each has a comment saying what is wrong), "
                  "and drop that sheet's workbook into the inbox again as it is. Approved and referred rows are "
                  "already requested: do not send them again.")
    else:
        advice = "Nothing to fix. Referred rows will be reviewed by a specialist."
    summary.write_string(r, 1, advice, wrap)

    if isinstance(outcome, CheckedRows) and outcome.raw is not None:
        _rows_sheet(wb, "Fix and resubmit", outcome, RowStatus.REJECTED, head, bad)
        _rows_sheet(wb, "Referred", outcome, RowStatus.REFERRED, head, bad)

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
                errors.write_string(i, c, _cell_text(value))
    if len(findings) > MAX_ERROR_SHEET_ROWS:
        errors.write_string(len(shown) + 1, 0, f"… {len(findings) - len(shown)} more findings in errors.csv")
    errors.autofilter(0, 0, len(shown), len(columns) - 1)
    wb.close()
    return buffer.getvalue()


def _rows_sheet(wb: Any, title: str, outcome: CheckedRows, status: RowStatus, head: Any, bad: Any) -> None:
    assert outcome.raw is not None
    sheet = wb.add_worksheet(title)
    raw = outcome.raw
    letters = list(raw.columns)
    wanted = outcome.rows.index[outcome.rows["status"].eq(status)]
    for c, text in enumerate(outcome.headers):
        sheet.write_string(0, c, text, head)
    extra = len(letters)
    sheet.write_string(0, extra, "Request ID" if status == RowStatus.REFERRED else "Messages", head)
    if status == RowStatus.REFERRED:
        sheet.write_string(0, extra + 1, "Messages", head)
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
    cells = raw.loc[wanted].to_numpy(dtype=object)
    ids = outcome.rows.loc[wanted, "request_id"].tolist()
    for i, (row, values) in enumerate(zip(wanted.tolist(), cells, strict=True), start=1):
        texts = [_cell_text(value) for value in values]
        # Runs of plain cells go in one call (xlsxwriter's per-call overhead is most of its cost), in column order,
        # so that the shared strings are numbered as if written one by one. Marked cells and empty ones (which
        # write_row would leave out, write_string keeps) are written one by one.
        start = 0
        for c, letter in enumerate(letters):
            notes = marks.get((row, letter))
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
        joined = " | ".join(messages.get(row, []))
        if status == RowStatus.REFERRED:
            sheet.write_string(i, extra, str(ids[i - 1]))
            sheet.write_string(i, extra + 1, joined)
        else:
            sheet.write_string(i, extra, joined)
    sheet.freeze_panes(1, 0)
