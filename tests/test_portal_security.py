"""The portal's security through a real server (`coc portal` on 127.0.0.1): own submissions only, CSRF tokens,
signed expiring sessions, the sign-in limit, bounded and hostile uploads kept out of the inbox, the authorization
of rows by EIN, and no full SSN in the audit log, the server log or a page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from coc_intake.portal.sessions import COOKIE
from tests.builders import row, write_xlsx
from tests.intake_helpers import full_ssns_in, run_intake
from tests.portal_helpers import SECRET, PortalServer, audit_text, inbox_files, json_of, start_portal
from tests.test_hostile_reading import VBA, VBA_TYPE, parts, sheet_xml, template_rows, zipped

MAX_BYTES = 200_000
SSNS = ("123-45-6789", "234-56-7890")
#: Pages fetched by the tests, checked at the end for full SSNs.
PAGES: list[str] = []


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal"), {"COC_MAX_BYTES": str(MAX_BYTES)})


def workbook(tmp_path: Path, name: str = "staff.xlsx", **overrides: str) -> bytes:
    rows = [row(ssn=SSNS[0], **overrides), row(ssn=SSNS[1], last_name="Doe", **overrides)]
    return write_xlsx(tmp_path / name, rows).read_bytes()


def kept(response: httpx.Response) -> httpx.Response:
    PAGES.append(response.text if "text" in response.headers.get("content-type", "") else "")
    return response


def test_employer_b_gets_404_for_everything_of_employer_a_in_pages_and_api(portal: PortalServer,
                                                                          tmp_path: Path) -> None:
    a, b = portal.add("a@acme.example"), portal.add("b@other.example", eins=("98-7654321",))
    alice = portal.browser()
    alice.sign_in(a)
    uploaded = alice.upload("alice.xlsx", workbook(tmp_path, "alice.xlsx"))
    assert uploaded.status_code == 303
    upload_page = uploaded.headers["location"]
    kept(alice.checked(upload_page))
    submitted = alice.post(f"{upload_page}/submit")
    assert submitted.status_code == 303
    submission = submitted.headers["location"]
    run_intake(portal.inbox, portal.outbox)
    assert alice.get(f"{submission}/results.csv").status_code == 200

    bob = portal.browser()
    bob.sign_in(b)
    upload_id, submission_id = upload_page.rsplit("/", 1)[1], submission.rsplit("/", 1)[1]
    guesses = [upload_page, f"{upload_page}/marked.xlsx", submission, f"{submission}/results.xlsx",
               f"{submission}/results.csv", f"{submission}/manifest.json", f"{submission}/..%2F..%2Fmanifest.json",
               f"/submissions/{submission_id.upper()}", f"/uploads/x/../../submissions/{submission_id}"]
    for path in guesses:
        assert kept(bob.get(path)).status_code == 404, path
    assert submission_id not in kept(bob.get("/submissions")).text
    assert bob.post(f"{upload_page}/submit").status_code == 404

    with portal.api(b) as api:
        for path in (f"/api/v1/uploads/{upload_id}", f"/api/v1/uploads/{upload_id}/marked.xlsx",
                     f"/api/v1/submissions/{submission_id}", f"/api/v1/submissions/{submission_id}/results.csv"):
            assert api.get(path).status_code == 404, path
        assert api.post(f"/api/v1/uploads/{upload_id}/submit").status_code == 404
        assert json_of(api.get("/api/v1/submissions")) == []


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(portal: PortalServer,
                                                                         tmp_path: Path) -> None:
    credentials = portal.add("csrf@acme.example")
    browser = portal.browser()
    browser.get("/sign-in")
    refused = browser.post("/sign-in", csrf=False, email=credentials.email, password=credentials.password)
    assert refused.status_code == 403
    assert browser.post("/sign-in", email=credentials.email, password=credentials.password).status_code == 303
    before = inbox_files(portal)
    assert kept(browser.upload("nocsrf.xlsx", workbook(tmp_path), csrf=False)).status_code == 403
    uploaded = browser.upload("csrf.xlsx", workbook(tmp_path))
    browser.checked(uploaded.headers["location"])
    assert browser.post(f"{uploaded.headers['location']}/submit", csrf=False).status_code == 403
    assert browser.post(f"{uploaded.headers['location']}/submit", csrf_token="forged").status_code == 403
    assert inbox_files(portal) == before
    assert browser.post("/sign-out", csrf=False).status_code == 403
    assert browser.get("/submissions").status_code == 200  # still signed in


def test_a_tampered_expired_or_foreign_session_cookie_is_no_session(portal: PortalServer) -> None:
    credentials = portal.add("cookie@acme.example")
    browser = portal.browser()
    browser.sign_in(credentials)
    assert browser.get("/submissions").status_code == 200
    cookie = browser.client.cookies[COOKIE]
    account_id = _account_id(portal, credentials.email)
    payload, stamp, signature = cookie.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    serializer = URLSafeTimedSerializer(SECRET, salt="coc-portal-session")
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 2 * 3600):
        expired = serializer.dumps([account_id, 1, "x"])
    foreign = URLSafeTimedSerializer("another-key", salt="coc-portal-session").dumps([account_id, 1, "x"])
    for value in (f"{payload}.{stamp}.{flipped}", expired, foreign, "garbage"):
        stranger = httpx.Client(base_url=portal.url, cookies={COOKIE: value})
        response = stranger.get("/submissions")
        assert response.status_code == 303 and response.headers["location"] == "/sign-in", value
    fresh = serializer.dumps([account_id, 1, "x"])  # the same forging, signed now: it is the signature that counts
    assert httpx.Client(base_url=portal.url, cookies={COOKIE: fresh}).get("/submissions").status_code == 200
    portal.accounts.reset(credentials.email)  # a reset ends the sessions signed before it
    assert httpx.Client(base_url=portal.url, cookies={COOKIE: fresh}).get("/submissions").status_code == 303


def _account_id(portal: PortalServer, email: str) -> int:
    return next(a.id for a in portal.accounts.all() if a.email == email)


def test_three_failed_sign_ins_lock_the_account_even_for_the_right_password(portal: PortalServer) -> None:
    credentials = portal.add("lock@acme.example")
    browser = portal.browser()
    for _ in range(2):
        assert browser.sign_in(credentials, password="wrong").status_code == 401
    locked = kept(browser.sign_in(credentials, password="wrong"))
    assert locked.status_code == 429 and "locked" in locked.text
    assert browser.sign_in(credentials).status_code == 429
    assert browser.get("/submissions").status_code == 303
    assert audit_text(portal).count('"sign-in-failed"') >= 4


def test_an_upload_over_the_size_bound_is_refused_while_streaming_and_nothing_is_kept(portal: PortalServer) -> None:
    credentials = portal.add("big@acme.example")
    browser = portal.browser()
    browser.sign_in(credentials)
    before = inbox_files(portal)
    uploads_before = set((portal.root / "state" / "uploads").iterdir())
    refused = kept(browser.upload("big.xlsx", b"x" * (MAX_BYTES + 100_000)))
    assert refused.status_code == 413 and "file-too-large" in refused.text
    with portal.api(credentials) as api:
        answer = api.post("/api/v1/uploads", params={"filename": "big.xlsx"}, content=b"x" * (MAX_BYTES + 1))
        assert answer.status_code == 413 and json_of(answer)["code"] == "file-too-large"
    assert inbox_files(portal) == before
    assert set((portal.root / "state" / "uploads").iterdir()) == uploads_before


ZIP_BOMB = zipped(parts(sheet_xml(template_rows() + " " * 30_000_000)))
MACROS = zipped(parts(sheet_xml(template_rows()), overrides={"/xl/vbaProject.bin": VBA_TYPE},
                      extra={"xl/vbaProject.bin": VBA}))


@pytest.mark.parametrize(("name", "data", "code"), [
    ("bomb.xlsx", ZIP_BOMB, "file-too-large"),
    ("macros.xlsx", MACROS, "unsupported-format"),
    ("macros.xlsm", MACROS, "unsupported-format"),
], ids=["zip-bomb", "vba-part", "xlsm"])
def test_a_hostile_file_is_rejected_whole_by_the_pre_check_and_cannot_be_submitted(
        portal: PortalServer, name: str, data: bytes, code: str) -> None:
    assert len(data) < MAX_BYTES
    credentials = portal.add(f"hostile-{name}@acme.example")
    browser = portal.browser()
    browser.sign_in(credentials)
    before = inbox_files(portal)
    uploaded = browser.upload(name, data)
    page = kept(browser.checked(uploaded.headers["location"]))
    assert "The whole file is rejected" in page.text and code in page.text
    refused = kept(browser.post(f"{uploaded.headers['location']}/submit"))
    assert refused.status_code == 422 and code in refused.text
    with portal.api(credentials) as api:
        started = json_of(api.post("/api/v1/uploads", params={"filename": name}, content=data))
        checked = _poll(api, started["upload_id"])
        assert checked["status"] == "rejected-file" and code in {c["code"] for c in checked["by_code"]}
        answer = api.post(f"/api/v1/uploads/{started['upload_id']}/submit")
        assert answer.status_code == 422 and json_of(answer)["code"] == code
    assert inbox_files(portal) == before


def _poll(api: httpx.Client, upload_id: str) -> dict[str, object]:
    for _ in range(600):
        found: dict[str, object] = json_of(api.get(f"/api/v1/uploads/{upload_id}"))
        if found["state"] != "checking":
            return found
        time.sleep(0.2)
    raise AssertionError("the pre-check did not finish")


def test_rows_of_another_employers_ein_are_rejected_not_authorized_at_pre_check_and_at_intake(
        portal: PortalServer, tmp_path: Path) -> None:
    credentials = portal.add("ein@acme.example", eins=("12-3456789",))
    with portal.api(credentials) as api:
        data = write_xlsx(tmp_path / "mixed.xlsx", [row(ssn=SSNS[0]), row(ssn=SSNS[1], employer_ein="98-7654321",
                                                                          last_name="Other")]).read_bytes()
        started = json_of(api.post("/api/v1/uploads", params={"filename": "mixed.xlsx"}, content=data))
        checked = _poll(api, started["upload_id"])
        assert checked["counts"]["rejected"] == 1  # type: ignore[index]
        flagged = [f for f in checked["findings"] if f["code"] == "not-authorized-for-employer"]  # type: ignore[attr-defined]
        assert [f["row"] for f in flagged] == [3]
        submitted = json_of(api.post(f"/api/v1/uploads/{started['upload_id']}/submit"))
        run_intake(portal.inbox, portal.outbox)
        done = json_of(api.get(f"/api/v1/submissions/{submitted['submission_id']}"))
        assert done["state"] == "processed" and done["counts"]["rejected"] == 1
        errors = api.get(f"/api/v1/submissions/{submitted['submission_id']}/results.csv").text
        assert "not-authorized-for-employer" in errors


def test_no_full_ssn_in_the_audit_log_the_server_log_or_any_page(portal: PortalServer, tmp_path: Path) -> None:
    credentials = portal.add("ssn@acme.example")
    browser = portal.browser()
    browser.sign_in(credentials, password="123-45-6789")  # a failed sign-in whose password is an SSN
    browser.sign_in(credentials)
    data = workbook(tmp_path, "api.xlsx")
    uploaded = browser.upload(f"{SSNS[0]} payroll.xlsx", workbook(tmp_path, employer_zip="123456789"))
    kept(browser.checked(uploaded.headers["location"]))
    submission = browser.post(f"{uploaded.headers['location']}/submit").headers["location"]
    kept(browser.get(submission))
    kept(browser.get("/submissions"))
    kept(browser.get("/"))
    with portal.api(credentials) as api:
        started = api.post("/api/v1/uploads", params={"filename": f"{SSNS[1]}.xlsx"}, content=data)
        PAGES.append(started.text)
        PAGES.append(str(_poll(api, json_of(started)["upload_id"])))
        PAGES.append(api.get("/api/v1/submissions").text)
    run_intake(portal.inbox, portal.outbox)
    kept(browser.get("/submissions"))
    assert full_ssns_in(audit_text(portal), SSNS) == []
    assert full_ssns_in(portal.server_log(), SSNS) == []
    assert full_ssns_in("\n".join(PAGES), SSNS) == []
    assert '"upload"' in audit_text(portal) and '"submit"' in audit_text(portal)
    assert "***-**-6789" in audit_text(portal)
