"""``coc template``: the blank workbook of the current edition, and its round trip through intake (docs/fields.md,
docs/commands.md#coc-template)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries
from typer.testing import CliRunner

from coc_intake import agreements, countries, schemas
from coc_intake.cli import app
from tests.builders import row, validate_json

USPS_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
    "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP"
)
ENUMERATED = ["worker_type", "employed_by", "health_insurance", "employer_state", "host_country", "worksite_region"]
KEYS = list(schemas.fields())
LETTER = {k: get_column_letter(i + 1) for i, k in enumerate(KEYS)}

runner = CliRunner()


@pytest.fixture(scope="module")
def template_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "assignments.xlsx"
    result = runner.invoke(app, ["template", str(path)])
    assert result.exit_code == 0, result.output
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def workbook(template_path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(template_path)


def _validations_covering(ws: openpyxl.worksheet.worksheet.Worksheet, letter: str) -> list[object]:
    """Data validations whose range includes row 2 of column ``letter``."""
    col = openpyxl.utils.column_index_from_string(letter)
    found = []
    for dv in ws.data_validations.dataValidation:
        for cell_range in str(dv.sqref).split():
            min_col, min_row, max_col, max_row = range_boundaries(cell_range)
            if min_col <= col <= max_col and min_row <= 2 <= (max_row or min_row):
                found.append(dv)
                break
    return found


def _list_values(wb: openpyxl.Workbook, formula: str) -> list[str]:
    """The values a list validation offers, from its ``=Sheet!$A$2:$A$9`` source or an inline list."""
    formula = formula.lstrip("=")
    if "!" not in formula:
        return [v.strip() for v in formula.strip('"').split(",")]
    sheet, ref = formula.split("!", 1)
    ws = wb[sheet.strip("'")]
    return [c.value for line in ws[ref.replace("$", "")] for c in line if c.value is not None]


# --- the round trip ------------------------------------------------------------------------------------------


def test_filled_template_round_trip_approves_both_rows(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    result = runner.invoke(app, ["template", str(path)])
    assert result.exit_code == 0, result.output
    assert schemas.edition() in result.stdout

    wb = openpyxl.load_workbook(path)
    ws = wb["Assignments"]
    by_label = {ws.cell(row=1, column=c).value: c for c in range(1, ws.max_column + 1)}
    assert set(by_label) == {f.label for f in schemas.fields().values()}
    filled = [
        row(),
        row(ssn="234-56-7890", last_name="Dupont", first_name="Marie", host_country="France",
            worksite_city="Paris", foreign_employer_name="Acme SAS", health_insurance="Y"),
    ]
    for r, values in enumerate(filled, start=2):
        for key, f in schemas.fields().items():
            if values[key] is not None:
                ws.cell(row=r, column=by_label[f.label], value=values[key])
    wb.save(path)

    code, report = validate_json(path)
    assert report["status"] == "processed"
    assert {r: v["status"] for r, v in report["rows"].items()} == {"2": "approved", "3": "approved"}
    assert report["findings"] == [], report["findings"]
    assert report["rows"]["3"]["request_id"].startswith("COC-FR-")
    assert code == 0


def test_empty_template_is_an_empty_file_not_a_header_problem(template_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(template_path), "--json", "--as-of", "2026-11-25"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    code, report = result.exit_code, json.loads(result.stdout)
    assert report["status"] == "rejected-file"
    assert [f["code"] for f in report["findings"]] == ["empty-file"]
    assert code == 1


def test_template_without_argument_writes_coc_template_xlsx(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["template"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "coc-template.xlsx").is_file()
    assert "Assignments" in openpyxl.load_workbook(tmp_path / "coc-template.xlsx").sheetnames


# --- what the template holds ---------------------------------------------------------------------------------


def test_template_headers_are_the_labels_in_dictionary_order(workbook: openpyxl.Workbook) -> None:
    ws = workbook["Assignments"]
    assert [c.value for c in ws[1]] == [f.label for f in schemas.fields().values()]


def test_template_has_a_hidden_sheet_with_the_dropdown_lists(workbook: openpyxl.Workbook) -> None:
    hidden = [ws for ws in workbook.worksheets if ws.sheet_state in ("hidden", "veryHidden")]
    assert len(hidden) == 1
    ws = workbook["Assignments"]
    for key in ENUMERATED:
        lists = [dv for dv in _validations_covering(ws, LETTER[key]) if dv.type == "list"]
        assert lists, key
        assert lists[0].formula1.lstrip("=").split("!")[0].strip("'") == hidden[0].title, key


@pytest.mark.parametrize("key", ENUMERATED)
def test_every_enumerated_column_has_a_dropdown(workbook: openpyxl.Workbook, key: str) -> None:
    ws = workbook["Assignments"]
    lists = [dv for dv in _validations_covering(ws, LETTER[key]) if dv.type == "list"]
    assert len(lists) == 1, f"{key} ({LETTER[key]}) has no dropdown"
    values = _list_values(workbook, lists[0].formula1)
    assert values, key
    assert len(values) == len(set(values)), key


def test_dropdown_values_match_the_dictionary_and_agreements(workbook: openpyxl.Workbook) -> None:
    ws = workbook["Assignments"]

    def values(key: str) -> list[str]:
        dv = next(d for d in _validations_covering(ws, LETTER[key]) if d.type == "list")
        return _list_values(workbook, dv.formula1)

    assert values("worker_type") == ["employee", "self-employed"]
    assert values("employed_by") == ["US employer", "foreign affiliate"]
    assert sorted(values("health_insurance")) == ["N", "Y"]
    assert set(values("employer_state")) == set(USPS_CODES.split())
    regions = set(values("worksite_region"))
    assert {"England", "Scotland", "Wales", "Northern Ireland", "ON", "BC", "QC"} <= regions
    hosts = values("host_country")
    resolved = {h: countries.resolve_host(h) for h in hosts}
    assert all(r is not None and r.status == "ok" for r in resolved.values()), resolved
    covered = {r.agreement for r in resolved.values() if r is not None}
    assert covered == set(agreements.all_agreements())


@pytest.mark.parametrize("key", KEYS)
def test_every_column_has_an_input_prompt(workbook: openpyxl.Workbook, key: str) -> None:
    ws = workbook["Assignments"]
    prompts = [dv for dv in _validations_covering(ws, LETTER[key]) if dv.showInputMessage and dv.prompt]
    assert prompts, f"{key} ({LETTER[key]}) has no input prompt"
    assert prompts[0].prompt.strip()
    assert len(prompts[0].prompt) <= 255
    assert prompts[0].promptTitle and len(prompts[0].promptTitle) <= 32


def test_data_dictionary_sheet_lists_every_field(workbook: openpyxl.Workbook) -> None:
    assert "Data dictionary" in workbook.sheetnames
    ws = workbook["Data dictionary"]
    cells = {str(c.value) for line in ws.iter_rows() for c in line if c.value is not None}
    for key, f in schemas.fields().items():
        assert key in cells, key
        assert f.label in cells, key
        assert f.help in cells, key


def test_template_is_stamped_with_the_current_edition(workbook: openpyxl.Workbook) -> None:
    props = {p.name: p.value for p in workbook.custom_doc_props.props}
    assert props.get("coc-template-edition") == schemas.edition()
    assert schemas.edition() == "2026.2"


def test_template_is_not_reported_outdated_after_a_save_in_openpyxl(tmp_path: Path,
                                                                    template_path: Path) -> None:
    wb = openpyxl.load_workbook(template_path)
    ws = wb["Assignments"]
    for c, key in enumerate(KEYS, start=1):
        if row()[key] is not None:
            ws.cell(row=2, column=c, value=row()[key])
    path = tmp_path / "saved.xlsx"
    wb.save(path)
    code, report = validate_json(path)
    assert "outdated-template" not in [f["code"] for f in report["findings"]]
    assert code == 0


# --- errors --------------------------------------------------------------------------------------------------


def test_template_to_a_non_xlsx_path_exits_2_with_a_message(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    result = runner.invoke(app, ["template", str(target)])
    assert result.exit_code == 2
    text = result.stderr + result.stdout
    assert "out.txt" in text
    assert ".xlsx" in text
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_template_into_a_missing_folder_exits_2_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["template", str(tmp_path / "nope" / "t.xlsx")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr + result.stdout
