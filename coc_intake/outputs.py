"""The batch's documents (docs/outputs.md): request JSON, results.csv, errors.csv and the manifest.

Everything here is a pure function of the outcome and the as-of date, so the same bytes give the same documents.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coc_intake import agreements, jsonrows, schemas
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.engine import CheckedRows, Outcome
from coc_intake.findings import mask_ssn, records
from coc_intake.redact import redact
from coc_intake.states import REQUESTING, RowStatus

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def csv_safe(value: object) -> str:
    """A CSV cell that no spreadsheet will run as a formula (docs/outputs.md#confidentiality)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Iterable[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([csv_safe(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def results_csv(outcome: Outcome) -> bytes:
    header = ["row", "status", "request_id", "codes"]
    if not isinstance(outcome, CheckedRows):
        return csv_bytes(header, [])
    rows = outcome.rows
    empty = pa.scalar("", pa.large_string())
    columns = [_row_numbers(rows), pc.fill_null(_texts(rows["status"]), empty),
               pc.fill_null(_texts(rows["request_id"]), empty),
               pa.array([";".join(c) for c in rows["codes"]], pa.large_string())]
    if any(pc.any(pc.match_substring_regex(c, _NEEDS_CSV_CARE)).as_py() for c in columns):
        return csv_bytes(header, zip(*[c.to_pylist() for c in columns], strict=True))
    # Joined directly (a million rows of IDs and codes): no cell needs quoting or a formula guard.
    lines = pc.binary_join_element_wise(*columns, pa.scalar(",", pa.large_string()))
    return (",".join(header) + "\n").encode() + jsonrows.concat(lines, b"\n")


#: A cell the csv module would quote, or that csv_safe would guard as a formula (an RE2 pattern).
_NEEDS_CSV_CARE = r'[",\r\n]|^[' + "".join(f"\\x{ord(c):02x}" for c in _FORMULA_START) + "]"


def _texts(series: pd.Series) -> pa.Array:
    """A column of text as Arrow strings, missing as null."""
    return pa.array(series.tolist(), pa.large_string(), from_pandas=True)


def _row_numbers(rows: pd.DataFrame) -> pa.Array:
    """The sheet row numbers of the rows, as text."""
    return pa.array(rows.index.to_numpy(dtype=np.int64)).cast(pa.large_string())


ERROR_COLUMNS = ["row", "column", "field", "code", "severity", "message", "value"]


def errors_csv(outcome: Outcome) -> bytes:
    return csv_bytes(ERROR_COLUMNS, (r.values() for r in records(outcome.findings, ERROR_COLUMNS)))


def _accepted(outcome: Outcome) -> np.ndarray:
    """Positions of the rows that make a request (approved or referred)."""
    if not isinstance(outcome, CheckedRows):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(outcome.rows["status"].isin(REQUESTING).to_numpy())


def request_chunks(outcome: Outcome, chunk: int) -> list[np.ndarray]:
    """Positions of the accepted rows, in chunks: each can be built and written on its own."""
    positions = _accepted(outcome)
    return [positions[start:start + chunk] for start in range(0, len(positions), chunk)]


def request_ids(outcome: Outcome) -> list[str]:
    """The IDs of the requests the outcome makes, in the order of ``request_chunks``."""
    if not isinstance(outcome, CheckedRows):
        return []
    return [str(rid) for rid in outcome.rows["request_id"].to_numpy(dtype=object)[_accepted(outcome)]]


#: The nested objects of a request document: JSON name → data dictionary field, in the order written.
_EMPLOYER = {"ein": "employer_ein", "name": "employer_name", "street": "employer_street", "city": "employer_city",
             "state": "employer_state", "zip": "employer_zip", "foreign_employer_name": "foreign_employer_name",
             "employed_by": "employed_by", "section_3121l_date": "section_3121l_date"}
_WORKER = {"type": "worker_type", "last_name": "last_name", "first_name": "first_name",
           "middle_initial": "middle_initial", "ssn": "ssn", "date_of_birth": "date_of_birth",
           "place_of_birth": "place_of_birth", "citizenship": "citizenship", "residence_country": "residence_country",
           "hire_date": "hire_date", "business_nature": "business_nature"}
_ASSIGNMENT = {"host_country": "host_country", "start": "assignment_start", "end": "assignment_end",
               "worksite_city": "worksite_city", "worksite_address": "worksite_address",
               "worksite_region": "worksite_region", "health_insurance": "health_insurance"}


def _agreement_object(code: str | None) -> dict[str, Any] | None:
    a = agreements.all_agreements().get(code) if code else None
    if a is None:
        return None
    return {"country": a.country, "name": a.name, "in_force_since": a.in_force_since.isoformat(),
            "max_months": a.max_months, "code": a.code}


class RequestDocuments:
    """The request documents of an outcome, built a chunk of rows at a time; several threads may build chunks at
    once (they only read what is shared). The typed rows are viewed as an Arrow table once, without copying its
    text columns, so that a chunk is an Arrow ``take`` and Arrow kernels (which release the GIL), not pandas."""

    def __init__(self, outcome: CheckedRows, batch_id: str, as_of: dt.date) -> None:
        types = {key: f.type for key, f in schemas.fields().items()}
        self._dates = {key for key, kind in types.items() if kind == "date"}
        self._table = pa.Table.from_pandas(outcome.values[[*types, "agreement"]], preserve_index=False)
        rows = outcome.rows
        # What comes from the decisions, as Arrow columns of every row: a chunk takes its rows from them.
        self._rows = _row_numbers(rows)
        self._status = _texts(rows["status"])
        self._ids = _texts(rows["request_id"])
        self._lists = _code_lists(rows["codes"].tolist())
        self._shape = {
            "request_id": jsonrows.Text("request_id"),
            "batch_id": batch_id,
            "status": jsonrows.Text("status"),
            "referral_reasons": jsonrows.Raw("referral_reasons"),
            "warnings": jsonrows.Raw("warnings"),
            "agreement": jsonrows.Raw("agreement"),
            "source": {"file": outcome.file, "sheet": outcome.sheet, "row": jsonrows.Raw("row")},
            "employer": jsonrows.Raw("employer"),
            "worker": {k: jsonrows.Raw(f) if f == "citizenship" else jsonrows.Text(f) for k, f in _WORKER.items()},
            "assignment": {k: jsonrows.Text(f) for k, f in _ASSIGNMENT.items()},
            "contact_email": jsonrows.Text("contact_email"),
            "as_of": as_of.isoformat(),
        }

    def at(self, part: np.ndarray) -> list[tuple[str, bytes]]:
        """(request_id, JSON bytes) of the rows at these positions."""
        ids, docs = self.columns_at(part)
        return list(zip(ids.to_pylist(), docs.to_pylist(), strict=True))

    def columns_at(self, part: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """The request IDs (text) and JSON documents (binary) of the rows at these positions, as Arrow columns."""
        positions = pa.array(part, pa.int64())
        taken = self._table.take(positions)
        columns: dict[str, pa.Array] = {}
        for name in taken.column_names:
            values = taken.column(name).combine_chunks()
            if name in self._dates:
                values = values.cast(pa.date32())
            columns[name] = values.cast(pa.large_string())
        columns["citizenship"] = jsonrows.each(columns["citizenship"], lambda c: c.split(";") if c else [])
        columns["agreement"] = jsonrows.each(columns["agreement"], _agreement_object)
        columns["row"] = self._rows.take(positions)
        columns["status"] = self._status.take(positions)
        columns["request_id"] = self._ids.take(positions)
        for name, texts in self._lists.items():
            columns[name] = texts.take(positions)
        employer = jsonrows.encode({k: jsonrows.Text(f) for k, f in _EMPLOYER.items()}, columns)
        is_employee = pc.fill_null(pc.equal(columns["worker_type"], "employee"), False)
        columns["employer"] = pc.if_else(is_employee, employer, pa.scalar("null", pa.large_string()))
        docs = jsonrows.encode(self._shape, columns, newline=True)
        return columns["request_id"], docs.cast(pa.large_binary())


def _referral_reasons(codes: tuple[str, ...]) -> list[str]:
    return [c for c in codes if c in REFERRAL_CODES]


def _warnings(codes: tuple[str, ...]) -> list[str]:
    return [c for c in codes if c not in REFERRAL_CODES and CATALOG[c].severity != "error"]


def _code_lists(codes: list[list[str]]) -> dict[str, pa.Array]:
    """Each row's referral reasons and warnings as JSON, for every row: "[]" for the rows without findings (nearly
    all), the others encoded once per distinct list of codes."""
    coded = [i for i, c in enumerate(codes) if c]
    mask = np.zeros(len(codes), dtype=bool)
    mask[coded] = True
    picks = {"referral_reasons": _referral_reasons, "warnings": _warnings}
    lists = {}
    for name, pick in picks.items():
        empty = pa.scalar(orjson.dumps(pick(()), option=jsonrows.INDENT).decode(), pa.large_string())
        none = pc.fill_null(pa.nulls(len(codes), pa.large_string()), empty)
        lists[name] = pc.replace_with_mask(none, pa.array(mask), jsonrows.each_tuple(
            [tuple(codes[i]) for i in coded], pick))
    return lists


def manifest(outcome: Outcome, batch_id: str, sha256: str, size: int, as_of: dt.date,
             request_ids: list[str], submission_id: str | None = None) -> bytes:
    """``submission_id``: the portal submission that made the batch (its sidecar's), None for a file without one."""
    findings = outcome.findings
    file_errors = findings[findings["scope"].isin(["file", "header"]) & findings["severity"].eq("error")]
    error_counts = {str(k): int(n) for k, n in sorted(findings["code"].value_counts().items())}
    doc = {
        "batch_id": batch_id,
        "source_name": redact(outcome.file),  # the file name may carry an SSN; source/ keeps the real name
        "sha256": sha256,
        "size_bytes": size,
        "as_of": as_of.isoformat(),
        "template_edition": outcome.edition,
        "sheet": outcome.sheet,
        "header_row": outcome.header_row,
        "status": outcome.status,
        **outcome.counts(),
        "error_counts": error_counts,
        "file_errors": records(file_errors),
        "request_ids": sorted(request_ids),
        "breakdown": _breakdown(outcome),
        "submission_id": submission_id,
    }
    return orjson.dumps(doc, option=JSON_OPTIONS)


#: The statuses the breakdown counts; its ``rows`` counts every row, already requested ones too.
_BREAKDOWN = (RowStatus.APPROVED, RowStatus.REFERRED, RowStatus.REJECTED)


def _pair_counts(first: np.ndarray, second: np.ndarray) -> dict[str, dict[str, int]]:
    """How many times each pair occurs, by first then second value, both in sorted order; a pair with a missing
    value is not counted. (``pd.crosstab`` gives the same, at ~8 ms a call on a 50-row file.)"""
    pairs = pd.DataFrame({"first": first, "second": second}).value_counts(sort=False, dropna=True)
    out: dict[str, dict[str, int]] = {}
    keys: list[tuple[Any, Any]] = pairs.index.tolist()
    for (a, b), n in sorted(((str(x), str(y)), int(n)) for (x, y), n in zip(keys, pairs.tolist(), strict=True)):
        out.setdefault(a, {})[b] = n
    return out


def _status_counts(frame: pd.DataFrame, key: pd.Series) -> list[dict[str, Any]]:
    out = []
    for value, counts in _pair_counts(key.to_numpy(), frame["status"].astype(str).to_numpy()).items():
        entry: dict[str, Any] = {"key": value}
        entry.update({s.value: counts.get(s.value, 0) for s in _BREAKDOWN})
        entry["rows"] = sum(counts.values())
        out.append(entry)
    return out


def _masked(column: pd.Series) -> pd.Series:
    """A column as text ("" where blank), SSN-shaped numbers masked: once per distinct value (a census has few
    employers and countries), and before grouping, so that what reads the same is counted as one."""
    text = column.fillna("").astype(str)
    return text.map({value: redact(value) for value in text.unique()})


#: How many of the most frequent rejected values per field a manifest keeps (docs/outputs.md#manifestjson).
TOP_VALUES = 20


def _counts(codes: pd.Series) -> dict[str, int]:
    return {str(k): int(n) for k, n in sorted(codes.value_counts().items())}


def _per_key(findings: pd.DataFrame, key: pd.Series) -> dict[str, dict[str, int]]:
    """Findings of rows, counted per code under the key of their row (``key`` is indexed by sheet row)."""
    if findings.empty:
        return {}
    keys = key.reindex(findings["row"].astype("int64").to_numpy()).to_numpy()
    return _pair_counts(keys, findings["code"].to_numpy())


def _host_keys(host: pd.Series, errors: pd.DataFrame) -> pd.Series:
    """Each row's host country: its code where it was recognised, else ``|`` and what was typed (a rejecting
    finding quotes it, masked), else "" (left blank)."""
    typed = errors[errors["field"].eq("host_country") & errors["value"].notna()].drop_duplicates("row")
    typed_by_row = pd.Series(typed["value"].astype(str).to_numpy(), index=typed["row"].astype("int64").to_numpy())
    shown = typed_by_row.reindex(host.index).fillna("")
    return host.where(host.ne("") | shown.eq(""), "|" + shown)


def _rejected_values(errors: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per field, the ``TOP_VALUES`` most frequent rejected values with their code and count; a blank cell as "".
    Only fields whose values the data dictionary lets a report quote; an SSN masked (docs/decisions.md#report)."""
    policy = {key: f.in_reports for key, f in schemas.fields().items()}
    quoted = errors[errors["field"].map(lambda k: policy.get(k, "counts") != "counts")]
    if quoted.empty:
        return {}
    values = quoted["value"].astype(object).where(quoted["value"].notna(), "")
    values = values.where(quoted["field"].ne("ssn"), values.map(lambda v: mask_ssn(v) if v else ""))
    grouped = pd.DataFrame({"field": quoted["field"].to_numpy(), "value": values.to_numpy(),
                            "code": quoted["code"].to_numpy()}).value_counts().reset_index(name="count")
    grouped = grouped.sort_values(["field", "count", "value", "code"], ascending=[True, False, True, True],
                                  kind="stable")
    out: dict[str, list[dict[str, Any]]] = {}
    for field, part in grouped.groupby("field", sort=True):
        top = part.head(TOP_VALUES)
        out[str(field)] = [{"value": redact(str(v)), "code": str(c), "count": int(n)}
                           for v, c, n in zip(top["value"], top["code"], top["count"], strict=True)]
    return out


def _breakdown(outcome: Outcome) -> dict[str, Any]:
    """What the analysts' report needs beyond the counts, without personal data (docs/outputs.md#manifestjson):
    rows by status per employer (with its findings per code and its rejecting fields) and per host country (with
    its referral reasons), the rejecting fields, and the most frequent rejected values of the fields the data
    dictionary lets a report quote. An EIN identifies a business, not a person. The keys are masked
    (docs/outputs.md#confidentiality): a sole proprietor's employer name may hold an SSN, and a rejected row's EIN
    or country is what was typed."""
    if not isinstance(outcome, CheckedRows) or outcome.rows.empty:
        return {"employers": [], "host_countries": [], "rejecting_fields": {}, "rejected_values": {}}
    v = outcome.values
    rows = outcome.rows
    f = outcome.findings
    of_rows = f[f["scope"].eq("cell") & f["row"].notna()]
    errors = of_rows[of_rows["severity"].eq("error") & of_rows["field"].notna()]
    employer = _masked(v["employer_ein"]) + "|" + _masked(v["employer_name"])
    codes = _per_key(of_rows, employer)
    rejecting = _per_key(errors.assign(code=errors["field"]), employer)
    employers = []
    for e in _status_counts(rows, employer):
        key = e.pop("key")
        number, _, name = key.partition("|")
        employers.append({"ein": number, "name": name, **e, "codes": codes.get(key, {}),
                          "fields": rejecting.get(key, {})})
    host = _host_keys(_masked(v["host_country"]), errors)
    referrals = _per_key(of_rows[of_rows["code"].isin(REFERRAL_CODES)], host)
    countries = []
    for c in _status_counts(rows, host):
        key = c.pop("key")
        code, bar, typed = key.partition("|")
        countries.append({"country": code, **({"typed": typed} if bar else {}), **c,
                          "referrals": referrals.get(key, {})})
    return {"employers": employers, "host_countries": countries, "rejecting_fields": _counts(errors["field"]),
            "rejected_values": _rejected_values(errors)}
