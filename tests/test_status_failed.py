"""``coc status`` on a file that failed says how to go on: where the details are, and that the next run takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coc_intake import runs
from coc_intake.cli import app
from coc_intake.night import FileFailure, NightSummary
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE


def test_a_failed_file_points_to_the_log_file_and_the_next_run(stores: tuple[Path, Path], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row()])
    failure = FileFailure.of("census.xlsx", OSError("disk full."))
    runs.record_run(Outbox(LocalStore(outbox)), NightSummary(AS_OF_DATE, failures=[failure]))
    result = CliRunner().invoke(app, ["status", "census.xlsx", "--inbox", str(inbox), "--outbox", str(outbox)])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert "stays in the inbox for the next run: OSError: disk full. The details are in the run's log file (" in line
    assert str(tmp_path / "home" / "logs" / "coc-run.log") in line
    assert line.endswith("once the cause is fixed, the next run takes the file.")
