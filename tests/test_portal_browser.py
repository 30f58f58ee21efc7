"""The portal in a real browser: headless Debian chromium driven by selenium against `coc portal` on 127.0.0.1. An
employer signs in, uploads a workbook with mistakes, reads the findings, downloads the marked workbook, submits;
the nightly intake runs on the same stores; the results appear on My submissions and are downloaded. Screenshots
of each page go to /tmp/portal-shots/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.builders import row, write_xlsx
from tests.intake_helpers import full_ssns_in, run_intake
from tests.portal_helpers import PortalServer, headless_chromium, needs_browser, screenshot, start_portal, wait_for

SHOTS = Path("/tmp/portal-shots")

pytestmark = needs_browser


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-browser"))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    yield from headless_chromium(downloads)


def shot(driver: Any, name: str) -> None:
    screenshot(driver, SHOTS, name)


def downloaded(folder: Path, suffix: str) -> Path:
    return wait_for(lambda: next((p for p in folder.iterdir() if p.name.endswith(suffix)), None), 30)


def test_an_employer_files_a_workbook_in_the_browser_and_gets_the_results(portal: PortalServer, browser: Any,
                                                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    credentials = portal.add("hr@acme.example")
    workbook = write_xlsx(tmp_path / "acme-assignments.xlsx", [
        row(),
        row(ssn="234-56-7890", last_name="Doe", host_country="ZZ"),
        row(ssn="345-67-8901", last_name="Roe", assignment_end="2026-01-01"),
        row(ssn="456-78-9012", last_name="Poe", employer_ein="98-7654321"),
        row(ssn="567-89-0123", last_name="Low", host_country="IT"),
    ])

    browser.get(f"{portal.url}/")
    assert browser.current_url.endswith("/sign-in")
    shot(browser, "01-sign-in")
    browser.find_element(By.NAME, "email").send_keys(credentials.email)
    browser.find_element(By.NAME, "password").send_keys(credentials.password)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait_for(lambda: browser.find_elements(By.NAME, "file"))
    shot(browser, "02-upload")

    browser.find_element(By.NAME, "file").send_keys(str(workbook))
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait_for(lambda: "/uploads/" in browser.current_url)
    if browser.find_elements(By.CSS_SELECTOR, ".progress"):
        shot(browser, "03-checking")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".verdict"))
    shot(browser, "04-findings")
    page = browser.page_source
    assert "2 of 5 rows pass, 3 would be rejected" in " ".join(page.split())
    assert "not-authorized-for-employer" in page
    counts = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
              for r in browser.find_elements(By.CSS_SELECTOR, "table.counts tr")}
    assert counts["rows"] == "5" and counts["rejected"] == "3"
    assert full_ssns_in(page, ["234-56-7890", "345-67-8901", "456-78-9012"]) == []

    browser.find_element(By.LINK_TEXT, "Download the marked workbook").click()
    marked = downloaded(browser.downloads, "-checked.xlsx")
    assert openpyxl.load_workbook(marked).sheetnames[0] == "Summary"

    browser.find_element(By.CSS_SELECTOR, ".actions form button").click()
    wait_for(lambda: "/submissions/" in browser.current_url)
    shot(browser, "05-submitted")
    assert "waiting" in browser.find_element(By.CSS_SELECTOR, ".state").text

    run_intake(portal.inbox, portal.outbox)

    browser.find_element(By.LINK_TEXT, "My submissions").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "table"))
    shot(browser, "06-my-submissions")
    assert browser.find_element(By.CSS_SELECTOR, ".state").text == "processed"
    browser.find_element(By.LINK_TEXT, "results.csv").click()
    results = downloaded(browser.downloads, "-results.csv").read_text(encoding="utf-8").splitlines()
    assert len(results) == 6 and sum(",rejected," in line for line in results) == 3

    browser.find_element(By.LINK_TEXT, "acme-assignments.xlsx").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "dl.facts"))
    shot(browser, "07-submission")
    browser.find_element(By.PARTIAL_LINK_TEXT, "results.xlsx").click()
    assert "Summary" in openpyxl.load_workbook(downloaded(browser.downloads, "-results.xlsx")).sheetnames

    browser.find_element(By.CSS_SELECTOR, "button.link").click()  # sign out
    wait_for(lambda: browser.current_url.endswith("/sign-in"))
    browser.get(f"{portal.url}/submissions")
    assert browser.current_url.endswith("/sign-in")
