"""The analysts' report says who causes what: employer matrices, rejected values, the referral worklist and the trend
in words, each checked against files with known mistakes taken through the real intake."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from typer.testing import CliRunner

from coc_intake import report
from coc_intake.batch import process_file
from coc_intake.cli import app
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.report import Employer, Host
from coc_intake.report_render import render_html, render_xlsx
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import full_ssns_in, report_texts
from tests.portal_helpers import CHROMIUM

ACME = Employer("12-3456789", "Acme Corp")
BETA = Employer("98-7654321", "Beta LLC")
#: Invalid SSNs (ITINs start with 9) typed for Acme: rejected, and quoted masked only.
ITINS = ["900-70-1111", "901-71-2222", "902-72-3333", "903-73-4444", "904-74-5555"]
#: Valid SSNs of the other rows (each row its own worker).
VALID = [f"{n:03d}-{40 + i:02d}-{6000 + i:04d}" for i, n in enumerate(range(212, 240))]
WEEK1, WEEK2 = dt.date(2026, 11, 2), dt.date(2026, 11, 9)
UNTIL = dt.date(2026, 11, 15)


def _files() -> dict[tuple[str, dt.date], list[dict[str, Any]]]:
    """Acme's two files (worse in the first week) and Beta's clean one:

    - acme-week1 (2026-11-02): 5 rows with an invalid SSN, 3 with the host typed "Allemagne", 2 Italian citizens
      in Italy (referred: italy-election-required), 2 approved; one row names the employer "ACME corp"
    - acme-week2 (2026-11-09): 1 row over the German agreement's 5 years (referred: exceeds-detachment-limit),
      3 approved
    - beta (2026-11-09): 4 approved rows
    """
    ssn = iter(VALID)
    week1 = [row(ssn=s) for s in ITINS]
    week1 += [row(ssn=next(ssn), host_country="Allemagne") for _ in range(3)]
    week1 += [row(ssn=next(ssn), host_country="IT", citizenship="US;IT") for _ in range(2)]
    week1 += [row(ssn=next(ssn)), row(ssn=next(ssn), employer_name="ACME corp")]
    week2 = [row(ssn=next(ssn), assignment_end=dt.date(2032, 12, 31))] + [row(ssn=next(ssn)) for _ in range(3)]
    beta = [row(ssn=next(ssn), employer_ein=BETA.ein, employer_name=BETA.name, contact_email="hr@beta.example")
            for _ in range(4)]
    return {("acme-week1.xlsx", WEEK1): week1, ("acme-week2.xlsx", WEEK2): week2, ("beta.xlsx", WEEK2): beta}


def _write_files(folder: Path) -> dict[tuple[str, dt.date], bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    return {(name, day): write_xlsx(folder / name, rows).read_bytes() for (name, day), rows in _files().items()}


def _outbox(tmp_path: Path, files: dict[tuple[str, dt.date], bytes] | None = None) -> Path:
    """The batches of ``files`` (default: ``_files`` written now) in ``tmp_path / "out"``, through the intake."""
    inbox, outbox = LocalStore(tmp_path / "in"), Outbox(LocalStore(tmp_path / "out"))
    for (name, day), data in (files or _write_files(tmp_path)).items():
        inbox.write(name, data)
        process_file(inbox, outbox, name, day, Settings(), KnownRequests.load(outbox))
    return tmp_path / "out"


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _outbox(tmp_path_factory.mktemp("mistakes"))


@pytest.fixture(scope="module")
def data(outbox: Path) -> report.Report:
    return report.build(report.load_manifests(Outbox(LocalStore(outbox))), WEEK1, UNTIL)


def test_employers_are_their_ein_named_as_typed_most_often(data: report.Report) -> None:
    assert data.by_employer[ACME] == {"rows": 16, "approved": 5, "referred": 3, "rejected": 8}
    assert data.by_employer[BETA] == {"rows": 4, "approved": 4, "referred": 0, "rejected": 0}
    assert set(data.by_employer) == {ACME, BETA}  # "ACME corp" is Acme's row, not an employer of its own
    assert data.top_employers() == [ACME]  # Beta rejected nothing


def test_the_employer_matrices_count_each_code_and_field(data: report.Report) -> None:
    assert dict(data.employer_codes[ACME]) == {"invalid-ssn": 5, "invalid-country": 3}
    assert dict(data.employer_fields[ACME]) == {"ssn": 5, "host_country": 3}
    assert not data.employer_codes.get(BETA)


def test_the_most_frequent_rejected_values_are_as_typed_and_ssns_masked(data: report.Report) -> None:
    assert data.top_values("host_country") == [("Allemagne", "invalid-country", 3)]
    assert sorted(data.top_values("ssn")) == sorted((f"***-**-{s[-4:]}", "invalid-ssn", 1) for s in ITINS)


def test_an_unrecognised_host_is_shown_as_typed(data: report.Report) -> None:
    assert data.by_country[Host("", "Allemagne")] == {"rows": 3, "approved": 0, "referred": 0, "rejected": 3}
    assert Host("", "Allemagne").label == '"Allemagne"' and Host("", "").label == "(not given)"


def test_the_worklist_counts_referrals_by_reason_host_and_age(data: report.Report) -> None:
    work = {key: (item.rows, item.oldest_days, dict(item.by_age)) for key, item in data.worklist.items()}
    assert work == {
        ("italy-election-required", Host("IT")): (2, 13, {"8-30 days": 2}),  # 2026-11-02 → 2026-11-15
        ("exceeds-detachment-limit", Host("DE")): (1, 6, {"0-7 days": 1}),
    }


def test_the_employer_trend_and_the_period_trend_read_as_sentences(outbox: Path, data: report.Report) -> None:
    assert report.employer_trend(data, ACME) == (
        "Improved: 66.7% rejected in the week of 2026-11-02, 0.0% in the week of 2026-11-09 (2 weeks with rows).")
    assert report.employer_trend(data, BETA) == "Only the week of 2026-11-09: 4 rows, 0.0% rejected."
    later = report.build(report.load_manifests(Outbox(LocalStore(outbox))), WEEK2, WEEK2 + dt.timedelta(days=6))
    assert report.trend_sentences(later) == [
        "Against the previous period (2026-11-02 to 2026-11-08):",
        "Rows fell from 12 to 8 (-33%).", "Rejected rows fell from 8 to 0 (-100%).",
        "The rejection rate fell from 66.7% to 0.0% (66.7 percentage points)."]
    assert report.trend_sentences(data) == ["No batches in the previous period (2026-10-19 to 2026-11-01) to "
                                            "compare with."]


def test_the_xlsx_holds_the_matrices_values_and_worklist(data: report.Report, tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_xlsx(data))
    wb = openpyxl.load_workbook(path)

    def table(name: str) -> list[tuple[Any, ...]]:
        rows = list(wb[name].iter_rows(values_only=True))
        start = next(i for i, r in enumerate(rows) if r[1] is not None)  # past the note above the header
        return rows[start:]

    codes = table("Employers × error codes")
    assert codes[0] == ("employer", "rejected rows", "invalid-ssn", "invalid-country")
    assert codes[1] == ("Acme Corp (12-3456789)", 8, 5, 3)
    assert table("Employers × fields")[1] == ("Acme Corp (12-3456789)", 8, 5, 3)
    values = table("Most frequent rejected values")
    assert values[1] == ("host_country", "Allemagne", "invalid-country", 3)
    work = {r[:3] for r in table("Referral worklist")[1:]}
    assert work == {("italy-election-required", "IT", 2), ("exceeds-detachment-limit", "DE", 1)}
    assert ('"Allemagne"', "not recognised, as typed", 3, 3, 1) in table("Rejections by host country")


def test_every_chart_label_is_shown(data: report.Report, tmp_path: Path) -> None:
    """A chart left to itself skips every other category label once they crowd: each category axis says 1."""
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_xlsx(data))
    with zipfile.ZipFile(path) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 4
    for xml in charts:
        category_axis = re.search(r"<c:(catAx|dateAx)>.*?</c:\1>", xml, re.S)
        assert category_axis is not None and '<c:tickLblSkip val="1"/>' in category_axis.group(0)


def test_the_page_runs_only_the_script_its_csp_hashes(data: report.Report) -> None:
    page = render_html(data)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    csp = re.search(r'http-equiv=.Content-Security-Policy. content="([^"]*)"', page)
    assert csp is not None
    assert csp.group(1) == f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_chromium_runs_the_pages_script_under_its_csp(data: report.Report, tmp_path: Path) -> None:
    """Debian's chromium loads the page from disk: the script marks the page once it has set up the tables, and
    the browser reports no CSP violation."""
    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")
    done = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert 'data-tables="ready"' in done.stdout
    assert "Content Security Policy" not in done.stderr


def test_an_older_manifest_still_reports_what_it_has(outbox: Path) -> None:
    """A manifest written before the breakdown had codes, fields, values and referrals by host."""
    manifests = report.load_manifests(Outbox(LocalStore(outbox)))
    for m in manifests:
        b = m["breakdown"]
        m["breakdown"] = {"employers": [{k: e[k] for k in ("ein", "name", "rows", "approved", "referred", "rejected")}
                                        for e in b["employers"]],
                          "host_countries": [{k: v for k, v in c.items() if k not in ("typed", "referrals")}
                                             for c in b["host_countries"]],
                          "rejecting_fields": b["rejecting_fields"]}
    old = report.build(manifests, WEEK1, UNTIL)
    assert old.by_employer[ACME]["rejected"] == 8 and old.employer_codes == {} and old.rejected_values == {}
    assert {(r, h.typed) for r, h in old.worklist} == {("italy-election-required", "?"),
                                                      ("exceeds-detachment-limit", "?")}
    assert old.detailed_batches == 0
    page = render_html(old)
    assert "3 of the 3 batches were processed before the manifest recorded this" in page
    render_xlsx(old)


def test_no_full_ssn_reaches_the_manifests_or_the_report(outbox: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--outbox", str(outbox), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    texts = {"output": result.output} | report_texts(tmp_path / "rep")
    for m in report.load_manifests(Outbox(LocalStore(outbox))):
        texts[m["batch_id"]] = json.dumps(m)
    found = {key: full_ssns_in(text, [*ITINS, *VALID]) for key, text in texts.items()}
    assert {k: v for k, v in found.items() if v} == {}
    html = next(t for k, t in texts.items() if k.endswith(".html"))
    assert "***-**-1111" in html and "Allemagne" in html


def test_a_manifest_keeps_no_personal_value(outbox: Path) -> None:
    """Names, birth dates and e-mails are counted, never quoted, even when rejected."""
    (outbox.parent / "in").mkdir(exist_ok=True)
    inbox = LocalStore(outbox.parent / "in")
    rows = [row(ssn=VALID[-1], last_name="Sm1th-Private", date_of_birth="31/02/1980", contact_email="jane@@x")]
    write_xlsx(outbox.parent / "personal.xlsx", rows)
    inbox.write("personal.xlsx", (outbox.parent / "personal.xlsx").read_bytes())
    scratch = Outbox(LocalStore(outbox.parent / "scratch"))
    summary = process_file(inbox, scratch, "personal.xlsx", WEEK2, Settings(), KnownRequests())
    manifest = scratch.manifest(summary.batch_id)
    text = orjson.dumps(manifest["breakdown"]).decode()
    assert "Sm1th" not in text and "31/02/1980" not in text and "jane@@x" not in text
    assert manifest["breakdown"]["rejecting_fields"] == {"contact_email": 1, "date_of_birth": 1, "last_name": 1}
    assert manifest["breakdown"]["rejected_values"] == {}


def test_the_same_bytes_give_the_same_manifest(tmp_path: Path) -> None:
    files = _write_files(tmp_path / "sources")
    first, second = _outbox(tmp_path / "a", files), _outbox(tmp_path / "b", files)
    manifests = sorted(first.glob("batches/*/manifest.json"))
    assert len(manifests) == 3
    for path in manifests:
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()
