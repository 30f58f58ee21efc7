"""The specialists' queue in the portal, through a real `coc portal` on 127.0.0.1 over an outbox the real intake
wrote: the queue oldest first, filtered and paged; one request with its reasons, rules and the worker's other
requests; decisions by form and by API, audited and e-mailed once (a real SMTP server); the employer seeing them on
its own submission only; roles kept out (403); HTML in a note shown as text; and no full SSN where none may be."""

from __future__ import annotations

import datetime as dt
import html
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_referrals import write_batch
from coc_intake.outbox import Outbox
from coc_intake.portal.accounts import Credentials
from coc_intake.referrals import Filters, Queue
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.conftest import SmtpServer
from tests.intake_helpers import full_ssns_in, run_intake
from tests.portal_helpers import Browser, PortalServer, audit_text, json_of, start_portal
from tests.test_referrals import LONG_END, SSNS, build_outbox

TODAY = dt.date.today()
HTML_NOTE = "Checked with the agreement's office: <b>html</b> & <script>alert(1)</script>"
#: The employer's own workbook, filed through the portal: one approved row, one referred (over Germany's limit).
FILED = [row(ssn="234-56-7801", last_name="Kept"),
         row(ssn="234-56-7802", last_name="Farr", assignment_end=LONG_END)]
ALL_SSNS = [*SSNS, *(r["ssn"] for r in FILED)]
#: Pages fetched by the tests, checked at the end for full SSNs (the request page excepted).
PAGES: list[str] = []


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, module_smtp: SmtpServer) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("queue-portal")
    build_outbox(root)
    yield from start_portal(root, module_smtp.box.env())


@pytest.fixture(scope="module")
def people(portal: PortalServer) -> dict[str, Credentials]:
    return {"specialist": portal.add("ann@ssa.example", "specialist"),
            "acme": portal.add("payroll@acme.example"),
            "beta": portal.add("hr@beta.example", eins=("98-7654321",)),
            "analyst": portal.add("ana@ssa.example", "analyst"),
            "solo": portal.add("solo@self.example", "self-employed", ssn="345-67-8901")}


def signed_in(portal: PortalServer, who: Credentials) -> Browser:
    browser = portal.browser()
    assert browser.sign_in(who).status_code == 303
    return browser


def kept(text: str) -> str:
    PAGES.append(text)
    return text


def waiting(portal: PortalServer) -> list[str]:
    """The request IDs of the queue, as the library lists them."""
    shown, _ = Queue.load(portal.outbox_store()).select(Filters(), TODAY)
    return [r.request_id for r in shown]


def rid_of(portal: PortalServer, last_name: str) -> str:
    shown, _ = Queue.load(portal.outbox_store()).select(Filters(include_decided=True), TODAY)
    return next(r.request_id for r in shown if r.worker.startswith(last_name))


def ids_on(page: str) -> list[str]:
    return re.findall(r'<a href="/referrals/(COC-[A-Z0-9-]+)">', page)


def test_a_specialist_lands_on_the_queue_oldest_first_with_masked_ssns(portal: PortalServer,
                                                                       people: dict[str, Credentials]) -> None:
    ann = signed_in(portal, people["specialist"])
    assert ann.get("/").headers["location"] == "/referrals"
    page = ann.get("/referrals")
    assert page.status_code == 200
    kept(page.text)
    expected = waiting(portal)
    assert len(expected) == 4
    assert ids_on(page.text) == expected
    assert ids_on(page.text)[0] == rid_of(portal, "Early")
    assert "4 referrals waiting, oldest first" in page.text
    assert "***-**-6791" in page.text
    assert full_ssns_in(page.text, SSNS) == []


@pytest.mark.parametrize(("query", "who"), [
    ("reason=self-employed-review", ["Solo"]),
    ("host=at", ["Solo"]),
    ("employer=987654321", ["Other"]),
    ("older_than=10", ["Early"]),
    ("reason=exceeds-detachment-limit&host=DE&employer=12-3456789", ["Early", "Long"]),
])
def test_the_queue_filters_by_reason_host_employer_and_age(portal: PortalServer, people: dict[str, Credentials],
                                                           query: str, who: list[str]) -> None:
    ann = signed_in(portal, people["specialist"])
    page = ann.get(f"/referrals?{query}")
    assert page.status_code == 200
    assert ids_on(kept(page.text)) == [rid_of(portal, name) for name in who]


@pytest.mark.parametrize(("query", "says"), [
    ("reason=not-a-reason", "is not a referral reason"),
    ("host=Germany", "is not a country code"),
    ("employer=12", "is not an EIN"),
    ("older_than=-3", "is not a number of days"),
])
def test_a_filter_that_cannot_be_understood_says_how_to_give_it(portal: PortalServer,
                                                                people: dict[str, Credentials], query: str,
                                                                says: str) -> None:
    page = signed_in(portal, people["specialist"]).get(f"/referrals?{query}")
    assert page.status_code == 400
    assert says in html.unescape(page.text)


def test_the_request_page_shows_the_full_ssn_reasons_rules_and_the_workers_other_requests(
        portal: PortalServer, people: dict[str, Credentials]) -> None:
    ann = signed_in(portal, people["specialist"])
    rid = rid_of(portal, "Long")
    page = ann.get(f"/referrals/{rid}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "123-45-6790" in text  # the one page with the full SSN
    assert "exceeds-detachment-limit" in text
    assert "Agreement with Germany: a worker sent there stays U.S.-covered for at most 60 months" in text
    earlier = text[text.index("The worker's other requests"):text.index("<h2>Decisions")]
    assert "approved" in earlier and "FR" in earlier  # Long's request to France, in the first batch
    assert "No decision yet." in text
    assert 'name="csrf_token"' in page.text and 'action="/referrals/' in page.text


@pytest.mark.parametrize("path", ["/referrals/COC-DE-AAAAAAAAAA", "/referrals/not-an-id"])
def test_a_request_id_that_is_not_referred_is_404(portal: PortalServer, people: dict[str, Credentials],
                                                  path: str) -> None:
    ann = signed_in(portal, people["specialist"])
    assert ann.get(path).status_code == 404
    assert ann.post(f"{path}/decision", decision="approved", note="x").status_code == 404


@pytest.mark.parametrize("role", ["acme", "solo", "analyst"])
def test_other_roles_get_403_on_the_queue_the_request_and_the_decision(portal: PortalServer,
                                                                       people: dict[str, Credentials],
                                                                       role: str) -> None:
    rid = waiting(portal)[0]
    someone = signed_in(portal, people[role])
    assert someone.get("/referrals").status_code == 403
    assert someone.get(f"/referrals/{rid}").status_code == 403
    assert someone.get("/referrals/COC-DE-AAAAAAAAAA").status_code == 403
    assert someone.post(f"/referrals/{rid}/decision", decision="approved", note="mine").status_code == 403
    with portal.api(people[role]) as api:
        assert api.get("/api/v1/referrals").status_code == 403
        assert api.get(f"/api/v1/referrals/{rid}").status_code == 403
        assert api.post(f"/api/v1/referrals/{rid}/decisions",
                        json={"decision": "approved", "note": "mine"}).status_code == 403
    assert not (portal.outbox / "decisions").exists() or not any((portal.outbox / "decisions").rglob("*.json"))


def test_the_api_needs_a_token(portal: PortalServer) -> None:
    with portal.browser().client as anonymous:
        assert anonymous.get("/api/v1/referrals").status_code == 401
    assert portal.browser().get("/referrals").headers["location"] == "/sign-in"


def test_a_decision_needs_the_forms_csrf_token_a_choice_and_a_note(portal: PortalServer,
                                                                   people: dict[str, Credentials]) -> None:
    ann = signed_in(portal, people["specialist"])
    rid = rid_of(portal, "Solo")
    ann.get(f"/referrals/{rid}")
    assert ann.post(f"/referrals/{rid}/decision", csrf=False, decision="approved", note="ok").status_code == 403
    blank = ann.post(f"/referrals/{rid}/decision", decision="approved", note="   ")
    assert blank.status_code == 400 and "Write a note" in blank.text
    neither = ann.post(f"/referrals/{rid}/decision", decision="maybe", note="ok")
    assert neither.status_code == 400 and "Choose approved or denied" in neither.text
    assert not (portal.outbox / "decisions" / rid).exists()


def test_a_decision_is_recorded_audited_and_its_html_note_shown_as_text(portal: PortalServer,
                                                                        people: dict[str, Credentials]) -> None:
    ann = signed_in(portal, people["specialist"])
    rid = rid_of(portal, "Solo")
    ann.get(f"/referrals/{rid}")
    done = ann.post(f"/referrals/{rid}/decision", decision="approved", note=HTML_NOTE)
    assert done.status_code == 303 and done.headers["location"] == f"/referrals/{rid}?decided=1"
    page = ann.get(done.headers["location"]).text
    assert "Decision 1 recorded: approved." in page
    assert "&lt;b&gt;html&lt;/b&gt;" in page and "&lt;script&gt;" in page
    assert "<b>html</b>" not in page and "<script>" not in page
    record = portal.outbox_store().decisions(rid)
    assert [(d["n"], d["decision"], d["by"], d["note"]) for d in record] == [
        (1, "approved", "ann@ssa.example", HTML_NOTE)]
    audit = [r for r in portal.outbox_store().audit_records() if r["action"] == "decision"]
    assert [(r["who"], r["subject"], r["decision"], r["n"]) for r in audit] == [
        ("ann@ssa.example", rid, "approved", 1)]
    assert rid not in waiting(portal)
    decided = ann.get("/referrals?decided=1").text
    assert rid in ids_on(decided) and "state-approved" in decided


def test_the_api_lists_pages_shows_and_decides(portal: PortalServer, people: dict[str, Credentials]) -> None:
    expected = waiting(portal)
    with portal.api(people["specialist"]) as api:
        first = json_of(api.get("/api/v1/referrals", params={"limit": 2}))
        second = json_of(api.get("/api/v1/referrals", params={"limit": 2, "offset": 2}))
        assert first["total"] == second["total"] == len(expected)
        assert [r["request_id"] for r in first["referrals"] + second["referrals"]] == expected
        assert full_ssns_in(str(first) + str(second), SSNS) == []
        filtered = json_of(api.get("/api/v1/referrals", params={"employer": "98-7654321"}))
        assert [r["request_id"] for r in filtered["referrals"]] == [rid_of(portal, "Other")]
        bad = api.get("/api/v1/referrals", params={"host": "Germany"})
        assert bad.status_code == 400 and json_of(bad)["code"] == "bad-filter"

        rid = rid_of(portal, "Other")
        one = json_of(api.get(f"/api/v1/referrals/{rid}"))
        assert one["document"]["worker"]["ssn"] == "123-45-6792"
        assert one["reasons"][0]["code"] == "exceeds-detachment-limit" and "60 months" in one["reasons"][0]["rule"]
        assert api.get("/api/v1/referrals/COC-DE-AAAAAAAAAA").status_code == 404

        assert api.post(f"/api/v1/referrals/{rid}/decisions",
                        json={"decision": "maybe", "note": "x"}).status_code == 422
        assert api.post(f"/api/v1/referrals/{rid}/decisions",
                        json={"decision": "denied", "note": ""}).status_code == 422
        made = api.post(f"/api/v1/referrals/{rid}/decisions", json={"decision": "denied", "note": "Over 5 years."})
        assert made.status_code == 201
        assert {k: json_of(made)[k] for k in ("n", "decision", "by", "mail")} == {
            "n": 1, "decision": "denied", "by": "ann@ssa.example", "mail": "sent"}
        again = json_of(api.get("/api/v1/referrals", params={"include_decided": "true", "employer": "98-7654321"}))
        assert again["referrals"][0]["latest_decision"] == "denied"
        schema = json_of(api.get("/openapi.json"))
    assert {"/api/v1/referrals", "/api/v1/referrals/{request_id}",
            "/api/v1/referrals/{request_id}/decisions"} <= set(schema["paths"])
    assert "DecisionIn" in schema["components"]["schemas"]


def _decision_messages(module_smtp: SmtpServer, rid: str) -> list[Any]:
    return [m for m in module_smtp.box.messages if rid in str(m["Subject"])]


def test_the_employer_sees_the_decision_on_its_submission_and_gets_one_email(
        portal: PortalServer, people: dict[str, Credentials], module_smtp: SmtpServer, tmp_path: Path) -> None:
    acme = signed_in(portal, people["acme"])
    uploaded = acme.upload("acme-census.xlsx", write_xlsx(tmp_path / "acme-census.xlsx", FILED).read_bytes())
    acme.checked(uploaded.headers["location"])
    submission = acme.post(f"{uploaded.headers['location']}/submit").headers["location"]
    run_intake(portal.inbox, portal.outbox)
    before = kept(acme.get(submission).text)
    rid = rid_of(portal, "Farr")
    assert rid in before and "state-waiting" in before

    ann = signed_in(portal, people["specialist"])
    ann.get(f"/referrals/{rid}")
    note = f"{HTML_NOTE} (worker 234-56-7802)"
    assert ann.post(f"/referrals/{rid}/decision", decision="denied", note=note).status_code == 303

    page = kept(acme.get(submission).text)
    assert "state-denied" in page
    assert "&lt;b&gt;html&lt;/b&gt;" in page and "<b>html</b>" not in page and "<script>" not in page
    assert "***-**-7802" in page and full_ssns_in(page, ALL_SSNS) == []
    submission_id = submission.rsplit("/", 1)[1]
    with portal.api(people["acme"]) as api:
        doc = json_of(api.get(f"/api/v1/submissions/{submission_id}"))
    assert [(r["request_id"], r["decision"], r["ssn"]) for r in doc["referred"]] == [(rid, "denied", "***-**-7802")]
    assert doc["referred"][0]["note"].endswith("(worker ***-**-7802)")

    beta = signed_in(portal, people["beta"])
    assert beta.get(submission).status_code == 404
    with portal.api(people["beta"]) as api:
        assert api.get(f"/api/v1/submissions/{submission_id}").status_code == 404

    messages = _decision_messages(module_smtp, rid)
    assert len(messages) == 1
    assert messages[0]["To"] == "hr@acme.example" and "denied" in str(messages[0]["Subject"])
    body = messages[0].get_body(("plain",)).get_content()
    assert "***-**-7802" in body and full_ssns_in(body, ALL_SSNS) == []
    assert portal.outbox_store().sent_ids()  # the ledger holds it: a later run does not send it again
    run_intake(portal.inbox, portal.outbox)
    assert len(_decision_messages(module_smtp, rid)) == 1


def test_no_full_ssn_in_the_pages_the_decisions_listing_the_audit_log_or_the_server_log(
        portal: PortalServer) -> None:
    assert PAGES
    for page in PAGES:
        assert full_ssns_in(page, ALL_SSNS) == []
    listing = " ".join(LocalStore(portal.outbox).list("decisions/", recursive=True))
    assert listing.count(".json") >= 3
    assert full_ssns_in(listing, ALL_SSNS) == []
    assert "decision" in audit_text(portal)
    assert full_ssns_in(audit_text(portal), ALL_SSNS) == []
    assert full_ssns_in(portal.server_log(), ALL_SSNS) == []


def test_the_queue_pages_through_many_referrals(tmp_path: Path) -> None:
    outbox = Outbox(LocalStore(tmp_path / "outbox"))
    rng = random.Random(3)
    for b in range(3):
        write_batch(outbox, rng, b, 40, TODAY - dt.timedelta(days=30 - b))
    order = [r.request_id for r in Queue.load(outbox).select(Filters(), TODAY)[0]]
    assert len(order) == 120
    for server in start_portal(tmp_path):
        ann = signed_in(server, server.add("ann@ssa.example", "specialist"))
        first = ann.get("/referrals").text
        assert "120 referrals waiting, oldest first; 1 to 50 shown." in first and "page 1 of 3" in first
        pages = [ids_on(first), ids_on(ann.get("/referrals?page=2").text), ids_on(ann.get("/referrals?page=3").text)]
        assert [len(p) for p in pages] == [50, 50, 20]
        assert [rid for p in pages for rid in p] == order
        assert 'href="/referrals?page=2" rel="next"' in first
        assert ids_on(ann.get("/referrals?page=99").text) == []
