"""What a batch holds while its outputs are written: the largest file's memory peaks there (docs/decisions.md,
"Performance and memory")."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from coc_intake import batch, outputs
from coc_intake.engine import CheckedRows, Outcome
from tests.builders import row, write_xlsx
from tests.intake_helpers import run_intake


def test_the_sheets_own_cells_are_let_go_once_results_xlsx_is_built(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """results.xlsx is the one output that quotes the employer's cells (a rejected row's, to fix): the outputs
    after it are built without them held, as a million rows' cells are ~0.5 GB."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    write_xlsx(inbox / "census.xlsx", [row(), row(ssn="123-45", last_name="Doe")])
    cells: list[weakref.ref[pd.DataFrame]] = []
    held_after: dict[str, bool] = {}

    build = batch.build_results_workbook

    def spied_build(outcome: Outcome, *args: Any) -> bytes:
        assert isinstance(outcome, CheckedRows) and outcome.raw is not None
        cells.append(weakref.ref(outcome.raw))
        return build(outcome, *args)

    def spied(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            held_after[name] = bool(cells) and cells[0]() is not None
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(batch, "build_results_workbook", spied_build)
    monkeypatch.setattr(outputs, "results_csv", spied("results.csv", outputs.results_csv))
    monkeypatch.setattr(outputs, "manifest", spied("manifest", outputs.manifest))
    monkeypatch.setattr(batch.mail, "compose", spied("mail", batch.mail.compose))

    [summary] = run_intake(inbox, outbox)

    assert (summary.approved, summary.rejected) == (1, 1)
    assert len(cells) == 1, "results.xlsx was built from the sheet's cells once"
    assert held_after == {"results.csv": False, "mail": False, "manifest": False}
    # The cells were quoted where they are needed: the rejected row's SSN as the employer typed it, to fix.
    fix = pd.read_excel(next(outbox.glob("batches/*/results.xlsx")), sheet_name="Fix and resubmit", dtype=str)
    assert "123-45" in fix.to_numpy().ravel().tolist()
