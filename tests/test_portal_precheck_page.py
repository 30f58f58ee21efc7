"""The pre-check page through a real portal says in its first line how many rows pass and how many would be
rejected, and a file rejected whole says why and where to go next, without the zero counts or the command line's
wording of the marked workbook's note."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import row, write_xlsx
from tests.portal_helpers import Browser, PortalServer, start_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-precheck-page"))


@pytest.fixture(scope="module")
def browser(portal: PortalServer) -> Browser:
    found = portal.browser()
    found.sign_in(portal.add("verdict@acme.example"))
    return found


def verdict_of(browser: Browser, name: str, data: bytes) -> tuple[str, str]:
    uploaded = browser.upload(name, data)
    assert uploaded.status_code == 303, uploaded.text
    page = browser.checked(uploaded.headers["location"]).text
    found = re.search(r'<p class="verdict[^"]*"[^>]*>(.*?)</p>', page, re.S)
    assert found, page
    return " ".join(re.sub(r"<[^>]+>", " ", found[1]).split()), page


def test_the_verdict_counts_the_rows_that_pass_and_those_that_would_be_rejected(browser: Browser,
                                                                                tmp_path: Path) -> None:
    mixed = write_xlsx(tmp_path / "mixed.xlsx", [row(), row(ssn="234-56-7890", last_name="Doe"),
                                                 row(ssn="345-67-8901", last_name="Roe", host_country="ZZ")])
    verdict, _ = verdict_of(browser, "mixed.xlsx", mixed.read_bytes())
    assert verdict.startswith("2 of 3 rows pass, 1 would be rejected (2 approved).")

    clean = write_xlsx(tmp_path / "clean.xlsx", [row(), row(ssn="234-56-7890", last_name="Doe")])
    verdict, _ = verdict_of(browser, "clean.xlsx", clean.read_bytes())
    assert verdict == "All 2 rows pass (2 approved). You can submit it."


def test_a_file_whose_every_row_is_rejected_is_not_said_to_have_some_rows_rejected(browser: Browser,
                                                                                   tmp_path: Path) -> None:
    bad = write_xlsx(tmp_path / "bad.xlsx", [row(host_country="ZZ"), row(ssn="234-56-7890", host_country="ZZ")])
    verdict, _ = verdict_of(browser, "bad.xlsx", bad.read_bytes())
    assert verdict.startswith("All 2 rows would be rejected.")
    assert "Some rows" not in verdict


def test_a_file_rejected_whole_says_why_and_offers_another_upload_without_zero_counts(browser: Browser) -> None:
    verdict, page = verdict_of(browser, "empty.xlsx", b"")
    assert verdict.startswith("The whole file is rejected, so it cannot be submitted: The file has no assignment "
                              "rows")
    assert verdict.endswith("and resubmit.")
    assert "Upload a corrected file" in page
    assert "Rows by status" not in page and "Findings by code" not in page
    assert "openpyxl" not in page and "source.xlsx" not in page and "run the check again" not in page
    assert ">Submit<" not in page


def test_recent_uploads_say_how_each_check_came_out(browser: Browser, tmp_path: Path) -> None:
    mixed = write_xlsx(tmp_path / "listed.xlsx", [row(), row(ssn="234-56-7890", host_country="ZZ")])
    verdict_of(browser, "listed mixed.xlsx", mixed.read_bytes())
    verdict_of(browser, "listed empty.csv", b"")
    rows = {re.sub(r"<[^>]+>", "", cells[0]): " ".join(re.sub(r"<[^>]+>", "", cells[2]).split())
            for cells in (re.findall(r"<td>(.*?)</td>", tr, re.S)
                          for tr in re.findall(r"<tr>(.*?)</tr>", browser.get("/").text, re.S)) if len(cells) == 3}
    assert rows["listed mixed.xlsx"] == "checked: 1 of 2 rows pass"
    assert rows["listed empty.csv"] == "checked: the whole file is rejected"
