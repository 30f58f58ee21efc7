"""The run's line for a file already processed says which earlier file it repeated and what that batch holds:
its own counts are zero (nothing new was made), which read as if the file had been lost."""

from __future__ import annotations

import shutil
from pathlib import Path

from coc_intake import runs
from coc_intake.night import NightSummary
from coc_intake.outbox import Outbox
from coc_intake.states import FileResult
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE, run_intake


def test_an_already_processed_file_names_the_batch_it_repeated_and_its_counts(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    first = write_xlsx(inbox / "northwind-q4.xlsx", [row(), row(ssn="234-56-7891", host_country="Allemagne")])
    keep = shutil.copy(first, inbox.parent / "copy.xlsx")
    run_intake(inbox, outbox)
    shutil.copy(keep, inbox / "northwind-q4 (1).xlsx")
    (again,) = run_intake(inbox, outbox)
    assert again.result == FileResult.ALREADY_PROCESSED
    (line,) = runs.file_lines(NightSummary(AS_OF_DATE, files=[again]), Outbox(LocalStore(outbox)))
    assert line.reason == ("the same bytes as northwind-q4.xlsx, processed as of 2026-11-25: 2 rows, 1 approved, "
                           "0 referred, 1 rejected (results.xlsx of that batch).")
