"""A specialist decides a referral in a real browser (headless chromium, selenium, `coc portal` on 127.0.0.1): signs
in, opens the queue, opens a referred request, decides it with a note holding HTML; the employer signs in and sees
the decision, its note shown as text, on its submission; one e-mail reaches a real SMTP server. An analyst opens
the report and filters it. Screenshots go to /tmp/queue-shots/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import row, write_xlsx
from tests.conftest import SmtpServer
from tests.intake_helpers import full_ssns_in, run_intake
from tests.portal_helpers import PortalServer, headless_chromium, needs_browser, screenshot, start_portal, wait_for
from tests.test_referrals import LONG_END, SSNS, build_outbox

SHOTS = Path("/tmp/queue-shots")
NOTE = "Over the 5-year limit: ask for an <b>html</b> extension under Article 6."
FILED = [row(ssn="234-56-7801", last_name="Kept"),
         row(ssn="234-56-7802", last_name="Farr", first_name="Ada", assignment_end=LONG_END)]

pytestmark = needs_browser


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, module_smtp: SmtpServer) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("specialist-browser")
    build_outbox(root)
    yield from start_portal(root, module_smtp.box.env())


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from headless_chromium()


def shot(driver: Any, name: str) -> None:
    screenshot(driver, SHOTS, name)


def sign_in(driver: Any, portal: PortalServer, email: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{portal.url}/sign-in")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait_for(lambda: not driver.current_url.endswith("/sign-in"))


def test_a_specialist_decides_and_the_employer_sees_it_with_one_email(portal: PortalServer, browser: Any,
                                                                      module_smtp: SmtpServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    acme, ann = portal.add("payroll@acme.example"), portal.add("ann@ssa.example", "specialist")
    employer = portal.browser()
    employer.sign_in(acme)
    uploaded = employer.upload("acme-census.xlsx", write_xlsx(tmp_path / "acme-census.xlsx", FILED).read_bytes())
    employer.checked(uploaded.headers["location"])
    submission = employer.post(f"{uploaded.headers['location']}/submit").headers["location"]
    run_intake(portal.inbox, portal.outbox)

    sign_in(browser, portal, ann.email, ann.password)
    assert browser.current_url.endswith("/referrals")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "table.queue"))
    shot(browser, "01-queue")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")) == 5
    assert full_ssns_in(browser.page_source, [*SSNS, "234-56-7802"]) == []

    browser.find_element(By.NAME, "employer").send_keys("12-3456789")
    browser.find_element(By.NAME, "reason").send_keys("exceeds-detachment-limit")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_for(lambda: "employer=12-3456789" in browser.current_url)
    shot(browser, "02-queue-filtered")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")
    farr = next(r for r in rows if "Farr" in r.text)
    farr.find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "form.decide"))
    shot(browser, "03-request")
    assert browser.find_element(By.CSS_SELECTOR, "dd.ssn").text == "234-56-7802"
    assert "Agreement with Germany" in browser.find_element(By.CSS_SELECTOR, "table.reasons").text

    browser.find_element(By.CSS_SELECTOR, "input[name=decision][value=denied]").click()
    browser.find_element(By.NAME, "note").send_keys(NOTE)
    browser.find_element(By.CSS_SELECTOR, "form.decide button").click()
    wait_for(lambda: "decided=1" in browser.current_url)
    shot(browser, "04-decided")
    browser.find_element(By.CSS_SELECTOR, "ol.decisions").screenshot(str(SHOTS / "04b-decision-note.png"))
    assert "Decision 1 recorded: denied" in browser.find_element(By.CSS_SELECTOR, ".verdict").text
    assert browser.find_element(By.CSS_SELECTOR, "blockquote.note").text == NOTE  # the tags as text
    assert not browser.find_elements(By.CSS_SELECTOR, "blockquote.note b")

    sign_in(browser, portal, acme.email, acme.password)
    browser.get(f"{portal.url}{submission}")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "table.referred"))
    shot(browser, "05-employer-submission")
    decided = browser.find_element(By.CSS_SELECTOR, "table.referred tbody tr")
    assert "denied" in decided.text and "***-**-7802" in decided.text
    assert decided.find_element(By.CSS_SELECTOR, "div.note").text == NOTE
    assert not decided.find_elements(By.CSS_SELECTOR, "div.note b")
    assert full_ssns_in(browser.page_source, ["234-56-7801", "234-56-7802"]) == []

    messages = [m for m in module_smtp.box.messages if "denied" in str(m["Subject"])]
    assert len(messages) == 1 and messages[0]["To"] == "hr@acme.example"
    assert full_ssns_in(messages[0].get_body(("plain",)).get_content(), ["234-56-7802"]) == []


def test_an_analyst_reads_and_filters_the_report(portal: PortalServer, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    ana = portal.add("ana@ssa.example", "analyst")
    sign_in(browser, portal, ana.email, ana.password)
    assert browser.current_url.endswith("/report")
    wait_for(lambda: browser.find_element(By.TAG_NAME, "html").get_attribute("data-tables") == "ready")
    shot(browser, "06-report")
    browser.find_element(By.ID, "referral-decisions-by-reason").screenshot(str(SHOTS / "06b-report-decisions.png"))
    browser.find_element(By.NAME, "host").send_keys("AT")
    browser.find_element(By.CSS_SELECTOR, "form.report-filters button").click()
    wait_for(lambda: "host=AT" in browser.current_url)
    shot(browser, "07-report-host")
    assert "Only the rows sent to AT" in browser.find_element(By.CSS_SELECTOR, ".scope").text
