"""Edition 2026.2 through the CLI (`coc validate FILE --json`): territories and own-language names of host countries
(docs/fields.md#host_country), the closest country named in `invalid-country`, headers with their words reordered
(docs/reading.md#sheet-header-row-columns) and an empty sheet (`empty-file`).

Each workbook holds many cases, one row each (distinct SSNs, so that no rule links two rows); a row's agreement is
read from its request ID (`COC-<agreement>-…`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from coc_intake import countries, country_names, schemas
from coc_intake.catalog import message
from tests.builders import row, validate_json, write_csv, write_xlsx

FIELDS: list[str] = list(schemas.fields())


def ssn(i: int) -> str:
    """A valid SSN of its own for case ``i``."""
    return f"{101 + i:03d}-45-{1001 + i:04d}"


def host_row(i: int, host: str, **overrides: Any) -> dict[str, Any]:
    return row(ssn=ssn(i), host_country=host, **overrides)


def check(tmp_path: Path, rows: list[dict[str, Any]], name: str = "a.xlsx") -> dict[str, Any]:
    _, report = validate_json(write_xlsx(tmp_path / name, rows))
    assert report["status"] == "processed"
    return report


def by_row(report: dict[str, Any], code: str) -> dict[int, dict[str, Any]]:
    return {f["row"]: f for f in report["findings"] if f["code"] == code}


# --- territories ---------------------------------------------------------------------------------------------

#: (host as typed, the agreement it falls under, extra fields that agreement asks for)
TERRITORIES: list[tuple[str, str, dict[str, Any]]] = [
    *[(t, "FR", {"health_insurance": "Y"})
      for t in ("GP", "MQ", "GF", "RE", "Guadeloupe", "Réunion", "Guyane française")],
    ("AX", "FI", {}), ("Åland", "FI", {}), ("aland islands", "FI", {}),
    # The United Kingdom's territories: no worksite region is asked.
    *[(t, "GB", {}) for t in ("IM", "JE", "GG", "Isle of Man", "Alderney", "Herm", "Jethou", "ALDERNEY")],
    ("Azores", "PT", {}), ("Madeira", "PT", {}), ("Região Autónoma dos Açores", "PT", {}),
    ("Canary Islands", "ES", {}), ("Canarias", "ES", {}), ("Ceuta", "ES", {}), ("Melilla", "ES", {}),
    ("Quebec", "CA", {}), ("Québec", "CA", {}),  # the Quebec understanding: its IDs are COC-CA-…
]


def test_each_territory_falls_under_its_agreement_and_is_approved(tmp_path: Path) -> None:
    rows = [host_row(i, host, **extra) for i, (host, _, extra) in enumerate(TERRITORIES)]
    report = check(tmp_path, rows)
    assert report["findings"] == []
    for i, (host, agreement, _) in enumerate(TERRITORIES):
        outcome = report["rows"][str(i + 2)]
        assert outcome["status"] == "approved", host
        assert outcome["request_id"].startswith(f"COC-{agreement}-"), (host, outcome["request_id"])


NO_AGREEMENT = ["Greenland", "Grønland", "GL", "Faroe Islands", "Føroyar", "Aruba", "Curaçao", "Curacao",
                "Sint Maarten", "Caribbean Netherlands", "Gibraltar", "GI"]


def test_greenland_the_faroes_the_dutch_caribbean_and_gibraltar_have_no_agreement(tmp_path: Path) -> None:
    report = check(tmp_path, [host_row(i, host) for i, host in enumerate(NO_AGREEMENT)])
    found = by_row(report, "no-agreement")
    assert sorted(found) == list(range(2, 2 + len(NO_AGREEMENT)))
    for r in found:
        assert report["rows"][str(r)]["codes"] == ["no-agreement"]
        assert report["rows"][str(r)]["status"] == "rejected"
    assert "Greenland" in found[2]["message"] and "Gibraltar" in found[2 + NO_AGREEMENT.index("Gibraltar")]["message"]
    assert "Sint Maarten" in found[2 + NO_AGREEMENT.index("Sint Maarten")]["message"]


# --- own-language names --------------------------------------------------------------------------------------

#: (name in the country's own official language, the agreement, extra fields the agreement asks for)
OWN_NAMES: list[tuple[str, str, dict[str, Any]]] = [
    ("Deutschland", "DE", {}), ("Schweiz", "CH", {}), ("Suisse", "CH", {}), ("Svizzera", "CH", {}),
    ("Svizra", "CH", {}), ("España", "ES", {}), ("Nederland", "NL", {}), ("Österreich", "AT", {}),
    ("Sverige", "SE", {}), ("Suomi", "FI", {}), ("Norge", "NO", {}), ("Noreg", "NO", {}), ("Ísland", "IS", {}),
    ("Polska", "PL", {}), ("Česko", "CZ", {}), ("Česká republika", "CZ", {}), ("Slovensko", "SK", {}),
    ("Magyarország", "HU", {}), ("Slovenija", "SI", {}), ("Ελλάδα", "GR", {}),
    ("日本", "JP", {"health_insurance": "Y"}), ("대한민국", "KR", {}), ("Brasil", "BR", {}), ("Italia", "IT", {}),
    ("Belgique", "BE", {}), ("België", "BE", {}),
    ("Belgien", "BE", {}), ("Luxembourg", "LU", {}), ("Lëtzebuerg", "LU", {}), ("Éire", "IE", {}),
    ("Danmark", "DK", {}), ("Portugal", "PT", {}), ("Bundesrepublik Deutschland", "DE", {}),
    # Case and accents do not matter.
    ("DEUTSCHLAND", "DE", {}), ("osterreich", "AT", {}), ("Espana", "ES", {}), ("  ísland ", "IS", {}),
    ("Letzebuerg", "LU", {}), ("Eire", "IE", {}),
]


def test_a_host_country_named_in_its_own_official_language_is_accepted(tmp_path: Path) -> None:
    rows = [host_row(i, host, **extra) for i, (host, _, extra) in enumerate(OWN_NAMES)]
    report = check(tmp_path, rows)
    assert report["findings"] == []
    for i, (host, agreement, _) in enumerate(OWN_NAMES):
        assert report["rows"][str(i + 2)]["request_id"].startswith(f"COC-{agreement}-"), host
    assert len({agreement for _, agreement, _ in OWN_NAMES}) >= 12


def test_citizenship_and_residence_take_own_language_names_too(tmp_path: Path) -> None:
    report = check(tmp_path, [host_row(0, "DE", citizenship="United States; Deutschland", residence_country="US"),
                              host_row(1, "FR", health_insurance="Y", residence_country="United States")])
    assert report["findings"] == []


def test_own_language_names_come_from_pycountrys_catalogs_and_never_shadow_another_country() -> None:
    for language, names in country_names.CATALOG_GAPS.items():
        assert not country_names.has_catalog(language), f"pycountry now has {language}: drop its CATALOG_GAPS"
        assert set(names) <= {c for c, langs in country_names.OFFICIAL_LANGUAGES.items() if language in langs}
    for languages in country_names.OFFICIAL_LANGUAGES.values():
        for language in languages:
            assert language == "en" or country_names.has_catalog(language) or language in country_names.CATALOG_GAPS
    for name, alpha2 in country_names.own_language_names():
        assert countries.to_alpha2(name) == alpha2, name


# --- the closest country -------------------------------------------------------------------------------------


def test_a_misspelt_country_names_the_closest_one(tmp_path: Path) -> None:
    report = check(tmp_path, [
        host_row(0, "Deutschlnad"),
        host_row(1, "DE", citizenship="US; Untied States"),
        host_row(2, "DE", residence_country="Swizerland"),
        host_row(3, "Nederlnd"),
    ])
    found = [(f["row"], f["field"], f["message"]) for f in report["findings"] if f["code"] == "invalid-country"]
    assert [(r, f) for r, f, _ in found] == [(2, "host_country"), (3, "citizenship"), (4, "residence_country"),
                                             (5, "host_country")]
    assert "'Deutschlnad' is not a country (did you mean Germany (DE)?)" in found[0][2]
    assert "did you mean United States (US)?" in found[1][2]
    assert "did you mean Switzerland (CH)?" in found[2][2]
    assert "did you mean Netherlands (NL)?" in found[3][2]


@pytest.mark.parametrize("value", ["Xqzzv Plorb", "Atlantis", "Austrai", "Wakanda", "Q"],
                         ids=["hopeless", "no-country-close", "austria-or-australia", "fiction", "one-letter"])
def test_no_country_is_named_when_none_is_clearly_closest(tmp_path: Path, value: str) -> None:
    report = check(tmp_path, [host_row(0, value)])
    [finding] = [f for f in report["findings"] if f["code"] == "invalid-country"]
    assert "did you mean" not in finding["message"]
    also = "; the country's own name (Deutschland) and the territories of the agreements (Guadeloupe) are read too"
    assert finding["message"] == message("invalid-country", label="Host country", value=value.strip(), also=also)


# --- headers -------------------------------------------------------------------------------------------------


def labels_with(**changed: str) -> list[str]:
    heads = [schemas.fields()[k].label for k in FIELDS]
    for key, text in changed.items():
        heads[FIELDS.index(key)] = text
    return heads


def letter(key: str) -> str:
    n, out = FIELDS.index(key) + 1, ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def test_a_label_with_its_words_reordered_or_small_words_added_is_an_assumed_column(tmp_path: Path) -> None:
    heads = labels_with(contact_email="E-mail for confirmation", assignment_start="Date of the assignment start",
                        employer_name="Name of the employer", worksite_city="City of the worksite")
    path = write_xlsx(tmp_path / "a.xlsx", [row(), row(ssn=ssn(1))], headers=heads)
    code, report = validate_json(path)
    assumed = {f["field"]: f for f in report["findings"] if f["code"] == "assumed-column"}
    assert set(assumed) == {"contact_email", "assignment_start", "employer_name", "worksite_city"}
    for key, f in assumed.items():
        assert (f["row"], f["column"], f["severity"]) == (1, letter(key), "info")
        assert schemas.fields()[key].label in f["message"]
    assert {f["code"] for f in report["findings"]} == {"assumed-column"}
    assert [report["rows"][r]["status"] for r in ("2", "3")] == ["approved", "approved"]
    assert code == 0


def test_an_exact_label_or_alias_is_still_mapped_without_a_notice(tmp_path: Path) -> None:
    heads = labels_with(contact_email="Confirmation email", assignment_start="Start date", ssn="SSN")
    _, report = validate_json(write_xlsx(tmp_path / "a.xlsx", [row()], headers=heads))
    assert report["findings"] == []


def test_a_header_close_to_two_fields_is_not_mapped(tmp_path: Path) -> None:
    # "Date of the assignment" is as close to the start date as to the end date: neither is assumed.
    heads = labels_with(assignment_end="Date of the assignment")
    _, report = validate_json(write_xlsx(tmp_path / "a.xlsx", [row()], headers=heads))
    assert report["status"] == "rejected-file"
    codes = {(f["code"], f["field"], f["column"]) for f in report["findings"]}
    assert ("unknown-column", None, letter("assignment_end")) in codes
    assert ("missing-column", "assignment_end", None) in codes
    assert "assumed-column" not in {c for c, _, _ in codes}


# --- empty sheets --------------------------------------------------------------------------------------------


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    wb = openpyxl.Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for name, cells in sheets.items():
        ws = wb.create_sheet(name)
        for line in cells:
            ws.append(line)
    wb.save(path)
    return path


@pytest.mark.parametrize(("sheets", "reason"), [
    ({"Assignments": []}, "the sheet 'Assignments' is empty"),
    ({"Sheet1": []}, "no cell is filled in"),
    ({"Sheet1": [], "Sheet2": [[None, "  "]]}, "no cell is filled in"),
    ({"Assignments": [], "Other": [[schemas.fields()[k].label for k in FIELDS]]}, "the sheet 'Assignments' is empty"),
], ids=["empty-assignments-sheet", "only-an-empty-sheet", "every-sheet-blank", "assignments-empty-beside-another"])
def test_a_sheet_with_no_filled_cell_is_an_empty_file(tmp_path: Path, sheets: dict[str, list[list[Any]]],
                                                       reason: str) -> None:
    code, report = validate_json(_workbook(tmp_path / "a.xlsx", sheets))
    assert report["status"] == "rejected-file"
    assert [f["code"] for f in report["findings"]] == ["empty-file"]
    assert reason in report["findings"][0]["message"]
    assert code != 0


def test_a_csv_of_delimiters_only_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b",,,\r\n,,\r\n , \r\n")
    _, report = validate_json(path)
    assert [f["code"] for f in report["findings"]] == ["empty-file"]


def test_a_sheet_with_text_but_no_header_is_still_no_header_row(tmp_path: Path) -> None:
    _, report = validate_json(_workbook(tmp_path / "a.xlsx", {"Sheet1": [], "Notes": [["just a note"]]}))
    assert [f["code"] for f in report["findings"]] == ["no-header-row"]
    _, report = validate_json(write_csv(tmp_path / "b.csv", [row()], headers=["x"] * len(FIELDS)))
    assert [f["code"] for f in report["findings"]] == ["no-header-row"]
