"""Every code of the error catalog (docs/errors.md), produced through the CLI (`coc validate FILE --json`,
docs/commands.md#coc-validate).

Each test builds a real file (an .xlsx written by openpyxl, a CSV, or a deliberately broken file), runs the command
through typer's CliRunner and checks the finding's code, sheet row and column letter, the row's status and that the
other rows of the same file are unaffected. File-level codes come from real broken files, never from mocks.

`duplicate-request` (the same request made by an earlier file) needs an earlier committed batch in an outbox, which
`coc validate` does not read: it is left to the tests of the nightly intake (`coc run`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.packaging.custom import StringProperty

from coc_intake import schemas
from tests.builders import AS_OF, BASE_ROW, row, validate_json, write_csv, write_xlsx

D = dt.date
FIELDS: list[str] = list(schemas.fields())
EXCEL_EPOCH = D(1899, 12, 30)


def letter(key: str) -> str:
    """The column letter of a field in a workbook written in dictionary order (A = the first field)."""
    n = FIELDS.index(key) + 1
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def test_the_column_letters_follow_the_dictionary_order() -> None:
    assert [letter(k) for k in ("employer_ein", "employer_name", "ssn", "date_of_birth", "citizenship")] == [
        "A", "B", "K", "L", "N"]
    assert [letter(k) for k in ("host_country", "worksite_region", "health_insurance", "contact_email")] == [
        "Q", "W", "Z", "AB"]


#: SSNs of the neighbour rows, distinct from the base row's (123-45-6789) so they never duplicate it.
NEIGHBOUR_SSNS = ("234-56-7890", "345-67-8901")


def self_employed(**overrides: Any) -> dict[str, Any]:
    """A self-employed person living in the United States: no employer fields."""
    base = row(
        worker_type="self-employed", business_nature="Software consulting", employer_ein=None, employer_name=None,
        employer_street=None, employer_city=None, employer_state=None, employer_zip=None, hire_date=None,
        foreign_employer_name=None, employed_by=None,
    )
    return {**base, **overrides}


def status_of(report: Mapping[str, Any], sheet_row: int) -> str:
    return report["rows"][str(sheet_row)]["status"]


def codes_of(report: Mapping[str, Any], sheet_row: int) -> list[str]:
    return report["rows"][str(sheet_row)]["codes"]


def findings_at(report: Mapping[str, Any], sheet_row: int, code: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["row"] == sheet_row and f["code"] == code]


def assert_untouched(report: Mapping[str, Any], *sheet_rows: int) -> None:
    """The rows are approved, with a request ID and no finding at all."""
    for r in sheet_rows:
        assert status_of(report, r) == "approved", (r, report["rows"][str(r)])
        assert codes_of(report, r) == [], (r, report["rows"][str(r)])
        assert report["rows"][str(r)]["request_id"], r
        assert not [f for f in report["findings"] if f["row"] == r], r


EXPECTED_SEVERITY = {"rejected": "error", "referred": "warning", "approved": "warning"}

#: (what the variant shows, the bad row, the field where the finding must be, the finding's value or None)
Variant = tuple[str, dict[str, Any], str, str | None]


def good(i: int) -> dict[str, Any]:
    """A valid row with its own SSN (never a duplicate of another row of the file)."""
    return row(ssn=f"234-56-{7000 + i:04d}")


def check_between_good_rows(tmp_path: Path, code: str, status: str, variants: list[Variant],
                            only: bool = False) -> dict[str, Any]:
    """Write [good, bad 1, good, bad 2, good …] (bad i on sheet row 2i+1) and check every bad row's finding and
    status, and that every good row is untouched; return the report.

    ``only``: the bad row's codes must be exactly ``[code]``.
    """
    rows = [good(0)]
    for i, (_, bad, _, _) in enumerate(variants, start=1):
        if bad.get("ssn") == BASE_ROW["ssn"]:
            bad = {**bad, "ssn": f"345-67-{8000 + i:04d}"}  # bad rows never duplicate each other
        rows += [bad, good(i)]
    path = write_xlsx(tmp_path / "assignments.xlsx", rows)
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    problems: list[str] = []
    for i, (what, _, field, value) in enumerate(variants, start=1):
        r = 2 * i + 1
        found = findings_at(report, r, code)
        where = [(f["column"], f["field"]) for f in found]
        if where != [(letter(field), field)]:
            problems.append(f"{what} (row {r}): {code} expected at {letter(field)} ({field}), found at {where}; "
                            f"row findings: {[(f['code'], f['column']) for f in report['findings'] if f['row'] == r]}")
            continue
        f = found[0]
        if f["severity"] != EXPECTED_SEVERITY[status] or not f["message"]:
            problems.append(f"{what}: severity {f['severity']!r}, message {f['message']!r}")
        if value is not None and f["value"] != value:
            problems.append(f"{what}: value {f['value']!r}, expected {value!r}")
        info = report["rows"].get(str(r), {})
        if info.get("status") != status:
            problems.append(f"{what} (row {r}): status {info.get('status')!r}, expected {status!r}")
        if only and info.get("codes") != [code]:
            problems.append(f"{what} (row {r}): codes {info.get('codes')}, expected only {code}")
        elif code not in info.get("codes", []):
            problems.append(f"{what} (row {r}): {code} missing from codes {info.get('codes')}")
        if (info.get("request_id") is None) != (status == "rejected"):
            problems.append(f"{what} (row {r}): request_id {info.get('request_id')!r} for a {status} row")
    for r in range(2, 2 * len(variants) + 3, 2):
        info = report["rows"].get(str(r), {})
        stray = [(f["code"], f["column"]) for f in report["findings"] if f["row"] == r]
        if info.get("status") != "approved" or info.get("codes") != [] or stray or not info.get("request_id"):
            problems.append(f"good row {r} was affected: {info}, findings {stray}")
    assert problems == [], "\n".join(problems)
    assert exit_code == (1 if status == "rejected" else 0)
    return report


def cases(table: list[tuple[str, str, list[Variant]]]) -> Any:
    return pytest.mark.parametrize(("code", "variants"), [(c, v) for _, c, v in table], ids=[i for i, _, _ in table])


# --- cell and row errors: the row is rejected ------------------------------------------------------------------

GB = {"host_country": "GB", "worksite_region": "England"}

REJECTED_CASES: list[tuple[str, str, list[Variant]]] = [
    # (test id, code, variants)
    ("missing-value", "missing-value", [
        ("last name blank", row(last_name=None), "last_name", None),
        ("worksite city blank", row(worksite_city=None), "worksite_city", None),
        ("hire date blank for an employee", row(hire_date=None), "hire_date", None),
        ("employer EIN blank for an employee", row(employer_ein=None), "employer_ein", None),
        ("nature of business blank for the self-employed", self_employed(business_nature=None),
         "business_nature", None),
        ("region blank for GB", row(host_country="GB", worksite_region=None), "worksite_region", None),
        ("region blank for CA", row(host_country="CA", worksite_region=None), "worksite_region", None),
        ("health insurance blank for FR", row(host_country="FR", health_insurance=None), "health_insurance", None),
        ("health insurance blank for JP", row(host_country="JP", health_insurance=None), "health_insurance", None),
    ]),
    ("invalid-ssn", "invalid-ssn", [
        ("area 666", row(ssn="666-12-3456"), "ssn", "***-**-3456"),
        ("area 000", row(ssn="000-12-3456"), "ssn", "***-**-3456"),
        ("ITIN starting with 9", row(ssn="923-45-6780"), "ssn", "***-**-6780"),
        ("group 00", row(ssn="123-00-4567"), "ssn", "***-**-4567"),
        ("serial 0000", row(ssn="123-45-0000"), "ssn", "***-**-0000"),
        ("the published Woolworth number", row(ssn="078-05-1120"), "ssn", "***-**-1120"),
        ("six digits", row(ssn="123456"), "ssn", "***-**-3456"),
        ("misplaced hyphens", row(ssn="12-345-6789"), "ssn", "***-**-6789"),
    ]),
    ("invalid-ein", "invalid-ein", [
        ("a prefix the IRS never issues", row(employer_ein="07-1234567"), "employer_ein", "07-1234567"),
        ("too short", row(employer_ein="12-34567"), "employer_ein", None),
        ("letters", row(employer_ein="AB-CDEFGHI"), "employer_ein", None),
    ]),
    ("invalid-date", "invalid-date", [
        ("month 13 in U.S. order (never read day first)", row(assignment_end="13/01/2029"), "assignment_end",
         "13/01/2029"),
        ("dotted European form", row(assignment_end="31.12.2028"), "assignment_end", None),
        ("an impossible day", row(date_of_birth="1980-02-30"), "date_of_birth", None),
        ("free text", row(hire_date="last spring"), "hire_date", "last spring"),
    ]),
    ("invalid-country", "invalid-country", [
        ("citizenship", row(citizenship="Atlantis"), "citizenship", "Atlantis"),
        ("one of several citizenships", row(citizenship="US; Atlantis"), "citizenship", None),
        ("residence", row(residence_country="Narnia"), "residence_country", None),
        ("host", row(host_country="Wakanda"), "host_country", "Wakanda"),
    ]),
    ("invalid-email", "invalid-email", [
        ("double @", row(contact_email="hr@@acme.example"), "contact_email", None),
        ("no @", row(contact_email="hr.acme"), "contact_email", "hr.acme"),
    ]),
    ("invalid-value", "invalid-value", [
        ("worker type", row(worker_type="contractor"), "worker_type", "contractor"),
        ("employed by", row(employed_by="client"), "employed_by", None),
        ("employer state", row(employer_state="ZZ"), "employer_state", None),
        ("GB region", row(host_country="GB", worksite_region="Bavaria"), "worksite_region", None),
        ("Canadian province", row(host_country="CA", worksite_region="XX"), "worksite_region", None),
        ("health insurance", row(host_country="FR", health_insurance="maybe"), "health_insurance", None),
        ("employer name over 120 characters", row(employer_name="A" * 121), "employer_name", None),
    ]),
    ("invalid-name", "invalid-name", [
        ("digit in last name", row(last_name="Sm1th"), "last_name", "Sm1th"),
        ("punctuation in first name", row(first_name="Jane!"), "first_name", None),
        ("last name over 40 characters", row(last_name="A" * 41), "last_name", None),
        ("two-letter middle initial", row(middle_initial="QR"), "middle_initial", "QR"),
        ("digit as middle initial", row(middle_initial="4"), "middle_initial", None),
    ]),
    ("invalid-zip", "invalid-zip", [
        ("letters", row(employer_zip="ABCDE"), "employer_zip", "ABCDE"),
        ("six digits", row(employer_zip="123456"), "employer_zip", None),
        ("two digits", row(employer_zip="12"), "employer_zip", None),
    ]),
    ("no-agreement-MX-GL-FO", "no-agreement", [
        (host, row(host_country=host), "host_country", None) for host in ("MX", "GL", "FO", "Mexico")
    ]),
    ("not-abroad-US-and-territories", "not-abroad", [
        (host, row(host_country=host), "host_country", None) for host in ("US", "PR", "Puerto Rico", "GU", "USA")
    ]),
    ("end-before-start", "end-before-start", [
        ("end the day before the start", row(assignment_end=D(2026, 12, 31)), "assignment_end", "2026-12-31"),
    ]),
    ("start-before-hire", "start-before-hire", [
        ("hired the day after the start", row(hire_date=D(2027, 1, 2)), "hire_date", "2027-01-02"),
    ]),
    ("implausible-birth-date", "implausible-birth-date", [
        ("13 on the start date", row(date_of_birth=D(2013, 1, 2)), "date_of_birth", "2013-01-02"),
        ("101 on the start date", row(date_of_birth=D(1926, 1, 1)), "date_of_birth", None),
        ("born after the as-of date", row(date_of_birth=D(2026, 12, 1)), "date_of_birth", None),
    ]),
    ("before-agreement-in-force", "before-agreement-in-force", [
        ("BR before 2018-10-01", row(host_country="BR", assignment_start=D(2018, 9, 1), assignment_end=D(2020, 1, 1)),
         "assignment_start", "2018-09-01"),
        ("DE before 1979-12-01", row(assignment_start=D(1979, 11, 30), assignment_end=D(1981, 1, 1),
                                     hire_date=D(1979, 1, 1), date_of_birth=D(1950, 1, 1)), "assignment_start", None),
        ("GB before 1985-01-01", row(**GB, assignment_start=D(1984, 12, 31), assignment_end=D(1986, 1, 1),
                                     hire_date=D(1980, 1, 1), date_of_birth=D(1950, 1, 1)), "assignment_start", None),
    ]),
    ("missing-3121l-agreement", "missing-3121l-agreement", [
        ("foreign affiliate without a 3121(l) date", row(employed_by="foreign affiliate"), "section_3121l_date",
         None),
    ]),
    ("3121l-after-start", "3121l-after-start", [
        ("3121(l) date the day after the start", row(employed_by="foreign affiliate",
                                                     section_3121l_date=D(2027, 1, 2)), "section_3121l_date", None),
    ]),
    ("not-us-covered-neither-us-citizen-nor-us-resident", "not-us-covered", [
        ("Canadian living in Canada", row(citizenship="CA", residence_country="CA"), "citizenship", None),
    ]),
    ("not-us-covered-self-employed-resident-of-the-host-under-a-residence-rule", "not-us-covered", [
        ("self-employed resident of GB in GB", self_employed(**GB, residence_country="GB"), "residence_country",
         None),
    ]),
    ("not-us-covered-italy-neither-us-nor-italian-citizen", "not-us-covered", [
        ("German living in the US sent to Italy", row(host_country="IT", citizenship="DE", residence_country="US"),
         "citizenship", None),
    ]),
    ("not-covered-by-agreement-self-employed-in-AU", "not-covered-by-agreement", [
        ("self-employed in Australia", self_employed(host_country="AU"), "worker_type", None),
    ]),
    ("health-insurance-required-FR-with-N", "health-insurance-required", [
        ("France, N", row(host_country="FR", health_insurance="N"), "health_insurance", "N"),
        ("France, no", row(host_country="FR", health_insurance="no"), "health_insurance", None),
    ]),
]


@cases(REJECTED_CASES)
def test_a_cell_error_rejects_only_its_row_and_is_reported_at_its_cell(
        tmp_path: Path, code: str, variants: list[Variant]) -> None:
    check_between_good_rows(tmp_path, code, "rejected", variants)


def test_no_agreement_names_the_country(tmp_path: Path) -> None:
    report = check_between_good_rows(tmp_path, "no-agreement", "rejected",
                                     [("Greenland", row(host_country="GL"), "host_country", None)])
    assert "Greenland" in findings_at(report, 3, "no-agreement")[0]["message"]


def test_missing_3121l_agreement_is_reported_alone_without_a_missing_value(tmp_path: Path) -> None:
    check_between_good_rows(tmp_path, "missing-3121l-agreement", "rejected", [
        ("foreign affiliate without a date", row(employed_by="foreign affiliate"), "section_3121l_date", None)],
        only=True)


def test_a_missing_required_only_for_employees_column_gives_missing_value_not_a_file_rejection(
        tmp_path: Path) -> None:
    keys = [k for k in FIELDS if k != "hire_date"]
    path = write_xlsx(tmp_path / "a.xlsx", [row(), self_employed(ssn=NEIGHBOUR_SSNS[0])], keys=keys)
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    assert status_of(report, 2) == "rejected"
    assert [(f["field"], f["code"]) for f in report["findings"] if f["row"] == 2] == [("hire_date", "missing-value")]
    assert_untouched(report, 3)  # the self-employed row needs no hire date
    assert exit_code == 1


def test_warnings_on_a_rejected_row_are_reported_and_listed_in_its_codes(tmp_path: Path) -> None:
    report = check_between_good_rows(tmp_path, "invalid-name", "rejected", [
        ("retroactive row with a bad name", row(assignment_start=D(2026, 11, 1), last_name="Sm1th"), "last_name",
         None)])
    assert [f["column"] for f in findings_at(report, 3, "retroactive-request")] == [letter("assignment_start")]
    assert set(codes_of(report, 3)) == {"invalid-name", "retroactive-request"}


# --- controls and boundaries: valid rows that must stay approved --------------------------------------------------

APPROVED_CASES: list[tuple[str, dict[str, Any]]] = [
    ("hire date equal to the start", row(hire_date=D(2027, 1, 1))),
    ("3121(l) date equal to the start", row(employed_by="foreign affiliate", section_3121l_date=D(2027, 1, 1))),
    ("age exactly 14 on the start", row(date_of_birth=D(2013, 1, 1))),
    ("age exactly 100 on the start", row(date_of_birth=D(1926, 1, 2))),
    ("start on the day Brazil's agreement came into force", row(host_country="BR", assignment_start=D(2018, 10, 1),
                                                                assignment_end=D(2019, 12, 31))),
    ("non-U.S. citizen who lives in the U.S.", row(citizenship="DE", residence_country="US")),
    ("non-U.S. citizen who lives in Puerto Rico", row(citizenship="CA", residence_country="PR")),
    ("self-employed U.S. resident in GB", self_employed(**GB)),
    ("Isle of Man: GB agreement, no region asked", row(host_country="IM")),
    ("Japan with health insurance N", row(host_country="JP", health_insurance="N")),
    ("France with health insurance 'yes'", row(host_country="FR", health_insurance="yes")),
    ("U.S. citizen in Italy", row(host_country="IT")),
    ("host as an English name", row(host_country="Germany")),
    ("host as UK, region in lower case", row(host_country="UK", worksite_region="scotland")),
    ("host as Quebec", row(host_country="Quebec")),
    ("host as alpha-3", row(host_country="DEU")),
    ("dates typed in U.S. order", row(assignment_start="1/1/2027", assignment_end="12/31/2028")),
    ("dates typed DD-Mon-YYYY", row(assignment_start="01-Jan-2027", assignment_end="31-Dec-2028")),
    ("SSN with spaces", row(ssn="123 45 6789")),
    ("EIN as nine digits", row(employer_ein="123456789")),
    ("ZIP+4", row(employer_zip="02110-1234")),
    ("two citizenships by name", row(citizenship="United States; Germany")),
    ("dates as Excel serial numbers in number cells",
     row(assignment_start=(D(2027, 1, 1) - EXCEL_EPOCH).days, assignment_end=(D(2028, 12, 31) - EXCEL_EPOCH).days)),
]


def test_valid_rows_at_the_boundaries_are_approved_with_no_error(tmp_path: Path) -> None:
    rows = [{**r, "ssn": r["ssn"] if r["ssn"] != BASE_ROW["ssn"] else f"345-67-{8000 + i:04d}"}
            for i, (_, r) in enumerate(APPROVED_CASES)]
    exit_code, report = validate_json(write_xlsx(tmp_path / "a.xlsx", rows))
    referral = {"exceeds-detachment-limit", "italy-election-required", "self-employed-review"}
    problems = []
    for i, (what, _) in enumerate(APPROVED_CASES):
        r = i + 2
        errors = [f["code"] for f in report["findings"] if f["row"] == r and f["severity"] == "error"]
        info = report["rows"][str(r)]
        if errors or referral & set(info["codes"]) or info["status"] != "approved":
            problems.append(f"{what} (row {r}): {info}")
    assert problems == [], "\n".join(problems)
    assert exit_code == 0


def test_start_on_the_as_of_date_or_exactly_12_months_later_gives_no_date_warning(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(assignment_start=D(2026, 11, 25)),
        row(ssn=NEIGHBOUR_SSNS[0], assignment_start=D(2027, 11, 25), assignment_end=D(2028, 12, 31)),
    ])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2, 3)
    assert exit_code == 0


# --- referral reasons: the row is valid and referred ----------------------------------------------------------

REFERRED_CASES: list[tuple[str, str, list[Variant]]] = [
    ("exceeds-detachment-limit", "exceeds-detachment-limit", [
        ("DE, one day past 60 months", row(assignment_end=D(2032, 1, 1)), "assignment_end", "2032-01-01"),
        ("ES is 60 months too", row(host_country="ES", assignment_end=D(2032, 1, 1)), "assignment_end", None),
        ("DK is 60 months too", row(host_country="DK", assignment_end=D(2032, 1, 1)), "assignment_end", None),
        ("PT is 60 months too", row(host_country="PT", assignment_end=D(2032, 1, 1)), "assignment_end", None),
        ("start at a month end", row(assignment_start=D(2027, 3, 31), assignment_end=D(2032, 3, 31)),
         "assignment_end", None),
        ("FR self-employed: 24 months", self_employed(host_country="FR", health_insurance="Y",
                                                      assignment_end=D(2029, 1, 1)), "assignment_end", None),
        ("DE self-employed (place-of-work rule): 60 months", self_employed(assignment_end=D(2032, 1, 1)),
         "assignment_end", None),
    ]),
    ("italy-election-required", "italy-election-required", [
        ("dual U.S.-Italian citizen", row(host_country="IT", citizenship="US;IT"), "citizenship", None),
        ("Italian citizen living in the U.S.", row(host_country="IT", citizenship="Italy", residence_country="US"),
         "citizenship", None),
    ]),
    ("self-employed-review", "self-employed-review", [
        *[(f"{host}: residence rule, living in a third country",
           self_employed(host_country=host, residence_country="MX"), "residence_country", "MX")
          for host in ("IE", "IS", "LU", "NL", "ES")],
        *[(f"{host}: place-of-work rule, living in the host",
           self_employed(host_country=host, residence_country=host), "residence_country", host)
          for host in ("SI", "DE")],
    ]),
]


@cases(REFERRED_CASES)
def test_a_referral_reason_refers_only_its_row_and_the_file_still_passes(
        tmp_path: Path, code: str, variants: list[Variant]) -> None:
    check_between_good_rows(tmp_path, code, "referred", variants)


def test_the_detachment_limit_is_start_plus_60_months_less_one_day(tmp_path: Path) -> None:
    pairs = [(D(2027, 1, 1), D(2031, 12, 31)), (D(2027, 3, 31), D(2032, 3, 30)), (D(2027, 6, 15), D(2032, 6, 14))]
    rows = []
    for i, (start, last_day_within) in enumerate(pairs):
        rows += [row(ssn=f"345-67-{8000 + i:04d}", assignment_start=start, assignment_end=last_day_within),
                 row(ssn=f"456-78-{9000 + i:04d}", assignment_start=start,
                     assignment_end=last_day_within + dt.timedelta(days=1))]
    exit_code, report = validate_json(write_xlsx(tmp_path / "a.xlsx", rows))
    for i in range(len(pairs)):
        within, over = 2 + 2 * i, 3 + 2 * i
        assert_untouched(report, within)
        assert status_of(report, over) == "referred", pairs[i]
        assert [f["column"] for f in findings_at(report, over, "exceeds-detachment-limit")] == [
            letter("assignment_end")]
    assert exit_code == 0


def test_italy_has_no_detachment_limit(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(host_country="IT", assignment_end=D(2056, 12, 31))])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2)
    assert exit_code == 0


def test_france_limits_the_self_employed_to_24_months_and_employees_to_60(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        self_employed(host_country="FR", health_insurance="Y", assignment_end=D(2028, 12, 31)),
        row(ssn=NEIGHBOUR_SSNS[0], host_country="FR", health_insurance="Y", assignment_end=D(2029, 1, 1)),
        self_employed(ssn=NEIGHBOUR_SSNS[1], host_country="FR", health_insurance="Y",
                      assignment_end=D(2029, 1, 1)),
    ])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2, 3)
    assert status_of(report, 4) == "referred"
    assert codes_of(report, 4) == ["exceeds-detachment-limit"]
    assert exit_code == 0


def test_the_detachment_clock_starts_at_entry_into_force_when_the_start_is_earlier(tmp_path: Path) -> None:
    # Brazil: in force 2018-10-01. A start on 2018-09-01 is rejected (before-agreement-in-force), and every finding
    # of the row is still reported: the 60 months run from 2018-10-01, so the last day within is 2023-09-30.
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(host_country="BR", assignment_start=D(2018, 9, 1), assignment_end=D(2023, 9, 30)),
        row(ssn=NEIGHBOUR_SSNS[0], host_country="BR", assignment_start=D(2018, 9, 1), assignment_end=D(2023, 10, 1)),
    ])
    exit_code, report = validate_json(path)
    for r in (2, 3):
        assert status_of(report, r) == "rejected"
        assert findings_at(report, r, "before-agreement-in-force")[0]["column"] == letter("assignment_start")
    assert "exceeds-detachment-limit" not in codes_of(report, 2)
    assert [f["column"] for f in findings_at(report, 3, "exceeds-detachment-limit")] == [letter("assignment_end")]
    assert exit_code == 1


# --- warnings: the row is still approved ----------------------------------------------------------------------

WARNING_CASES: list[tuple[str, str, list[Variant]]] = [
    ("retroactive-request", "retroactive-request", [
        ("start before the as-of date", row(assignment_start=D(2026, 11, 1)), "assignment_start", "2026-11-01"),
    ]),
    ("far-future-start", "far-future-start", [
        ("start one day past as-of + 12 months", row(assignment_start=D(2027, 11, 26),
                                                     assignment_end=D(2028, 12, 31)), "assignment_start",
         "2027-11-26"),
    ]),
    ("ssn-zeros-restored", "ssn-zeros-restored", [
        ("8 digits in a number cell", row(ssn=12345678), "ssn", "***-**-5678"),
        ("7 digits in a number cell", row(ssn=1234567), "ssn", "***-**-4567"),
        ("8 digits as text", row(ssn="23456789"), "ssn", "***-**-6789"),
    ]),
    ("ein-zeros-restored", "ein-zeros-restored", [
        ("8 digits in a number cell", row(employer_ein=12345678), "employer_ein", None),
    ]),
    ("zip-zeros-restored", "zip-zeros-restored", [
        ("number cell 2110", row(employer_zip=2110), "employer_zip", None),
        ("number cell 501 (3 digits)", row(employer_zip=501), "employer_zip", None),
        ("text 2110", row(employer_zip="2110"), "employer_zip", None),
    ]),
]


@cases(WARNING_CASES)
def test_a_warning_is_reported_at_its_cell_and_the_row_is_still_approved(
        tmp_path: Path, code: str, variants: list[Variant]) -> None:
    check_between_good_rows(tmp_path, code, "approved", variants, only=True)


def test_restored_zeros_are_shown_in_the_message(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(employer_zip=2110, employer_ein=12345678),
                                            row(ssn=NEIGHBOUR_SSNS[0], employer_zip=501)])
    exit_code, report = validate_json(path)
    assert "02110" in findings_at(report, 2, "zip-zeros-restored")[0]["message"]
    assert "01-2345678" in findings_at(report, 2, "ein-zeros-restored")[0]["message"]
    assert "00501" in findings_at(report, 3, "zip-zeros-restored")[0]["message"]
    assert [status_of(report, 2), status_of(report, 3)] == ["approved", "approved"]
    assert exit_code == 0


def test_zeros_lost_in_a_csv_are_restored_with_warnings(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [
        row(ssn=NEIGHBOUR_SSNS[0]),
        row(employer_zip="2110", ssn="12345678", employer_ein="12345678"),
        row(ssn=NEIGHBOUR_SSNS[1]),
    ])
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    assert ("zip-zeros-restored", letter("employer_zip")) in [(f["code"], f["column"]) for f in
                                                              report["findings"] if f["row"] == 3]
    assert sorted(codes_of(report, 3)) == ["ein-zeros-restored", "ssn-zeros-restored", "zip-zeros-restored"]
    for code, field in [("ssn-zeros-restored", "ssn"), ("ein-zeros-restored", "employer_ein"),
                        ("zip-zeros-restored", "employer_zip")]:
        assert [(f["column"], f["severity"]) for f in findings_at(report, 3, code)] == [(letter(field), "warning")]
    assert "02110" in findings_at(report, 3, "zip-zeros-restored")[0]["message"]
    assert status_of(report, 3) == "approved"
    assert_untouched(report, 2, 4)
    assert exit_code == 0


def test_a_cell_error_in_a_csv_is_reported_at_the_csv_row_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [row(ssn=NEIGHBOUR_SSNS[0]), row(employer_zip="ABCDE"),
                                          row(ssn=NEIGHBOUR_SSNS[1])], delimiter=";")
    exit_code, report = validate_json(path)
    assert findings_at(report, 3, "invalid-zip")[0]["column"] == letter("employer_zip")
    assert status_of(report, 3) == "rejected"
    assert_untouched(report, 2, 4)
    assert exit_code == 1


# --- duplicates -------------------------------------------------------------------------------------------------


def test_a_later_overlapping_row_is_a_duplicate_and_a_row_overlapping_only_a_rejected_row_is_not(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(assignment_start=D(2027, 1, 1), assignment_end=D(2027, 6, 30)),    # 2: the first request
        row(assignment_start=D(2027, 6, 30), assignment_end=D(2027, 9, 30)),   # 3: overlaps 2 (one day) → duplicate
        row(assignment_start=D(2027, 8, 1), assignment_end=D(2027, 12, 31)),   # 4: overlaps only 3 (rejected)
        row(ssn=NEIGHBOUR_SSNS[0]),                                            # 5: another worker
    ])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2, 4, 5)
    assert status_of(report, 3) == "rejected"
    found = findings_at(report, 3, "duplicate-row")
    assert [(f["column"], f["severity"]) for f in found] == [(letter("ssn"), "error")]
    assert "row 2" in found[0]["message"]
    assert [r for r, _ in [(f["row"], f) for f in report["findings"] if f["code"] == "duplicate-row"]] == [3]
    assert exit_code == 1


def test_same_ssn_in_another_host_or_a_later_period_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(assignment_end=D(2027, 6, 30)),
        row(host_country="AT"),
        row(assignment_start=D(2027, 7, 1), assignment_end=D(2028, 6, 30)),  # starts the day after row 2 ends
    ])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2)
    # Not duplicates; since 2026.2 a posting overlapping an earlier one under another agreement is referred.
    for r in (3, 4):
        assert (status_of(report, r), codes_of(report, r)) == ("referred", ["concurrent-assignments"])
    assert exit_code == 0


def test_a_row_overlapping_a_row_rejected_for_another_reason_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(contact_email="not an address"), row()])
    exit_code, report = validate_json(path)
    assert status_of(report, 2) == "rejected"
    assert codes_of(report, 2) == ["invalid-email"]
    assert_untouched(report, 3)
    assert exit_code == 1


def test_the_same_ssn_typed_two_ways_is_still_a_duplicate(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(ssn="123-45-6789"), row(ssn="123456789")])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2)
    assert [(f["column"]) for f in findings_at(report, 3, "duplicate-row")] == [letter("ssn")]
    assert status_of(report, 3) == "rejected"
    assert exit_code == 1


def test_a_territory_and_its_agreement_country_are_the_same_host_for_duplicates(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(host_country="GB", worksite_region="England"),
                                            row(host_country="United Kingdom", worksite_region="Wales")])
    exit_code, report = validate_json(path)
    assert_untouched(report, 2)
    assert status_of(report, 3) == "rejected"
    assert codes_of(report, 3) == ["duplicate-row"]
    assert exit_code == 1


# --- confidentiality of the findings -------------------------------------------------------------------------


def test_ssns_in_findings_are_masked_and_no_full_ssn_appears_in_the_json(tmp_path: Path) -> None:
    typed = ["666-12-3456", "923-45-6789", "123 45 6789", "12345678", "345-67-8901"]
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(ssn="666-12-3456"),                                  # invalid
        row(ssn="923-45-6789"),                                  # invalid (ITIN)
        row(ssn="123 45 6789"),                                  # valid, with spaces
        row(ssn="123-45-6789", assignment_start=D(2027, 6, 1)),  # duplicate of the row above
        row(ssn="12345678", last_name="Sm1th"),                  # zeros restored, rejected for the name
        row(ssn="345-67-8901", host_country="MX"),               # valid SSN on a rejected row
    ])
    exit_code, report = validate_json(path)
    ssn_findings = [f for f in report["findings"] if f["field"] == "ssn"]
    assert {f["code"] for f in ssn_findings} >= {"invalid-ssn", "duplicate-row", "ssn-zeros-restored"}
    for f in ssn_findings:
        assert re.fullmatch(r"\*\*\*-\*\*-\d{4}", f["value"]), f
    text = json.dumps(report)
    forms = set()
    for ssn in typed + ["012-34-5678", "123-45-6789"]:
        digits = re.sub(r"\D", "", ssn).zfill(9)
        forms |= {ssn, digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}", f"{digits[:3]} {digits[3:5]} {digits[5:]}"}
    leaked = sorted(form for form in forms if form in text)
    assert leaked == []
    assert exit_code == 1


# --- header notices: the file is still processed ----------------------------------------------------------------


def test_an_unknown_column_is_ignored_with_a_warning_at_its_header_cell(tmp_path: Path) -> None:
    keys = [*FIELDS, "cost_center"]
    headers = [schemas.fields()[k].label for k in FIELDS] + ["Cost center"]
    path = write_xlsx(tmp_path / "a.xlsx", [row(cost_center="X-12"), row(ssn=NEIGHBOUR_SSNS[0], cost_center="Y")],
                      keys=keys, headers=headers)
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    found = [f for f in report["findings"] if f["code"] == "unknown-column"]
    assert [(f["row"], f["column"], f["severity"], f["value"]) for f in found] == [(1, "AD", "warning", "Cost center")]
    assert "ignored" in found[0]["message"]
    for r in (2, 3):
        assert status_of(report, r) == "approved"
    assert exit_code == 0


def test_a_close_misspelling_of_a_header_is_assumed_with_an_info_notice(tmp_path: Path) -> None:
    headers = [schemas.fields()[k].label for k in FIELDS]
    headers[FIELDS.index("ssn")] = "Social Securty Number"
    path = write_xlsx(tmp_path / "a.xlsx", [row(), row(ssn=NEIGHBOUR_SSNS[0])], headers=headers)
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    found = [f for f in report["findings"] if f["code"] == "assumed-column"]
    assert [(f["row"], f["column"], f["field"], f["severity"]) for f in found] == [(1, "K", "ssn", "info")]
    assert "Social Security number" in found[0]["message"]
    assert "missing-column" not in {f["code"] for f in report["findings"]}
    for r in (2, 3):
        assert status_of(report, r) == "approved"
    assert exit_code == 0


def _stamped_workbook(path: Path, edition: str, rows: list[dict[str, Any]]) -> Path:
    write_xlsx(path, rows)
    wb = openpyxl.load_workbook(path)
    wb.custom_doc_props.append(StringProperty(name="coc-template-edition", value=edition))
    wb.save(path)
    return path


def test_a_workbook_of_an_older_template_edition_is_read_with_an_outdated_template_warning(
        tmp_path: Path) -> None:
    path = _stamped_workbook(tmp_path / "old.xlsx", "2025.1", [row(), row(ssn=NEIGHBOUR_SSNS[0])])
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    found = [f for f in report["findings"] if f["code"] == "outdated-template"]
    assert [(f["severity"], f["value"]) for f in found] == [("warning", "2025.1")]
    assert "2025.1" in found[0]["message"] and schemas.edition() in found[0]["message"]
    for r in (2, 3):
        assert status_of(report, r) == "approved"
    assert exit_code == 0


def test_a_workbook_of_the_current_edition_gets_no_outdated_template_warning(tmp_path: Path) -> None:
    path = _stamped_workbook(tmp_path / "new.xlsx", schemas.edition(), [row()])
    exit_code, report = validate_json(path)
    assert report["findings"] == []
    assert_untouched(report, 2)
    assert exit_code == 0


def test_the_messages_column_of_the_results_workbook_is_ignored_silently(tmp_path: Path) -> None:
    keys = [*FIELDS, "messages"]
    headers = [schemas.fields()[k].label for k in FIELDS] + ["Messages"]
    path = write_xlsx(tmp_path / "a.xlsx", [row(messages="Row 2: fixed")], keys=keys, headers=headers)
    exit_code, report = validate_json(path)
    assert report["findings"] == []
    assert_untouched(report, 2)
    assert exit_code == 0


# --- row numbers are the sheet's own ----------------------------------------------------------------------------


def test_rows_below_title_rows_and_blank_rows_keep_their_sheet_row_numbers(tmp_path: Path) -> None:
    blank: dict[str, Any] = {}
    path = write_xlsx(tmp_path / "a.xlsx", [row(ssn=NEIGHBOUR_SSNS[0]), blank, row(last_name="Sm1th"),
                                            row(ssn=NEIGHBOUR_SSNS[1])],
                      title_rows=[["Acme Corp assignments 2027"], ["Prepared by HR"]])
    exit_code, report = validate_json(path)
    # header on row 3; data on 4, (blank 5 is not a row), 6, 7
    assert sorted(report["rows"], key=int) == ["4", "6", "7"]
    assert [(f["row"], f["column"]) for f in report["findings"]] == [(6, letter("last_name"))]
    assert status_of(report, 6) == "rejected"
    assert_untouched(report, 4, 7)
    assert exit_code == 1


def test_a_header_on_row_20_is_found(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row()], title_rows=[[f"note {i}"] for i in range(19)])
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    assert_untouched(report, 21)
    assert exit_code == 0


def test_the_assignments_sheet_is_used_even_when_it_is_not_the_first(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(ssn=NEIGHBOUR_SSNS[0]), row(employer_zip="ABCDE")])
    wb = openpyxl.load_workbook(path)
    notes = wb.create_sheet("Read me", 0)
    notes.append(["Fill in one row per assignment."])
    other = wb.create_sheet("Old data", 1)
    other.append([schemas.fields()[k].label for k in FIELDS])
    other.append([row(ssn="666-66-6666").get(k) for k in FIELDS])
    wb.save(path)
    exit_code, report = validate_json(path)
    assert [(f["row"], f["column"], f["code"]) for f in report["findings"]] == [(3, letter("employer_zip"),
                                                                                 "invalid-zip")]
    assert_untouched(report, 2)
    assert status_of(report, 3) == "rejected"
    assert exit_code == 1


def test_without_an_assignments_sheet_the_first_sheet_with_a_header_is_used(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(), row(ssn=NEIGHBOUR_SSNS[0], middle_initial="QR")], sheet="2027")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Cover", 0).append(["Acme Corp — expatriate assignments"])
    wb.save(path)
    exit_code, report = validate_json(path)
    assert [(f["row"], f["column"], f["code"]) for f in report["findings"]] == [(3, letter("middle_initial"),
                                                                                 "invalid-name")]
    assert_untouched(report, 2)
    assert exit_code == 1


# --- file and header errors: the whole file is rejected ---------------------------------------------------------


def valid_xlsx_bytes(tmp_path: Path, rows: list[dict[str, Any]] | None = None) -> bytes:
    return write_xlsx(tmp_path / "valid-source.xlsx", rows if rows is not None else [row()]).read_bytes()


def rezip(data: bytes, replace: Mapping[str, bytes] | None = None, add: Mapping[str, bytes] | None = None) -> bytes:
    """The same .xlsx with some parts replaced or added."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in add.items():
            dst.writestr(name, content)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
#: The classic "billion laughs": lol9 expands to 10^9 "lol"s.
BILLION_LAUGHS = (
    b'<!DOCTYPE worksheet [\n<!ENTITY lol0 "lol">\n'
    + b"".join(b'<!ENTITY lol%d "%s">\n' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
    + b"]>\n"
)


def _entity_bomb(tmp_path: Path, padding: bytes = b"") -> bytes:
    data = valid_xlsx_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read(SHEET)
    decl_end = sheet.index(b"?>") + 2 if sheet.startswith(b"<?xml") else 0
    bombed = sheet[:decl_end] + b"\n" + padding + BILLION_LAUGHS + sheet[decl_end:]
    # A cell uses an entity, as a real attack would; &lol6; (3 MB once expanded) keeps the test harmless should a
    # parser ever expand it: the file must then still be rejected, which this test would catch.
    cell = b'<row r="9"><c r="A9" t="inlineStr"><is><t>&lol6;</t></is></c></row></sheetData>'
    assert b"</sheetData>" in bombed
    bombed = bombed.replace(b"</sheetData>", cell, 1)
    return rezip(data, replace={SHEET: bombed})


def _ole(extra: bytes = b"") -> bytes:
    return bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504 + extra + b"\x00" * 1024


def _repetitive_sheet(tmp_path: Path) -> bytes:
    """A valid workbook whose sheet XML carries 2 MB of one repeated comment: compresses about 1000 to 1."""
    data = valid_xlsx_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read(SHEET)
    decl_end = sheet.index(b"?>") + 2 if sheet.startswith(b"<?xml") else 0
    padded = sheet[:decl_end] + b"\n" + b"<!-- padding -->" * (2 * 1024 * 1024 // 16) + sheet[decl_end:]
    return rezip(data, replace={SHEET: padded})


def _many_rows(n: int) -> list[dict[str, Any]]:
    return [row(ssn=f"123-45-{6000 + i:04d}") for i in range(n)]


FileCase = tuple[str, str, Callable[[Path], bytes], dict[str, str], str, str]

FILE_CASES: list[FileCase] = [
    # (id, file name, builder of the bytes, environment, expected code, a phrase of what to do)
    ("corrupt-bytes-named-xlsx", "a.xlsx", lambda p: b"this is not a workbook \x00\x01\x02" * 50, {},
     "unreadable-file", "Save it again"),
    ("truncated-xlsx", "a.xlsx", lambda p: valid_xlsx_bytes(p)[:1500], {}, "unreadable-file", "Save it again"),
    ("zip-that-is-not-a-workbook", "a.xlsx", lambda p: _plain_zip(), {}, "unreadable-file", "Save it again"),
    ("ole-binary-named-xls", "a.xls", lambda p: _ole(), {}, "unsupported-format", "Save the workbook as"),
    ("ole-binary-named-xlsx", "a.xlsx", lambda p: _ole(), {}, "unsupported-format", "Save the workbook as"),
    ("xlsb", "a.xlsb", lambda p: valid_xlsx_bytes(p), {}, "unsupported-format", "Save the workbook as"),
    ("password-protected-xlsx", "a.xlsx", lambda p: _ole("EncryptionInfo".encode("utf-16-le")), {},
     "unreadable-file", "without a password"),
    ("macro-enabled-xlsm", "a.xlsm", lambda p: valid_xlsx_bytes(p), {}, "unsupported-format", "no macros"),
    ("xlsx-with-a-vba-project", "a.xlsx",
     lambda p: rezip(valid_xlsx_bytes(p), add={"xl/vbaProject.bin": _ole(b"VBA project")}), {},
     "unsupported-format", "no macros"),
    ("pdf-renamed", "a.pdf", lambda p: b"%PDF-1.4\n" + b"x" * 100, {}, "unsupported-format", "Save the workbook as"),
    ("xml-entity-bomb-in-the-sheet", "a.xlsx", lambda p: _entity_bomb(p), {}, "unreadable-file", "Save it again"),
    ("xml-entity-bomb-after-5kb-of-comment", "a.xlsx",
     lambda p: _entity_bomb(p, padding=b"<!-- " + b"x" * 5000 + b" -->\n"), {}, "unreadable-file", "Save it again"),
    ("over-max-bytes", "a.xlsx", lambda p: valid_xlsx_bytes(p), {"COC_MAX_BYTES": "1000"}, "file-too-large",
     "Split it"),
    ("over-max-uncompressed", "a.xlsx", lambda p: valid_xlsx_bytes(p), {"COC_MAX_UNCOMPRESSED": "2000"},
     "file-too-large", "Split it"),
    ("over-max-ratio-configured", "a.xlsx", lambda p: valid_xlsx_bytes(p), {"COC_MAX_RATIO": "1.0"},
     "file-too-large", "Split it"),
    ("over-default-compression-ratio-100", "a.xlsx", _repetitive_sheet, {}, "file-too-large", "Split it"),
    ("over-max-rows-xlsx", "a.xlsx", lambda p: valid_xlsx_bytes(p, _many_rows(10)), {"COC_MAX_ROWS": "5"},
     "file-too-large", "Split it"),
    ("over-max-rows-csv", "a.csv", lambda p: write_csv(p / "src.csv", _many_rows(10)).read_bytes(),
     {"COC_MAX_ROWS": "5"}, "file-too-large", "Split it"),
    ("over-max-columns-xlsx", "a.xlsx", lambda p: valid_xlsx_bytes(p), {"COC_MAX_COLUMNS": "10"},
     "file-too-large", "Split it"),
    ("over-max-columns-csv", "a.csv", lambda p: write_csv(p / "src.csv", [row()]).read_bytes(),
     {"COC_MAX_COLUMNS": "10"}, "file-too-large", "Split it"),
    ("zero-byte-csv", "a.csv", lambda p: b"", {}, "empty-file", "Fill in one row"),
    ("zero-byte-xlsx", "a.xlsx", lambda p: b"", {}, "empty-file", "Fill in one row"),
    ("xlsx-with-a-header-and-no-row", "a.xlsx", lambda p: valid_xlsx_bytes(p, []), {}, "empty-file",
     "Fill in one row"),
    ("xlsx-with-a-header-and-only-blank-rows", "a.xlsx", lambda p: valid_xlsx_bytes(p, [{}, {}, {}]), {},
     "empty-file", "Fill in one row"),
    ("csv-with-a-header-and-no-row", "a.csv", lambda p: write_csv(p / "src.csv", []).read_bytes(), {},
     "empty-file", "Fill in one row"),
    ("csv-with-a-header-and-blank-lines", "a.csv",
     lambda p: write_csv(p / "src.csv", []).read_bytes() + b"\r\n,,,\r\n\r\n", {}, "empty-file",
     "Fill in one row"),
    ("xlsx-without-any-header", "a.xlsx",
     lambda p: write_xlsx(p / "src.xlsx", [row()], headers=["x"] * len(FIELDS)).read_bytes(), {},
     "no-header-row", "Put the column labels"),
    ("xlsx-with-the-header-on-row-21", "a.xlsx",
     lambda p: write_xlsx(p / "src.xlsx", [row()], title_rows=[[f"note {i}"] for i in range(20)]).read_bytes(),
     {}, "no-header-row", "Put the column labels"),
    ("csv-of-plain-text", "a.csv", lambda p: b"hello\nworld\n", {}, "no-header-row", "Put the column labels"),
]


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize(("name", "build", "env", "code", "todo"), [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_a_structurally_broken_file_is_rejected_whole_with_one_finding_that_says_what_to_do(
        tmp_path: Path, name: str, build: Callable[[Path], bytes], env: dict[str, str], code: str,
        todo: str) -> None:
    path = tmp_path / name
    path.write_bytes(build(tmp_path))
    exit_code, report = validate_json(path, env=env)
    assert report["status"] == "rejected-file"
    assert [f["code"] for f in report["findings"]] == [code], report["findings"]
    finding = report["findings"][0]
    assert finding["severity"] == "error"
    assert finding["scope"] in ("file", "header")
    assert todo in finding["message"], finding["message"]
    assert report["rows"] == {}
    assert exit_code == 1


def test_the_bounds_are_not_hit_by_a_file_within_them(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", _many_rows(10))
    exit_code, report = validate_json(path, env={"COC_MAX_ROWS": "11", "COC_MAX_COLUMNS": str(len(FIELDS)),
                                                 "COC_MAX_BYTES": str(path.stat().st_size)})
    assert report["status"] == "processed"
    assert [status_of(report, r) for r in range(2, 12)] == ["approved"] * 10
    assert exit_code == 0


def test_a_required_column_missing_from_the_header_rejects_the_file(tmp_path: Path) -> None:
    keys = [k for k in FIELDS if k != "place_of_birth"]
    path = write_xlsx(tmp_path / "a.xlsx", [row()], keys=keys)
    exit_code, report = validate_json(path)
    assert report["status"] == "rejected-file"
    assert [(f["code"], f["field"], f["severity"]) for f in report["findings"]] == [
        ("missing-column", "place_of_birth", "error")]
    message = report["findings"][0]["message"]
    assert "Place of birth" in message and "Add a column" in message
    assert report["rows"] == {}
    assert exit_code == 1


def test_two_columns_read_as_the_same_field_reject_the_file(tmp_path: Path) -> None:
    keys = [*FIELDS, "ssn"]
    headers = [schemas.fields()[k].label for k in FIELDS] + ["SSN"]
    path = write_xlsx(tmp_path / "a.xlsx", [row()], keys=keys, headers=headers)
    exit_code, report = validate_json(path)
    assert report["status"] == "rejected-file"
    assert [(f["code"], f["field"], f["row"]) for f in report["findings"]] == [("duplicate-column", "ssn", 1)]
    finding = report["findings"][0]
    assert finding["column"] in ("K", "AD")
    assert "K" in finding["message"] and "AD" in finding["message"] and "Keep one" in finding["message"]
    assert report["rows"] == {}
    assert exit_code == 1


# --- exit codes -----------------------------------------------------------------------------------------------


def test_an_all_approved_file_exits_0(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", _many_rows(3))
    exit_code, report = validate_json(path)
    assert report["status"] == "processed"
    assert report["findings"] == []
    assert_untouched(report, 2, 3, 4)
    assert exit_code == 0


def test_a_file_with_referred_rows_and_warnings_but_no_rejection_exits_0(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(assignment_end=D(2033, 1, 1)),                            # referred
        row(ssn=NEIGHBOUR_SSNS[0], assignment_start=D(2026, 1, 1)),   # retroactive warning
    ])
    exit_code, report = validate_json(path)
    assert [status_of(report, 2), status_of(report, 3)] == ["referred", "approved"]
    assert exit_code == 0


def test_a_single_rejected_row_makes_the_exit_code_1(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [*_many_rows(3), row(ssn="666-00-0000")])
    exit_code, report = validate_json(path)
    assert [status_of(report, r) for r in (2, 3, 4, 5)] == ["approved"] * 3 + ["rejected"]
    assert exit_code == 1


def test_the_as_of_date_given_on_the_command_line_is_the_one_used(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [row(assignment_start=D(2026, 6, 1))])
    _, before = validate_json(path, as_of="2026-05-31")
    _, after = validate_json(path, as_of=AS_OF)
    assert codes_of(before, 2) == []
    assert codes_of(after, 2) == ["retroactive-request"]
