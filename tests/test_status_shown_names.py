"""``coc status`` finds a file by the name the console showed for it: its SSN masked (``***-**-NNNN``), as the run's
summary, its record and the portal show every name; and by its path in the inbox, as a shell completes it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from coc_intake import runs
from coc_intake.cli import app
from coc_intake.night import FileFailure, NightSummary
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE, run_intake

SHOWN = "Smith ***-**-6789 assignment.xlsx"


def _status(stores: tuple[Path, Path], query: str) -> dict[str, object]:
    inbox, outbox = stores
    result = CliRunner().invoke(app, ["status", query, "--inbox", str(inbox), "--outbox", str(outbox), "--json"])
    assert result.exit_code == 0, result.output
    assert "523-45-6789" not in result.stdout
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_a_processed_file_is_found_by_its_name_as_the_run_showed_it(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "Smith 523-45-6789 assignment.xlsx", [row()])
    (summary,) = run_intake(*stores)
    (found,) = _status(stores, SHOWN)["files"]  # type: ignore[misc]
    assert found["state"] == "processed" and found["batch_id"] == summary.batch_id
    assert found["name"] == SHOWN


def test_a_failed_file_is_found_by_its_name_as_the_run_showed_it(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "Smith 523-45-6789 assignment.xlsx", [row()])
    outbox = Outbox(LocalStore(stores[1]))
    failure = FileFailure.of("Smith 523-45-6789 assignment.xlsx", OSError("disk full"))
    runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[failure]))
    (found,) = _status(stores, SHOWN)["files"]  # type: ignore[misc]
    assert (found["state"], found["reason"]) == ("failed", "OSError: disk full")


def test_a_masked_name_that_stands_for_no_file_finds_nothing(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "Smith 523-45-6789 assignment.xlsx", [row()])
    run_intake(*stores)
    inbox, outbox = stores
    result = CliRunner().invoke(app, ["status", "Smith ***-**-1111 assignment.xlsx", "--inbox", str(inbox),
                                      "--outbox", str(outbox)])
    assert result.exit_code == 1


def test_a_file_is_found_by_its_path_in_the_inbox_folder(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    (found,) = _status(stores, str(stores[0] / "census.xlsx"))["files"]  # type: ignore[misc]
    assert (found["name"], found["state"]) == ("census.xlsx", "waiting")
