"""The benchmark's generated workbooks stay readable as the data dictionary changes, and its checks of what a run
wrote can fail (the bench is not run by CI)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

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


def test_the_many_files_check_compares_every_outbox_file_but_the_run_records(tmp_path: Path) -> None:
    from benchmarks.__main__ import _tree

    plain, flow = tmp_path / "plain", tmp_path / "flow"
    for root in (plain, flow):
        (root / "batches" / "b1").mkdir(parents=True)
        (root / "batches" / "b1" / "manifest.json").write_text('{"rows": 50}')
    (flow / "runs").mkdir()
    (flow / "runs" / "20261204T000000Z.json").write_text('{"files": []}')
    assert _tree(plain) == _tree(flow)
    (flow / "batches" / "b1" / "manifest.json").write_text('{"rows": 49}')
    assert _tree(plain) != _tree(flow)


def test_a_flow_round_needs_one_run_record_with_every_file_processed(tmp_path: Path) -> None:
    from benchmarks.__main__ import _run_record

    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(SystemExit, match="not one record of 2 processed files"):
        _run_record(tmp_path, 2)
    (runs / "a.json").write_text(json.dumps({"files": [{"result": "processed"}, {"result": "failed"}]}))
    with pytest.raises(SystemExit):
        _run_record(tmp_path, 2)
    (runs / "a.json").write_text(json.dumps({"files": [{"result": "processed"}, {"result": "processed"}]}))
    _run_record(tmp_path, 2)
