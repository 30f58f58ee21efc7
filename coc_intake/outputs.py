"""The batch's documents (SPEC §5): request JSON, results.csv, errors.csv and the manifest.

Everything here is a pure function of the outcome and the as-of date, so the same bytes give the same documents.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

import agreements
import schemas
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.engine import Outcome

BATCHES = "batches/"


def manifest_key(batch_id: str) -> str:
    """The batch's commit marker: a batch without it does not exist."""
    return f"{BATCHES}{batch_id}/manifest.json"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def csv_safe(value: object) -> str:
    """A CSV cell that no spreadsheet will run as a formula (SPEC §7)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([csv_safe(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def results_csv(outcome: Outcome) -> bytes:
    rows = outcome.rows
    return csv_bytes(
        ["row", "status", "request_id", "codes"],
        zip(rows.index.tolist(), rows["status"].tolist(), rows["request_id"].tolist(),
            [";".join(c) for c in rows["codes"]], strict=True),
    )


ERROR_COLUMNS = ["row", "column", "field", "code", "severity", "message", "value"]


def errors_csv(outcome: Outcome) -> bytes:
    f = outcome.findings
    rows = f["row"].map(lambda r: "" if r is None or pd.isna(r) else str(int(r)))
    table = [rows.tolist()] + [f[c].tolist() for c in ERROR_COLUMNS[1:]]
    return csv_bytes(ERROR_COLUMNS, zip(*table, strict=True))


def _iso(series: pd.Series) -> list[str | None]:
    text = series.dt.strftime("%Y-%m-%d")
    return [None if pd.isna(v) else v for v in text.tolist()]


def _texts(series: pd.Series) -> list[str | None]:
    return [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in series.tolist()]


def request_documents(outcome: Outcome, batch_id: str, as_of: dt.date) -> list[tuple[str, bytes]]:
    """(request_id, JSON bytes) for every approved or referred row."""
    return [doc for chunk in iter_request_documents(outcome, batch_id, as_of) for doc in chunk]


def iter_request_documents(outcome: Outcome, batch_id: str, as_of: dt.date,
                           chunk: int = 20_000) -> Iterator[list[tuple[str, bytes]]]:
    """The request documents in chunks of rows."""
    for part in request_chunks(outcome, chunk):
        yield documents_at(outcome, part, batch_id, as_of)


def request_chunks(outcome: Outcome, chunk: int) -> list[np.ndarray]:
    """Positions of the accepted rows, in chunks: each can be built and written on its own."""
    if outcome.values is None:
        return []
    positions = np.flatnonzero(outcome.rows["status"].ne("rejected").to_numpy())
    return [positions[start:start + chunk] for start in range(0, len(positions), chunk)]


def documents_at(outcome: Outcome, part: np.ndarray, batch_id: str, as_of: dt.date) -> list[tuple[str, bytes]]:
    """(request_id, JSON bytes) of the rows at these positions."""
    assert outcome.values is not None
    return _documents(outcome.values.iloc[part], outcome.rows.iloc[part], outcome, batch_id, as_of)


def _documents(v: pd.DataFrame, rows: pd.DataFrame, outcome: Outcome, batch_id: str,
               as_of: dt.date) -> list[tuple[str, bytes]]:
    col: dict[str, list[Any]] = {}
    for key, f in schemas.fields().items():
        col[key] = _iso(v[key]) if f.type == "date" else _texts(v[key])
    col["agreement"] = _texts(v["agreement"])
    docs: list[tuple[str, bytes]] = []
    known = agreements.all_agreements()
    for i, (row, status, rid, codes) in enumerate(
        zip(rows.index.tolist(), rows["status"].tolist(), rows["request_id"].tolist(), rows["codes"].tolist(),
            strict=True)
    ):
        get = {k: c[i] for k, c in col.items()}
        a = known[get["agreement"]]
        employee = get["worker_type"] == "employee"
        doc = {
            "request_id": rid,
            "batch_id": batch_id,
            "status": status,
            "referral_reasons": [c for c in codes if c in REFERRAL_CODES],
            "warnings": [c for c in codes if c not in REFERRAL_CODES and CATALOG[c].severity != "error"],
            "agreement": {"country": a.country, "name": a.name, "in_force_since": a.in_force_since.isoformat(),
                          "max_months": a.max_months, "code": a.code},
            "source": {"file": outcome.file, "sheet": outcome.sheet, "row": int(row)},
            "employer": {
                "ein": get["employer_ein"], "name": get["employer_name"], "street": get["employer_street"],
                "city": get["employer_city"], "state": get["employer_state"], "zip": get["employer_zip"],
                "foreign_employer_name": get["foreign_employer_name"], "employed_by": get["employed_by"],
                "section_3121l_date": get["section_3121l_date"],
            } if employee else None,
            "worker": {
                "type": get["worker_type"], "last_name": get["last_name"], "first_name": get["first_name"],
                "middle_initial": get["middle_initial"], "ssn": get["ssn"], "date_of_birth": get["date_of_birth"],
                "place_of_birth": get["place_of_birth"],
                "citizenship": (get["citizenship"] or "").split(";") if get["citizenship"] else [],
                "residence_country": get["residence_country"], "hire_date": get["hire_date"],
                "business_nature": get["business_nature"],
            },
            "assignment": {
                "host_country": get["host_country"], "start": get["assignment_start"], "end": get["assignment_end"],
                "worksite_city": get["worksite_city"], "worksite_address": get["worksite_address"],
                "worksite_region": get["worksite_region"], "health_insurance": get["health_insurance"],
            },
            "contact_email": get["contact_email"],
            "as_of": as_of.isoformat(),
        }
        docs.append((str(rid), orjson.dumps(doc, option=JSON_OPTIONS)))
    return docs


def manifest(outcome: Outcome, batch_id: str, sha256: str, size: int, as_of: dt.date,
             request_ids: list[str]) -> bytes:
    findings = outcome.findings
    counts = outcome.counts() if outcome.status == "processed" else {
        "rows": 0, "approved": 0, "referred": 0, "rejected": 0}
    file_errors = findings[findings["scope"].isin(["file", "header"]) & findings["severity"].eq("error")]
    records = [
        {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else (int(v) if k == "row" else v))
         for k, v in rec.items()}
        for rec in file_errors.to_dict("records")
    ]
    error_counts = {str(k): int(n) for k, n in sorted(findings["code"].value_counts().items())}
    doc = {
        "batch_id": batch_id,
        "source_name": outcome.file,
        "sha256": sha256,
        "size_bytes": size,
        "as_of": as_of.isoformat(),
        "template_edition": outcome.edition,
        "sheet": outcome.sheet,
        "header_row": outcome.header_row,
        "status": outcome.status,
        **counts,
        "error_counts": error_counts,
        "file_errors": records,
        "request_ids": sorted(request_ids),
        "breakdown": _breakdown(outcome),
    }
    return orjson.dumps(doc, option=JSON_OPTIONS)


def _status_counts(frame: pd.DataFrame, key: pd.Series) -> list[dict[str, Any]]:
    table = pd.crosstab(key, frame["status"])
    out = []
    for value, counts in table.iterrows():
        entry: dict[str, Any] = {"key": str(value)}
        entry.update({s: int(counts.get(s, 0)) for s in ("approved", "referred", "rejected")})
        entry["rows"] = entry["approved"] + entry["referred"] + entry["rejected"]
        out.append(entry)
    return sorted(out, key=lambda e: e["key"])


def _breakdown(outcome: Outcome) -> dict[str, Any]:
    """Rows by status per employer and per host country, and the fields of rejecting findings: what the analysts'
    report needs beyond the counts, without personal data (an EIN identifies a business, not a person)."""
    if outcome.values is None or outcome.rows.empty:
        return {"employers": [], "host_countries": [], "rejecting_fields": {}}
    v = outcome.values
    rows = outcome.rows
    ein = v["employer_ein"].fillna("").astype(str)
    names = v["employer_name"].fillna("").astype(str)
    employers = []
    for e in _status_counts(rows, ein + "|" + names):
        number, _, name = e.pop("key").partition("|")
        employers.append({"ein": number, "name": name, **e})
    host = v["host_country"].fillna("").astype(str)
    countries = [{"country": c.pop("key"), **c} for c in _status_counts(rows, host)]
    f = outcome.findings
    errors = f[f["severity"].eq("error") & f["field"].notna() & f["scope"].eq("cell")]
    fields_count = {str(k): int(n) for k, n in sorted(errors["field"].value_counts().items())}
    return {"employers": employers, "host_countries": countries, "rejecting_fields": fields_count}
