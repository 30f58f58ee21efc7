"""The nightly intake's outputs (docs/outputs.md) through the plain function ``coc_intake.batch.process_file``.

Every test writes real files into a real inbox folder, processes them into a real outbox folder (``LocalStore``) and
reads the outputs back as an employer, an analyst or an operator would: the manifest, ``results.csv``, ``errors.csv``,
the request documents (validated against ``schemas/request.schema.json``), ``results.xlsx`` (with openpyxl) and
``source/``. No Prefect: the flow is tested elsewhere.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from coc_intake import agreements, batch, history, schemas
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore
from tests import intake_helpers
from tests.builders import AS_OF, BASE_ROW, row, write_csv, write_xlsx
from tests.intake_helpers import (
    EXAMPLES,
    batch_dir,
    csv_header,
    manifest,
    read_csv,
    request_schema,
    request_validator,
    requests_of,
    run_intake,
    schema_errors,
    snapshot,
)

D = dt.date
FIELDS = list(schemas.fields())

#: The crafted file: a title row, the header on row 2, data from row 3. Row → (SSN, expected status, codes).
CRAFTED_ROWS: list[dict[str, Any]] = [
    row(),                                                                         # 3 approved
    row(ssn="234-56-7890", assignment_end=D(2033, 1, 1), contact_email=None),      # 4 referred: over 60 months
    row(ssn="900-12-3456"),                                                        # 5 rejected: invalid SSN
    row(ssn="345-67-8901", worksite_city=None),                                    # 6 rejected: missing value
    row(ssn="456-78-9012", host_country="IT", citizenship="US;IT", foreign_employer_name="Acme Srl",
        worksite_city="Milan"),                                                    # 7 referred: Italian citizen
    row(ssn="567-89-0123", assignment_start=D(2026, 6, 1), assignment_end=D(2027, 5, 31)),  # 8 approved, warning
]
EXPECTED_ROWS = {
    3: ("approved", []),
    4: ("referred", ["exceeds-detachment-limit"]),
    5: ("rejected", ["invalid-ssn"]),
    6: ("rejected", ["missing-value"]),
    7: ("referred", ["italy-election-required"]),
    8: ("approved", ["retroactive-request"]),
}
#: (row, column letter, field, code, severity, value as reported) of every finding of the crafted file.
EXPECTED_FINDINGS = [
    ("4", "S", "assignment_end", "exceeds-detachment-limit", "warning", "2033-01-01"),
    ("5", "K", "ssn", "invalid-ssn", "error", "***-**-3456"),
    ("6", "U", "worksite_city", "missing-value", "error", ""),
    ("7", "N", "citizenship", "italy-election-required", "warning", "US;IT"),
    ("8", "R", "assignment_start", "retroactive-request", "warning", "2026-06-01"),
]


#: The manifest's fields that docs/outputs.md#manifestjson names (it may hold more).
MANIFEST_FIELDS = ["batch_id", "source_name", "sha256", "size_bytes", "as_of", "template_edition", "sheet",
                   "header_row", "status", "rows", "approved", "referred", "rejected", "error_counts", "file_errors",
                   "request_ids"]


def crafted(inbox: Path, name: str = "acme-crafted.xlsx") -> Path:
    return write_xlsx(inbox / name, CRAFTED_ROWS, title_rows=[["Acme Corp - assignments 2027"]])


@pytest.fixture(autouse=True, params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this module runs against local folders and against a real S3 endpoint (moto_server)."""
    if request.param == "s3":
        env = request.getfixturevalue("s3_env")
        intake_helpers.STORE["mode"] = f"s3://{env['BUCKET']}"
    try:
        yield request.param
    finally:
        intake_helpers.STORE["mode"] = "local"


@pytest.fixture
def processed(stores: tuple[Path, Path]) -> tuple[Path, Path, bytes, batch.FileSummary]:
    """The crafted file processed: (inbox, outbox, the file's bytes, its summary)."""
    inbox, outbox = stores
    data = crafted(inbox).read_bytes()
    [summary] = run_intake(inbox, outbox, deliver=False)
    return inbox, outbox, data, summary


# --- the batch's files ---


def test_a_processed_file_becomes_a_committed_batch_with_exactly_the_spec_outputs_and_leaves_the_inbox(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    inbox, outbox, data, summary = processed
    assert summary.result == "processed"
    assert (summary.rows, summary.approved, summary.referred, summary.rejected, summary.requests) == (6, 2, 2, 2, 4)
    assert summary.batch_id == hashlib.sha256(data).hexdigest()[:16]
    assert list(inbox.iterdir()) == []
    base = batch_dir(outbox, summary)
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    request_ids = manifest(outbox, summary)["request_ids"]
    assert files == sorted(["manifest.json", "results.xlsx", "results.csv", "errors.csv", "source/acme-crafted.xlsx",
                            "history.parquet", "referrals.parquet", *[f"requests/{rid}.json" for rid in request_ids]])
    assert (base / "source" / "acme-crafted.xlsx").read_bytes() == data
    # The only other things in the outbox: the confirmation queued for the approved rows' contact address.
    others = sorted(p.relative_to(outbox).as_posix() for p in outbox.rglob("*") if p.is_file()
                    and not p.is_relative_to(base))
    assert len(others) == 1 and others[0].startswith(f"mail/queue/{summary.batch_id}.") and others[0].endswith(".eml")


def test_the_manifest_holds_every_spec_field_with_the_values_of_the_input(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    _, outbox, data, summary = processed
    doc = manifest(outbox, summary)
    sha = hashlib.sha256(data).hexdigest()
    requests = requests_of(outbox, summary)
    assert set(MANIFEST_FIELDS) <= set(doc)
    assert {k: doc[k] for k in MANIFEST_FIELDS} == {
        "batch_id": sha[:16],
        "source_name": "acme-crafted.xlsx",
        "sha256": sha,
        "size_bytes": len(data),
        "as_of": AS_OF,
        "template_edition": None,  # openpyxl's workbook carries no edition stamp
        "sheet": "Assignments",
        "header_row": 2,
        "status": "processed",
        "rows": 6,
        "approved": 2,
        "referred": 2,
        "rejected": 2,
        "error_counts": {"exceeds-detachment-limit": 1, "invalid-ssn": 1, "italy-election-required": 1,
                         "missing-value": 1, "retroactive-request": 1},
        "file_errors": [],
        "request_ids": sorted(requests),
    }
    assert len(doc["request_ids"]) == 4


def test_the_manifest_counts_findings_of_every_severity_by_code(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    # An unknown column (warning), zeros lost from an SSN (warning), a bad date (error) twice.
    rows = [row(notes="x", ssn="23456789"), row(ssn="345-67-8901", date_of_birth="13/04/1987", hire_date="31/12/2015")]
    keys = [*FIELDS, "notes"]
    headers = [*[schemas.fields()[k].label for k in FIELDS], "Internal notes"]
    write_xlsx(inbox / "counts.xlsx", rows, keys=keys, headers=headers)
    [summary] = run_intake(inbox, outbox, deliver=False)
    doc = manifest(outbox, summary)
    findings = read_csv(batch_dir(outbox, summary) / "errors.csv")
    by_code: dict[str, int] = {}
    for f in findings:
        by_code[f["code"]] = by_code.get(f["code"], 0) + 1
    assert doc["error_counts"] == by_code
    assert doc["error_counts"] == {"invalid-date": 2, "ssn-zeros-restored": 1, "unknown-column": 1}
    assert (doc["rows"], doc["approved"], doc["rejected"]) == (2, 1, 1)


def test_results_csv_has_a_header_and_one_line_per_data_row_with_status_request_id_and_all_codes(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    _, outbox, _, summary = processed
    path = batch_dir(outbox, summary) / "results.csv"
    assert csv_header(path) == ["row", "status", "request_id", "codes"]
    lines = read_csv(path)
    assert [int(r["row"]) for r in lines] == list(EXPECTED_ROWS)
    requests = requests_of(outbox, summary)
    for line in lines:
        status, codes = EXPECTED_ROWS[int(line["row"])]
        assert line["status"] == status, line
        assert (line["codes"].split(";") if line["codes"] else []) == codes, line
        if status == "rejected":
            assert line["request_id"] == "", line
        else:
            assert line["request_id"] in requests, line
            assert requests[line["request_id"]]["source"]["row"] == int(line["row"])
    assert {r["request_id"] for r in lines if r["request_id"]} == set(requests)


def test_results_csv_of_the_acme_example_lists_every_code_of_each_row_in_sheet_row_numbers(
        stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    shutil.copyfile(EXAMPLES / "acme-2027-assignments.xlsx", inbox / "acme-2027-assignments.xlsx")
    [summary] = run_intake(inbox, outbox, deliver=False)
    lines = read_csv(batch_dir(outbox, summary) / "results.csv")
    # Two title rows, the header on row 3, a blank row 15 (not a row).
    assert [(int(r["row"]), r["status"], r["codes"]) for r in lines] == [
        (4, "approved", ""),
        (5, "approved", ""),
        (6, "referred", "exceeds-detachment-limit"),
        (7, "approved", ""),
        (8, "rejected", "health-insurance-required"),
        (9, "referred", "italy-election-required"),
        (10, "approved", "ssn-zeros-restored"),
        (11, "rejected", "no-agreement"),
        (12, "rejected", "invalid-date;missing-3121l-agreement"),
        (13, "rejected", "not-us-covered"),
        (14, "rejected", "duplicate-row;far-future-start"),
        (16, "approved", ""),
    ]
    assert all(r["request_id"].startswith("COC-") == (r["status"] != "rejected") for r in lines)
    assert {r["request_id"][4:6] for r in lines if r["request_id"]} == {"DE", "GB", "ES", "JP", "IT", "PL", "IE"}
    doc = manifest(outbox, summary)
    assert (doc["sheet"], doc["header_row"], doc["rows"], doc["approved"], doc["referred"], doc["rejected"]) == (
        "Assignments", 3, 12, 5, 2, 5)


def test_errors_csv_has_a_header_and_one_line_per_finding_with_ssns_masked(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    _, outbox, _, summary = processed
    path = batch_dir(outbox, summary) / "errors.csv"
    assert csv_header(path) == ["row", "column", "field", "code", "severity", "message", "value"]
    lines = read_csv(path)
    assert [(r["row"], r["column"], r["field"], r["code"], r["severity"], r["value"]) for r in lines] == \
        EXPECTED_FINDINGS
    assert all(r["message"] for r in lines)
    assert "Worksite city is required" in lines[2]["message"] and "column U" in lines[2]["message"]
    assert "900-12-3456" not in path.read_text(encoding="utf-8")


# --- request documents ---


def test_the_shipped_request_schema_is_a_valid_draft_2020_12_schema_closed_at_every_level() -> None:
    schema = request_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    request_validator()  # raises SchemaError when the schema itself is invalid
    props = schema["properties"]
    assert set(schema["required"]) == set(props) == {
        "request_id", "batch_id", "status", "referral_reasons", "warnings", "agreement", "source", "employer",
        "worker", "assignment", "contact_email", "as_of"}
    closed = [schema, props["agreement"], props["source"], props["worker"], props["assignment"],
              props["employer"]["oneOf"][1]]
    assert all(level["additionalProperties"] is False for level in closed)


def test_every_request_document_validates_against_the_shipped_schema(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    crafted(inbox)
    for path in EXAMPLES.iterdir():
        if path.suffix in {".xlsx", ".csv"}:
            shutil.copyfile(path, inbox / path.name)
    summaries = run_intake(inbox, outbox, deliver=False)
    docs = [doc for s in summaries for doc in requests_of(outbox, s).values()]
    assert len(docs) == sum(s.requests for s in summaries) >= 15
    for doc in docs:
        assert schema_errors(doc) == [], doc["request_id"]
    # The examples reach every shape of the document: self-employed (no employer), CSV (no sheet), Italy (no limit),
    # the Quebec understanding, referred and approved.
    assert {d["worker"]["type"] for d in docs} == {"employee", "self-employed"}
    assert any(d["employer"] is None for d in docs) and any(d["source"]["sheet"] is None for d in docs)
    assert any(d["agreement"]["max_months"] is None for d in docs)
    assert any(d["agreement"]["code"] == "CA-QC" for d in docs)
    assert {d["status"] for d in docs} == {"approved", "referred"}


@pytest.mark.parametrize(("where", "value"), [
    (("extra",), "not in the contract"),
    (("worker", "extra"), 1),
    (("employer", "extra"), 1),
    (("assignment", "extra"), 1),
    (("agreement", "extra"), 1),
    (("source", "extra"), 1),
    (("request_id",), "COC-DE-short"),
    (("batch_id",), "D0EFAEF9D87FCA34"),
    (("status",), "rejected"),
    (("worker", "ssn"), "123456789"),
    (("worker", "date_of_birth"), "1980-02-30"),
    (("worker", "date_of_birth"), "05/01/1980"),
    (("assignment", "start"), None),
    (("agreement", "max_months"), "60"),
    (("source", "row"), "3"),
    (("as_of",), "2026-11-25T00:00:00"),
    (("warnings",), ["invalid-ssn"]),
])
def test_the_request_schema_rejects_a_document_that_breaks_the_contract(
        processed: tuple[Path, Path, bytes, batch.FileSummary], where: tuple[str, ...], value: Any) -> None:
    _, outbox, _, summary = processed
    doc = next(d for d in requests_of(outbox, summary).values() if d["source"]["row"] == 3)
    assert schema_errors(doc) == []
    bad = copy.deepcopy(doc)
    target = bad
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert schema_errors(bad) != []


def test_a_request_document_holds_the_rows_values_its_agreement_and_the_run(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    _, outbox, _, summary = processed
    docs = {d["source"]["row"]: d for d in requests_of(outbox, summary).values()}
    assert sorted(docs) == [3, 4, 7, 8]
    first = docs[3]
    assert first["request_id"].startswith("COC-DE-")
    assert first == {
        "request_id": first["request_id"],
        "batch_id": summary.batch_id,
        "status": "approved",
        "referral_reasons": [],
        "warnings": [],
        "agreement": {"country": "DE", "name": "Germany", "in_force_since": "1979-12-01", "max_months": 60,
                      "code": "DE"},
        "source": {"file": "acme-crafted.xlsx", "sheet": "Assignments", "row": 3},
        "employer": {"ein": "12-3456789", "name": "Acme Corp", "street": "1 Main St", "city": "Boston",
                     "state": "MA", "zip": "02110", "foreign_employer_name": "Acme GmbH",
                     "employed_by": "US employer", "section_3121l_date": None},
        "worker": {"type": "employee", "last_name": "Smith", "first_name": "Jane", "middle_initial": "Q",
                   "ssn": "123-45-6789", "date_of_birth": "1980-05-01", "place_of_birth": "Boston, United States",
                   "citizenship": ["US"], "residence_country": "US", "hire_date": "2015-01-01",
                   "business_nature": None},
        "assignment": {"host_country": "DE", "start": "2027-01-01", "end": "2028-12-31", "worksite_city": "Berlin",
                       "worksite_address": "Unter den Linden 1", "worksite_region": None, "health_insurance": None},
        "contact_email": "hr@acme.example",
        "as_of": AS_OF,
    }
    assert (docs[4]["status"], docs[4]["referral_reasons"], docs[4]["contact_email"]) == (
        "referred", ["exceeds-detachment-limit"], None)
    italy = docs[7]
    assert (italy["status"], italy["referral_reasons"]) == ("referred", ["italy-election-required"])
    assert italy["request_id"].startswith("COC-IT-")
    assert italy["agreement"]["max_months"] is None
    assert italy["agreement"]["in_force_since"] == agreements.all_agreements()["IT"].in_force_since.isoformat()
    assert italy["worker"]["citizenship"] == ["US", "IT"]
    assert (docs[8]["status"], docs[8]["warnings"]) == ("approved", ["retroactive-request"])


def _request_id(tmp_path: Path, name: str, one_row: dict[str, Any]) -> str:
    """The request ID that a one-row file of its own gets in a fresh outbox."""
    inbox, outbox = tmp_path / name / "in", tmp_path / name / "out"
    inbox.mkdir(parents=True)
    write_xlsx(inbox / f"{name}.xlsx", [one_row])
    [summary] = run_intake(inbox, outbox, deliver=False)
    [rid] = manifest(outbox, summary)["request_ids"]
    return str(rid)


def test_request_ids_depend_only_on_employer_ssn_host_and_start(tmp_path: Path) -> None:
    base = _request_id(tmp_path, "base", row())
    assert base.startswith("COC-DE-")
    assert _request_id(tmp_path, "again", row()) == base
    # Other names, end date, worksite, address and contact: the same request.
    same = row(first_name="Janet", last_name="Smith-Jones", assignment_end=D(2027, 12, 31), worksite_city="Munich",
               worksite_address=None, contact_email=None, employer_name="Acme Corporation")
    assert _request_id(tmp_path, "same", same) == base
    # Another start date, SSN, host or EIN: another request.
    others = [
        _request_id(tmp_path, "start", row(assignment_start=D(2027, 1, 2))),
        _request_id(tmp_path, "ssn", row(ssn="234-56-7890")),
        _request_id(tmp_path, "ein", row(employer_ein="98-7654321")),
        _request_id(tmp_path, "host", row(host_country="AT", foreign_employer_name="Acme GesmbH",
                                          worksite_city="Vienna")),
    ]
    assert len({base, *others}) == 5
    assert others[3].startswith("COC-AT-")


# --- reprocessing, already processed, duplicate requests ---


def test_reprocessing_the_same_bytes_into_a_fresh_outbox_gives_byte_identical_requests_errors_and_manifest(
        tmp_path: Path) -> None:
    source = crafted(tmp_path)
    outputs: list[dict[str, bytes]] = []
    for run in ("first", "second"):
        inbox, outbox = tmp_path / run / "in", tmp_path / run / "out"
        inbox.mkdir(parents=True)
        shutil.copyfile(source, inbox / source.name)
        [summary] = run_intake(inbox, outbox)
        base = batch_dir(outbox, summary)
        files = snapshot(base)
        outputs.append({k: v for k, v in files.items()
                        if k.startswith("requests/") or k in ("errors.csv", "manifest.json")})
    first, second = outputs
    assert len([k for k in first if k.startswith("requests/")]) == 4
    assert first == second


def test_documents_carry_the_as_of_date_and_no_wall_clock_time(tmp_path: Path) -> None:
    as_of = D(2026, 10, 1)
    today = dt.date.today().isoformat()
    assert today != as_of.isoformat()
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    crafted(inbox)
    [summary] = run_intake(inbox, outbox, as_of=as_of)
    base = batch_dir(outbox, summary)
    texts = [p.read_text(encoding="utf-8") for p in [base / "manifest.json", base / "errors.csv",
                                                      *sorted((base / "requests").glob("*.json"))]]
    assert manifest(outbox, summary)["as_of"] == "2026-10-01"
    assert all(doc["as_of"] == "2026-10-01" for doc in requests_of(outbox, summary).values())
    assert not [t for t in texts if today in t]


def test_a_file_already_processed_is_taken_out_of_the_inbox_and_reported_but_not_processed_again(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    inbox, outbox, data, first = processed
    run_intake(inbox, outbox)  # the first run's confirmations go out
    before = snapshot(outbox)
    (inbox / "acme-crafted.xlsx").write_bytes(data)
    [again] = run_intake(inbox, outbox)
    assert again.result == "already-processed"
    assert again.batch_id == first.batch_id
    assert (again.rows, again.approved, again.referred, again.rejected, again.requests) == (0, 0, 0, 0, 0)
    assert list(inbox.iterdir()) == []
    assert snapshot(outbox) == before  # no new batch, no new request, no new confirmation
    assert [p.name for p in (outbox / "batches").iterdir()] == [first.batch_id]


def test_the_same_bytes_under_another_name_are_already_processed_and_kept_in_that_batchs_source(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    inbox, outbox, data, first = processed
    before = manifest(outbox, first)
    (inbox / "acme-crafted (copy).xlsx").write_bytes(data)
    [again] = run_intake(inbox, outbox)
    assert (again.result, again.batch_id) == ("already-processed", first.batch_id)
    assert list(inbox.iterdir()) == []
    assert manifest(outbox, first) == before
    assert (batch_dir(outbox, first) / "source" / "acme-crafted.xlsx").read_bytes() == data
    assert [p.name for p in (outbox / "batches").iterdir()] == [first.batch_id]


@pytest.mark.parametrize("same_run", [True, False], ids=["same-run", "later-run"])
def test_a_request_already_made_by_an_earlier_batch_is_a_rejected_duplicate_request_naming_it(
        stores: tuple[Path, Path], same_run: bool) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "a-first.xlsx", [row(), row(ssn="234-56-7890")])
    if not same_run:
        [first] = run_intake(inbox, outbox)
    # The same assignment again (other end date and worksite, same EIN, SSN, host and start) and a new one.
    write_csv(inbox / "b-second.csv", [row(ssn="345-67-8901"), row(assignment_end=D(2027, 6, 30),
                                                                    worksite_city="Munich")])
    summaries = run_intake(inbox, outbox)
    if same_run:
        first, second = summaries
    else:
        [second] = summaries
    earlier = next(d for d in requests_of(outbox, first).values() if d["worker"]["ssn"] == "123-45-6789")
    assert (second.result, second.rows, second.approved, second.rejected) == ("processed", 2, 1, 1)
    lines = {int(r["row"]): r for r in read_csv(batch_dir(outbox, second) / "results.csv")}
    assert (lines[3]["status"], lines[3]["request_id"], lines[3]["codes"]) == ("rejected", "", "duplicate-request")
    assert lines[2]["status"] == "approved"
    [finding] = [f for f in read_csv(batch_dir(outbox, second) / "errors.csv") if f["code"] == "duplicate-request"]
    assert (finding["row"], finding["severity"]) == ("3", "error")
    assert earlier["request_id"] in finding["message"] and first.batch_id in finding["message"]
    doc = manifest(outbox, second)
    assert earlier["request_id"] not in doc["request_ids"] and len(doc["request_ids"]) == 1
    assert doc["error_counts"] == {"duplicate-request": 1}
    assert not (batch_dir(outbox, second) / "requests" / f"{earlier['request_id']}.json").exists()


# --- a file rejected whole ---


@pytest.mark.parametrize(("name", "content", "code"), [
    ("header-only.csv", ",".join(schemas.fields()[k].label for k in FIELDS).encode() + b"\n", "empty-file"),
    ("broken.xlsx", b"PK\x03\x04 this is not a workbook", "unreadable-file"),
    ("notes.csv", b"just,some,notes\n1,2,3\n", "no-header-row"),
])
def test_a_file_rejected_whole_is_a_committed_batch_with_status_rejected_file_and_leaves_the_inbox(
        stores: tuple[Path, Path], name: str, content: bytes, code: str) -> None:
    inbox, outbox = stores
    (inbox / name).write_bytes(content)
    [summary] = run_intake(inbox, outbox)
    assert summary.result == "rejected-file"
    assert summary.batch_id == hashlib.sha256(content).hexdigest()[:16]
    assert list(inbox.iterdir()) == []
    base = batch_dir(outbox, summary)
    assert (base / "source" / name).read_bytes() == content
    doc = manifest(outbox, summary)
    assert (doc["status"], doc["rows"], doc["approved"], doc["referred"], doc["rejected"]) == (
        "rejected-file", 0, 0, 0, 0)
    assert (doc["source_name"], doc["size_bytes"], doc["request_ids"]) == (name, len(content), [])
    [error] = doc["file_errors"]
    assert (error["code"], error["severity"], error["scope"]) == (code, "error", "file")
    assert error["message"]
    assert doc["error_counts"] == {code: 1}
    assert not (base / "requests").exists() or not list((base / "requests").iterdir())
    assert read_csv(base / "results.csv") == [] and csv_header(base / "results.csv") == [
        "row", "status", "request_id", "codes"]
    [line] = read_csv(base / "errors.csv")
    assert (line["row"], line["code"], line["severity"]) == ("", code, "error")
    wb = openpyxl.load_workbook(base / "results.xlsx")
    assert "Summary" in wb.sheetnames and "Errors" in wb.sheetnames
    assert [c.value for c in wb["Errors"][2]][3] == code
    # Dropped into the inbox again, the same bytes are already processed.
    (inbox / name).write_bytes(content)
    [again] = run_intake(inbox, outbox)
    assert again.result == "already-processed" and list(inbox.iterdir()) == []


# --- results.xlsx ---


def _fills_and_comments(ws: Any) -> dict[str, tuple[Any, str | None, bool]]:
    """Cell coordinate → (value, comment text, filled) of every filled or commented data cell (row 2 on)."""
    marked = {}
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            filled = cell.fill is not None and cell.fill.fill_type == "solid"
            if filled or cell.comment:
                marked[cell.coordinate] = (cell.value, cell.comment.text if cell.comment else None,
                                           filled)
    return marked


def test_results_workbook_has_the_four_sheets_and_marks_each_problem_cell_with_a_fill_and_a_comment(
        processed: tuple[Path, Path, bytes, batch.FileSummary]) -> None:
    _, outbox, _, summary = processed
    wb = openpyxl.load_workbook(batch_dir(outbox, summary) / "results.xlsx")
    assert wb.sheetnames == ["Summary", "Fix and resubmit", "Referred", "Errors"]
    labels = [schemas.fields()[k].label for k in FIELDS]

    fix = wb["Fix and resubmit"]
    rows = [[c.value for c in line] for line in fix.iter_rows()]
    # Row (the row's number in the file), the employer's own columns in their order, then Messages
    assert rows[0] == ["Row", *labels, "Messages"]
    assert len(rows) == 3  # the two rejected rows
    rows = [r[1:] for r in rows]  # the employer's columns start at B
    ssn_col, city_col = FIELDS.index("ssn"), FIELDS.index("worksite_city")
    assert rows[1][ssn_col] == "900-12-3456" and rows[1][FIELDS.index("last_name")] == "Smith"
    assert rows[2][FIELDS.index("ssn")] == "345-67-8901"
    marked = _fills_and_comments(fix)
    assert set(marked) == {"L2", "V3"}  # the file's columns K and U, after the Row column
    for coordinate, (_, comment, filled) in marked.items():
        assert filled and comment, coordinate
    assert "not a valid SSN" in (marked["L2"][1] or "")
    assert "Worksite city is required" in (marked["V3"][1] or "")
    messages = fix.cell(row=2, column=len(labels) + 2).value
    assert messages.startswith("K: ") and "not a valid SSN" in messages  # the letters of the file sent
    assert fix.cell(row=3, column=len(labels) + 2).value.startswith("U: Worksite city is required")
    assert not fix.cell(row=2, column=city_col + 2).fill.fill_type

    referred = wb["Referred"]
    rrows = [[c.value for c in line] for line in referred.iter_rows()]
    assert rrows[0][0] == "Row" and rrows[0][-2:] == ["Request ID", "Messages"]
    assert [r[0] for r in rrows[1:]] == [4, 7]
    assert [r[1 + FIELDS.index("ssn")] for r in rrows[1:]] == ["234-56-7890", "456-78-9012"]
    ids = {d["source"]["row"]: d["request_id"] for d in requests_of(outbox, summary).values()}
    assert [r[-2] for r in rrows[1:]] == [ids[4], ids[7]]
    assert "60 months" in rrows[1][-1] and "Italian citizen" in rrows[2][-1]

    errors = wb["Errors"]
    erows = [[c.value for c in line] for line in errors.iter_rows()]
    assert erows[0] == ["row", "column", "field", "code", "severity", "message", "value"]
    csv_lines = read_csv(batch_dir(outbox, summary) / "errors.csv")
    assert [(str(r[0]), r[3]) for r in erows[1:]] == [(c["row"], c["code"]) for c in csv_lines]

    summary_text = "\n".join(str(c.value) for line in wb["Summary"].iter_rows() for c in line if c.value)
    for expected in ("acme-crafted.xlsx", AS_OF, "Rejected", "invalid-ssn", "Fix and resubmit"):
        assert expected in summary_text
    counts = {line[0].value: line[1].value for line in wb["Summary"].iter_rows() if line[0].value}
    assert (counts["Rows"], counts["Approved"], counts["Referred to a specialist"], counts["Rejected"]) == (
        "6", "2", "2", "2")


# --- the Fix-and-resubmit round trip ---

ROUND_TRIP_ROWS = [
    row(),                                                                             # approved, not in the sheet
    row(ssn="900-12-3456"),                                                            # invalid-ssn
    row(ssn="345-67-8901", worksite_city=None),                                        # missing-value
    row(ssn="456-78-9012", date_of_birth="13/04/1987"),                                # invalid-date
    row(ssn="567-89-0123", host_country="France", health_insurance="N", foreign_employer_name="Acme SAS",
        worksite_city="Lyon"),                                                         # health-insurance-required
    row(ssn="678-90-1234", host_country="Mexico"),                                     # no-agreement
]
#: Per Social Security number of a rejected row: the corrected cell (field → new text).
CORRECTIONS = {
    "900-12-3456": {"ssn": "789-01-2345"},
    "345-67-8901": {"worksite_city": "Munich"},
    "456-78-9012": {"date_of_birth": "1987-04-13"},
    "567-89-0123": {"health_insurance": "Y"},
    "678-90-1234": {"host_country": "AT"},
}


@pytest.mark.parametrize("kept", ["only that sheet", "the whole results workbook"])
def test_the_fix_and_resubmit_sheet_corrected_is_accepted_as_it_is_and_its_messages_column_ignored(
        stores: tuple[Path, Path], tmp_path: Path, kept: str) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "round-trip.xlsx", ROUND_TRIP_ROWS)
    [first] = run_intake(inbox, outbox)
    assert (first.approved, first.rejected) == (1, 5)

    wb = openpyxl.load_workbook(batch_dir(outbox, first) / "results.xlsx")
    fix = wb["Fix and resubmit"]
    header = [c.value for c in fix[1]]
    assert header[0] == "Row" and header[-1] == "Messages"
    ssn_col = header.index("Social Security number") + 1
    corrected = 0
    for r in range(2, fix.max_row + 1):
        ssn = fix.cell(row=r, column=ssn_col).value
        for key, text in CORRECTIONS[ssn].items():
            cell = fix.cell(row=r, column=header.index(schemas.fields()[key].label) + 1)
            assert cell.fill.fill_type == "solid" and cell.comment is not None, (ssn, key)
            cell.value = text
            corrected += 1
        assert fix.cell(row=r, column=len(header)).value  # the Messages column keeps the old messages
    assert corrected == 5
    if kept == "only that sheet":
        for name in wb.sheetnames:
            if name != "Fix and resubmit":
                del wb[name]
    buffer = io.BytesIO()
    wb.save(buffer)
    (inbox / "round-trip-fixed.xlsx").write_bytes(buffer.getvalue())

    [second] = run_intake(inbox, outbox)
    assert second.result == "processed"
    lines = read_csv(batch_dir(outbox, second) / "results.csv")
    assert [(r["status"], r["codes"]) for r in lines] == [("approved", "")] * 5
    assert (second.rows, second.approved, second.rejected, second.requests) == (5, 5, 0, 5)
    assert read_csv(batch_dir(outbox, second) / "errors.csv") == []  # no finding at all, about Row, Messages or else
    doc = manifest(outbox, second)
    assert (doc["sheet"], doc["header_row"], doc["error_counts"], doc["file_errors"]) == (
        "Fix and resubmit", 1, {}, [])
    docs = requests_of(outbox, second).values()
    assert sorted(d["worker"]["ssn"] for d in docs) == ["345-67-8901", "456-78-9012", "567-89-0123",
                                                       "678-90-1234", "789-01-2345"]
    by_ssn = {d["worker"]["ssn"]: d for d in docs}
    assert by_ssn["456-78-9012"]["worker"]["date_of_birth"] == "1987-04-13"
    assert by_ssn["678-90-1234"]["assignment"]["host_country"] == "AT"
    assert by_ssn["345-67-8901"]["assignment"]["worksite_city"] == "Munich"
    assert by_ssn["789-01-2345"]["employer"]["zip"] == BASE_ROW["employer_zip"]  # text cells keep their zeros
    assert all(schema_errors(d) == [] for d in docs)


def test_the_fix_sheet_keeps_the_employers_column_order_and_unknown_columns(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    keys = [*FIELDS[7:12], "notes", *FIELDS[12:], *FIELDS[:7]]
    headers = [schemas.fields()[k].label if k != "notes" else "Internal notes" for k in keys]
    write_xlsx(inbox / "own-order.xlsx", [row(notes="keep"), row(ssn="900-12-3456", notes="mine")], keys=keys,
               headers=headers)
    [summary] = run_intake(inbox, outbox)
    fix = openpyxl.load_workbook(batch_dir(outbox, summary) / "results.xlsx")["Fix and resubmit"]
    rows = [[c.value for c in line] for line in fix.iter_rows()]
    assert rows[0] == ["Row", *headers, "Messages"]
    assert rows[1][1 + keys.index("notes")] == "mine"
    ssn_letter = openpyxl.utils.get_column_letter(keys.index("ssn") + 1)
    assert set(_fills_and_comments(fix)) == {f"{openpyxl.utils.get_column_letter(keys.index('ssn') + 2)}2"}
    assert rows[1][-1].startswith(f"{ssn_letter}: ")


def test_known_requests_maps_every_committed_request_id_to_its_batch(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    crafted(inbox)
    write_csv(inbox / "second.csv", [row(ssn="789-01-2345")])
    summaries = run_intake(inbox, outbox)
    frame = KnownRequests.load(Outbox(LocalStore(outbox))).frame
    known = dict(zip(history.rid_texts(frame["rid"].to_numpy()), frame["batch"].astype(str), strict=True))
    expected = {rid: s.batch_id for s in summaries for rid in manifest(outbox, s)["request_ids"]}
    assert known == expected and len(known) == 5
