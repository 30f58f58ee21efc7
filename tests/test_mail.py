"""The outcome e-mail of a batch, against a real SMTP server (docs/outputs.md#confirmation-e-mails,
docs/outputs.md#confidentiality).

The batch is made by the plain functions (``coc_intake.batch.process_file`` over a ``LocalStore``), so no Prefect is
needed; delivery is ``coc_intake.mail.deliver``. The aiosmtpd server of ``conftest.smtp_server`` records every
message it accepts; it can be stopped and started again on the same port.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from coc_intake import batch as batches
from coc_intake import mail
from coc_intake.engine import check_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import AS_OF, row, write_xlsx
from tests.conftest import SmtpServer

DAY = dt.date.fromisoformat(AS_OF)
HR, OTHER = "hr@acme.example", "travel@acme.example"

#: Sheet row (header is row 1) → the row. Approved, referred and rejected rows, with and without a contact address.
ROWS = {
    2: row(first_name="Jane", last_name="Smith", ssn="123-45-6789", host_country="DE", contact_email=HR),
    3: row(first_name="Zoë", last_name="Côté", ssn="234-56-7891", host_country="JP", health_insurance="Y",
           assignment_start=dt.date(2027, 2, 1), assignment_end=dt.date(2028, 1, 31), contact_email=HR),
    4: row(first_name="Omar", last_name="Haddad", ssn="345-67-8912", host_country="CH",
           assignment_start=dt.date(2027, 3, 1), assignment_end=dt.date(2029, 2, 28), contact_email=OTHER),
    # referred: longer than the 60-month detachment limit
    5: row(first_name="Referred", last_name="Person", ssn="456-78-9123", host_country="DE",
           assignment_start=dt.date(2027, 1, 1), assignment_end=dt.date(2033, 12, 31), contact_email=HR),
    # rejected: no agreement with Mexico
    6: row(first_name="Rejected", last_name="Person", ssn="567-89-1234", host_country="MX", contact_email=HR),
    # approved, but nobody asked for a confirmation
    7: row(first_name="Silent", last_name="Worker", ssn="678-90-1235", host_country="AT", contact_email=None),
}
FULL_SSNS = [r["ssn"] for r in ROWS.values()]


def ssn_forms(ssn: str) -> list[str]:
    d = re.sub(r"\D", "", ssn)
    return [f"{d[:3]}-{d[3:5]}-{d[5:]}", d, f"{d[:3]} {d[3:5]} {d[5:]}"]


def assert_no_full_ssn(text: str) -> None:
    for ssn in FULL_SSNS:
        for form in ssn_forms(ssn):
            assert form not in text, f"full SSN {form} found"


class Batch:
    """A committed batch made from ROWS (or other rows) in a fresh inbox/outbox."""

    def __init__(self, root: Path, settings: Settings, rows: dict[int, dict[str, Any]] | None = None,
                 name: str = "assignments.xlsx", data: bytes | None = None) -> None:
        self.inbox_dir, self.outbox_dir = root / "inbox", root / "outbox"
        self.inbox_dir.mkdir(parents=True)
        self.rows = ROWS if rows is None else rows
        if data is None:
            write_xlsx(self.inbox_dir / name, list(self.rows.values()))
        else:
            (self.inbox_dir / name).write_bytes(data)
        self.inbox, self.outbox = LocalStore(self.inbox_dir), LocalStore(self.outbox_dir)
        self.summary = batches.process_file(self.inbox, Outbox(self.outbox), name, DAY, settings, KnownRequests())
        assert self.summary.result == "processed"
        self.batch_id = self.summary.batch_id
        results = self.outbox.read(f"batches/{self.batch_id}/results.csv").decode()
        self.results = {int(r["row"]): r for r in csv.DictReader(io.StringIO(results))}

    def status(self, sheet_row: int) -> str:
        return self.results[sheet_row]["status"]

    def request_id(self, sheet_row: int) -> str:
        return self.results[sheet_row]["request_id"]

    def queued(self) -> list[str]:
        return self.outbox.list("mail/queue/")

    def manifest(self) -> Path:
        return self.outbox_dir / "batches" / self.batch_id / "manifest.json"

    def ledger(self) -> list[str]:
        return self.outbox.list("mail/sent/")


def smtp_settings(server: SmtpServer) -> Settings:
    return Settings.from_env(server.box.env())


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    assert part is not None, "the message has no text body"
    return str(part.get_content())


def by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for m in messages:
        to = str(m["To"])
        assert to not in found, f"two messages to {to}"
        found[to] = m
    return found


def entry(body: str, request_id: str, all_ids: list[str]) -> str:
    """The part of the body about one request: from its ID to the next request ID (or the end)."""
    start = body.index(request_id)
    ends = [body.find(other, start + 1) for other in all_ids if other != request_id]
    ends = [e for e in ends if e > start]
    return body[start:min(ends) if ends else len(body)]


# --------------------------------------------------------------------------------------------------------------------


def test_the_sample_rows_have_the_statuses_the_mail_tests_rely_on(tmp_path: Path) -> None:
    batch = Batch(tmp_path, Settings())
    assert {r: batch.status(r) for r in ROWS} == {
        2: "approved", 3: "approved", 4: "approved", 5: "referred", 6: "rejected", 7: "approved"}


def test_one_message_per_contact_address_listing_its_approved_and_referred_requests(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    result = mail.deliver(Outbox(batch.outbox), settings)

    assert result.sent == 2 and result.failed == 0 and not result.errors
    got = by_recipient(smtp_server.box.messages)
    assert set(got) == {HR, OTHER}
    assert all(str(m["From"]) == "intake@ssa.example" for m in got.values())

    approved_ids = [batch.request_id(r) for r in (2, 3, 4, 5, 7)]
    expected = {HR: [2, 3, 5], OTHER: [4]}
    for address, sheet_rows in expected.items():
        body = body_of(got[address])
        listed = set(re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body))
        assert listed == {batch.request_id(r) for r in sheet_rows}, address
        for r in sheet_rows:
            src = ROWS[r]
            text = entry(body, batch.request_id(r), approved_ids)
            assert src["first_name"] in text and src["last_name"] in text
            assert "***-**-" + src["ssn"][-4:] in text
            assert src["assignment_start"].isoformat() in text and src["assignment_end"].isoformat() in text
        assert_no_full_ssn(got[address].as_string())


def test_the_confirmation_names_the_host_country_of_each_request(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    mail.deliver(Outbox(batch.outbox), settings)
    got = by_recipient(smtp_server.box.messages)
    ids = [batch.request_id(r) for r in (2, 3, 4)]
    ids.append(batch.request_id(5))
    countries = {2: ("Germany", "DE"), 3: ("Japan", "JP"), 4: ("Switzerland", "CH"), 5: ("Germany", "DE")}
    for address, sheet_rows in {HR: [2, 3, 5], OTHER: [4]}.items():
        body = body_of(got[address])
        for r in sheet_rows:
            text = entry(body, batch.request_id(r), ids)
            name, code = countries[r]
            assert name in text or re.search(rf"\b{code}\b", text.replace(batch.request_id(r), "")), text


def test_rejected_and_addressless_rows_are_not_listed_in_any_message(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    mail.deliver(Outbox(batch.outbox), settings)
    everything = "\n".join(body_of(m) + m.as_string() for m in smtp_server.box.messages)
    for r in (6, 7):
        assert ROWS[r]["first_name"] not in everything
        assert ROWS[r]["ssn"][-4:] not in everything
    assert batch.request_id(7) and batch.request_id(7) not in everything


def test_confirmations_carry_no_full_ssn_and_no_attachment(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    mail.deliver(Outbox(batch.outbox), settings)
    assert len(smtp_server.box.messages) == 2
    for msg in smtp_server.box.messages:
        assert msg.get_content_type() != "multipart/mixed"
        assert list(msg.iter_attachments()) == []
        assert not any(part.get_filename() for part in msg.walk())
        assert all(part.get_content_maintype() in ("text", "multipart") for part in msg.walk())
        assert_no_full_ssn(msg.as_string())
        assert_no_full_ssn(body_of(msg))


def test_a_batch_whose_approved_rows_have_no_contact_address_sends_nothing(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    rows = {2: row(contact_email=None), 3: row(ssn="234-56-7891", host_country="AT", contact_email=None)}
    batch = Batch(tmp_path, settings, rows)
    assert batch.summary.approved == 2
    assert batch.queued() == []
    result = mail.deliver(Outbox(batch.outbox), settings)
    assert (result.sent, result.written, result.failed) == (0, 0, 0)
    assert smtp_server.box.messages == []


def test_delivering_again_sends_nothing_twice(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    first = mail.deliver(Outbox(batch.outbox), settings)
    assert first.sent == 2
    assert batch.queued() == []
    assert len(batch.ledger()) == 2

    second = mail.deliver(Outbox(batch.outbox), settings)
    assert (second.sent, second.written, second.failed) == (0, 0, 0)
    assert len(smtp_server.box.messages) == 2


def test_a_message_queued_again_after_it_was_sent_is_not_sent_twice(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """A rerun of a batch (e.g. after a crash between commit and move) queues the same message again: the ledger
    says it went out already."""
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    saved = {key: batch.outbox.read(key) for key in batch.queued()}
    assert len(saved) == 2
    assert mail.deliver(Outbox(batch.outbox), settings).sent == 2

    for key, data in saved.items():
        batch.outbox.write(key, data)
    again = mail.deliver(Outbox(batch.outbox), settings)
    assert again.sent == 0 and again.failed == 0
    assert again.already == 2
    assert len(smtp_server.box.messages) == 2


def test_reprocessing_the_same_file_after_delivery_sends_no_new_confirmation(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    mail.deliver(Outbox(batch.outbox), settings)
    source = batch.outbox_dir / "batches" / batch.batch_id / "source" / "assignments.xlsx"
    (batch.inbox_dir / "assignments-again.xlsx").write_bytes(source.read_bytes())
    again = batches.process_file(batch.inbox, Outbox(batch.outbox), "assignments-again.xlsx", DAY, settings,
                                 KnownRequests())
    assert again.result == "already-processed"
    result = mail.deliver(Outbox(batch.outbox), settings)
    assert result.sent == 0
    assert len(smtp_server.box.messages) == 2


def test_a_message_that_cannot_be_sent_stays_queued_and_goes_out_once_when_the_server_is_back(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    queued = batch.queued()
    assert len(queued) == 2

    smtp_server.stop()
    down = mail.deliver(Outbox(batch.outbox), settings)
    assert down.failed == 2 and down.sent == 0
    assert len(down.errors) == 2
    assert_no_full_ssn("\n".join(down.errors))
    assert batch.queued() == queued
    assert batch.ledger() == []
    assert batch.manifest().is_file()  # the batch stays committed: a mail failure is not a batch failure
    assert batch.inbox.list() == []

    smtp_server.start()
    up = mail.deliver(Outbox(batch.outbox), settings)
    assert up.sent == 2 and up.failed == 0
    assert batch.queued() == []
    assert sorted(str(m["To"]) for m in smtp_server.box.messages) == [HR, OTHER]

    assert mail.deliver(Outbox(batch.outbox), settings).sent == 0
    assert len(smtp_server.box.messages) == 2


def test_without_smtp_the_message_is_written_as_eml_and_recorded_in_the_ledger(tmp_path: Path) -> None:
    settings = Settings.from_env({})
    assert settings.smtp_host is None
    batch = Batch(tmp_path, settings)
    queued = {key: batch.outbox.read(key) for key in batch.queued()}
    assert len(queued) == 2

    result = mail.deliver(Outbox(batch.outbox), settings)
    assert result.written == 2 and result.sent == 0 and result.failed == 0

    written = sorted((batch.outbox_dir / "mail").glob("*.eml"))
    assert len(written) == 2
    mids = {key.rsplit("/", 1)[1].removesuffix(".eml").split(".", 1)[1]: data for key, data in queued.items()}
    assert {p.stem for p in written} == set(mids)
    for p in written:
        assert p.read_bytes() == mids[p.stem]
        assert p.stat().st_mode & 0o077 == 0
        assert_no_full_ssn(p.read_text(encoding="utf-8", errors="replace"))
    assert sorted(batch.ledger()) == sorted(f"mail/sent/{mid}.json" for mid in mids)
    assert batch.queued() == []

    again = mail.deliver(Outbox(batch.outbox), settings)
    assert again.written == 0
    assert sorted((batch.outbox_dir / "mail").glob("*.eml")) == written


def test_a_message_whose_batch_has_no_manifest_is_not_delivered(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = smtp_settings(smtp_server)
    batch = Batch(tmp_path, settings)
    manifest = batch.manifest().read_bytes()
    batch.manifest().unlink()
    queued = batch.queued()

    result = mail.deliver(Outbox(batch.outbox), settings)
    assert (result.sent, result.written, result.failed) == (0, 0, 0)
    assert smtp_server.box.messages == []
    assert batch.queued() == queued
    assert batch.ledger() == []

    batch.manifest().write_bytes(manifest)  # the batch commits (e.g. on the rerun)
    assert mail.deliver(Outbox(batch.outbox), settings).sent == 2


def test_a_message_whose_batch_has_no_manifest_is_not_written_without_smtp(tmp_path: Path) -> None:
    settings = Settings()
    batch = Batch(tmp_path, settings)
    batch.manifest().unlink()
    result = mail.deliver(Outbox(batch.outbox), settings)
    assert result.written == 0
    assert list((batch.outbox_dir / "mail").glob("*.eml")) == []
    assert len(batch.queued()) == 2


def test_composing_the_same_batch_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "assignments.xlsx", list(ROWS.values()))
    data = path.read_bytes()
    batch_id, _ = batches.batch_id_of(data)
    first = mail.compose(check_file(data, path.name, DAY, Settings().limits, {}), batch_id, DAY, "a@ssa.example")
    second = mail.compose(check_file(data, path.name, DAY, Settings().limits, {}), batch_id, DAY, "a@ssa.example")
    assert len(first) == 2
    assert first == second


def test_processing_the_same_file_in_two_runs_queues_byte_identical_messages(tmp_path: Path) -> None:
    settings = Settings()
    data = write_xlsx(tmp_path / "assignments.xlsx", list(ROWS.values())).read_bytes()
    one = Batch(tmp_path / "one", settings, data=data)
    two = Batch(tmp_path / "two", settings, data=data)
    assert one.queued() == two.queued() and len(one.queued()) == 2
    for key in one.queued():
        assert one.outbox.read(key) == two.outbox.read(key)


def test_messages_are_queued_before_the_batch_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue entry exists by the time the manifest is written (so a crash after the commit loses no mail)."""
    from coc_intake import outputs

    seen: list[list[str]] = []
    real_manifest = outputs.manifest

    def spy(*args: Any, **kwargs: Any) -> bytes:
        seen.append(LocalStore(tmp_path / "outbox").list("mail/queue/"))
        return real_manifest(*args, **kwargs)

    monkeypatch.setattr(outputs, "manifest", spy)
    batch = Batch(tmp_path, Settings())
    assert seen == [batch.queued()] and len(seen[0]) == 2


def test_a_confirmation_lists_at_most_max_listed_requests_and_counts_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import email
    import email.policy

    monkeypatch.setattr(mail, "MAX_LISTED", 2)
    rows = [row(first_name=f"Worker{c}", last_name="Smith", ssn=f"123-45-{6780 + i}", host_country=host,
                contact_email=HR) for i, (c, host) in enumerate(zip("ABCD", ["DE", "AT", "CH", "ES"], strict=True))]
    path = write_xlsx(tmp_path / "many.xlsx", rows)
    outcome = check_file(path.read_bytes(), path.name, DAY, Settings().limits, {})
    assert outcome.rows["status"].tolist().count("approved") == 4
    batch_id = "0123456789abcdef"
    [(_, raw)] = mail.compose(outcome, batch_id, DAY, "a@ssa.example")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = body_of(msg)
    ids = outcome.rows["request_id"].tolist()
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == ids[:2]  # the first two in sheet order
    assert "4 approved: the Certificate of Coverage requests are made." in body
    assert "Approved (4):" in body
    assert (f"... and 2 more. Every request ID is listed in results.csv of this file's results (batch {batch_id})."
            in " ".join(body.split()))
    assert "4 approved, 0 referred, 0 to fix" in str(msg["Subject"])
    assert "WorkerC" not in body and "WorkerD" not in body


# --------------------------------------------------------------------------------------------------------------------
# the outcome e-mail (2026.2): every address with rows learns their outcome


FIX, WAIT = "fix@acme.example", "wait@acme.example"

#: An address per outcome: referred only, rejected only, and an approved, referred and rejected mix.
OUTCOMES = {
    2: row(first_name="Long", last_name="Posting", ssn="456-78-9123", assignment_end=dt.date(2033, 12, 31),
           contact_email=WAIT),                                                # referred: over 60 months
    3: row(first_name="Mexico", last_name="Bound", ssn="567-89-1234", host_country="MX", contact_email=FIX),
    4: row(first_name="Bad", last_name="Number", ssn="900-12-3456", contact_email=FIX),  # rejected: invalid SSN
    5: row(first_name="Jane", last_name="Smith", ssn="123-45-6789", contact_email=HR),
    6: row(first_name="Zoë", last_name="Côté", ssn="234-56-7891", host_country="JP", health_insurance="Y",
           assignment_start=dt.date(2027, 2, 1), assignment_end=dt.date(2028, 1, 31), contact_email=HR),
    7: row(first_name="Also", last_name="Long", ssn="345-67-8912", assignment_end=dt.date(2033, 12, 31),
           contact_email=HR),                                                  # referred
    8: row(first_name="No", last_name="Agreement", ssn="678-90-1235", host_country="MX", contact_email=HR),
}
OUTCOME_SSNS = [r["ssn"] for r in OUTCOMES.values()]


def composed(tmp_path: Path, rows: list[dict[str, Any]], name: str = "assignments.xlsx",
             ) -> tuple[dict[str, EmailMessage], list[str], str]:
    """The batch's messages by recipient (as a reader gets them), its rows' request IDs, and its batch ID."""
    import email
    import email.policy

    path = write_xlsx(tmp_path / name, rows)
    data = path.read_bytes()
    batch_id, _ = batches.batch_id_of(data)
    outcome = check_file(data, path.name, DAY, Settings().limits, {})
    messages = mail.compose(outcome, batch_id, DAY, "a@ssa.example")
    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in messages]
    for (mid, _), msg in zip(messages, parsed, strict=True):  # the ID is the hash of batch and address: stable
        assert mid == hashlib.sha256(f"{batch_id}|{msg['To']}".encode()).hexdigest()[:24]
    return by_recipient(parsed), [str(r) for r in outcome.rows["request_id"].tolist()], batch_id


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_no_full_ssn_of(text: str, ssns: list[str]) -> None:
    for ssn in ssns:
        for form in ssn_forms(ssn):
            assert form not in text, f"full SSN {form} found"


def test_the_outcome_rows_have_the_statuses_the_tests_rely_on(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "outcomes.xlsx", list(OUTCOMES.values()))
    outcome = check_file(path.read_bytes(), path.name, DAY, Settings().limits, {})
    assert dict(zip(OUTCOMES, outcome.rows["status"].tolist(), strict=True)) == {
        2: "referred", 3: "rejected", 4: "rejected", 5: "approved", 6: "approved", 7: "referred", 8: "rejected"}


def test_every_address_with_rows_gets_one_message_whatever_their_outcome(tmp_path: Path) -> None:
    got, _, _ = composed(tmp_path, list(OUTCOMES.values()))
    assert set(got) == {WAIT, FIX, HR}
    subjects = {to: flat(str(m["Subject"])) for to, m in got.items()}
    assert subjects == {
        WAIT: "Certificate of Coverage requests: 0 approved, 1 referred, 0 to fix — assignments.xlsx",
        FIX: "Certificate of Coverage requests: 0 approved, 0 referred, 2 to fix — assignments.xlsx",
        HR: "Certificate of Coverage requests: 2 approved, 1 referred, 1 to fix — assignments.xlsx",
    }
    for msg in got.values():
        assert list(msg.iter_attachments()) == [] and msg.get_content_type() == "text/plain"
        assert_no_full_ssn_of(msg.as_string() + body_of(msg), OUTCOME_SSNS)


def test_a_referred_only_address_gets_a_message_listing_the_referred_request(tmp_path: Path) -> None:
    got, ids, _ = composed(tmp_path, list(OUTCOMES.values()))
    body = body_of(got[WAIT])
    referred_id = ids[0]
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == [referred_id]
    text = flat(body)
    assert "1 referred: requested; a specialist reviews each before a decision" in text
    assert "Approved (" not in text
    listing = flat(body[body.index("Referred to a specialist (1):"):])
    assert f"{referred_id} Long Posting SSN ***-**-9123 Germany 2027-01-01 to 2033-12-31" in listing
    assert "to fix" not in text and "already requested" not in text


def test_a_rejected_only_address_gets_a_message_with_the_count_and_the_fix_hint(tmp_path: Path) -> None:
    got, _, _ = composed(tmp_path, list(OUTCOMES.values()))
    body = body_of(got[FIX])
    text = flat(body)
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == []  # nothing was requested for them
    assert "2 to fix: rejected, nothing was requested for them." in text
    assert "Open the 'Fix and resubmit' sheet of the results workbook, correct the highlighted cells" in text
    for r in (3, 4):  # counted, not listed
        assert OUTCOMES[r]["first_name"] not in body and OUTCOMES[r]["ssn"][-4:] not in body
    assert "Keep the request IDs" not in text


def test_a_mixed_address_lists_approved_then_referred_in_sheet_order_and_counts_the_rejected(tmp_path: Path) -> None:
    got, ids, _ = composed(tmp_path, list(OUTCOMES.values()))
    body = body_of(got[HR])
    text = flat(body)
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == [ids[3], ids[4], ids[5]]
    assert body.index("Approved (2):") < body.index(ids[3]) < body.index("Referred to a specialist (1):") < body.index(
        ids[5])
    assert "2 approved: the Certificate of Coverage requests are made." in text
    assert "1 referred:" in text and "1 to fix:" in text
    assert "No Agreement" not in body and "1235" not in body


def test_the_message_says_where_the_results_workbook_comes_from(tmp_path: Path) -> None:
    got, _, batch_id = composed(tmp_path, list(OUTCOMES.values()))
    for msg in got.values():
        text = flat(body_of(msg))
        assert f"The results workbook (results.xlsx of batch {batch_id})" in text
        assert "The SSA intake team that received your file returns it to you" in text
        assert "Once the online portal opens, it will also be on your file's submission page." in text


def test_the_message_counts_the_rows_already_requested(tmp_path: Path) -> None:
    """An address whose rows were all requested by an earlier file still learns it, and nothing is listed."""
    from tests.intake_helpers import run_intake

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    write_xlsx(inbox / "census.xlsx", [row(contact_email=HR), row(ssn="234-56-7891", contact_email=HR)])
    run_intake(inbox, outbox)
    first = {p.name for p in (outbox / "mail").glob("*.eml")}
    write_xlsx(inbox / "census-again.xlsx", [row(contact_email=HR), row(ssn="234-56-7891", contact_email=HR),
                                             row(ssn="345-67-8912", contact_email=OTHER)])
    [summary] = run_intake(inbox, outbox)
    assert summary.already_requested == 2
    import email
    import email.policy

    new = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
           for p in sorted((outbox / "mail").glob("*.eml")) if p.name not in first]
    got = by_recipient(new)
    assert set(got) == {HR, OTHER}
    assert flat(str(got[HR]["Subject"])) == (
        "Certificate of Coverage requests: 0 approved, 0 referred, 0 to fix, 2 already requested — "
        "census-again.xlsx")
    body = body_of(got[HR])
    assert "2 already requested: an earlier file made these requests, so nothing new was made" in flat(body)
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == []
    assert "already requested" not in flat(str(got[OTHER]["Subject"]) + body_of(got[OTHER]))


def test_more_than_1000_requests_list_1000_and_count_the_rest(tmp_path: Path) -> None:
    assert mail.MAX_LISTED == 1_000
    def letters(i: int) -> str:  # a name per row (names take no digits): Aaa, Aab, ...
        return "".join("abcdefghijklmnopqrstuvwxyz"[i // 26 ** k % 26] for k in (2, 1, 0)).capitalize()

    rows = [row(first_name=letters(i), ssn=f"123-45-{1000 + i:04d}") for i in range(1_003)]
    got, ids, batch_id = composed(tmp_path, rows)
    body = body_of(got[HR])
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == ids[:1_000]
    text = flat(body)
    assert "1003 approved: the Certificate of Coverage requests are made." in text and "Approved (1003):" in text
    assert (f"... and 3 more. Every request ID is listed in results.csv of this file's results (batch {batch_id})."
            in text)
    assert f" {letters(999)} Smith " in body and f" {letters(1000)} Smith " not in body
    assert_no_full_ssn_of(got[HR].as_string() + body, [r["ssn"] for r in rows])


def test_the_listing_limit_is_shared_by_approved_and_referred_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail, "MAX_LISTED", 3)
    long = dt.date(2033, 12, 31)
    rows = [row(ssn="123-45-6781"), row(ssn="123-45-6782"),
            row(ssn="123-45-6783", assignment_end=long), row(ssn="123-45-6784", assignment_end=long),
            row(ssn="123-45-6785", assignment_end=long)]
    got, ids, _ = composed(tmp_path, rows)
    body = body_of(got[HR])
    assert re.findall(r"COC-[A-Z]{2}-[A-Z0-9]{10}", body) == ids[:3]
    assert "Referred to a specialist (3):" in body
    assert "... and 2 more." in flat(body[body.index("Referred to a specialist"):])


def test_a_file_name_with_an_ssn_is_masked_in_every_message(tmp_path: Path) -> None:
    got, _, _ = composed(tmp_path, list(OUTCOMES.values()), name="payroll 111-22-3333.xlsx")
    for msg in got.values():
        assert "payroll ***-**-3333.xlsx" in flat(str(msg["Subject"]))
        assert "the file payroll ***-**-3333.xlsx (batch" in flat(body_of(msg))
        assert_no_full_ssn_of(msg.as_string() + body_of(msg), ["111-22-3333"])


def test_rows_whose_contact_address_is_invalid_get_no_message(tmp_path: Path) -> None:
    got, _, _ = composed(tmp_path, [row(contact_email="not-an-address"), row(ssn="234-56-7891", contact_email="@evil"),
                                    row(ssn="345-67-8912", host_country="MX", contact_email=OTHER)])
    assert set(got) == {OTHER}
    assert "1 to fix" in flat(str(got[OTHER]["Subject"]))
