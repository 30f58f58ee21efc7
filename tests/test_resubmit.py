"""The employer's loop through `coc run` twice: the `Fix and resubmit` sheet of results.xlsx, corrected in place and
dropped into the inbox as it is, comes back with every row approved."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from coc_intake import schemas
from tests.builders import AS_OF, row, write_xlsx

pytestmark = pytest.mark.slow


def _coc_run(inbox: Path, outbox: Path) -> None:
    from coc_intake.cli import app

    result = CliRunner().invoke(app, ["run", "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output


def _results(outbox: Path, name: str) -> Path:
    import json

    for manifest in outbox.glob("batches/*/manifest.json"):
        if json.loads(manifest.read_bytes())["source_name"] == name:
            return manifest.with_name("results.xlsx")
    raise AssertionError(f"no batch of {name}")


def test_the_fix_sheet_corrected_in_place_and_sent_again_is_approved(
        prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COC_SMTP_HOST", raising=False)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    write_xlsx(inbox / "census.xlsx", [row(), row(ssn="000-12-3456", last_name="Okafor"),
                                       row(ssn="234-56-7891", assignment_start="31/02/2027", last_name="Lind")])
    _coc_run(inbox, outbox)

    book = openpyxl.load_workbook(_results(outbox, "census.xlsx"))
    for title in [t for t in book.sheetnames if t != "Fix and resubmit"]:
        del book[title]
    fix = book["Fix and resubmit"]
    header = [cell.value for cell in fix[1]]
    column = {text: index + 1 for index, text in enumerate(header)}
    labels = {key: field.label for key, field in schemas.fields().items()}
    assert fix.max_row == 3, "the two bad rows, under the header"
    for line in (2, 3):
        fix.cell(line, column[labels["ssn"]]).value = {2: "345-67-8912", 3: "234-56-7891"}[line]
        fix.cell(line, column[labels["assignment_start"]]).value = "2027-02-01"
    book.save(inbox / "census-fixed.xlsx")

    _coc_run(inbox, outbox)
    again = openpyxl.load_workbook(_results(outbox, "census-fixed.xlsx"))["Summary"]
    summary = {r[0]: r[1] for r in again.iter_rows(values_only=True) if r and r[0]}
    assert (summary["Rows"], summary["Approved"], summary["Rejected"]) == ("2", "2", "0"), summary
    assert list(inbox.iterdir()) == []
