"""The request documents (docs/outputs.md#request-documents-requestsrequest_idjson), now encoded a column at a time
by ``coc_intake.jsonrows``, are byte for byte the documents of the previous implementation, which built one dict per
row and gave it to orjson: that implementation is kept here as the oracle, for the example files and for workbooks
of awkward but acceptable values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from coc_intake import agreements, outputs, schemas
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.engine import Outcome, check_file
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE, EXAMPLES

D = dt.date
BATCH = "0123456789abcdef"

# --- the oracle: the per-row documents of the previous implementation of outputs._documents -------------------

# The document's layout (JSON names → fields) is the one outputs writes; the oracle builds the bytes its own way.
_EMPLOYER, _WORKER, _ASSIGNMENT = outputs._EMPLOYER, outputs._WORKER, outputs._ASSIGNMENT
JSON_OPTIONS = outputs.JSON_OPTIONS


def _json_values(series: pd.Series, is_date: bool) -> list[Any]:
    text = series.dt.strftime("%Y-%m-%d") if is_date else series.astype("str")
    values: list[Any] = text.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
    return values


def oracle_documents(outcome: Outcome, part: np.ndarray, batch_id: str, as_of: dt.date) -> list[tuple[str, bytes]]:
    """(request_id, JSON bytes) of the rows at these positions, one dict per row (the previous implementation)."""
    assert outcome.values is not None
    v, rows = outcome.values.iloc[part], outcome.rows.iloc[part]
    types = {key: f.type for key, f in schemas.fields().items()}
    column = {key: _json_values(v[key], types.get(key) == "date") for key in [*types, "agreement"]}
    employer = list(zip(*[column[k] for k in _EMPLOYER.values()], strict=True))
    worker = list(zip(*[column[k] for k in _WORKER.values()], strict=True))
    assignment = list(zip(*[column[k] for k in _ASSIGNMENT.values()], strict=True))
    agreement_of = {
        code: {"country": a.country, "name": a.name, "in_force_since": a.in_force_since.isoformat(),
               "max_months": a.max_months, "code": a.code}
        for code, a in agreements.all_agreements().items()
    }
    as_of_text = as_of.isoformat()
    docs: list[tuple[str, bytes]] = []
    for i, (number, status, rid, codes, code, worker_type, contact) in enumerate(
        zip(rows.index.tolist(), rows["status"].tolist(), rows["request_id"].tolist(), rows["codes"].tolist(),
            column["agreement"], column["worker_type"], column["contact_email"], strict=True)
    ):
        person = dict(zip(_WORKER, worker[i], strict=True))
        person["citizenship"] = person["citizenship"].split(";") if person["citizenship"] else []
        doc = {
            "request_id": rid,
            "batch_id": batch_id,
            "status": status,
            "referral_reasons": [c for c in codes if c in REFERRAL_CODES],
            "warnings": [c for c in codes if c not in REFERRAL_CODES and CATALOG[c].severity != "error"],
            "agreement": agreement_of[code],
            "source": {"file": outcome.file, "sheet": outcome.sheet, "row": int(number)},
            "employer": dict(zip(_EMPLOYER, employer[i], strict=True)) if worker_type == "employee" else None,
            "worker": person,
            "assignment": dict(zip(_ASSIGNMENT, assignment[i], strict=True)),
            "contact_email": contact,
            "as_of": as_of_text,
        }
        docs.append((str(rid), orjson.dumps(doc, option=JSON_OPTIONS)))
    return docs


# --- helpers -----------------------------------------------------------------------------------------------------


def accepted(outcome: Outcome) -> np.ndarray:
    """Positions of the rows that get a request document (approved or referred)."""
    assert outcome.status == "processed"
    return np.flatnonzero(outcome.rows["status"].ne("rejected").to_numpy())


def assert_same_documents(outcome: Outcome, batch_id: str = BATCH) -> list[dict[str, Any]]:
    """The documents of every accepted row, all at once and chunk by chunk, equal the oracle's byte for byte; the
    parsed documents are returned."""
    positions = accepted(outcome)
    built = outputs.RequestDocuments(outcome, batch_id, AS_OF_DATE).at(positions)
    expected = oracle_documents(outcome, positions, batch_id, AS_OF_DATE)
    assert [rid for rid, _ in built] == [rid for rid, _ in expected]
    for (rid, got), (_, want) in zip(built, expected, strict=True):
        assert got == want, rid
    # The intake writes the documents in chunks: a chunk is encoded on its own, with the same bytes.
    chunked = [doc for part in outputs.request_chunks(outcome, 2) for doc in
               outputs.RequestDocuments(outcome, batch_id, AS_OF_DATE).at(part)]
    assert chunked == built
    return [orjson.loads(doc) for _, doc in built]


# --- the examples ------------------------------------------------------------------------------------------------

EXAMPLE_FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".xlsx", ".csv"})


def test_the_examples_are_all_here() -> None:
    assert {p.suffix for p in EXAMPLE_FILES} == {".xlsx", ".csv"}
    assert len([p for p in EXAMPLE_FILES if p.suffix == ".xlsx"]) >= 2


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_the_request_documents_of_an_example_file_are_byte_for_byte_the_per_row_documents(path: Path) -> None:
    outcome = check_file(path, path.name, AS_OF_DATE)
    docs = assert_same_documents(outcome)
    counts = outcome.counts()
    assert len(docs) == counts["approved"] + counts["referred"] >= 2
    assert {d["source"]["file"] for d in docs} == {path.name}


def test_the_examples_reach_every_shape_of_the_document() -> None:
    docs = [d for path in EXAMPLE_FILES for d in assert_same_documents(check_file(path, path.name, AS_OF_DATE))]
    assert {d["worker"]["type"] for d in docs} == {"employee", "self-employed"}
    assert any(d["employer"] is None for d in docs) and any(d["employer"] is not None for d in docs)
    assert any(d["source"]["sheet"] is None for d in docs) and any(d["source"]["sheet"] for d in docs)
    assert {d["status"] for d in docs} == {"approved", "referred"}
    assert any(len(d["worker"]["citizenship"]) > 1 for d in docs)


# --- a workbook of awkward but acceptable values -----------------------------------------------------------------

SELF_EMPLOYED: dict[str, Any] = {
    "worker_type": "self-employed", "employer_ein": None, "employer_name": None, "employer_street": None,
    "employer_city": None, "employer_state": None, "employer_zip": None, "foreign_employer_name": None,
    "employed_by": None,
}
QUOTED = 'Acme "Quoted" \\ Corp\tTab'
ADDRESS = 'Straße 1, 中文 "Hof" \\ 2\nline two'
NATURE = 'IT "consulting" \\n é ß 中文 😀'
FOREIGN = 'Acme "Srl" \\ ß'

#: Sheet row (data from row 3, below a title row) → (row, expected status, expected codes).
AWKWARD_ROWS: list[tuple[dict[str, Any], str, list[str]]] = [
    (row(employer_name=QUOTED, worksite_address=ADDRESS, business_nature=NATURE), "approved", []),
    (row(ssn="234-56-7890", employer_name="Édith & Söhne «GmbH»", assignment_end=D(2033, 1, 1), contact_email=None),
     "referred", ["exceeds-detachment-limit"]),
    (row(ssn="456-78-9012", host_country="IT", citizenship="US;IT", foreign_employer_name=FOREIGN,
         worksite_city="Milan", worksite_address="Via \"Roma\" 1"), "referred", ["italy-election-required"]),
    (row(ssn="567-89-0123", assignment_start=D(2026, 6, 1), assignment_end=D(2027, 5, 31),
         worksite_address="C:\\path\\to\\site"), "approved", ["retroactive-request"]),
    (row(ssn="301-44-5520", host_country="NL", worksite_city="Amsterdam", business_nature=NATURE,
         residence_country="BE", **SELF_EMPLOYED),
     "referred", ["self-employed-review"]),
    (row(ssn="303-55-6631", host_country="FR", worksite_city="Paris", health_insurance="Y",
         business_nature="Traduction « française »", citizenship="US;FR;IT", **SELF_EMPLOYED), "approved", []),
    (row(ssn=12345678, employer_zip=2110, assignment_start=D(2026, 6, 1), assignment_end=D(2033, 1, 1),
         employer_name="slot#0# \"slot##1#\""),
     "referred", ["exceeds-detachment-limit", "retroactive-request", "ssn-zeros-restored", "zip-zeros-restored"]),
    (row(ssn="304-55-6631", host_country="CH", worksite_city="Zürich", worksite_region="ZH", citizenship="US;CH"),
     "approved", []),
    (row(ssn="900-12-3456", employer_name=QUOTED), "rejected", ["invalid-ssn"]),
]


def awkward_workbook(path: Path, sheet: str = "Assignments") -> Path:
    return write_xlsx(path, [r for r, _, _ in AWKWARD_ROWS], title_rows=[["Acme \"Corp\" - assignments 2027"]],
                      sheet=sheet)


def test_awkward_values_give_byte_for_byte_the_per_row_documents(tmp_path: Path) -> None:
    outcome = check_file(awkward_workbook(tmp_path / "awkward.xlsx"), "awkward.xlsx", AS_OF_DATE)
    assert [(s, sorted(c)) for s, c in zip(outcome.rows["status"], outcome.rows["codes"], strict=True)] == [
        (status, sorted(codes)) for _, status, codes in AWKWARD_ROWS]
    docs = {d["source"]["row"]: d for d in assert_same_documents(outcome)}
    assert sorted(docs) == [3, 4, 5, 6, 7, 8, 9, 10]
    # The awkward values came through as typed, so the comparison above compared them.
    assert docs[3]["employer"]["name"] == QUOTED
    assert docs[3]["assignment"]["worksite_address"] == ADDRESS
    assert docs[3]["worker"]["business_nature"] == NATURE
    assert docs[4]["employer"]["name"] == "Édith & Söhne «GmbH»" and docs[4]["contact_email"] is None
    assert docs[5]["employer"]["foreign_employer_name"] == FOREIGN
    assert docs[5]["worker"]["citizenship"] == ["US", "IT"]
    assert docs[6]["assignment"]["worksite_address"] == "C:\\path\\to\\site"
    assert docs[7]["employer"] is None and docs[7]["worker"]["type"] == "self-employed"
    assert docs[7]["referral_reasons"] == ["self-employed-review"]
    assert docs[8]["employer"] is None and docs[8]["worker"]["citizenship"] == ["US", "FR", "IT"]
    assert docs[9]["employer"]["name"] == 'slot#0# "slot##1#"'
    assert docs[9]["referral_reasons"] == ["exceeds-detachment-limit"]
    assert sorted(docs[9]["warnings"]) == ["retroactive-request", "ssn-zeros-restored", "zip-zeros-restored"]
    assert docs[10]["assignment"]["worksite_city"] == "Zürich"


@pytest.mark.parametrize("positions", [[0], [4], [6, 2], []], ids=["first", "self-employed", "out-of-order", "none"])
def test_documents_of_any_selection_of_rows_match_the_per_row_documents(tmp_path: Path, positions: list[int]) -> None:
    outcome = check_file(awkward_workbook(tmp_path / "awkward.xlsx"), "awkward.xlsx", AS_OF_DATE)
    part = np.array(positions, dtype=np.int64)
    built = outputs.RequestDocuments(outcome, BATCH, AS_OF_DATE).at(part)
    assert built == oracle_documents(outcome, part, BATCH, AS_OF_DATE)
    assert len(built) == len(positions)


@pytest.mark.parametrize(("name", "sheet", "batch_id"), [
    ('acme "2027" slot#0# slot##1# \\ é.xlsx', 'Q "slot#0#" ##', 'b"\\n'),
    # Exactly the text a naive marker of a later slot would be: the status is slot 1, the source row slot 5.
    ("slot###0#.xlsx", "slot#5#", "slot#1#"),
    ("中文 «x» 😀.xlsx", "Données", BATCH),
])
def test_a_file_name_sheet_name_and_batch_id_that_look_like_markers_survive(
        tmp_path: Path, name: str, sheet: str, batch_id: str) -> None:
    outcome = check_file(awkward_workbook(tmp_path / "file.xlsx", sheet=sheet), name, AS_OF_DATE)
    assert (outcome.file, outcome.sheet) == (name, sheet)
    docs = assert_same_documents(outcome, batch_id)
    assert len(docs) == 8
    assert [d["source"] for d in docs] == [{"file": name, "sheet": sheet, "row": r} for r in range(3, 11)]
    assert {d["batch_id"] for d in docs} == {batch_id}
