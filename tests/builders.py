"""Builders of real workbooks and CSV files for the tests, and a runner for the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from typer.testing import CliRunner

from coc_intake import schemas
from coc_intake.cli import app

AS_OF = "2026-11-25"

#: A valid employee row, approved under the German agreement at AS_OF.
BASE_ROW: dict[str, Any] = {
    "employer_ein": "12-3456789",
    "employer_name": "Acme Corp",
    "employer_street": "1 Main St",
    "employer_city": "Boston",
    "employer_state": "MA",
    "employer_zip": "02110",
    "worker_type": "employee",
    "last_name": "Smith",
    "first_name": "Jane",
    "middle_initial": "Q",
    "ssn": "123-45-6789",
    "date_of_birth": dt.date(1980, 5, 1),
    "place_of_birth": "Boston, United States",
    "citizenship": "US",
    "residence_country": "US",
    "hire_date": dt.date(2015, 1, 1),
    "host_country": "DE",
    "assignment_start": dt.date(2027, 1, 1),
    "assignment_end": dt.date(2028, 12, 31),
    "foreign_employer_name": "Acme GmbH",
    "worksite_city": "Berlin",
    "worksite_address": "Unter den Linden 1",
    "worksite_region": None,
    "employed_by": "US employer",
    "section_3121l_date": None,
    "health_insurance": None,
    "business_nature": None,
    "contact_email": "hr@acme.example",
    "request_type": None,
}


def row(**overrides: Any) -> dict[str, Any]:
    """The base row with some fields changed (``None`` leaves a cell blank)."""
    return {**BASE_ROW, **overrides}


def labels() -> list[str]:
    return [f.label for f in schemas.fields().values()]


def write_xlsx(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    headers: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    title_rows: Sequence[Sequence[Any]] = (),
    sheet: str = "Assignments",
) -> Path:
    """A real .xlsx written by openpyxl: title rows, a header row, then one row per mapping.

    ``keys`` chooses the fields (and their order); ``headers`` their header texts (default: the labels).
    """
    keys = list(keys or schemas.fields())
    headers = list(headers or [schemas.fields()[k].label for k in keys])
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for title in title_rows:
        ws.append(list(title))
    ws.append(headers)
    for r in rows:
        ws.append([r.get(k) for k in keys])
    wb.save(path)
    return path


def write_csv(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    encoding: str = "utf-8",
    delimiter: str = ",",
    keys: Sequence[str] | None = None,
    headers: Sequence[str] | None = None,
) -> Path:
    keys = list(keys or schemas.fields())
    headers = list(headers or [schemas.fields()[k].label for k in keys])

    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)

    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(headers)
        for r in rows:
            writer.writerow([text(r.get(k)) for k in keys])
    return path


def validate_json(path: Path, as_of: str = AS_OF, env: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``coc validate PATH --json`` through the CLI runner: (exit code, parsed output)."""
    result = CliRunner().invoke(app, ["validate", str(path), "--json", "--as-of", as_of], env=dict(env or {}))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def codes_at(report: Mapping[str, Any], code: str) -> list[tuple[int | None, str | None]]:
    """(row, column) of every finding with ``code``."""
    return [(f["row"], f["column"]) for f in report["findings"] if f["code"] == code]
