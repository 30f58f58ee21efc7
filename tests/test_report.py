"""The analysts' rejection report: every count checked against batches whose content the test chose."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from coc_intake import report
from coc_intake.batch import process_file
from coc_intake.cli import app
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.report_render import render_html, render_xlsx
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx

SSNS = ["212-48-1937", "318-22-4410", "401-55-2308", "522-19-8876", "233-71-0964", "145-62-7730", "377-08-1245"]


def _outbox(tmp_path: Path) -> Path:
    """Three nights of batches with known outcomes:

    - 2026-11-02 acme.xlsx (EIN 12-3456789): DE approved, FR rejected (invalid-ssn), IT referred (italy-election)
    - 2026-11-10 globex.xlsx (EIN 31-2345678): DE rejected (missing-value last_name + invalid-date birth),
      GB rejected (missing-value region), MX rejected (no-agreement)
    - 2026-11-10 broken.xlsx: rejected whole (unreadable-file)
    - 2026-10-27 (the previous period) old.xlsx: one DE row rejected (invalid-ssn)
    """
    inbox, outbox = LocalStore(tmp_path / "in"), Outbox(LocalStore(tmp_path / "out"))
    files = {
        ("acme.xlsx", "2026-11-02"): [
            row(ssn=SSNS[0]),
            row(ssn="900-11-2222", host_country="FR", health_insurance="Y"),
            row(ssn=SSNS[1], host_country="IT", citizenship="US;IT"),
        ],
        ("globex.xlsx", "2026-11-10"): [
            row(ssn=SSNS[2], employer_ein="31-2345678", employer_name="Globex", last_name=None,
                date_of_birth="31/12/1980"),
            row(ssn=SSNS[3], employer_ein="31-2345678", employer_name="Globex", host_country="GB"),
            row(ssn=SSNS[4], employer_ein="31-2345678", employer_name="Globex", host_country="MX"),
        ],
        ("old.xlsx", "2026-10-27"): [row(ssn="000-12-3456")],
    }
    for (name, day), rows in files.items():
        write_xlsx(tmp_path / name, rows)
        inbox.write(name, (tmp_path / name).read_bytes())
        process_file(inbox, outbox, name, dt.date.fromisoformat(day), Settings(), KnownRequests())
    inbox.write("broken.xlsx", b"PK\x03\x04 this is not a workbook")
    process_file(inbox, outbox, "broken.xlsx", dt.date(2026, 11, 10), Settings(), KnownRequests())
    return tmp_path / "out"


def test_every_count_of_the_report_matches_the_batches(tmp_path: Path) -> None:
    data = report.build(report.load_manifests(Outbox(LocalStore(_outbox(tmp_path)))), dt.date(2026, 11, 2),
                        dt.date(2026, 11, 15))
    t = data.totals
    assert (t.batches, t.files_rejected, t.rows, t.approved, t.referred, t.rejected) == (3, 1, 6, 1, 1, 4)
    assert dict(data.by_code) == {"invalid-ssn": 1, "missing-value": 2, "invalid-date": 1, "no-agreement": 1,
                                  "unreadable-file": 1}
    assert dict(data.referrals) == {"italy-election-required": 1}
    assert data.by_country[report.Host("DE")] == {"rows": 2, "approved": 1, "referred": 0, "rejected": 1}
    assert data.by_country[report.Host("FR")]["rejected"] == 1 and data.by_country[report.Host("MX")]["rejected"] == 1
    assert data.by_country[report.Host("IT")]["referred"] == 1 and data.by_country[report.Host("GB")]["rejected"] == 1
    assert data.by_employer[("12-3456789", "Acme Corp")] == {"rows": 3, "approved": 1, "referred": 1, "rejected": 1}
    assert data.by_employer[("31-2345678", "Globex")] == {"rows": 3, "approved": 0, "referred": 0, "rejected": 3}
    assert data.by_week == {
        dt.date(2026, 11, 2): {"rows": 3, "approved": 1, "referred": 1, "rejected": 1},
        dt.date(2026, 11, 9): {"rows": 3, "approved": 0, "referred": 0, "rejected": 3},
    }
    assert dict(data.fields) == {"ssn": 1, "last_name": 1, "date_of_birth": 1, "worksite_region": 1,
                                 "host_country": 1}
    assert [(f["file"], f["code"]) for f in data.rejected_files] == [("broken.xlsx", "unreadable-file")]
    assert data.previous is not None
    assert (data.previous_since, data.previous_until) == (dt.date(2026, 10, 19), dt.date(2026, 11, 1))
    assert (data.previous.rows, data.previous.rejected) == (1, 1)
    assert data.top_problems()[0][:2] == ("missing-value", 2)


def test_an_open_period_covers_every_batch(tmp_path: Path) -> None:
    data = report.build(report.load_manifests(Outbox(LocalStore(_outbox(tmp_path)))))
    assert (data.since, data.until) == (dt.date(2026, 10, 27), dt.date(2026, 11, 10))
    assert data.totals.rows == 7 and data.totals.batches == 4


def test_the_xlsx_has_native_charts_and_a_filterable_summary(tmp_path: Path) -> None:
    data = report.build(report.load_manifests(Outbox(LocalStore(_outbox(tmp_path)))))
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_xlsx(data))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "Dashboard"
    charts = wb["Dashboard"]._charts
    assert len(charts) == 4
    kinds = sorted(type(c).__name__ for c in charts)
    assert kinds == ["BarChart", "BarChart", "BarChart", "LineChart"]
    summary = wb["Summary"]
    assert summary.auto_filter.ref is not None
    assert {"error code", "host country", "employer", "week", "field"} <= {c.value for c in summary["A"][1:]}
    by_code = {r[0]: r[1] for r in wb["Rejections by error code"].iter_rows(min_row=2, values_only=True)}
    assert by_code["missing-value"] == 2


def test_the_html_page_is_self_contained_and_leads_with_charts(tmp_path: Path) -> None:
    data = report.build(report.load_manifests(Outbox(LocalStore(_outbox(tmp_path)))))
    page = render_html(data)
    assert page.count("<svg") >= 3
    assert not re.search(r"(src|href)=['\"]?https?:", page)
    assert page.count("<script") == 1 and "<script src" not in page
    assert page.index("Top five problems") < page.index("<svg") < page.index("<table")
    assert "missing-value" in page and "Globex" in page


def test_no_full_ssn_reaches_any_report_file(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    result = CliRunner().invoke(app, ["report", "--outbox", str(outbox), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "rep").iterdir())
    assert {p.suffix for p in written} == {".xlsx", ".html"}
    import zipfile

    for path in written:
        blobs = [path.read_bytes()]
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                blobs = [z.read(n) for n in z.namelist()]
        text = b"".join(blobs).decode("utf-8", "replace") + result.output
        for ssn in [*SSNS, "900-11-2222", "000-12-3456"]:
            assert ssn not in text and ssn.replace("-", "") not in text, (path, ssn)


def test_the_report_is_written_into_the_outbox_by_default(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    result = CliRunner().invoke(app, ["report", "--outbox", str(outbox), "--since", "2026-11-01",
                                      "--until", "2026-11-30"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (outbox / "reports").iterdir())
    assert names == ["rejections-2026-11-01-to-2026-11-30.html", "rejections-2026-11-01-to-2026-11-30.xlsx"]
    assert "6 rows" in result.output.replace(",", "") or "**6 rows**" in result.output


def test_since_after_until_is_refused_with_a_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--outbox", str(tmp_path), "--since", "2026-12-01",
                                      "--until", "2026-11-01"])
    assert result.exit_code == 2
    assert "swap" in result.output
