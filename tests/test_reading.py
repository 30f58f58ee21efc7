"""Reading files: header detection and mapping, sheet choice, row numbers, CSV encodings, date forms, formulas
(docs/reading.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from openpyxl.utils import get_column_letter

from coc_intake import schemas
from coc_intake.engine import Outcome, check_file
from tests.builders import AS_OF, codes_at, row, validate_json, write_csv, write_xlsx

KEYS = list(schemas.fields())
#: The column letter of each field when the file has the template's columns from column A.
LETTER = {k: get_column_letter(i + 1) for i, k in enumerate(KEYS)}
LABELS = [schemas.fields()[k].label for k in KEYS]


def outcome(path: Path) -> Outcome:
    return check_file(path.read_bytes(), path.name, dt.date.fromisoformat(AS_OF))


def value_at(path: Path, sheet_row: int, key: str) -> Any:
    result = outcome(path)
    assert result.values is not None, result.findings
    return result.values.loc[sheet_row, key]


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]


def headers_with(**renamed: str) -> list[str]:
    return [renamed.get(k, schemas.fields()[k].label) for k in KEYS]


# --- header row and mapping ----------------------------------------------------------------------------------


def test_header_below_two_title_rows_is_found_at_row_3_and_rows_keep_sheet_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "titled.xlsx",
        [row(), row(ssn="000-12-3456")],
        keys=[*KEYS, "remark"],
        headers=[*LABELS, "Internal remark"],
        title_rows=[["Acme Corp — expatriate assignments 2027"], ["Prepared by HR on 2026-11-01"]],
    )
    code, report = validate_json(path)
    assert outcome(path).header_row == 3
    assert report["status"] == "processed"
    assert set(report["rows"]) == {"4", "5"}
    assert report["rows"]["4"]["status"] == "approved"
    assert report["rows"]["5"]["status"] == "rejected"
    assert codes_at(report, "invalid-ssn") == [(5, LETTER["ssn"])]
    unknown_col = get_column_letter(len(KEYS) + 1)
    assert codes_at(report, "unknown-column") == [(3, unknown_col)]
    assert code == 1


def test_headers_given_as_aliases_map_without_any_finding(tmp_path: Path) -> None:
    heads = headers_with(ssn="SSN", date_of_birth="DOB", last_name="Surname", first_name="Given name",
                         citizenship="Nationality", employer_ein="FEIN", host_country="Destination country",
                         assignment_start="Start date", assignment_end="End date", contact_email="E-mail")
    path = write_xlsx(tmp_path / "aliases.xlsx", [row()], headers=heads)
    code, report = validate_json(path)
    assert report["findings"] == []
    assert report["rows"]["2"]["status"] == "approved"
    assert code == 0


def test_headers_match_ignoring_case_spaces_and_punctuation(tmp_path: Path) -> None:
    heads = headers_with(ssn="social-security NUMBER", date_of_birth="  DATE_OF_BIRTH ", host_country="HOST-COUNTRY",
                         last_name="last.name", assignment_start="Assignment Start Date:")
    path = write_xlsx(tmp_path / "case.xlsx", [row()], headers=heads)
    code, report = validate_json(path)
    assert report["findings"] == []
    assert report["rows"]["2"]["status"] == "approved"
    assert value_at(path, 2, "ssn") == "123-45-6789"
    assert code == 0


def test_misspelt_header_is_fuzzy_mapped_and_reported_as_assumed_column_info(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "typo.xlsx", [row()], headers=headers_with(first_name="Frist name"))
    code, report = validate_json(path)
    assumed = [f for f in report["findings"] if f["code"] == "assumed-column"]
    assert len(assumed) == 1
    assert assumed[0]["severity"] == "info"
    assert (assumed[0]["row"], assumed[0]["column"]) == (1, LETTER["first_name"])
    assert "First name" in assumed[0]["message"]
    assert "Frist name" in assumed[0]["message"]
    assert report["rows"]["2"]["status"] == "approved"
    assert "missing-column" not in codes(report)
    assert value_at(path, 2, "first_name") == "Jane"
    assert code == 0


def test_unmapped_column_gives_unknown_column_warning_and_row_still_approved(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "extra.xlsx", [{**row(), "cc": "CC-1001"}],
                      keys=[*KEYS, "cc"], headers=[*LABELS, "Cost center"])
    code, report = validate_json(path)
    unknown = [f for f in report["findings"] if f["code"] == "unknown-column"]
    assert len(unknown) == 1
    assert unknown[0]["severity"] == "warning"
    assert (unknown[0]["row"], unknown[0]["column"]) == (1, get_column_letter(len(KEYS) + 1))
    assert unknown[0]["value"] == "Cost center"
    assert report["rows"]["2"]["status"] == "approved"
    assert code == 0


def test_messages_column_is_ignored_without_any_finding(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "resubmit.xlsx",
                      [{"msg": "Social Security number: not a valid SSN.", **row()}],
                      keys=["msg", *KEYS], headers=["Messages", *LABELS])
    code, report = validate_json(path)
    assert report["findings"] == []
    assert report["rows"]["2"]["status"] == "approved"
    assert code == 0


def test_data_starting_at_column_c_row_4_reports_sheet_rows_and_letters(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Assignments"
    top, left = 4, 3  # header at C4
    data = [row(), row(ssn="666-12-3456", assignment_start="13/01/2027")]
    for c, label in enumerate(LABELS):
        ws.cell(row=top, column=left + c, value=label)
    for r, values in enumerate(data, start=top + 1):
        for c, key in enumerate(KEYS):
            ws.cell(row=r, column=left + c, value=values[key])
    path = tmp_path / "offset.xlsx"
    wb.save(path)

    code, report = validate_json(path)
    assert outcome(path).header_row == 4
    assert set(report["rows"]) == {"5", "6"}
    assert report["rows"]["5"]["status"] == "approved"
    ssn_letter = get_column_letter(left + KEYS.index("ssn"))
    start_letter = get_column_letter(left + KEYS.index("assignment_start"))
    assert ssn_letter == "M"
    assert codes_at(report, "invalid-ssn") == [(6, ssn_letter)]
    assert codes_at(report, "invalid-date") == [(6, start_letter)]
    assert code == 1


# --- which sheet ---------------------------------------------------------------------------------------------


def test_first_sheet_without_header_is_skipped_for_the_next_sheet_with_one(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["Please fill in the Data sheet."])
    notes.append(["Questions: hr@acme.example"])
    data = wb.create_sheet("Data")
    data.append(LABELS)
    data.append([row()[k] for k in KEYS])
    path = tmp_path / "notes_first.xlsx"
    wb.save(path)

    result = outcome(path)
    assert result.status == "processed"
    assert result.sheet == "Data"
    code, report = validate_json(path)
    assert report["rows"] == {"2": report["rows"]["2"]}
    assert report["rows"]["2"]["status"] == "approved"
    assert code == 0


def test_assignments_sheet_is_used_even_when_not_first(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    other = wb.active
    assert other is not None
    other.title = "Last year"
    other.append(LABELS)
    other.append([row(ssn="bad")[k] for k in KEYS])
    other.append([row(ssn="bad too")[k] for k in KEYS])
    assignments = wb.create_sheet("Assignments")
    assignments.append(LABELS)
    assignments.append([row()[k] for k in KEYS])
    path = tmp_path / "assignments_second.xlsx"
    wb.save(path)

    result = outcome(path)
    assert result.sheet == "Assignments"
    code, report = validate_json(path)
    assert set(report["rows"]) == {"2"}
    assert report["rows"]["2"]["status"] == "approved"
    assert "invalid-ssn" not in codes(report)
    assert code == 0


# --- blank rows ----------------------------------------------------------------------------------------------


def test_blank_rows_between_data_rows_are_skipped_and_later_rows_keep_sheet_numbers(tmp_path: Path) -> None:
    rows = [row(), {}, row(ssn="234-56-7890"), {}, {}, row(ssn="345-67-890X")]
    path = write_xlsx(tmp_path / "gaps.xlsx", rows)
    code, report = validate_json(path)
    assert set(report["rows"]) == {"2", "4", "7"}
    assert report["rows"]["2"]["status"] == "approved"
    assert report["rows"]["4"]["status"] == "approved"
    assert report["rows"]["7"]["status"] == "rejected"
    assert codes_at(report, "invalid-ssn") == [(7, LETTER["ssn"])]
    assert "missing-value" not in codes(report)
    assert code == 1


def test_blank_lines_in_csv_are_skipped_and_later_rows_keep_file_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gaps.csv", [row(), {}, row(ssn="234-56-7890", last_name="Smith 2")])
    code, report = validate_json(path)
    assert set(report["rows"]) == {"2", "4"}
    assert report["rows"]["2"]["status"] == "approved"
    assert codes_at(report, "invalid-name") == [(4, LETTER["last_name"])]
    assert code == 1


# --- CSV encodings and delimiters ----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"], ids=["utf8", "utf8-bom", "windows-1252"])
def test_csv_encodings_and_delimiters_keep_accented_names(tmp_path: Path, encoding: str, delimiter: str) -> None:
    rows = [
        row(last_name="Muñoz", first_name="José", employer_name="Café Société, Inc."),
        row(ssn="234-56-7890", last_name="Ibáñez", first_name="Zoë", worksite_city="Düsseldorf"),
    ]
    path = write_csv(tmp_path / "people.csv", rows, encoding=encoding, delimiter=delimiter)
    if encoding == "utf-8-sig":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    code, report = validate_json(path)
    assert report["status"] == "processed"
    assert report["findings"] == []
    assert {r: v["status"] for r, v in report["rows"].items()} == {"2": "approved", "3": "approved"}
    result = outcome(path)
    assert result.values is not None
    assert result.values.loc[2, "last_name"] == "Muñoz"
    assert result.values.loc[2, "first_name"] == "José"
    assert result.values.loc[2, "employer_name"] == "Café Société, Inc."
    assert result.values.loc[3, "last_name"] == "Ibáñez"
    assert result.values.loc[3, "first_name"] == "Zoë"
    assert result.values.loc[3, "worksite_city"] == "Düsseldorf"
    assert code == 0


# --- dates ---------------------------------------------------------------------------------------------------

START = dt.date(2027, 1, 13)
SERIAL = (START - dt.date(1899, 12, 30)).days


@pytest.mark.parametrize(
    "cell",
    [START, dt.datetime(2027, 1, 13), SERIAL, "2027-01-13", "01/13/2027", "1/13/2027", "13-Jan-2027"],
    ids=["date-cell", "datetime-cell", "serial", "iso", "mm-dd-yyyy", "m-d-yyyy", "dd-mon-yyyy"],
)
def test_accepted_date_forms_in_xlsx_parse_to_the_date(tmp_path: Path, cell: Any) -> None:
    path = write_xlsx(tmp_path / "dates.xlsx", [row(assignment_start=cell)])
    code, report = validate_json(path)
    assert "invalid-date" not in codes(report), report["findings"]
    assert report["rows"]["2"]["status"] == "approved"
    assert pd.Timestamp(value_at(path, 2, "assignment_start")).date() == START
    assert code == 0


@pytest.mark.parametrize("text", ["2027-01-13", "01/13/2027", "1/13/2027", "13-Jan-2027", str(SERIAL)],
                         ids=["iso", "mm-dd-yyyy", "m-d-yyyy", "dd-mon-yyyy", "serial"])
def test_accepted_date_forms_in_csv_parse_to_the_date(tmp_path: Path, text: str) -> None:
    path = write_csv(tmp_path / "dates.csv", [row(assignment_start=text)])
    code, report = validate_json(path)
    assert "invalid-date" not in codes(report), report["findings"]
    assert pd.Timestamp(value_at(path, 2, "assignment_start")).date() == START
    assert code == 0


def test_single_digit_month_and_day_us_form_parses(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "short.csv", [row(date_of_birth="5/1/1980", hire_date="1/2/2015")])
    code, report = validate_json(path)
    assert "invalid-date" not in codes(report)
    assert pd.Timestamp(value_at(path, 2, "date_of_birth")).date() == dt.date(1980, 5, 1)
    assert pd.Timestamp(value_at(path, 2, "hire_date")).date() == dt.date(2015, 1, 2)
    assert code == 0


@pytest.mark.parametrize("text", ["13/01/2027", "2027/01/13", "1.2.2027", "13.01.2027", "Jan 13, 2027",
                                  "2027-13-01", "31/12/2027", "next monday", "02/30/2027"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_ambiguous_or_other_date_forms_are_invalid_date(tmp_path: Path, text: str, fmt: str) -> None:
    data = [row(assignment_start=text)]
    path = (write_xlsx(tmp_path / "bad.xlsx", data) if fmt == "xlsx"
            else write_csv(tmp_path / "bad.csv", data))
    code, report = validate_json(path)
    assert codes_at(report, "invalid-date") == [(2, LETTER["assignment_start"])]
    found = next(f for f in report["findings"] if f["code"] == "invalid-date")
    assert found["severity"] == "error"
    assert found["value"] == text
    assert report["rows"]["2"]["status"] == "rejected"
    assert code == 1


# --- formulas ------------------------------------------------------------------------------------------------


def test_formula_cells_are_read_as_their_cached_values(tmp_path: Path) -> None:
    path = tmp_path / "formulas.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Assignments")
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    base = row()
    for c, label in enumerate(LABELS):
        ws.write_string(0, c, label)
    for c, key in enumerate(KEYS):
        value = base[key]
        if value is None:
            continue
        if isinstance(value, dt.date):
            ws.write_datetime(1, c, dt.datetime.combine(value, dt.time()), date_format)
        else:
            ws.write_string(1, c, str(value))
    ssn_col = KEYS.index("ssn")
    start_col = KEYS.index("assignment_start")
    name_col = KEYS.index("last_name")
    ws.write_formula(1, ssn_col, '="123-45-6789"', None, "123-45-6789")
    ws.write_formula(1, start_col, "=DATE(2027,1,13)", date_format, SERIAL)
    ws.write_formula(1, name_col, '=UPPER("smith")', None, "SMITH")
    wb.close()
    assert f"{LETTER['ssn']}2" == "K2"

    code, report = validate_json(path)
    assert report["findings"] == [], report["findings"]
    assert report["rows"]["2"]["status"] == "approved"
    result = outcome(path)
    assert result.values is not None
    assert result.values.loc[2, "ssn"] == "123-45-6789"
    assert result.values.loc[2, "last_name"] == "SMITH"
    assert pd.Timestamp(result.values.loc[2, "assignment_start"]).date() == START
    assert code == 0


def test_header_in_row_20_is_found(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "deep.xlsx", [row()], title_rows=[[f"Title line {i}"] for i in range(1, 20)])
    result = outcome(path)
    assert result.status == "processed"
    assert result.header_row == 20
    assert list(result.rows.index) == [21]
    assert result.rows.loc[21, "status"] == "approved"


def test_header_below_row_20_is_no_header_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "too_deep.xlsx", [row()], title_rows=[[f"Title line {i}"] for i in range(1, 21)])
    result = outcome(path)
    assert result.status == "rejected-file"
    assert list(result.findings["code"]) == ["no-header-row"]


# --- the validator readied beside the read --------------------------------------------------------------------


@pytest.mark.parametrize("example", ["acme-2027-assignments.xlsx", "initech-contractors.xlsx",
                                     "globex-payroll-export.csv"])
def test_a_file_checks_the_same_whether_the_validator_is_readied_beside_the_read_or_imported_after_it(
        example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import coc_intake.engine as engine

    data = (Path(__file__).parent.parent / "examples" / example).read_bytes()
    as_of = dt.date.fromisoformat(AS_OF)
    assert len(data) < engine.READY_BESIDE_READ_BELOW
    beside = check_file(data, example, as_of)
    monkeypatch.setattr(engine, "READY_BESIDE_READ_BELOW", 0)
    after = check_file(data, example, as_of)
    assert not beside.findings.empty
    pd.testing.assert_frame_equal(beside.findings, after.findings)
    pd.testing.assert_frame_equal(beside.rows, after.rows)
    assert beside.values is not None and after.values is not None
    pd.testing.assert_frame_equal(beside.values, after.values)


def test_readying_the_validator_builds_every_agreements_schema_once_per_date() -> None:
    from coc_intake import agreements, validate
    from coc_intake.schemas.rules import agreements_schema, rules_for, schema_for

    as_of = dt.date(2031, 2, 3)  # a date no other test validates on: its schemas are built here
    caches = (schema_for, agreements_schema, rules_for)
    before = [c.cache_info() for c in caches]
    validate.warm_up(as_of)
    built = [c.cache_info() for c in caches]
    assert [b.currsize - a.currsize for a, b in zip(before, built, strict=True)] == [
        1, 1, len(agreements.all_agreements()) + 1]
    validate.warm_up(as_of)
    assert [c.cache_info() for c in caches] == built
