"""Hostile cell lengths (docs/fields.md, docs/decisions.md#values, docs/decisions.md#outputs): every field has a
length limit that its finding states, a finding echoes at most the start of a long value, and the results workbook
never cuts a cell without saying so."""

from __future__ import annotations

import io
import json
import random
import string
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from coc_intake import schemas, xlsx
from coc_intake.cli import app
from coc_intake.findings import ECHO_CHARS, Finding, echo
from tests.builders import AS_OF, row, validate_json, write_csv, write_xlsx
from tests.intake_helpers import batch_dir, manifest, read_csv, run_intake

TEN_MB = 10_000_000
#: Over Excel's 32,767 characters per cell, under the CSV reader's field bound.
OVER_EXCEL = 40_000


def _text(length: int, seed: int = 1) -> str:
    """Random letters: a repeated letter would compress past the reader's zip-bomb ratio."""
    return "".join(random.Random(seed).choices(string.ascii_letters, k=length))


def _with_long_cells(path: Path, rows: list[dict[str, Any]], long: dict[str, str], keys: list[str] | None = None,
                     headers: list[str] | None = None) -> Path:
    """An .xlsx whose cells holding a key of ``long`` hold its value instead. openpyxl and Excel never write a cell
    over 32,767 characters, a crafted file does: the placeholders are replaced in the sheet's XML."""
    write_xlsx(path, rows, keys=keys, headers=headers)
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in parts:
            for placeholder, value in long.items():
                data = data.replace(placeholder.encode(), value.encode())
            out.writestr(info, data)
    path.write_bytes(buffer.getvalue())
    return path


def _stores(tmp_path: Path) -> tuple[Path, Path]:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    return inbox, outbox


# --- a 10 MB cell ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ten_mb_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [row(place_of_birth="PLACEHOLDER"), row(ssn="123-45-6780"), row(ssn="123-45-6781")]
    return _with_long_cells(tmp_path_factory.mktemp("big") / "big.xlsx", rows, {"PLACEHOLDER": _text(TEN_MB)})


def test_a_10_mb_cell_makes_small_outputs_and_a_message_with_the_limit(ten_mb_workbook: Path,
                                                                      tmp_path: Path) -> None:
    inbox, outbox = _stores(tmp_path)
    (inbox / "big.xlsx").write_bytes(ten_mb_workbook.read_bytes())
    [summary] = run_intake(inbox, outbox, deliver=False)
    folder = batch_dir(outbox, summary)
    assert (folder / "errors.csv").stat().st_size < 2_000
    assert (folder / "manifest.json").stat().st_size < 10_000
    assert (folder / "results.xlsx").stat().st_size < 100_000  # the cut cell: 32,767 random letters
    [finding] = read_csv(folder / "errors.csv")
    assert (finding["row"], finding["field"], finding["code"]) == ("2", "place_of_birth", "invalid-value")
    assert "use 1 to 1,000 characters" in finding["message"]
    assert "None" not in finding["message"]
    assert finding["value"].endswith("… (10,000,000 characters)")
    assert len(finding["value"]) == ECHO_CHARS + len("… (10,000,000 characters)")
    assert finding["value"] in finding["message"]
    assert manifest(outbox, summary)["approved"] == 2


def test_validate_json_of_a_10_mb_cell_is_small(ten_mb_workbook: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(ten_mb_workbook), "--json", "--as-of", AS_OF])
    assert result.exit_code == 1, result.output
    assert len(result.stdout) < 5_000
    report = json.loads(result.stdout)
    assert [f["code"] for f in report["findings"]] == ["invalid-value"]
    assert report["rows"]["2"]["status"] == "rejected"


def test_the_console_view_of_a_10_mb_cell_is_small(ten_mb_workbook: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(ten_mb_workbook), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert len(result.output) < 10_000
    assert "1,000" in result.output


# --- a cell over Excel's limit in the results workbook ---------------------------------------------------------


def test_a_40000_character_cell_is_cut_visibly_in_the_results_workbook(tmp_path: Path) -> None:
    inbox, outbox = _stores(tmp_path)
    keys = [*schemas.fields(), "notes"]
    headers = [*(f.label for f in schemas.fields().values()), "Internal notes"]
    long = {"PLACEHOLDER": _text(OVER_EXCEL), "NOTESHOLDER": _text(OVER_EXCEL, seed=2)}
    _with_long_cells(inbox / "long.xlsx", [row(place_of_birth="PLACEHOLDER", notes="NOTESHOLDER"), row()],
                     long, keys=keys, headers=headers)
    [summary] = run_intake(inbox, outbox, deliver=False)
    fix = openpyxl.load_workbook(batch_dir(outbox, summary) / "results.xlsx")["Fix and resubmit"]
    for key, value in [("place_of_birth", long["PLACEHOLDER"]), ("notes", long["NOTESHOLDER"])]:
        cell = fix.cell(row=2, column=keys.index(key) + 2)  # after the Row column
        # Exactly Excel's limit: the start of the value, then the marker (an ignored column is cut the same way).
        assert len(cell.value) == xlsx.CELL_CHARS
        assert value.startswith(cell.value.partition(" … [cut:")[0])
        assert cell.value.endswith("[cut: the value has 40,000 characters, more than the 32,767 an Excel cell holds]")
        assert cell.comment is not None and "40,000 characters" in cell.comment.text
    pob = fix.cell(row=2, column=keys.index("place_of_birth") + 2)
    assert pob.comment is not None and "use 1 to 1,000 characters" in pob.comment.text


def test_a_cut_cell_sent_back_is_rejected_again(tmp_path: Path) -> None:
    inbox, outbox = _stores(tmp_path)
    _with_long_cells(inbox / "long.xlsx", [row(place_of_birth="PLACEHOLDER")], {"PLACEHOLDER": _text(OVER_EXCEL)})
    [summary] = run_intake(inbox, outbox, deliver=False)
    again = tmp_path / "again"
    again.mkdir()
    (again / "fixed.xlsx").write_bytes((batch_dir(outbox, summary) / "results.xlsx").read_bytes())
    code, report = validate_json(again / "fixed.xlsx")
    assert code == 1
    assert [(f["field"], f["code"]) for f in report["findings"]] == [("place_of_birth", "invalid-value")]


def test_fit_keeps_a_short_text_and_cuts_a_long_one_to_the_cell_limit() -> None:
    assert xlsx.fit("Boston") == "Boston"
    assert xlsx.fit("a" * xlsx.CELL_CHARS) == "a" * xlsx.CELL_CHARS
    cut = xlsx.fit("a" * (xlsx.CELL_CHARS + 1))
    assert len(cut) == xlsx.CELL_CHARS and cut.endswith("Excel cell holds]") and "32,768 characters" in cut


# --- every field has a limit -----------------------------------------------------------------------------------


def test_every_field_has_a_length_limit() -> None:
    limits = {key: f.length_limit for key, f in schemas.fields().items()}
    assert all(isinstance(n, int) and n >= 1 for n in limits.values())
    assert limits["worksite_address"] == 1_000  # no limit of its own: the dictionary's default
    assert (limits["employer_name"], limits["last_name"], limits["middle_initial"]) == (120, 40, 1)


@pytest.mark.parametrize(
    ("key", "code", "wording"),
    [
        ("worksite_address", "invalid-value", "use 1 to 1,000 characters"),  # text without its own max length
        ("business_nature", "invalid-value", "use 1 to 1,000 characters"),
        ("host_country", "invalid-value", "use at most 1,000 characters"),  # coded: never reaches the matcher
        ("contact_email", "invalid-value", "use at most 1,000 characters"),
        ("assignment_end", "invalid-value", "use at most 1,000 characters"),
        ("first_name", "invalid-name", "(it is too long). Use letters, spaces, hyphens, apostrophes and periods, 1 to"),
    ],
)
def test_a_cell_over_a_fields_default_limit_is_one_finding_with_the_number(tmp_path: Path, key: str, code: str,
                                                                           wording: str) -> None:
    path = write_csv(tmp_path / "long.csv", [row(**{key: _text(1_001)})])
    exit_code, report = validate_json(path)
    assert exit_code == 1
    [finding] = report["findings"]
    assert (finding["field"], finding["code"]) == (key, code)
    assert wording in finding["message"]
    assert finding["value"].endswith("… (1,001 characters)")


def test_a_value_at_the_default_limit_is_accepted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", [row(worksite_address=_text(1_000), business_nature=None)])
    exit_code, report = validate_json(path)
    assert exit_code == 0, report["findings"]
    assert report["findings"] == []


def test_fields_with_their_own_limit_keep_their_messages(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "own.csv", [row(employer_name="A" * 121), row(ssn="123-45-6780", last_name="A" * 41),
                                            row(ssn="123-45-6781", middle_initial="AB")])
    _, report = validate_json(path)
    messages = {f["field"]: f["message"] for f in report["findings"]}
    assert messages == {
        "employer_name": f"Employer name '{'A' * 100}… (121 characters)' is not accepted: it is too long; use 1 to "
                         "120 characters.",
        "last_name": f"Last name '{'A' * 41}' is not a valid name (it is too long). Use letters, spaces, hyphens, "
                     "apostrophes and periods, 1 to 40 characters (O'Brien-Smith Jr.).",
        "middle_initial": "Middle initial 'AB' is not a middle initial. Enter one letter, without a period (J), or "
                          "leave the cell blank.",
    }


# --- the echo of a value in a finding --------------------------------------------------------------------------


def test_echo_keeps_short_values_and_shortens_long_ones() -> None:
    assert echo(None) is None
    assert echo("x" * ECHO_CHARS) == "x" * ECHO_CHARS
    assert echo("x" * (ECHO_CHARS + 1)) == "x" * ECHO_CHARS + f"… ({ECHO_CHARS + 1} characters)"
    assert echo("y" * 1_234_567) == "y" * ECHO_CHARS + "… (1,234,567 characters)"


def test_a_finding_built_alone_echoes_a_long_value_shortened() -> None:
    header = "H" * 50_000  # a header cell is echoed by unknown-column
    finding = Finding.of("unknown-column", column="AD", value=header)
    assert finding.value == "H" * ECHO_CHARS + "… (50,000 characters)"
    assert len(finding.message) < 400
