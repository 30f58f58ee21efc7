"""`coc report` counts the specialists' decisions (docs/report.md#referral-decisions): referrals decided, approved,
denied and waiting, and how long they waited (median, 90th percentile), by reason and by host, in the xlsx and the
HTML page, over an outbox the real intake wrote and decisions made through ``referrals.decide``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from coc_intake.cli import app
from coc_intake.outbox import Outbox
from coc_intake.referrals import Filters, Queue, decide
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.intake_helpers import full_ssns_in
from tests.test_referrals import NEW, OLD, SSNS, TODAY, build_outbox


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(15, 30), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Early (40 days ago, DE) approved after 10 days then denied; Other (3 days ago, DE) approved after 1 day;
    Long (DE) and Solo (AT) waiting. The report's files, written by `coc report`."""
    root = tmp_path_factory.mktemp("report-decisions")
    outbox = Outbox(LocalStore(build_outbox(root)))
    rid = {r.worker: r.request_id for r in Queue.load(outbox).select(Filters(include_decided=True), TODAY)[0]}
    settings = Settings()
    note = "Checked; the worker's SSN 123-45-6791 matches."
    decide(outbox, rid["Early, Jane"], "approved", note, "Ann", settings, now=_at(OLD + dt.timedelta(10)))
    decide(outbox, rid["Early, Jane"], "denied", note, "Bob", settings, now=_at(OLD + dt.timedelta(20)))
    decide(outbox, rid["Other, Jane"], "approved", note, "Ann", settings, now=_at(NEW + dt.timedelta(1)))
    out = root / "report"
    result = CliRunner().invoke(app, ["report", "--outbox", str(root / "outbox"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _sheet(out: Path, name: str) -> list[list[Any]]:
    book = openpyxl.load_workbook(next(out.glob("*.xlsx")), read_only=True)
    rows = [list(r) for r in book[name].iter_rows(values_only=True)]
    return rows[1:]  # below the note


def test_the_xlsx_counts_decisions_and_waiting_times_by_reason(written: Path) -> None:
    header, *rows = _sheet(written, "Referral decisions by reason")
    table = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    everything = table["all referrals"]
    assert [everything[k] for k in ("referred", "decided", "approved", "denied", "waiting")] == [4, 2, 1, 1, 2]
    # Early's first decision came after 10 days, Other's after 1: median 5.5, 90th percentile 9.1.
    assert everything["wait (median)"] == 5.5
    assert everything["wait (p90)"] == 9.1
    assert everything["age (median)"] == 3  # Long and Solo, both as of 3 days ago
    assert table["exceeds-detachment-limit"]["decided"] == 2 and table["exceeds-detachment-limit"]["waiting"] == 1
    assert table["self-employed-review"]["waiting"] == 1


def test_the_xlsx_counts_decisions_by_host(written: Path) -> None:
    header, *rows = _sheet(written, "Referral decisions by host")
    table = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert set(table) == {"AT", "DE"}
    assert [table["DE"][k] for k in ("referred", "decided", "approved", "denied", "waiting")] == [3, 2, 1, 1, 1]
    assert [table["AT"][k] for k in ("referred", "decided", "waiting")] == [1, 0, 1]
    assert table["AT"]["wait (median)"] is None


def test_the_html_page_has_the_decisions_section_and_card(written: Path) -> None:
    page = next(written.glob("*.html")).read_text(encoding="utf-8")
    assert "<h2>Referral decisions by reason</h2>" in page and "<h2>Referral decisions by host</h2>" in page
    assert "<b>2 / 4</b>referrals decided (1 approved, 1 denied)" in page
    assert "<td class='num' data-v='5.5'>5.5</td>" in page  # days, not a percentage


def test_the_dashboard_says_how_many_were_decided(written: Path) -> None:
    book = openpyxl.load_workbook(next(written.glob("*.xlsx")), read_only=True)
    text = " ".join(str(c) for r in book["Dashboard"].iter_rows(values_only=True) for c in r if c)
    assert "2 decided (1 approved, 1 denied), 2 waiting; a decision took 5.5 days (median), 9.1 at the 90th" in text


def test_no_full_ssn_in_the_report_even_with_ssns_in_the_notes(written: Path) -> None:
    for path in written.iterdir():
        if path.suffix == ".html":
            text = path.read_text(encoding="utf-8")
        else:
            book = openpyxl.load_workbook(path, read_only=True)
            text = " ".join(str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r)
        assert full_ssns_in(text, SSNS) == []
