"""A failed file stays ``failed`` in ``coc status`` however many runs over an empty inbox came after it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from coc_intake import runs, status
from coc_intake.night import FileFailure, NightSummary
from coc_intake.outbox import Outbox
from coc_intake.status import FileState
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE


def test_runs_over_an_empty_inbox_do_not_hide_a_failure(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    inbox, outbox = LocalStore(stores[0]), Outbox(LocalStore(stores[1]))
    runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[FileFailure.of("census.xlsx", OSError("disk full"))]))
    for hours in range(runs.RECENT_RUNS + 3):  # an operator's tries, or an hourly schedule over another inbox
        runs.record_run(outbox, NightSummary(AS_OF_DATE + dt.timedelta(days=hours % 2)))
    found = status.of_file(inbox, outbox, name="census.xlsx")
    assert (found.state, found.reason) == (FileState.FAILED, "OSError: disk full")


def test_runs_that_listed_other_files_still_end_the_search(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    inbox, outbox = LocalStore(stores[0]), Outbox(LocalStore(stores[1]))
    runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[FileFailure.of("census.xlsx", OSError("disk full"))]))
    for n in range(runs.RECENT_RUNS):
        runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[FileFailure.of(f"other-{n}.xlsx", OSError("x"))]))
    assert status.of_file(inbox, outbox, name="census.xlsx").state == FileState.WAITING
