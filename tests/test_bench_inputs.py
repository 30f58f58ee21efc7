"""The benchmark's generated workbooks stay readable as the data dictionary changes (the bench is not run by CI)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks.generate import write_workbook
from coc_intake.engine import CheckedRows, check_file


def test_a_generated_workbook_is_read_with_every_row_and_its_planted_mistakes(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "bench.xlsx", 300)
    outcome = check_file(path, path.name, dt.date(2026, 11, 25))
    assert isinstance(outcome, CheckedRows)
    counts = outcome.counts()
    assert counts["rows"] == 300
    assert 0 < counts["rejected"] < 30  # about 1 % of the rows carry a mistake, spread over many codes
    assert not outcome.findings["scope"].isin(["file", "header"]).any()
