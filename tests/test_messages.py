"""Every catalog message, shown for a realistic value, says what was read, what is accepted and how to fix it.

Each code has one case: a real file (a workbook built with ``tests.builders``, or a deliberately broken file for the
file codes) checked through ``coc validate --json``; ``duplicate-request`` and ``already-requested`` need an earlier
request, so their case runs the nightly intake twice and reads the batch's errors.csv;
``not-authorized-for-employer`` needs a submitting account, so its case is checked with the account's
authorization, as the portal's pre-check does. The case names the phrases a person needs to fix the cell (the
accepted forms, the fix). A new catalog code without a case fails ``test_every_catalog_code_has_a_case``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.packaging.custom import StringProperty

from coc_intake import schemas
from coc_intake.catalog import CATALOG, message
from coc_intake.engine import check_file
from coc_intake.findings import records
from coc_intake.sidecar import Authorization
from tests.builders import row, validate_json, write_csv, write_xlsx
from tests.intake_helpers import AS_OF_DATE, batch_dir, read_csv, run_intake

D = dt.date
FIELDS = list(schemas.fields())
OTHER_SSN = "234-56-7890"


def self_employed(**overrides: Any) -> dict[str, Any]:
    """A self-employed person living in the United States: no employer fields."""
    return row(worker_type="self-employed", business_nature="Software consulting", employer_ein=None,
               employer_name=None, employer_street=None, employer_city=None, employer_state=None, employer_zip=None,
               hire_date=None, foreign_employer_name=None, employed_by=None, **overrides)


def _findings(path: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    _, report = validate_json(path, env=env)
    findings: list[dict[str, Any]] = report["findings"]
    return findings


def rows(*data: dict[str, Any]) -> Callable[[Path], list[dict[str, Any]]]:
    """A case: an .xlsx of these rows (template headers)."""
    return lambda tmp: _findings(write_xlsx(tmp / "census.xlsx", list(data)))


def headed(headers: list[str], keys: list[str] | None = None) -> Callable[[Path], list[dict[str, Any]]]:
    """A case: one valid row under these headers."""
    return lambda tmp: _findings(write_xlsx(tmp / "census.xlsx", [row()], headers=headers, keys=keys))


def raw_file(name: str, data: Callable[[Path], bytes],
             env: dict[str, str] | None = None) -> Callable[[Path], list[dict[str, Any]]]:
    """A case: a file of these bytes."""
    def build(tmp: Path) -> list[dict[str, Any]]:
        path = tmp / name
        path.write_bytes(data(tmp))
        return _findings(path, env)
    return build


def _labels(**changed: str) -> list[str]:
    return [changed.get(k, schemas.fields()[k].label) for k in FIELDS]


def _valid_bytes(tmp: Path, data: list[dict[str, Any]] | None = None) -> bytes:
    return write_xlsx(tmp / "source.xlsx", [row()] if data is None else data).read_bytes()


def _outdated(tmp: Path) -> list[dict[str, Any]]:
    path = write_xlsx(tmp / "old.xlsx", [row()])
    wb = openpyxl.load_workbook(path)
    wb.custom_doc_props.append(StringProperty(name="coc-template-edition", value="2025.1"))
    wb.save(path)
    return _findings(path)


def _resent(changed: dict[str, Any]) -> Callable[[Path], list[dict[str, Any]]]:
    """A case: a row requested by one night's file, sent again (changed) in the next night's."""
    def build(tmp: Path) -> list[dict[str, Any]]:
        inbox, outbox = tmp / "inbox", tmp / "outbox"
        inbox.mkdir()
        outbox.mkdir()
        write_xlsx(inbox / "census-1.xlsx", [row()])
        run_intake(inbox, outbox, deliver=False)
        write_xlsx(inbox / "census-2.xlsx", [row(**changed)], title_rows=[["Sent again"]])
        [second] = run_intake(inbox, outbox, as_of=AS_OF_DATE + dt.timedelta(days=1), deliver=False)
        return [dict(f) for f in read_csv(batch_dir(outbox, second) / "errors.csv")]
    return build


def _submitted_by(eins: tuple[str, ...]) -> Callable[[Path], list[dict[str, Any]]]:
    """A case: one valid row, checked for an account that holds these EINs (the portal's pre-check)."""
    def build(tmp: Path) -> list[dict[str, Any]]:
        path = write_xlsx(tmp / "census.xlsx", [row()])
        outcome = check_file(path, path.name, AS_OF_DATE, authorization=Authorization(frozenset(eins), frozenset()))
        return records(outcome.findings)
    return build


Case = tuple[str, Callable[[Path], list[dict[str, Any]]], list[str]]

#: (code, the file that shows it, phrases its message must hold: what was read, what is accepted, the fix).
CASES: list[Case] = [
    # --- file and header errors
    ("unreadable-file", raw_file("census.xlsx", lambda tmp: b"this is not a workbook \x00\x01" * 50),
     ["could not be read", "Save it again from Excel as an .xlsx workbook", "resubmit"]),
    ("unsupported-format", raw_file("census.xlsm", _valid_bytes),
     ["Excel Workbook (.xlsx, no macros)", "CSV (UTF-8)", "resubmit"]),
    ("file-too-large", raw_file("census.xlsx", lambda tmp: _valid_bytes(tmp, [row()] * 10), {"COC_MAX_ROWS": "5"}),
     ["over the intake's limit", "Split it into smaller workbooks"]),
    ("empty-file", raw_file("census.xlsx", lambda tmp: _valid_bytes(tmp, [])),
     ["no assignment rows below the header", "Fill in one row per assignment"]),
    ("no-header-row", raw_file("census.csv", lambda tmp: b"hello\nworld\n"),
     ["No header row", "'Social Security number'", "`coc template`"]),
    ("missing-column", headed([schemas.fields()[k].label for k in FIELDS if k != "place_of_birth"],
                              [k for k in FIELDS if k != "place_of_birth"]),
     ["'Place of birth' is missing", "Add a column headed 'Place of birth'"]),
    ("duplicate-column", lambda tmp: _findings(write_xlsx(tmp / "census.xlsx", [row()], keys=[*FIELDS, "ssn"],
                                                          headers=[*_labels(), "SSN"])),
     ["are all read as 'Social Security number'", "Keep one of them"]),
    # --- header notices
    ("unknown-column", lambda tmp: _findings(write_xlsx(tmp / "census.xlsx", [{**row(), "cost": "CC-12"}],
                                                        keys=[*FIELDS, "cost"], headers=[*_labels(), "Cost center"])),
     ["('Cost center')", "ignored", "Rename it to a template label", "delete it"]),
    ("assumed-column", headed(_labels(ssn="Social Securty Number")),
     ["('Social Securty Number')", "taken to be 'Social Security number'", "rename the column"]),
    ("outdated-template", _outdated, ["edition 2025.1", schemas.edition(), "`coc template`"]),
    # --- cell and row errors
    ("missing-value", rows(row(last_name=None)), ["Last name is required", "Fill in column H"]),
    ("invalid-ssn", rows(row(ssn="123-45-678")), ["'***-**-5678'", "NNN-NN-NNNN"]),
    ("invalid-ein", rows(row(employer_ein="12-345678")), ["'12-345678'", "NN-NNNNNNN"]),
    ("invalid-date", rows(row(date_of_birth="23/11/1979")),
     ["'23/11/1979'", "day-first dates are not accepted", "YYYY-MM-DD, MM/DD/YYYY (month first)", "four-digit year",
      "write 1979-11-23"]),
    ("invalid-country", rows(row(residence_country="Atlantis")),
     ["'Atlantis' is not a country", "ISO code (DE, DEU)", "English name (Germany)"]),
    ("invalid-email", rows(row(contact_email="hr@@acme.example")),
     ["'hr@@acme.example' is not an e-mail address", "Correct it", "leave the cell blank"]),
    ("invalid-value", rows(row(worker_type="contractor")),
     ["'contractor' is not accepted", "use one of employee, self-employed."]),
    ("invalid-name", rows(row(last_name="Sm1th")),
     ["'Sm1th' is not a valid name", "Use letters, spaces, hyphens, apostrophes and periods, 1 to 40 characters"]),
    ("invalid-zip", rows(row(employer_zip="2110-1")), ["'2110-1' is not a ZIP code", "NNNNN", "NNNNN-NNNN"]),
    ("no-agreement", rows(row(host_country="GL")),
     ["with Greenland", "Correct the host country if it is wrong", "leave the row out", "`coc agreements`"]),
    ("not-abroad", rows(row(host_country="Puerto Rico")), ["Puerto Rico is part of the United States",
                                                           "Correct the host country"]),
    ("end-before-start", rows(row(assignment_end=D(2026, 12, 31))),
     ["2026-12-31 is before the assignment start date", "Correct either date"]),
    ("start-before-hire", rows(row(hire_date=D(2027, 6, 1))),
     ["date of hire 2027-06-01", "correct the date of hire or the start date"]),
    ("implausible-birth-date", rows(row(date_of_birth=D(2015, 1, 1))),
     ["2015-01-01 gives an age of 12", "14 to 100", "MM/DD/YYYY is read month first"]),
    ("before-agreement-in-force", rows(row(host_country="BR", assignment_start=D(2018, 9, 1),
                                           assignment_end=D(2020, 1, 1))),
     ["starts on 2018-09-01", "came into force on 2018-10-01", "correct the start date"]),
    ("missing-3121l-agreement", rows(row(employed_by="foreign affiliate")),
     ["Section 3121(l) agreement", "Fill in column Y with the agreement's date (YYYY-MM-DD or MM/DD/YYYY)"]),
    ("3121l-after-start", rows(row(employed_by="foreign affiliate", section_3121l_date=D(2027, 6, 1))),
     ["agreement date 2027-06-01 is after the assignment start", "correct the date or the start date"]),
    ("not-us-covered", rows(row(citizenship="CA", residence_country="CA")),
     ["neither a U.S. citizen nor a U.S. resident", "Check the citizenship and residence columns"]),
    ("not-covered-by-agreement", rows(self_employed(host_country="AU")),
     ["with Australia does not cover self-employed people", "If Worker type 'self-employed' is wrong, correct it",
      "leave the row out"]),
    ("health-insurance-required", rows(row(host_country="FR", health_insurance="N")),
     ["Health insurance", "is 'N'", "Arrange it and enter Y"]),
    ("duplicate-row", rows(row(), row(assignment_start=D(2027, 6, 1))),
     ["repeats row 2", "***-**-6789", "Delete one of the rows, or correct the dates"]),
    ("not-authorized-for-employer", _submitted_by(("98-7654321",)),
     ["for EIN 12-3456789 (column A)", "not one of the account's EINs", "from the account that holds EIN 12-3456789",
      "ask the administrator to add EIN 12-3456789 to your account"]),
    ("duplicate-request", _resent({"assignment_end": D(2028, 6, 30)}),
     ["with the end date 2028-12-31", "Request type 'extension'", "correct the end date to 2028-12-31"]),
    # --- referral reasons
    ("exceeds-detachment-limit", rows(row(assignment_end=D(2032, 6, 30))),
     ["limit of 60 months", "counted from 2027-01-01", "a specialist will review"]),
    ("italy-election-required", rows(row(host_country="IT", citizenship="US;IT")),
     ["Italian citizen", "must elect the country of coverage", "A specialist will contact the employer"]),
    ("self-employed-review", rows(self_employed(host_country="IE", residence_country="MX")),
     ["living in a third country", "if the country of residence is wrong, correct it"]),
    ("concurrent-assignments", rows(row(), row(host_country="AT")),
     ["already has request", "for Germany from 2027-01-01 to 2028-12-31", "A specialist will review both"]),
    ("extension-request", rows(row(request_type="extension")), ["Request type 'extension'", "a specialist decides"]),
    # --- warnings and notices
    ("already-requested", _resent({}), ["with the same dates", "nothing needs to be done",
                                        "Leave the row out of the next files"]),
    ("retroactive-request", rows(row(assignment_start=D(2026, 11, 1))),
     ["started on 2026-11-01, before 2026-11-25", "retroactive", "still accepted", "Check the start date"]),
    ("far-future-start", rows(row(assignment_start=D(2027, 12, 1), assignment_end=D(2028, 12, 31))),
     ["starts on 2027-12-01, more than 12 months after 2026-11-25", "Check the date (MM/DD/YYYY is read month first)",
      "correct it if it is wrong"]),
    ("ssn-zeros-restored", rows(row(ssn=12345678)), ["read as ***-**-5678", "Format the column as text"]),
    ("ein-zeros-restored", rows(row(employer_ein=12345678)), ["read as 01-2345678", "Format the column as text"]),
    ("zip-zeros-restored", rows(row(employer_zip=2110)), ["'2110'", "read as 02110", "Format the column as text"]),
]


def test_every_catalog_code_has_a_case() -> None:
    covered = [code for code, _, _ in CASES]
    assert len(covered) == len(set(covered)), "a code has two cases"
    assert set(covered) == set(CATALOG), (
        f"cases missing: {set(CATALOG) - set(covered)}, extra: {set(covered) - set(CATALOG)}")


def _no_hole(text: str) -> None:
    """A message never shows a parameter that was not known ("column None", "  ", " .")."""
    assert "None" not in text and "{" not in text, text
    assert "  " not in text and not re.search(r" [.,;:](\s|$)|\.\.|\(\)", text), text


@pytest.mark.parametrize(("code", "build", "phrases"), [c for c in CASES], ids=[c[0] for c in CASES])
def test_a_message_says_what_was_read_what_is_accepted_and_the_fix(
        tmp_path: Path, code: str, build: Callable[[Path], list[dict[str, Any]]], phrases: list[str]) -> None:
    found = [f for f in build(tmp_path) if f["code"] == code]
    assert found, f"no {code} finding"
    text = found[0]["message"]
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    _no_hole(text)


# --- the messages that were wrong ------------------------------------------------------------------------------


def _one(findings: list[dict[str, Any]], code: str, field: str) -> str:
    [text] = [f["message"] for f in findings if f["code"] == code and f["field"] == field]
    _no_hole(text)
    return text


def test_only_the_citizenship_hint_mentions_several_countries(tmp_path: Path) -> None:
    found = rows(row(host_country="Deutschlnad", citizenship="US; Atlantis"),
                 row(ssn=OTHER_SSN, residence_country="Untied States"))(tmp_path)
    host = _one(found, "invalid-country", "host_country")
    assert "(did you mean Germany (DE)?)" in host and "';'" not in host and "citizenship" not in host
    assert "the country's own name (Deutschland)" in host
    assert "separate several citizenships with ';' (US; IT)" in _one(found, "invalid-country", "citizenship")
    residence = _one(found, "invalid-country", "residence_country")
    assert "';'" not in residence and "own name" not in residence


@pytest.mark.parametrize(("typed", "said"), [
    ("23/11/1979", "(day-first dates are not accepted). Use a date cell, or type YYYY-MM-DD, MM/DD/YYYY (month "
                   "first) or DD-Mon-YYYY, always with a four-digit year; for 23 November 1979 write 1979-11-23."),
    ("23.11.1979", "(day-first dates are not accepted)"),
    ("11.23.1979", "in an accepted form. Use a date cell"),
    ("1979/11/23", "; for 23 November 1979 write 1979-11-23."),
    ("Nov 23, 1979", "; for 23 November 1979 write 1979-11-23."),
    ("23/11/79", "(day-first dates and two-digit years are not accepted)"),
    ("11/23/79", "(two-digit years are not accepted)"),
    ("05.06.1979", "(it could be 6 May 1979 or 5 June 1979)"),
    ("02/30/1979", "(there is no such day)"),
    ("born in 1979", "is not a date in an accepted form. Use a date cell"),
])
def test_a_date_message_says_the_accepted_forms_and_suggests_only_an_unambiguous_reading(
        tmp_path: Path, typed: str, said: str) -> None:
    text = _one(rows(row(date_of_birth=typed))(tmp_path), "invalid-date", "date_of_birth")
    assert text.startswith(f"Date of birth '{typed}' is not a date in an accepted form")
    assert said in text
    assert "YYYY-MM-DD, MM/DD/YYYY (month first) or DD-Mon-YYYY" in text
    if typed in ("05.06.1979", "02/30/1979", "23/11/79", "11/23/79", "born in 1979"):
        assert " write 19" not in text  # never guessed: no date is suggested


@pytest.mark.parametrize(("typed", "fix"), [
    ("J.", "Enter one letter, without a period: write J."),
    ("john", "Enter one letter, without a period: write J."),
    ("J1", "Enter one letter, without a period (J), or leave the cell blank."),
    ("AB", "Enter one letter, without a period (J), or leave the cell blank."),
    ("J. R.", "Enter one letter, without a period (J), or leave the cell blank."),
])
def test_a_middle_initial_has_its_own_wording(tmp_path: Path, typed: str, fix: str) -> None:
    text = _one(rows(row(middle_initial=typed))(tmp_path), "invalid-name", "middle_initial")
    assert text == f"Middle initial '{typed}' is not a middle initial. {fix}"
    assert "periods" not in text


def test_a_required_value_whose_column_is_missing_says_to_add_the_column(tmp_path: Path) -> None:
    keys = [k for k in FIELDS if k != "worksite_region"]
    found = _findings(write_csv(tmp_path / "census.csv", [row(host_country="GB")], keys=keys))
    text = _one(found, "missing-value", "worksite_region")
    assert text == ("Worksite region is required for United Kingdom and the cell is blank. Add a column headed "
                    "'Worksite region' and fill it in.")


def test_a_message_built_without_a_column_never_says_none() -> None:
    assert "column None" not in message("missing-value", label="Hire date", column=None)
    assert message("missing-value", label="Hire date", column="Q", when=" for employees") == (
        "Hire date is required for employees and the cell is blank. Fill in column Q.")
