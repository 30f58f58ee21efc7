"""The same bytes submitted through several accounts, through a real portal: the batch is the first submission's
(batch IDs are the bytes' alone), so a later account is told its file was already submitted by another account and
what to do, and sees nothing of the first account's outcome: no counts, date, file name or results."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coc_intake.portal.submissions import BY_ANOTHER_ACCOUNT
from tests.builders import row, write_xlsx
from tests.intake_helpers import run_intake
from tests.portal_helpers import Browser, PortalServer, json_of, start_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-same-bytes"))


def submit_in_browser(browser: Browser, name: str, data: bytes) -> str:
    uploaded = browser.upload(name, data)
    assert uploaded.status_code == 303, uploaded.text
    browser.checked(uploaded.headers["location"])
    submitted = browser.post(f"{uploaded.headers['location']}/submit")
    assert submitted.status_code == 303, submitted.text
    return str(submitted.headers["location"])


def test_another_account_submitting_the_same_bytes_is_told_so_and_sees_nothing_of_the_first(
        portal: PortalServer, tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "q1.xlsx", [row(), row(ssn="234-56-7890", last_name="Doe"),
                                             row(ssn="345-67-8901", last_name="Roe", host_country="ZZ")]).read_bytes()
    first, colleague = portal.add("first@acme.example"), portal.add("colleague@acme.example")
    stranger = portal.add("stranger@other.example", eins=("98-7654321",))
    alice = portal.browser()
    alice.sign_in(first)
    alice_submission = submit_in_browser(alice, "q1 first.xlsx", data)
    run_intake(portal.inbox, portal.outbox)
    bob = portal.browser()
    bob.sign_in(colleague)
    bob_submission = submit_in_browser(bob, "q1 colleague.xlsx", data)
    with portal.api(stranger) as api:
        started = json_of(api.post("/api/v1/uploads", params={"filename": "q1 stranger.xlsx"}, content=data))
        while json_of(api.get(f"/api/v1/uploads/{started['upload_id']}"))["state"] == "checking":
            time.sleep(0.2)
        stranger_submission = json_of(api.post(f"/api/v1/uploads/{started['upload_id']}/submit"))["submission_id"]
    run_intake(portal.inbox, portal.outbox)

    first_page = alice.get(alice_submission).text
    assert "processed" in first_page and "q1 first.xlsx" in first_page
    shown_to_first = json_of(portal.api(first).get(f"/api/v1/submissions/{alice_submission.rsplit('/', 1)[1]}"))
    assert shown_to_first["counts"]["rejected"] == 1 and shown_to_first["downloads"]

    page = bob.get(bob_submission)
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "already submitted by another account" in text
    assert "ask them for the results" in text and "upload it again" in text
    assert shown_to_first["inbox_name"] not in page.text and "q1 first" not in page.text
    assert "Processed as of" not in page.text and 'class="counts"' not in page.text
    assert "Download" not in page.text
    listing = bob.get("/submissions").text
    assert "already submitted by another account" in listing and "q1 first" not in listing
    for document in ("results.xlsx", "results.csv"):
        assert bob.get(f"{bob_submission}/{document}").status_code == 404

    with portal.api(stranger) as api:
        shown = json_of(api.get(f"/api/v1/submissions/{stranger_submission}"))
        assert shown["state"] == "already-processed" and shown["submitted_by_another_account"] is True
        assert shown["counts"] == {} and shown["as_of"] is None and shown["downloads"] == []
        assert shown["reason"] == BY_ANOTHER_ACCOUNT
        assert shown_to_first["inbox_name"] not in api.get("/api/v1/submissions").text
        assert api.get(f"/api/v1/submissions/{stranger_submission}/results.csv").status_code == 404


def test_the_same_account_submitting_its_bytes_again_sees_its_first_submission_named(portal: PortalServer,
                                                                                    tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "again.xlsx", [row(ssn="456-78-9012", last_name="Again")]).read_bytes()
    credentials = portal.add("again@acme.example")
    browser = portal.browser()
    browser.sign_in(credentials)
    first = submit_in_browser(browser, "march.xlsx", data)
    second = submit_in_browser(browser, "march copy.xlsx", data)
    run_intake(portal.inbox, portal.outbox)
    # Submitted within one second, either may be taken first: the other names it.
    pages = {name: " ".join(browser.get(url).text.split()) for name, url in (("march.xlsx", first),
                                                                              ("march copy.xlsx", second))}
    named = [(name, other) for (name, page), other in zip(pages.items(), reversed(pages), strict=True)
             if f"the same bytes as your submission of {other} on " in page]
    assert len(named) == 1, pages
    assert not any("already submitted by another account" in page for page in pages.values())
    assert browser.get(f"{second}/results.csv").status_code == 200


def test_before_submit_the_pre_check_says_the_same_bytes_were_already_submitted(portal: PortalServer,
                                                                               tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "before.xlsx", [row(ssn="567-89-0123", last_name="Before")]).read_bytes()
    owner, colleague = portal.add("owner@acme.example"), portal.add("peer@acme.example")
    browser = portal.browser()
    browser.sign_in(owner)
    first = submit_in_browser(browser, "before.xlsx", data)
    again = browser.upload("before (2).xlsx", data)
    page = " ".join(browser.checked(again.headers["location"]).text.split())
    assert "You already submitted this same file" in page
    assert f'href="{first}"' in page and "Submitting it again changes nothing" in page

    peer = portal.browser()
    peer.sign_in(colleague)
    theirs = peer.upload("before.xlsx", data)
    page = " ".join(peer.checked(theirs.headers["location"]).text.split())
    assert "was already submitted by another account" in page and "ask them for the results" in page
    assert first.rsplit("/", 1)[1] not in page
    with portal.api(colleague) as api:
        started = json_of(api.post("/api/v1/uploads", params={"filename": "before.xlsx"}, content=data))
        shown = json_of(api.get(f"/api/v1/uploads/{started['upload_id']}"))
        assert shown["submitted_by_another_account"] is True and shown["earlier_submission_id"] is None
    with portal.api(owner) as api:
        started = json_of(api.post("/api/v1/uploads", params={"filename": "before.xlsx"}, content=data))
        shown = json_of(api.get(f"/api/v1/uploads/{started['upload_id']}"))
        assert shown["earlier_submission_id"] == first.rsplit("/", 1)[1]
        assert shown["submitted_by_another_account"] is False
