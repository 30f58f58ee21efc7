"""The report's sentences count in English: '1 finding', '1 row', '1 batch', '1 file rejected whole'."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from coc_intake import report
from coc_intake.batch import process_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.report_render import render_html
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx

DAY = dt.date(2026, 11, 20)


def _one_of_each(tmp_path: Path) -> report.Report:
    """One batch of one row, rejected for one finding, and one file rejected whole."""
    inbox, outbox = LocalStore(tmp_path / "in"), Outbox(LocalStore(tmp_path / "out"))
    inbox.write("one.xlsx", write_xlsx(tmp_path / "one.xlsx", [row(host_country="Allemagne")]).read_bytes())
    inbox.write("broken.xlsx", b"not a workbook")
    for name in ("broken.xlsx", "one.xlsx"):
        process_file(inbox, outbox, name, DAY, Settings(), KnownRequests.load(outbox))
    return report.build(report.load_manifests(outbox), DAY, DAY)


def test_one_of_a_thing_is_counted_in_the_singular(tmp_path: Path) -> None:
    data = _one_of_each(tmp_path)
    page = render_html(data)
    assert "invalid-country</b> — 1 finding:" in page
    assert "1 findings" not in page
    assert "rows in 2 batches" not in page and "row in 2 batches" in page
    assert "file rejected whole</div>" in page
    (employer,) = data.by_employer
    assert report.employer_trend(data, employer) == "Only the week of 2026-11-16: 1 row, 100.0% rejected."
    headline = report.headline_markdown(data)
    assert "**1 row** in 2 batches" in headline and "; 1 file rejected whole." in headline
