"""The analysts' report in the portal, through a real `coc portal` over an outbox the real intake wrote: the report's
own page with the period, an employer or a host country as filters, its script allowed by hash only, its workbook,
the specialists' decisions counted, other roles kept out, and no full SSN."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator

import openpyxl
import pytest

from coc_intake.outbox import Outbox
from coc_intake.portal.accounts import Credentials
from coc_intake.referrals import Filters, Queue, decide
from coc_intake.report_render import script_hash
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.intake_helpers import full_ssns_in
from tests.portal_helpers import Browser, PortalServer, start_portal
from tests.test_referrals import NEW, OLD, SSNS, TODAY, build_outbox


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("report-portal")
    outbox = Outbox(LocalStore(build_outbox(root)))
    other = next(r for r in Queue.load(outbox).select(Filters(), TODAY)[0] if r.worker.startswith("Other"))
    decide(outbox, other.request_id, "approved", "fine", "Ann", Settings())
    yield from start_portal(root)


@pytest.fixture(scope="module")
def analyst(portal: PortalServer) -> Browser:
    browser = portal.browser()
    assert browser.sign_in(portal.add("ana@ssa.example", "analyst")).status_code == 303
    return browser


def cards(page: str) -> dict[str, int]:
    """The report's cards: label → number."""
    return {label.strip(): int(n.replace(",", "")) for n, label in
            re.findall(r"<div class='card[^']*'><b>([\d,]+)</b>([^<(]+)", page)}


def test_an_analyst_lands_on_the_report_with_its_script_allowed_by_hash_only(portal: PortalServer,
                                                                             analyst: Browser) -> None:
    assert analyst.get("/").headers["location"] == "/report"
    page = analyst.get("/report")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert f"script-src {script_hash()}" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert "<h1>Rejections report</h1>" in page.text
    assert cards(page.text)["rows in 2 batches"] == 6
    assert "<h2>Referral decisions by reason</h2>" in page.text
    assert "<b>1 / 4</b>referrals decided" in page.text
    assert full_ssns_in(page.text, SSNS) == []


def test_the_period_filter_takes_the_batches_as_of_it(analyst: Browser) -> None:
    page = analyst.get(f"/report?since={NEW.isoformat()}&until={TODAY.isoformat()}")
    assert cards(page.text)["rows in 1 batch"] == 3
    old = analyst.get(f"/report?until={OLD.isoformat()}")
    assert cards(old.text)["rows in 1 batch"] == 3
    assert f"value='{OLD.isoformat()}'" in old.text  # the form keeps what was asked


def test_the_employer_filter_counts_that_employers_rows_only(analyst: Browser) -> None:
    page = analyst.get("/report?employer=98-7654321").text
    assert cards(page)["row in 1 batch"] == 1 and cards(page)["referred"] == 1
    assert "Only the rows of employer 98-7654321" in page
    assert "Beta LLC" in page and "Acme Corp" not in page


def test_the_host_filter_counts_the_rows_sent_there_only(analyst: Browser) -> None:
    page = analyst.get("/report?host=at").text
    assert cards(page)["row in 1 batch"] == 1 and cards(page)["referred"] == 1
    assert "self-employed-review" in page and "exceeds-detachment-limit" not in page


@pytest.mark.parametrize(("query", "says"), [
    ("employer=98-7654321&host=DE", "not both"),
    ("since=yesterday", "is not a date"),
    ("since=2026-12-01&until=2026-11-01", "swap them"),
    ("employer=12", "is not an EIN"),
])
def test_filters_that_cannot_be_answered_say_why(analyst: Browser, query: str, says: str) -> None:
    page = analyst.get(f"/report?{query}")
    assert page.status_code == 400 and says in html.unescape(page.text)


def test_the_workbook_of_the_same_filters_downloads(analyst: Browser) -> None:
    got = analyst.get("/report.xlsx?employer=98-7654321")
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(got.content), read_only=True)
    rows = {r[0]: r[1] for r in book["Rows by status"].iter_rows(values_only=True)}
    assert rows["referred"] == 1


@pytest.mark.parametrize("role", ["employer", "specialist", "self-employed"])
def test_other_roles_get_403_on_the_report(portal: PortalServer, role: str) -> None:
    who: Credentials = portal.add(f"{role}@example.com", role, ssn="345-67-8901" if role == "self-employed" else None)
    browser = portal.browser()
    browser.sign_in(who)
    assert browser.get("/report").status_code == 403
    assert browser.get("/report.xlsx").status_code == 403
