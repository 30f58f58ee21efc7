"""Confidentiality of the nightly intake's outputs (docs/outputs.md#confidentiality), through the plain functions
(``process_file``, ``mail.deliver``) over the example workbooks and crafted files.

- Every file and folder the product writes or moves into a local store is readable by its owner only.
- No workbook or CSV cell is ever a formula: text starting with ``=``, ``+``, ``-`` or ``@`` is a text cell in
  ``results.xlsx`` and is prefixed with ``'`` in a CSV.
- Full SSNs appear only in request documents, ``results.xlsx`` and ``source/``; everything else the run writes
  (manifest, CSVs, queued and delivered e-mails, the mail ledger) and logs carries masked SSNs or none.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import logging
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from coc_intake import mail, schemas
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.conftest import SmtpServer
from tests.intake_helpers import EXAMPLES, batch_dir, full_ssns_in, read_csv, run_intake, settings, ssn_digits

FIELDS = list(schemas.fields())
FORMULA_START = ("=", "+", "-", "@")


# --- the inputs: the examples and a crafted file with SSNs in every form ---


def example_ssns() -> list[str]:
    """Every SSN typed in the example files, as typed (some lost their zeros)."""
    found: list[str] = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix == ".xlsx":
            ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
        elif path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252")), delimiter=";"))
        else:
            continue
        header_at = next(i for i, r in enumerate(rows) if {"Social Security number", "SSN"} & set(r))
        header = rows[header_at]
        col = header.index("Social Security number") if "Social Security number" in header else header.index("SSN")
        found += [str(r[col]) for r in rows[header_at + 1:] if len(r) > col and r[col] not in (None, "")]
    return found


#: The crafted file: SSNs with dashes, spaces, as digits, as an Excel number, with lost zeros, invalid ones, and a
#: repeated one (duplicate-row); each approved row asks for a confirmation.
CRAFTED = [
    row(ssn="123-45-6789", contact_email="hr@acme.example"),
    row(ssn="234 56 7890", contact_email="hr@acme.example"),
    row(ssn="345678901", contact_email="hr@acme.example"),
    row(ssn=456789012, contact_email="payroll@acme.example"),
    row(ssn="5678901", contact_email="payroll@acme.example"),          # lost zeros: 005-67-8901
    row(ssn=23456780, contact_email="payroll@acme.example"),           # an Excel number that lost a zero
    row(ssn="900-12-3456"),                                            # invalid: area 9xx
    row(ssn="666-12-3456"),                                            # invalid: area 666
    row(ssn="123-45-6789", assignment_end=row()["assignment_end"].replace(year=2029)),  # duplicate-row
    row(ssn="678-90-1234", host_country="Mexico"),                     # rejected: no agreement
    row(ssn="789-01-2345", assignment_end=row()["assignment_start"].replace(year=2033)),  # referred
]
CRAFTED_SSNS = [str(r["ssn"]) for r in CRAFTED]


def all_input_ssns() -> list[str]:
    ssns = example_ssns() + CRAFTED_SSNS
    assert len(ssns) == 12 + 6 + 6 + len(CRAFTED)
    return ssns


def fill_inbox(inbox: Path) -> None:
    for path in EXAMPLES.iterdir():
        if path.suffix in {".xlsx", ".csv"}:
            shutil.copyfile(path, inbox / path.name)
            os.chmod(inbox / path.name, 0o644)
    write_xlsx(inbox / "crafted-ssns.xlsx", CRAFTED)
    os.chmod(inbox / "crafted-ssns.xlsx", 0o644)


@pytest.fixture
def whole_run(stores: tuple[Path, Path], caplog: pytest.LogCaptureFixture,
              capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Path, dict[str, str], str]]:
    """The examples and the crafted file through process_file and mail.deliver (confirmations written as .eml).

    Yields the outbox, the texts of the outbox's files before delivery that docs/outputs.md#confidentiality keeps
    free of full SSNs (the queued messages among them), and everything logged or printed during the run."""
    inbox, outbox = stores
    fill_inbox(inbox)
    with caplog.at_level(logging.DEBUG):
        summaries = run_intake(inbox, outbox, deliver=False)
        before = scanned_texts(outbox)
        delivered = mail.deliver(Outbox(LocalStore(outbox)), settings())
    assert [s.result for s in summaries] == ["processed"] * 4
    assert delivered.written >= 4 and delivered.failed == 0
    captured = capsys.readouterr()
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), captured.out, captured.err])
    yield outbox, before, logged


# --- full SSNs ---


def full_ssn_allowed(key: str) -> bool:
    """Where docs/outputs.md#confidentiality allows full SSNs: request documents, the batch's history file (the
    registry of earlier requests), the employer's own results workbook and source/."""
    parts = key.split("/")
    return key.startswith("batches/") and (
        (parts[2] == "requests" and key.endswith(".json")) or parts[2] == "source" or parts[2] == "results.xlsx"
        or parts[2] == "history.parquet")


def eml_texts(data: bytes) -> list[str]:
    """An e-mail as it travels and as a reader sees it: raw, every header decoded, every text part decoded."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    texts = [data.decode("utf-8", errors="replace")]
    texts += [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())
        elif not part.is_multipart():
            payload = part.get_payload(decode=True)
            texts.append(payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload))
    return texts


def scanned_texts(outbox: Path) -> dict[str, str]:
    """Every file of the outbox that must not hold a full SSN → its text (e-mails decoded)."""
    texts = {}
    for path in sorted(outbox.rglob("*")):
        key = path.relative_to(outbox).as_posix()
        if not path.is_file() or full_ssn_allowed(key):
            continue
        data = path.read_bytes()
        texts[key] = "\n".join(eml_texts(data)) if key.endswith(".eml") else data.decode("utf-8", errors="replace")
    return texts


def test_the_ssn_scan_finds_ssns_in_every_form_they_are_typed() -> None:
    ssns = ["123-45-6789", "27193348", "004567890"]
    assert full_ssns_in("SSN 123-45-6789 and 123 45 6789 and 123456789", ssns) == ["123456789"]
    assert full_ssns_in("read as 027-19-3348 from 27193348", ssns) == ["027193348"]
    assert full_ssns_in("4567890 or 004-56-7890", ssns) == ["004567890"]
    assert full_ssns_in("***-**-6789, COC-DE-ABCDE12345, 2027-01-01, 1234567890, 12-3456789", ssns) == []


def test_no_full_ssn_outside_requests_source_and_the_results_workbook(
        whole_run: tuple[Path, dict[str, str], str]) -> None:
    outbox, before, _ = whole_run
    ssns = all_input_ssns()
    after = scanned_texts(outbox)
    kinds = {k.rsplit("/", 1)[-1] if k.startswith("batches/") else k.split("/")[1] for k in [*before, *after]}
    # The scan covers every kind of file the run writes outside the allowed places.
    assert {"manifest.json", "results.csv", "errors.csv", "queue", "sent"} <= kinds
    assert any(k.startswith("mail/queue/") for k in before) and any(
        k.startswith("mail/") and k.count("/") == 1 and k.endswith(".eml") for k in after)
    leaks = {key: full_ssns_in(text, ssns) for key, text in [*before.items(), *after.items()]}
    assert {k: v for k, v in leaks.items() if v} == {}
    # Masked forms are there instead (the e-mails list each approved worker, errors.csv the invalid SSNs).
    assert all("***-**-" in text for key, text in after.items() if key.endswith(".eml"))
    assert any("***-**-3456" in text for key, text in before.items() if key.endswith("errors.csv"))


def test_the_scan_would_see_full_ssns_where_spec_allows_them(whole_run: tuple[Path, dict[str, str], str]) -> None:
    """The other side of the scan: the request documents do hold the full SSNs (so the scan is not blind)."""
    outbox, _, _ = whole_run
    ssns = all_input_ssns()
    found: set[str] = set()
    for path in (outbox / "batches").glob("*/requests/*.json"):
        found |= set(full_ssns_in(path.read_text(encoding="utf-8"), ssns))
    assert {"123456789", "234567890", "345678901", "456789012", "005678901", "023456780"} <= found
    assert ssn_digits("27193348") in found  # the example's SSN that lost its zero


def test_logs_and_console_output_of_the_run_carry_no_full_ssn(whole_run: tuple[Path, dict[str, str], str]) -> None:
    _, _, logged = whole_run
    assert full_ssns_in(logged, all_input_ssns()) == []


def test_confirmations_sent_over_smtp_carry_no_full_ssn(stores: tuple[Path, Path], smtp_server: SmtpServer) -> None:
    inbox, outbox = stores
    fill_inbox(inbox)
    cfg = Settings(smtp_host=smtp_server.box.host, smtp_port=smtp_server.box.port, mail_from="intake@ssa.example")
    run_intake(inbox, outbox, cfg=cfg)
    messages = smtp_server.box.messages
    assert len(messages) >= 4
    ssns = all_input_ssns()
    for message in messages:
        texts = eml_texts(message.as_bytes())
        assert any("***-**-" in t for t in texts)
        assert full_ssns_in("\n".join(texts), ssns) == [], message["To"]


# --- permissions ---


def test_every_file_and_folder_written_or_moved_into_the_outbox_is_readable_by_its_owner_only(
        stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    fill_inbox(inbox)
    old = os.umask(0)  # the modes must not depend on the caller's umask
    try:
        run_intake(inbox, outbox)
    finally:
        os.umask(old)
    paths = [outbox, *sorted(outbox.rglob("*"))]
    files = [p for p in paths if p.is_file()]
    folders = [p for p in paths if p.is_dir()]
    assert len(files) > 40 and {p.name for p in folders} >= {"outbox", "batches", "requests", "source", "mail", "sent"}
    assert {p.relative_to(outbox).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) != 0o600} == {}
    assert {p.as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in folders
            if stat.S_IMODE(p.stat().st_mode) != 0o700} == {}
    moved = [p for p in files if p.parent.name == "source"]
    assert len(moved) == 4  # the inbox's 0o644 files arrive as 0o600


# --- no formulas ---

FORMULA_TEXT = {
    "last_name": '=HYPERLINK("http://evil.example","Smith")',
    "first_name": "+SUM(1,2)",
    "middle_initial": "-",
    "place_of_birth": "=1+2",
    "contact_email": "@evil",
    "worksite_address": "-2+3",
}


def as_text_cells(path: Path) -> None:
    """openpyxl writes a string starting with '=' as a formula: make every such cell the text the employer typed."""
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for line in ws.iter_rows():
            for cell in line:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"
    wb.save(path)


@pytest.fixture
def formula_batch(stores: tuple[Path, Path]) -> tuple[Path, Path]:
    """A file whose cells look like formulas: a rejected row (names, e-mail), a referred row and an approved row
    (places of birth), and an unknown column headed like a formula. Returns (outbox, batch folder)."""
    inbox, outbox = stores
    keys = [*FIELDS, "extra"]
    headers = [*[schemas.fields()[k].label for k in FIELDS], "=1+1"]
    rows = [
        row(ssn="123-45-6789", **FORMULA_TEXT, extra="x"),
        row(ssn="234-56-7890", place_of_birth="@SUM(1+1)", worksite_address="+44 20 7946 0000",
            assignment_end=row()["assignment_start"].replace(year=2033)),
        row(ssn="345-67-8901", place_of_birth="=2+2"),
    ]
    path = write_xlsx(inbox / "formulas.xlsx", rows, keys=keys, headers=headers)
    as_text_cells(path)
    [summary] = run_intake(inbox, outbox)
    assert (summary.approved, summary.referred, summary.rejected) == (1, 1, 1)
    return outbox, batch_dir(outbox, summary)


def test_text_that_looks_like_a_formula_is_a_text_cell_in_results_xlsx(formula_batch: tuple[Path, Path]) -> None:
    _, base = formula_batch
    path = base / "results.xlsx"
    wb = openpyxl.load_workbook(path)
    cells: list[Any] = [c for ws in wb.worksheets for line in ws.iter_rows() for c in line]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    formula_like = [c for c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_START)]
    assert {c.data_type for c in formula_like} == {"s"}

    fix = wb["Fix and resubmit"]
    header = [c.value for c in fix[1]]
    assert "=1+1" in header and fix.cell(row=1, column=header.index("=1+1") + 1).data_type == "s"
    for key, text in FORMULA_TEXT.items():
        cell = fix.cell(row=2, column=FIELDS.index(key) + 2)  # after the Row column
        assert (cell.value, cell.data_type) == (text, "s"), key
    referred = wb["Referred"]
    cell = referred.cell(row=2, column=FIELDS.index("place_of_birth") + 2)
    assert (cell.value, cell.data_type) == ("@SUM(1+1)", "s")
    errors_values = [c.value for c in wb["Errors"]["G"]]
    assert FORMULA_TEXT["last_name"] in errors_values
    # And in the file itself: no formula element in any sheet.
    with zipfile.ZipFile(path) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        assert len(sheets) == 4
        for name in sheets:
            xml = zf.read(name).decode("utf-8")
            assert "<f>" not in xml and "<f " not in xml, name


def test_text_that_looks_like_a_formula_is_prefixed_with_a_quote_in_csv_outputs(
        formula_batch: tuple[Path, Path]) -> None:
    _, base = formula_batch
    findings = read_csv(base / "errors.csv")
    values = {(f["field"], f["code"]): f["value"] for f in findings}
    assert values[("last_name", "invalid-name")] == "'" + FORMULA_TEXT["last_name"]
    assert values[("first_name", "invalid-name")] == "'" + FORMULA_TEXT["first_name"]
    assert values[("middle_initial", "invalid-name")] == "'-"
    assert values[("contact_email", "invalid-email")] == "'@evil"
    assert values[("", "unknown-column")] == "'=1+1"
    for name in ("errors.csv", "results.csv"):
        cells = [v for line in csv.reader(io.StringIO((base / name).read_text(encoding="utf-8"))) for v in line]
        assert [v for v in cells if v.startswith(FORMULA_START)] == [], name
