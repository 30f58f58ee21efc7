"""The rules of edition 2026.2 through `coc validate --json` (docs/errors.md, docs/decisions.md#rules):

- every agreement's self-employment rule, for a self-employed person living in the United States, in the host
  country and in a third country (one workbook holds every case; each agreement is its own parametrized test);
- every agreement file names the source of its self-employment rule;
- the limit's last day after a 29 February start (60 months for employees, France's 24 for the self-employed);
- the minimum age for a 29 February birthday;
- the §3121(l) date, checked on foreign-affiliate rows only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coc_intake import agreements, schemas
from tests.builders import row, validate_json, write_xlsx

D = dt.date
AGREEMENTS = sorted(agreements.all_agreements())
WHERE = ("us", "host", "third")
#: A country with no agreement, off U.S. soil: a third country for every agreement.
THIRD_COUNTRY = "MX"

#: Per rule and residence: (status, codes) of a self-employed U.S. citizen's request (docs/errors.md).
EXPECTED: dict[str, dict[str, tuple[str, list[str]]]] = {
    "residence": {"us": ("approved", []), "host": ("rejected", ["not-us-covered"]),
                  "third": ("referred", ["self-employed-review"])},
    "place-of-work": {"us": ("approved", []), "host": ("referred", ["self-employed-review"]),
                      "third": ("approved", [])},
    "nationality": {"us": ("approved", []), "host": ("approved", []), "third": ("approved", [])},
    "not-covered": {w: ("rejected", ["not-covered-by-agreement"]) for w in WHERE},
}
#: The field each self-employment finding points at.
FIELD_OF = {"not-us-covered": "residence_country", "self-employed-review": "residence_country",
            "not-covered-by-agreement": "worker_type"}


def letter(key: str) -> str:
    """The column letter of a field in a workbook written in dictionary order."""
    n, out = list(schemas.fields()).index(key) + 1, ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def ssns() -> Iterator[str]:
    for i in range(1000):
        yield f"{200 + i // 90:03d}-{10 + i % 90:02d}-{1000 + i:04d}"


def self_employed(ssn: str, **overrides: Any) -> dict[str, Any]:
    """A self-employed U.S. citizen living in the United States, for two years from 2027-01-01 (within France's
    24 months), with no employer fields."""
    base = row(
        ssn=ssn, worker_type="self-employed", business_nature="Software consulting", employer_ein=None,
        employer_name=None, employer_street=None, employer_city=None, employer_state=None, employer_zip=None,
        hire_date=None, foreign_employer_name=None, employed_by=None,
    )
    return {**base, **overrides}


def host_fields(code: str) -> dict[str, Any]:
    """The cells that send a row to the agreement ``code`` and satisfy what it requires."""
    a = agreements.all_agreements()[code]
    cells: dict[str, Any] = {"host_country": a.country}
    if a.region:
        cells["worksite_region"] = a.region
    elif a.worksite_regions:
        cells["worksite_region"] = a.worksite_regions[0]
    if "health_insurance" in a.requires:
        cells["health_insurance"] = "Y"
    return cells


def residence(code: str, where: str) -> str:
    return {"us": "US", "host": agreements.all_agreements()[code].country, "third": THIRD_COUNTRY}[where]


CASES = [(code, where) for code in AGREEMENTS for where in WHERE]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One workbook: a row per agreement and residence, in CASES order from sheet row 2."""
    numbers = ssns()
    rows = [self_employed(next(numbers), residence_country=residence(code, where), **host_fields(code))
            for code, where in CASES]
    _, out = validate_json(write_xlsx(tmp_path_factory.mktemp("se") / "self-employed.xlsx", rows))
    return out


@pytest.mark.parametrize("code", AGREEMENTS)
def test_each_agreement_decides_self_employed_rows_by_its_rule(report: dict[str, Any], code: str) -> None:
    rule = agreements.all_agreements()[code].self_employment
    for where in WHERE:
        sheet_row = CASES.index((code, where)) + 2
        got = report["rows"][str(sheet_row)]
        assert (got["status"], got["codes"]) == EXPECTED[rule][where], (code, where, got)
        for c in got["codes"]:
            findings = [f for f in report["findings"] if f["row"] == sheet_row and f["code"] == c]
            assert [f["column"] for f in findings] == [letter(FIELD_OF[c])], (code, where, findings)
            assert all(f["message"] for f in findings)


def test_the_residence_rule_and_the_place_of_work_rule_cover_the_agreements_the_rules_name() -> None:
    by_rule: dict[str, set[str]] = {}
    for code, a in agreements.all_agreements().items():
        by_rule.setdefault(a.self_employment, set()).add(code)
    assert by_rule == {
        "residence": {"AT", "CA", "CA-QC", "CH", "CL", "DK", "ES", "FI", "GB", "GR", "IE", "IS", "KR", "LU", "NL",
                      "NO", "PL", "PT", "SE"},
        "place-of-work": {"BE", "BR", "CZ", "DE", "FR", "HU", "JP", "SI", "SK", "UY"},
        "nationality": {"IT"},
        "not-covered": {"AU"},
    }
    limits = {c: a.self_employed_max_months for c, a in agreements.all_agreements().items()}
    assert {c for c, m in limits.items() if m == 24} == {"FR"}
    assert {c for c, m in limits.items() if m == 60} == by_rule["place-of-work"] - {"FR"}
    assert {c for c, m in limits.items() if m is None} == set(AGREEMENTS) - by_rule["place-of-work"]


#: Slovenia's rule was verified against the SSA pamphlet; no POMS section for it was found (agreements-research.md).
WITHOUT_POMS_SECTION = {"SI"}


@pytest.mark.parametrize("code", AGREEMENTS)
def test_each_agreement_file_names_the_source_of_its_self_employment_rule(code: str) -> None:
    sources = agreements.all_agreements()[code].self_employment_sources
    assert sources
    has_poms = any(s.startswith(("POMS RS ", "POMS GN ")) for s in sources)
    assert has_poms is (code not in WITHOUT_POMS_SECTION), sources


def test_a_territory_of_the_host_counts_as_living_in_the_host(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        self_employed("234-56-7890", host_country="GB", worksite_region="England", residence_country="JE"),
        self_employed("345-67-8901", host_country="JE", residence_country="GB"),
    ])
    _, out = validate_json(path)
    for r in ("2", "3"):
        assert (out["rows"][r]["status"], out["rows"][r]["codes"]) == ("rejected", ["not-us-covered"])


# --- 29 February ------------------------------------------------------------------------------------------------


def test_a_29_february_start_ends_the_limit_on_the_last_day_of_february(tmp_path: Path) -> None:
    # 60 months after 2028-02-29 is 2033-02-29, which does not exist: the last day is 2033-02-28 (not 02-27).
    # France's 24 months for the self-employed: 2030-02-29 does not exist, so the last day is 2030-02-28.
    numbers = ssns()
    start = D(2028, 2, 29)
    rows = [
        row(ssn=next(numbers), assignment_start=start, assignment_end=D(2033, 2, 28)),
        row(ssn=next(numbers), assignment_start=start, assignment_end=D(2033, 3, 1)),
        self_employed(next(numbers), host_country="FR", health_insurance="Y", assignment_start=start,
                      assignment_end=D(2030, 2, 28)),
        self_employed(next(numbers), host_country="FR", health_insurance="Y", assignment_start=start,
                      assignment_end=D(2030, 3, 1)),
        # A leap year's 29 February exists: the day before it is the last day.
        row(ssn=next(numbers), assignment_start=D(2027, 2, 28), assignment_end=D(2032, 2, 27)),
        row(ssn=next(numbers), assignment_start=D(2027, 2, 28), assignment_end=D(2032, 2, 28)),
    ]
    exit_code, out = validate_json(write_xlsx(tmp_path / "a.xlsx", rows), as_of="2027-06-01")
    got = {r: (v["status"], v["codes"]) for r, v in out["rows"].items()}
    assert got == {
        "2": ("approved", []), "3": ("referred", ["exceeds-detachment-limit"]),
        "4": ("approved", []), "5": ("referred", ["exceeds-detachment-limit"]),
        "6": ("approved", ["retroactive-request"]), "7": ("referred", ["exceeds-detachment-limit",
                                                                       "retroactive-request"]),
    }
    limits = [f["message"] for f in out["findings"] if f["code"] == "exceeds-detachment-limit"]
    assert ["60 months" in limits[0], "24 months" in limits[1]] == [True, True]
    assert exit_code == 0


def test_a_29_february_birthday_is_reached_on_1_march_in_a_common_year(tmp_path: Path) -> None:
    # Born 2012-02-29: 13 on 2026-02-28, 14 on 2026-03-01 (docs/errors.md: the minimum age is 14).
    numbers = ssns()
    rows = [row(ssn=next(numbers), date_of_birth=D(2012, 2, 29), hire_date=D(2026, 1, 2), assignment_start=start,
                assignment_end=D(2027, 1, 31))
            for start in (D(2026, 2, 28), D(2026, 3, 1))]
    _, out = validate_json(write_xlsx(tmp_path / "a.xlsx", rows), as_of="2026-01-15")
    assert (out["rows"]["2"]["status"], out["rows"]["2"]["codes"]) == ("rejected", ["implausible-birth-date"])
    assert "age of 13" in next(f["message"] for f in out["findings"] if f["code"] == "implausible-birth-date")
    assert (out["rows"]["3"]["status"], out["rows"]["3"]["codes"]) == ("approved", [])


# --- §3121(l) ----------------------------------------------------------------------------------------------------


def test_the_3121l_date_is_checked_on_foreign_affiliate_rows_only(tmp_path: Path) -> None:
    numbers = ssns()
    late = D(2027, 6, 1)  # after the start, 2027-01-01
    rows = [
        row(ssn=next(numbers), employed_by="US employer", section_3121l_date=late),
        self_employed(next(numbers), section_3121l_date=late),
        row(ssn=next(numbers), employed_by="foreign affiliate", section_3121l_date=late),
        row(ssn=next(numbers), employed_by="foreign affiliate", section_3121l_date=None),
        row(ssn=next(numbers), employed_by="foreign affiliate", section_3121l_date=D(2020, 1, 1)),
    ]
    exit_code, out = validate_json(write_xlsx(tmp_path / "a.xlsx", rows))
    got = {r: (v["status"], v["codes"]) for r, v in out["rows"].items()}
    assert got == {
        "2": ("approved", []), "3": ("approved", []),
        "4": ("rejected", ["3121l-after-start"]), "5": ("rejected", ["missing-3121l-agreement"]),
        "6": ("approved", []),
    }
    assert {f["column"] for f in out["findings"]} == {letter("section_3121l_date")}
    assert exit_code == 1
