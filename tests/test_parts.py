"""A large file is checked a part of its rows at a time (``engine.part_rows``), and its requests written while the
next part is checked: the findings, decisions and every output byte are those of the file checked whole."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from coc_intake import engine, requestwriter
from coc_intake.engine import FileCheck, check_file, part_rows
from tests.builders import AS_OF, row, write_xlsx
from tests.intake_helpers import run_intake, snapshot

AS_OF_DATE = dt.date.fromisoformat(AS_OF)


def _ssn(n: int) -> str:
    return f"{100 + n // 10000:03d}-{10 + n // 100 % 90:02d}-{1000 + n % 9000:04d}"


def _rows() -> list[dict[str, Any]]:
    """40 rows: repeats of earlier rows several parts back, a repeat of a rejected row (kept: only rows not
    rejected count), a repeat in another host country and one of a period that does not overlap (both kept),
    referrals and rejections between them."""
    rows = [row(ssn=_ssn(i), last_name=f"Worker{chr(65 + i % 26)}") for i in range(40)]
    rows[3] = row(ssn=_ssn(3), assignment_end=dt.date(2027, 6, 30))
    rows[31] = row(ssn=_ssn(3), assignment_start=dt.date(2027, 3, 1))  # overlaps row 3's period: duplicate
    rows[34] = row(ssn=_ssn(3), assignment_start=dt.date(2027, 7, 1))  # after row 3's (row 31 is rejected): kept
    rows[5] = row(ssn=_ssn(5), host_country="IT")
    rows[25] = row(ssn=_ssn(5), host_country="DE")  # another host: kept
    rows[8] = row(ssn=_ssn(8), worksite_city=None)  # rejected (a required cell is blank)
    rows[20] = row(ssn=_ssn(8))  # repeats a rejected row: kept
    rows[21] = row(ssn=_ssn(8), assignment_end=dt.date(2028, 1, 31))  # repeats row 20: duplicate
    rows[12] = row(ssn="123-45", host_country="JP")  # an SSN that does not parse
    rows[15] = row(ssn=_ssn(15), host_country="DE", assignment_end=dt.date(2032, 12, 31))  # over the limit
    rows[38] = row(ssn=_ssn(0))  # repeats the first row of the file
    return rows


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_xlsx(tmp_path / "census.xlsx", _rows())


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of at least 6 rows: the 40 rows go in 6 parts of 7 (the last of 5), as a million go in 4 of 250,000."""
    monkeypatch.setattr(engine, "PART_ROWS", 6)
    monkeypatch.setattr(engine, "MAX_PARTS", 100)


def test_part_rows_keeps_files_under_twice_the_part_size_whole_and_splits_larger_ones_evenly() -> None:
    assert part_rows(100_000) == 100_000
    assert part_rows(399_999) == 399_999
    assert part_rows(400_000) == 200_000
    assert part_rows(1_000_000) == 250_000
    assert part_rows(1_048_575) == 262_144
    assert part_rows(0) == 1


@pytest.mark.usefixtures("small_parts")
def test_a_file_checked_in_parts_has_the_findings_and_decisions_of_the_file_checked_whole(workbook: Path) -> None:
    with FileCheck(workbook, workbook.name, AS_OF_DATE) as check:
        parts = list(check.parts())
        in_parts = check.outcome()
    whole = check_file(workbook, workbook.name, AS_OF_DATE)

    assert [len(p.rows) for p in parts] == [7, 7, 7, 7, 7, 5]
    pd.testing.assert_frame_equal(in_parts.findings, whole.findings)
    pd.testing.assert_frame_equal(in_parts.rows, whole.rows)
    assert in_parts.values is not None and whole.values is not None
    pd.testing.assert_frame_equal(in_parts.values, whole.values)
    # Each part carries its own rows, in order, with the decisions the whole file gets.
    pd.testing.assert_frame_equal(pd.concat([p.rows for p in parts]), whole.rows)
    duplicates = whole.findings[whole.findings["code"].eq("duplicate-row")]
    # Header row 1, so the sheet row of rows[i] is i + 2; each duplicate points back across parts.
    assert sorted(duplicates["row"].astype(int)) == [21 + 2, 31 + 2, 38 + 2]
    assert whole.rows.loc[[20 + 2, 25 + 2, 34 + 2], "status"].ne("rejected").all()


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("helper_from", [1, 10**9], ids=["helper-process", "threads"])
def test_a_batch_written_part_by_part_is_byte_identical_to_the_batch_written_whole(
        workbook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper_from: int) -> None:
    monkeypatch.setattr(requestwriter, "HELPER_FROM", helper_from)
    outboxes = []
    for label, parts in (("parts", 100), ("whole", 1)):
        monkeypatch.setattr(engine, "MAX_PARTS", parts)
        inbox, outbox = tmp_path / label / "inbox", tmp_path / label / "outbox"
        inbox.mkdir(parents=True)
        shutil.copy(workbook, inbox / workbook.name)
        [summary] = run_intake(inbox, outbox)
        assert (summary.result, summary.rows, summary.requests) == ("processed", 40, 35)
        outboxes.append(snapshot(outbox))
    assert sum(key.endswith(".json") and "/requests/" in key for key in outboxes[0]) == 35
    assert outboxes[0] == outboxes[1]
