"""The layout of results.xlsx and of the template, read back with openpyxl (docs/outputs.md#resultsxlsx): widths,
frozen header, dropdowns, text formats, wrapped messages, print setup, the Row column, and the round trip of the
Fix and resubmit sheet without `coc run`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

from coc_intake import catalog, headers, schemas, xlsx
from coc_intake.engine import CheckedRows, check_file
from coc_intake.outputs import errors_csv
from coc_intake.template import TEXT_CELL_ROWS, write_template
from coc_intake.workbook import MESSAGES_WIDTH, build_results_workbook
from tests.builders import AS_OF, row, write_xlsx

AS_OF_DATE = dt.date.fromisoformat(AS_OF)
KEYS = list(schemas.fields())
LONG_NAME = "Acme Consolidated International Holdings and Subsidiaries Incorporated of America"
#: Two title rows above the header, so a row's number in the file is not its position in the sheet.
TITLE_ROWS = [["Acme assignments, Q1"], []]
ROWS = [
    row(),                                                                  # 4: approved
    row(ssn="900-12-3456", employer_name=LONG_NAME),                        # 5: invalid-ssn
    row(ssn="345-67-8901", worksite_city=None, date_of_birth="13/04/1987"),  # 6: missing-value, invalid-date
    row(ssn="456-78-9012", employer_zip=2110),                              # 7: zip-zeros-restored (approved)
    row(ssn="567-89-0123", host_country="Mexico"),                          # 8: no-agreement
    row(ssn="678-90-1234", assignment_end=dt.date(2033, 12, 31)),           # 9: referred (beyond 60 months)
]
#: Per Social Security number of a rejected row: the corrected cells.
CORRECTIONS = {
    "900-12-3456": {"ssn": "789-01-2345"},
    "345-67-8901": {"worksite_city": "Munich", "date_of_birth": "1987-04-13"},
    "567-89-0123": {"host_country": "AT"},
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> CheckedRows:
    path = write_xlsx(tmp_path_factory.mktemp("layout") / "acme.xlsx", ROWS, title_rows=TITLE_ROWS)
    checked = check_file(path, path.name, AS_OF_DATE)
    assert isinstance(checked, CheckedRows)
    return checked


@pytest.fixture(scope="module")
def results(outcome: CheckedRows) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(build_results_workbook(outcome, AS_OF_DATE)))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> openpyxl.Workbook:
    return openpyxl.load_workbook(write_template(tmp_path_factory.mktemp("template") / "template.xlsx"))


def _header(ws: Worksheet) -> list[Any]:
    return [c.value for c in ws[1]]


def _column(ws: Worksheet, index: int) -> Any:
    """The column dimension covering 1-based column ``index`` (xlsxwriter writes alike neighbours as one)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.max is not None and dim.min <= index <= dim.max:
            return dim
    raise AssertionError(f"no width for column {index}")


def _validations(ws: Worksheet) -> dict[str, Any]:
    """Each validated range (``A2:A1048576``) → its validation."""
    return {str(r): dv for dv in ws.data_validations.dataValidation for r in dv.sqref.ranges}


def _employer_column(ws: Worksheet, key: str) -> int:
    """1-based column of field ``key`` on a sheet of rows (its label is the header: the file used the labels)."""
    return _header(ws).index(schemas.fields()[key].label) + 1


# --- results.xlsx --------------------------------------------------------------------------------------------


def test_row_column_comes_first_and_holds_the_rows_numbers_in_the_file_as_errors_csv_does(
        outcome: CheckedRows, results: openpyxl.Workbook) -> None:
    fix, referred = results["Fix and resubmit"], results["Referred"]
    assert _header(fix)[0] == "Row" and _header(referred)[0] == "Row"
    fix_rows = [line[0].value for line in fix.iter_rows(min_row=2)]
    assert fix_rows == [5, 6, 8]
    lines = list(csv.DictReader(io.StringIO(errors_csv(outcome).decode())))
    rejected = sorted({int(r["row"]) for r in lines if r["severity"] == "error" and r["row"]})
    assert fix_rows == rejected
    assert [line[0].value for line in referred.iter_rows(min_row=2)] == [9]
    # The Errors sheet names the same rows.
    error_rows = {line[0].value for line in results["Errors"].iter_rows(min_row=2) if line[4].value == "error"}
    assert error_rows == set(fix_rows)


def test_columns_are_sized_to_their_content_within_bounds(results: openpyxl.Workbook) -> None:
    for title in ("Fix and resubmit", "Referred"):
        ws = results[title]
        header = _header(ws)
        widths = [_column(ws, c).width for c in range(1, len(header) + 1)]
        *cells, messages = widths
        assert messages == pytest.approx(MESSAGES_WIDTH, abs=1)
        # xlsxwriter adds the cell padding to the width it was given.
        assert all(xlsx.MIN_WIDTH <= w <= xlsx.MAX_WIDTH + 1 for w in cells), (title, widths)
    fix = results["Fix and resubmit"]
    name = _column(fix, _employer_column(fix, "employer_name")).width
    state = _column(fix, _employer_column(fix, "employer_state")).width
    assert name == pytest.approx(xlsx.MAX_WIDTH, abs=1)  # the long name is cut at the bound
    assert state < 16  # "MA" under "Employer state": the header wraps rather than widening the column
    errors = results["Errors"]
    assert all(xlsx.MIN_WIDTH <= _column(errors, c).width <= 81 for c in range(1, 8))


def test_header_row_is_frozen(results: openpyxl.Workbook) -> None:
    assert results["Fix and resubmit"].freeze_panes == "B2"  # the header row and the Row column
    assert results["Referred"].freeze_panes == "B2"
    assert results["Errors"].freeze_panes == "A2"


def test_messages_are_wrapped_and_their_rows_tall_enough(results: openpyxl.Workbook) -> None:
    fix = results["Fix and resubmit"]
    last = len(_header(fix))
    assert _header(fix)[-1] == "Messages"
    cells = [line[last - 1] for line in fix.iter_rows(min_row=2)]
    assert all(c.alignment.wrap_text for c in cells) and _column(fix, last).alignment.wrap_text
    two = next(c for c in cells if c.value.count("\n") == 1)  # row 6 has two errors, one line each at least
    assert fix.row_dimensions[two.row].height >= 2 * xlsx.LINE_HEIGHT
    summary = results["Summary"]
    texts = [c for line in summary.iter_rows() for c in line[1:2] if c.value]
    assert all(c.alignment.wrap_text for c in texts)


def test_enumerated_columns_have_the_templates_dropdowns_to_the_last_row(results: openpyxl.Workbook) -> None:
    for title in ("Fix and resubmit", "Referred"):
        ws = results[title]
        found = _validations(ws)
        for key, values in (("employer_state", "MA"), ("worker_type", "self-employed"),
                            ("employed_by", "foreign affiliate"), ("health_insurance", "Y")):
            letter = get_column_letter(_employer_column(ws, key))
            dv = found[f"{letter}2:{letter}1048576"]
            assert dv.type == "list" and values in dv.formula1, (title, key)
        assert not any(r.startswith("A2:") for r in found)  # nothing on the Row column


def test_employer_columns_are_text_formatted_and_the_row_column_is_a_number(results: openpyxl.Workbook) -> None:
    fix = results["Fix and resubmit"]
    for key in ("ssn", "employer_ein", "employer_zip", "date_of_birth", "assignment_start"):
        col = _employer_column(fix, key)
        assert _column(fix, col).number_format == "@", key
        assert all(line[col - 1].number_format == "@" for line in fix.iter_rows(min_row=2)), key
    # Other columns keep the default: a style on every cell would slow a large sheet down.
    assert _column(fix, _employer_column(fix, "last_name")).number_format == "General"
    assert all(isinstance(line[0].value, int) for line in fix.iter_rows(min_row=2))
    # A marked cell keeps the text format under its fill.
    ssn = next(line[_employer_column(fix, "ssn") - 1] for line in fix.iter_rows(min_row=2)
               if line[0].value == 5)
    assert ssn.fill.fill_type == "solid" and ssn.number_format == "@"


def test_every_sheet_prints_landscape_fitted_to_the_width_with_the_header_repeated(
        results: openpyxl.Workbook) -> None:
    for ws in results.worksheets:
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert setup.fitToWidth in (None, 1) and setup.fitToHeight == 0, ws.title  # None: the default, 1
        if ws.title != "Summary":
            assert ws.print_title_rows == "$1:$1", ws.title


def test_summary_lists_errors_before_warnings(results: openpyxl.Workbook) -> None:
    labels = [line[0].value for line in results["Summary"].iter_rows()]
    start = labels.index("Most frequent problems") + 1
    codes = []
    for label in labels[start:]:
        if not label:
            break
        codes.append(str(label).split(" (")[0])
    severities = [catalog.CATALOG[c].severity for c in codes]
    assert "warning" in severities and "error" in severities
    assert severities == sorted(severities, key=["error", "warning"].index)


def test_fix_and_resubmit_corrected_as_it_is_comes_back_all_approved(
        outcome: CheckedRows, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(build_results_workbook(outcome, AS_OF_DATE)))
    fix = wb["Fix and resubmit"]
    ssn_col = _employer_column(fix, "ssn")
    for line in fix.iter_rows(min_row=2):
        for key, text in CORRECTIONS[line[ssn_col - 1].value].items():
            line[_employer_column(fix, key) - 1].value = text
    for name in wb.sheetnames:
        if name != "Fix and resubmit":
            del wb[name]
    path = tmp_path / "acme-fixed.xlsx"
    wb.save(path)
    again = check_file(path, path.name, AS_OF_DATE)
    assert isinstance(again, CheckedRows)
    assert again.rows["status"].tolist() == ["approved"] * 3
    codes = set(again.findings["code"])
    assert "unknown-column" not in codes, again.findings  # Row and Messages are skipped, not reported
    assert again.values.loc[:, "ssn"].tolist() == ["789-01-2345", "345-67-8901", "567-89-0123"]


@pytest.mark.parametrize("text", ["Row", "Messages", " row ", "MESSAGES"])
def test_the_added_columns_headers_are_skipped(text: str) -> None:
    cells = [(0, text), *((i + 1, f.label) for i, f in enumerate(schemas.fields().values()))]
    found = headers.map_header(1, cells)
    assert found.ignored == [0] and not found.findings


def test_a_header_only_like_an_added_column_is_not_skipped() -> None:
    found = headers.map_header(1, [(0, "Row number"), (1, "Messages to HR"), (2, "Last name")])
    assert found.ignored == [] and {f.code for f in found.findings} == {"unknown-column"}


# --- the template --------------------------------------------------------------------------------------------


def test_template_validations_and_prompts_reach_the_last_row(template: openpyxl.Workbook) -> None:
    ws = template["Assignments"]
    found = _validations(ws)
    for col in range(1, len(KEYS) + 1):
        letter = get_column_letter(col)
        dv = found[f"{letter}2:{letter}1048576"]
        assert dv.prompt, letter
    for ref in found:
        assert range_boundaries(ref)[3] == 1048576, ref


def test_template_code_columns_are_text_in_the_column_and_in_the_cells(template: openpyxl.Workbook) -> None:
    ws = template["Assignments"]
    for key in ("ssn", "employer_ein", "employer_zip"):
        col = KEYS.index(key) + 1
        assert _column(ws, col).number_format == "@", key
        for r in (2, TEXT_CELL_ROWS + 1):
            assert ws.cell(row=r, column=col).number_format == "@", (key, r)
    for key in ("employer_state", "last_name"):
        assert _column(ws, KEYS.index(key) + 1).number_format == "@", key
    assert _column(ws, KEYS.index("date_of_birth") + 1).number_format == "yyyy-mm-dd"


def test_template_marks_required_columns_and_explains_the_marks(template: openpyxl.Workbook) -> None:
    ws = template["Assignments"]
    for col, f in enumerate(schemas.fields().values(), start=1):
        assert ws.cell(row=1, column=col).font.b == (f.required != "no"), f.key
    fills = {ws.cell(row=1, column=KEYS.index(k) + 1).fill.fgColor.rgb for k in ("ssn", "employer_ein",
                                                                                  "worker_type")}
    assert len(fills) == 3  # every row, some cases, optional: three looks
    guide = template["Data dictionary"]
    text = " ".join(str(c.value) for line in guide.iter_rows(max_row=6) for c in line if c.value)
    assert "Required in every row" in text and "Required in some cases" in text and "Optional" in text
    assert f"Template edition {schemas.edition()}" in text
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$1:$1"


# --- what a person sees --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_workbooks_render_to_pages(tmp_path: Path) -> None:
    from benchmarks import render

    if render.missing_tools():
        pytest.skip(f"rendering needs {', '.join(render.missing_tools())} (apt-get install "
                    "libreoffice-calc-nogui poppler-utils)")
    pages = render.render(tmp_path)
    names = {p.name for p in pages}
    # Summary, Fix and resubmit, Referred, Errors of each example; the template's two visible sheets.
    assert "template-1.png" in names and "template-2.png" in names
    assert sum(n.startswith("acme-2027-assignments-results-") for n in names) >= 4
