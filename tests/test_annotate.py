"""`coc validate FILE --annotate OUT.xlsx` and the console view of `coc validate` (docs/commands.md#coc-validate).

The round trip is the employer's: their own workbook (an extra sheet, column widths, a number format, a data
validation) is checked with --annotate, the marked copy keeps all of it and shows the problems, the bad cells are
corrected in that copy with openpyxl, and the copy, sent as it is, passes. The console view is tested by examples
and by a property test over generated findings (every kind, values with Rich markup and SSN-shaped text).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.worksheet.datavalidation import DataValidation
from rich.console import Console
from typer.testing import CliRunner

from coc_intake import schemas
from coc_intake.catalog import CATALOG
from coc_intake.cli import app, render_outcome
from coc_intake.engine import CheckedRows, RejectedFile
from coc_intake.findings import COLUMNS, frame_of
from coc_intake.states import RowStatus
from tests.builders import AS_OF, row, write_csv

FIELDS = list(schemas.fields())
SSN_SHAPED = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")


def letter(key: str) -> str:
    return str(openpyxl.utils.get_column_letter(FIELDS.index(key) + 1))


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, ["validate", *args, "--as-of", AS_OF])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def validate_json(path: Path) -> tuple[int, dict[str, Any]]:
    result = invoke(str(path), "--json")
    return result.exit_code, json.loads(result.stdout)


# --- the employer's own workbook ---------------------------------------------------------------------------


def employer_workbook(path: Path) -> Path:
    """Rows 2 and 5 good, row 3 with a bad SSN, row 4 with an unknown host country; a Notes sheet, widths, a
    date format and a dropdown on the host column."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Assignments"
    ws.append([schemas.fields()[k].label for k in FIELDS])
    rows = [row(), row(ssn="666-12-3456"), row(ssn="234-56-7890", host_country="Atlantis"),
            row(ssn="345-67-8901")]
    for r in rows:
        ws.append([r.get(k) for k in FIELDS])
    ws.column_dimensions["B"].width = 42
    ws.column_dimensions[letter("last_name")].width = 27
    for n in range(2, 6):
        ws[f"{letter('date_of_birth')}{n}"].number_format = "dd-mmm-yyyy"
    dropdown = DataValidation(type="list", formula1='"DE,FR,GB,IT,JP"', allow_blank=True)
    dropdown.add(f"{letter('host_country')}2:{letter('host_country')}500")
    ws.add_data_validation(dropdown)
    notes = wb.create_sheet("Notes")
    notes["A1"] = "Sent by payroll, Q1"
    notes.column_dimensions["A"].width = 55
    wb.save(path)
    return path


def test_the_marked_workbook_is_the_employers_own_and_once_fixed_it_passes(tmp_path: Path) -> None:
    original = employer_workbook(tmp_path / "payroll.xlsx")
    out = tmp_path / "payroll-checked.xlsx"
    result = invoke(str(original), "--annotate", str(out))
    assert result.exit_code == 1
    assert f"Wrote {out}" in result.output.replace("\n", "")

    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Assignments", "Notes"]
    assert wb.active is not None and wb.active.title == "Summary"
    ws = wb["Assignments"]
    _, before = validate_json(original)
    ssn, host = f"{letter('ssn')}3", f"{letter('host_country')}4"
    for ref, r, code in ((ssn, 3, "invalid-ssn"), (host, 4, "invalid-country")):
        cell = ws[ref]
        assert cell.fill.fill_type == "solid" and cell.fill.start_color.rgb == "FFFFC7CE", ref
        assert cell.comment is not None and cell.comment.author == "coc validate", ref
        said = [f["message"] for f in before["findings"] if f["row"] == r and f["column"] == cell.column_letter]
        assert [f["code"] for f in before["findings"] if f["row"] == r] == [code]
        assert cell.comment.text == "\n".join(said)
    assert ws[ssn].value == "666-12-3456"  # the employer's cell as typed; only what the check says is masked
    assert "666-12-3456" not in ws[ssn].comment.text
    assert ws[f"{letter('ssn')}2"].fill.fill_type is None and ws[f"{letter('ssn')}2"].comment is None
    # The Messages column: after the last column, its header in the header row, one wrapped line per finding.
    messages = openpyxl.utils.get_column_letter(len(FIELDS) + 1)
    assert ws[f"{messages}1"].value == "Messages"
    assert ws[f"{messages}3"].value.startswith(f"{letter('ssn')}: Social Security number '***-**-3456'")
    assert ws[f"{messages}3"].alignment.wrap_text
    assert ws[f"{messages}4"].value.startswith(f"{letter('host_country')}: ")
    assert ws[f"{messages}2"].value is None and ws[f"{messages}5"].value is None
    # Everything of the employer's is still there.
    assert ws.column_dimensions["B"].width == 42
    assert ws.column_dimensions[letter("last_name")].width == 27
    assert ws[f"{letter('date_of_birth')}3"].number_format == "dd-mmm-yyyy"
    [dropdown] = ws.data_validations.dataValidation
    assert dropdown.formula1 == '"DE,FR,GB,IT,JP"'
    assert str(dropdown.sqref) == f"{letter('host_country')}2:{letter('host_country')}500"
    assert wb["Notes"]["A1"].value == "Sent by payroll, Q1" and wb["Notes"].column_dimensions["A"].width == 55
    # The Summary: counts, the most frequent problems, what to do next.
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r[0]}
    assert summary["Rows"] == "4" and summary["Approved"] == "2" and summary["Rejected"] == "2"
    assert "invalid-ssn (1)" in summary and "invalid-country (1)" in summary
    assert "correct the highlighted cells" in summary["What to do next"]
    assert not any(SSN_SHAPED.search(str(v)) for r in wb["Summary"].iter_rows(values_only=True) for v in r if v)

    # Read again, the marked workbook gives the same findings: the Messages column and Summary sheet are ignored.
    _, marked = validate_json(out)
    assert marked["rows"] == before["rows"] and marked["findings"] == before["findings"]

    # Corrected in place and sent as it is: every row approved.
    ws[ssn] = "456-78-9012"
    ws[host] = "FR"
    ws[f"{letter('health_insurance')}4"] = "Y"
    wb.save(out)
    exit_code, fixed = validate_json(out)
    assert fixed["findings"] == [], fixed["findings"]
    assert {r: v["status"] for r, v in fixed["rows"].items()} == dict.fromkeys(("2", "3", "4", "5"), "approved")
    assert exit_code == 0


def test_marking_again_replaces_the_earlier_marks(tmp_path: Path) -> None:
    first = tmp_path / "first.xlsx"
    invoke(str(employer_workbook(tmp_path / "a.xlsx")), "--annotate", str(first))
    wb = openpyxl.load_workbook(first)
    wb["Assignments"][f"{letter('ssn')}3"] = "456-78-9012"  # fixed; the host of row 4 is not
    wb.save(first)
    second = tmp_path / "second.xlsx"
    assert invoke(str(first), "--annotate", str(second)).exit_code == 1
    wb = openpyxl.load_workbook(second)
    assert wb.sheetnames == ["Summary", "Assignments", "Notes"]
    ws = wb["Assignments"]
    fixed = ws[f"{letter('ssn')}3"]
    assert fixed.comment is None and fixed.fill.fill_type is None
    assert ws[f"{letter('host_country')}4"].comment is not None
    messages = [c.value for c in ws[1]].index("Messages") + 1
    assert messages == len(FIELDS) + 1  # the earlier Messages column is reused, not doubled
    assert ws.cell(3, messages).value is None


def test_a_csv_file_gets_the_results_workbook(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "a.csv", [row(), row(ssn="666-12-3456")])
    out = tmp_path / "a-checked.xlsx"
    result = invoke(str(source), "--annotate", str(out))
    assert result.exit_code == 1
    assert openpyxl.load_workbook(out).sheetnames == ["Summary", "Fix and resubmit", "Referred", "Errors"]


@pytest.mark.parametrize(("target", "says"), [
    ("same", "is the file being checked"),
    ("a-checked.csv", "must end in .xlsx"),
    ("missing/a-checked.xlsx", "does not exist"),
])
def test_an_out_that_cannot_be_written_is_a_usage_error_that_says_what_to_do(
        tmp_path: Path, target: str, says: str) -> None:
    source = employer_workbook(tmp_path / "a.xlsx")
    before = source.read_bytes()
    out = source if target == "same" else tmp_path / target
    result = invoke(str(source), "--annotate", str(out))
    assert result.exit_code == 2
    assert says in result.stderr.replace("\n", "")
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]


def test_a_file_the_reader_rejects_is_not_marked(tmp_path: Path) -> None:
    source = tmp_path / "a.xlsx"
    source.write_bytes(b"PK\x03\x04 not a workbook")
    out = tmp_path / "out.xlsx"
    result = invoke(str(source), "--annotate", str(out))
    assert result.exit_code == 2
    assert "unreadable-file" in result.output and "No marked workbook was written" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]


def test_a_summary_sheet_is_read_only_when_no_other_sheet_has_the_data(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    data = wb.active
    assert data is not None
    data.title = "Summary"
    data.append([schemas.fields()[k].label for k in FIELDS])
    data.append([row().get(k) for k in FIELDS])
    wb.create_sheet("Notes")["A1"] = "notes"
    wb.save(tmp_path / "a.xlsx")
    exit_code, report = validate_json(tmp_path / "a.xlsx")
    assert report["rows"]["2"]["status"] == "approved" and exit_code == 0
    result = invoke(str(tmp_path / "a.xlsx"), "--annotate", str(tmp_path / "out.xlsx"))
    assert result.exit_code == 2 and "Rename that sheet" in result.stderr.replace("\n", "")


# --- the console view --------------------------------------------------------------------------------------


def test_the_console_view_starts_with_the_counts_and_lists_at_most_max_findings(tmp_path: Path) -> None:
    source = employer_workbook(tmp_path / "a.xlsx")
    whole = invoke(str(source)).output
    assert whole.splitlines()[0] == "a.xlsx: 4 rows — 2 approved, 0 referred, 2 rejected."
    assert whole.index("Findings by code") < whole.index("invalid-ssn") < whole.index("Message")
    assert "more finding" not in whole
    cut = invoke(str(source), "--max-findings", "1").output
    assert "… and 1 more finding (use --json or --max-findings to see them)" in cut
    none = invoke(str(source), "--max-findings", "0").output
    assert "… and 2 more findings (use --json or --max-findings to see them)" in none
    assert "invalid-country" in none  # counted above the list


def test_the_codes_are_counted_most_frequent_first(tmp_path: Path) -> None:
    rows = [row(ssn=f"234-56-{7000 + i:04d}", last_name="Sm1th") for i in range(3)] + [row(host_country="Atlantis")]
    source = tmp_path / "a.csv"
    write_csv(source, rows)
    text = invoke(str(source), "--max-findings", "0").output
    assert text.index("invalid-name") < text.index("invalid-country")


MARKUP = st.sampled_from(["[bold]", "[/]", "[red]x[/red]", "[link=http://x]y", "\\[", "[", "]"])
SSN_TEXT = st.sampled_from(["123-45-6789", "123456789", "SSN 987-65-4320!", "a123 45 6789b"])
PLAIN = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=12)
#: Pieces parted by spaces: an SSN run into more digits is not an SSN (docs/outputs.md#confidentiality).
TEXT = st.lists(st.one_of(MARKUP, SSN_TEXT, PLAIN), max_size=4).map(" ".join)


@st.composite
def findings(draw: st.DrawFn) -> pd.DataFrame:
    """A findings frame of every scope: with and without row or column, texts with markup and SSN shapes."""
    n = draw(st.integers(0, 8))
    found = []
    for _ in range(n):
        code = draw(st.one_of(st.sampled_from(sorted(CATALOG)), st.sampled_from(["[bold]odd[/]", "x-[/]-y"])))
        entry = CATALOG.get(code)
        found.append({
            "row": draw(st.one_of(st.none(), st.integers(1, 1_048_576))),
            "column": draw(st.one_of(st.none(), st.sampled_from(["A", "K", "AB", "XFD"]), MARKUP)),
            "field": draw(st.one_of(st.none(), st.sampled_from(FIELDS))),
            "code": code,
            "severity": entry.severity if entry else draw(st.sampled_from(["error", "warning", "info"])),
            "scope": entry.scope if entry else draw(st.sampled_from(["file", "header", "row", "cell"])),
            "message": draw(TEXT),
            "value": draw(st.one_of(st.none(), TEXT)),
        })
    return frame_of(found)


@st.composite
def outcomes(draw: st.DrawFn) -> RejectedFile | CheckedRows:
    frame = draw(findings())
    name = draw(st.sampled_from(["a.xlsx", "[bold]x.csv", "123-45-6789.xlsx"]))
    if draw(st.booleans()):
        return RejectedFile(file=name, findings=frame)
    statuses = draw(st.lists(st.sampled_from(list(RowStatus)), min_size=1, max_size=6))
    rows = pd.DataFrame({"status": statuses, "request_id": [None] * len(statuses),
                         "codes": [()] * len(statuses)}, index=range(2, 2 + len(statuses)))
    return CheckedRows(file=name, findings=frame, rows=rows, values=pd.DataFrame(index=rows.index))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcome=outcomes(), max_findings=st.integers(0, 10))
def test_every_outcome_renders_with_each_code_shown_and_nothing_read_as_markup(
        outcome: RejectedFile | CheckedRows, max_findings: int) -> None:
    buffer = io.StringIO()
    render_outcome(Console(file=buffer, width=5000, color_system=None, highlight=False), outcome, max_findings)
    text = buffer.getvalue()
    assert not SSN_SHAPED.search(text.replace("***-**-", "")), text
    assert not re.search(r"(?<!\d)123456789(?!\d)", text), text
    for code in set(outcome.findings["code"]):
        assert code in text, code
    listed = outcome.findings.head(max_findings)
    for message in listed["message"]:
        # Each part of the message between digits (which masking may replace) is shown as it is, markup included.
        parts = [p.strip() for p in SSN_MASK.split(message) if p.strip()]
        assert all(part in text for part in parts), (message, text)
    more = len(outcome.findings) - len(listed)
    assert (f"… and {more} more finding" in text) == (more > 0)
    if isinstance(outcome, CheckedRows):
        counts = outcome.counts()
        for status in (RowStatus.APPROVED, RowStatus.REFERRED, RowStatus.REJECTED):
            assert f"{counts[status]} {status.value}" in text
    else:
        assert "the whole file is rejected" in text
    assert list(outcome.findings.columns) == COLUMNS


#: The parts of a generated message that masking replaces (they are checked masked, above).
SSN_MASK = re.compile(r"\d[\d\s-]*")
