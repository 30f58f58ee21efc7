"""`coc referrals list|show|decide` over an outbox the real intake wrote (docs/commands.md#coc-referrals-list,
docs/outputs.md#decisions): the queue oldest first and filtered, one request explained, decisions appended (never
two with one number, locally or on S3, from threads or processes), the employer's e-mail through the mail queue
and ledger, and no full SSN on the console or in a message."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from coc_intake import mail, referral_index
from coc_intake.cli import app
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore, open_store
from tests.builders import row, write_xlsx
from tests.conftest import SmtpServer, free_port
from tests.intake_helpers import full_ssns_in, run_intake

TODAY = dt.date.today()
#: The first file's as-of date, 40 days ago, and the second's, 3 days ago: ages the filters can tell apart.
OLD, NEW = TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=3)
LONG_END = dt.date(2033, 6, 30)  # over Germany's 60 months from 2027-01-01


def self_employed(**overrides: Any) -> dict[str, Any]:
    """A self-employed U.S. citizen living in Mexico, sent to Austria (a residence rule): referred."""
    return row(worker_type="self-employed", business_nature="Software consulting", employer_ein=None,
               employer_name=None, employer_street=None, employer_city=None, employer_state=None,
               employer_zip=None, hire_date=None, foreign_employer_name=None, employed_by=None,
               residence_country="MX", host_country="AT", contact_email=None, **overrides)


FIRST = [  # as of OLD
    row(ssn="123-45-6789"),  # approved
    row(ssn="123-45-6790", last_name="Long", host_country="FR", health_insurance="Y",
        assignment_end=dt.date(2027, 3, 31), assignment_start=dt.date(2026, 12, 15)),  # approved, Long's earlier
    row(ssn="123-45-6791", last_name="Early", assignment_end=LONG_END),  # referred, the oldest
]
SECOND = [  # as of NEW
    row(ssn="123-45-6790", last_name="Long", assignment_end=LONG_END),  # referred, Long's second request
    row(ssn="123-45-6792", last_name="Other", employer_ein="98-7654321", employer_name="Beta LLC",
        assignment_end=LONG_END, contact_email="hr@beta.example"),  # referred, another employer
    self_employed(ssn="123-45-6793", last_name="Solo"),  # referred: self-employed-review, no contact address
]
SSNS = [r["ssn"] for r in FIRST + SECOND]


def build_outbox(root: Path) -> Path:
    """Two nightly intakes through the real pipeline; the outbox folder."""
    inbox, outbox = root / "inbox", root / "outbox"
    inbox.mkdir(parents=True)
    write_xlsx(inbox / "first.xlsx", FIRST)
    assert run_intake(inbox, outbox, as_of=OLD)[0].referred == 1
    write_xlsx(inbox / "second.xlsx", SECOND)
    assert run_intake(inbox, outbox, as_of=NEW)[0].referred == 3
    return outbox


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_outbox(tmp_path_factory.mktemp("referrals"))


def _copy(source: Path, target: Any) -> None:
    src = LocalStore(source)
    for key in src.list("", recursive=True):
        target.write(key, src.read(key))


@pytest.fixture(params=["local", "s3"])
def outbox_uri(request: pytest.FixtureRequest, built: Path, tmp_path: Path) -> str:
    """A fresh copy of the built outbox, in a folder or on S3 (moto server)."""
    if request.param == "local":
        uri = str(tmp_path / "outbox")
    else:
        env = request.getfixturevalue("s3_env")
        uri = f"s3://{env['BUCKET']}/outbox"
    _copy(built, open_store(uri))
    return uri


def coc(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def listed(uri: str, *args: str) -> dict[str, Any]:
    result = coc("referrals", "list", "--json", "--outbox", uri, *args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def ids(doc: dict[str, Any]) -> list[str]:
    return [r["worker"] for r in doc["referrals"]]


def test_the_queue_lists_referred_requests_oldest_first_with_masked_ssns(outbox_uri: str) -> None:
    doc = listed(outbox_uri)
    assert doc["total"] == 4
    assert ids(doc) == ["Early, Jane", "Long, Jane", "Other, Jane", "Solo, Jane"]
    first = doc["referrals"][0]
    assert first["age_days"] == 40 and first["as_of"] == OLD.isoformat() and first["ssn"] == "***-**-6791"
    assert first["reasons"] == ["exceeds-detachment-limit"] and first["host"] == "DE"
    assert first["employer_ein"] == "12-3456789" and first["employer_name"] == "Acme Corp"
    assert doc["referrals"][3]["employer_ein"] is None and doc["referrals"][3]["reasons"] == ["self-employed-review"]
    table = coc("referrals", "list", "--outbox", outbox_uri)
    assert table.exit_code == 0 and "4 referrals waiting" in table.stdout
    assert "***-**-6791" in table.stdout and not full_ssns_in(table.stdout, SSNS)


def test_the_queue_filters_by_reason_host_employer_and_age(outbox_uri: str) -> None:
    assert ids(listed(outbox_uri, "--reason", "self-employed-review")) == ["Solo, Jane"]
    assert ids(listed(outbox_uri, "--host", "at")) == ["Solo, Jane"]
    assert ids(listed(outbox_uri, "--employer", "987654321")) == ["Other, Jane"]
    assert ids(listed(outbox_uri, "--older-than", "10")) == ["Early, Jane"]
    limited = listed(outbox_uri, "--limit", "2")
    assert (limited["total"], limited["shown"], ids(limited)) == (4, 2, ["Early, Jane", "Long, Jane"])
    assert listed(outbox_uri, "--host", "JP")["total"] == 0


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--reason", "invalid-ssn", "exceeds-detachment-limit"), ("--host", "Germany", "two-letter"),
    ("--employer", "12-34", "NN-NNNNNNN")])
def test_a_wrong_filter_is_a_usage_error_that_says_what_to_give(built: Path, option: str, value: str,
                                                                says: str) -> None:
    result = coc("referrals", "list", "--outbox", str(built), option, value)
    assert result.exit_code == 2 and says in result.stderr


def _request_id(uri: str, worker: str) -> str:
    return next(r["request_id"] for r in listed(uri, "--all")["referrals"] if r["worker"] == worker)


def test_show_explains_the_reasons_with_the_agreement_rule_and_lists_the_workers_other_requests(
        outbox_uri: str) -> None:
    rid = _request_id(outbox_uri, "Long, Jane")
    result = coc("referrals", "show", rid, "--outbox", outbox_uri)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"{rid}: referred" in text and "SSN ***-**-6790" in text and not full_ssns_in(text, SSNS)
    # The employer's message for the row (errors.csv), then the agreement's rule with its sources.
    assert "longer than the agreement's limit of 60 months" in text
    assert "Rule: Agreement with Germany: a worker sent there stays U.S.-covered for at most 60 months" in text
    assert "POMS RS 02001.105" in text
    # The earlier FR request of the same worker, approved, from the registry of earlier requests.
    assert "COC-FR-" in text and "approved" in text
    assert "No decision yet" in text


def test_show_of_the_self_employed_names_the_self_employment_rule(outbox_uri: str) -> None:
    rid = _request_id(outbox_uri, "Solo, Jane")
    text = coc("referrals", "show", rid, "--outbox", outbox_uri).stdout
    assert "Rule: Agreement with Austria: self-employed people are covered by residence" in text
    assert "The worker has no other request." in text and "Contact e-mail: none" in text


def decide(uri: str, rid: str, decision: str, note: str, by: str = "Ann Spec",
           env: dict[str, str] | None = None) -> Result:
    return coc("referrals", "decide", rid, decision, "--note", note, "--by", by, "--outbox", uri, env=env)


def test_decisions_are_appended_and_the_latest_counts(outbox_uri: str) -> None:
    rid = _request_id(outbox_uri, "Early, Jane")
    first = decide(outbox_uri, rid, "approved", "Extension granted for the project.")
    assert first.exit_code == 0, first.output
    assert f"Recorded decision 1 on {rid}: approved" in first.stdout
    assert ids(listed(outbox_uri)) == ["Long, Jane", "Other, Jane", "Solo, Jane"]  # decided: off the queue
    second = decide(outbox_uri, rid, "DENIED", "The limit cannot be extended.", by="Bob Lead")
    assert f"Recorded decision 2 on {rid}: denied" in second.stdout
    every = listed(outbox_uri, "--all")["referrals"]
    assert (every[0]["latest_decision"], every[0]["decisions"]) == ("denied", 2)
    records = Outbox(open_store(outbox_uri)).decisions(rid)
    assert [(d["n"], d["decision"], d["by"]) for d in records] == [(1, "approved", "Ann Spec"),
                                                                   (2, "denied", "Bob Lead")]
    assert set(records[0]) == {"n", "request_id", "batch_id", "decision", "note", "by", "at"}
    assert dt.datetime.fromisoformat(records[0]["at"]).utcoffset() == dt.timedelta(0)
    shown = coc("referrals", "show", rid, "--outbox", outbox_uri).stdout
    assert "Decisions (the latest counts):" in shown and "The limit cannot be extended." in shown
    audit = [r for r in Outbox(open_store(outbox_uri)).audit_records() if r["action"] == "decision"]
    assert [(r["who"], r["subject"], r["decision"], r["n"]) for r in audit] == [
        ("Ann Spec", rid, "approved", 1), ("Bob Lead", rid, "denied", 2)]


def test_only_referred_requests_can_be_decided(built: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    approved = next(line.split(",")[2] for path in sorted(Path(uri).glob("batches/*/results.csv"))
                    for line in path.read_text().splitlines() if ",approved," in line)
    result = decide(uri, approved, "approved", "fine")
    assert result.exit_code == 1 and "was approved, not referred" in result.stderr
    unknown = decide(uri, "COC-DE-AAAAAAAAAA", "approved", "fine")
    assert unknown.exit_code == 1 and "There is no request COC-DE-AAAAAAAAAA" in unknown.stderr
    malformed = decide(uri, "not-an-id", "approved", "fine")
    assert malformed.exit_code == 1 and "is not a request ID" in malformed.stderr
    blank = decide(uri, _request_id(uri, "Early, Jane"), "approved", "  ")
    assert blank.exit_code == 1 and "needs a note" in blank.stderr
    wrong = decide(uri, _request_id(uri, "Early, Jane"), "maybe", "x")
    assert wrong.exit_code == 2
    assert not (Path(uri) / "decisions").exists()


def test_a_note_with_html_is_stored_as_typed_and_shown_literally(built: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    rid = _request_id(uri, "Early, Jane")
    note = "<script>alert(1)</script> & [bold]not markup[/bold] <b>x</b>"
    result = decide(uri, rid, "approved", note)
    assert f"Note: {note}" in result.stdout
    assert Outbox(LocalStore(uri)).decisions(rid)[0]["note"] == note
    assert f": {note}\n" in coc("referrals", "show", rid, "--outbox", uri).stdout


def test_an_ssn_typed_in_a_note_is_stored_but_never_shown(built: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    rid = _request_id(uri, "Early, Jane")
    result = decide(uri, rid, "approved", "Checked 123-45-6791 with the employer")
    assert "***-**-6791" in result.stdout and not full_ssns_in(result.stdout, SSNS)
    assert not full_ssns_in(coc("referrals", "show", rid, "--outbox", uri).stdout, SSNS)
    eml = "".join(p.read_text() for p in (Path(uri) / "mail").glob("*.eml"))
    assert "***-**-6791" in eml and not full_ssns_in(eml, SSNS)


# The employer's e-mail.
def _decision_messages(server: SmtpServer) -> list[Any]:
    return [m for m in server.box.messages if "Certificate of Coverage request COC-" in str(m["Subject"])]


def test_the_employer_gets_one_email_per_decision_with_the_masked_ssn(
        built: Path, tmp_path: Path, smtp_server: SmtpServer) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    rid = _request_id(uri, "Other, Jane")
    result = decide(uri, rid, "approved", "Extension granted <until 2033>.", env=smtp_server.box.env())
    assert "The employer's e-mail was sent." in result.stdout, result.output
    [msg] = _decision_messages(smtp_server)
    assert msg["To"] == "hr@beta.example" and str(msg["Subject"]) == f"Certificate of Coverage request {rid}: approved"
    body = str(msg.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "SSN ***-**-6792" in body and "Decision: approved." in body and "Extension granted <until 2033>." in body
    assert not full_ssns_in(body, SSNS)
    # The nightly delivery after it sends nothing again: the ledger lists it.
    again = mail.deliver(Outbox(LocalStore(uri)), Settings.from_env(smtp_server.box.env()))
    assert (again.sent, again.written) == (0, 0)
    assert len(_decision_messages(smtp_server)) == 1


def test_a_decision_on_a_request_without_contact_address_sends_nothing(built: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    result = decide(uri, _request_id(uri, "Solo, Jane"), "denied", "Resident in Mexico: not covered.")
    assert "names no contact e-mail" in result.stdout
    assert mail.deliver(Outbox(LocalStore(uri)), Settings()).written == 0


def test_an_email_that_cannot_be_sent_stays_queued_and_the_next_run_sends_it(
        built: Path, tmp_path: Path, smtp_server: SmtpServer) -> None:
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    down = {**smtp_server.box.env(), "COC_SMTP_PORT": str(free_port())}  # nothing listens there
    result = decide(uri, _request_id(uri, "Early, Jane"), "approved", "ok", env=down)
    assert result.exit_code == 0 and "stays queued and the next run sends it" in result.stdout
    outbox = Outbox(LocalStore(uri))
    assert len(outbox.queued()) == 1
    sent = mail.deliver(outbox, Settings.from_env(smtp_server.box.env()))
    assert sent.sent == 1 and outbox.queued() == []
    assert [m["To"] for m in _decision_messages(smtp_server)] == ["hr@acme.example"]


def test_a_decision_whose_email_was_never_queued_is_told_at_the_next_delivery(built: Path, tmp_path: Path) -> None:
    """A process killed between recording the decision and queueing its message loses nothing."""
    uri = str(tmp_path / "outbox")
    _copy(built, LocalStore(uri))
    outbox = Outbox(LocalStore(uri))
    rid = _request_id(uri, "Early, Jane")
    batch = listed(uri)["referrals"][0]["batch_id"]
    outbox.add_decision(rid, {"request_id": rid, "batch_id": batch, "decision": "approved", "note": "ok",
                              "by": "Ann", "at": "2026-12-01T10:00:00+00:00"})
    first = mail.deliver(outbox, Settings())
    assert first.written == 1
    assert mail.deliver(outbox, Settings()).written == 0


# Two specialists at once.
def _race(outbox: Outbox, rid: str, n: int) -> list[int]:
    barrier = threading.Barrier(n)
    got: list[int] = []

    def one(i: int) -> None:
        barrier.wait()
        got.append(outbox.add_decision(rid, {"decision": "approved", "note": f"specialist {i}"}))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


@pytest.mark.parametrize("attempt", range(3))
def test_two_decisions_at_once_from_threads_get_numbers_1_and_2(store_uris: tuple[str, str], attempt: int) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    got = _race(outbox, "COC-DE-AAAAAAAAAA", 2)
    assert sorted(got) == [1, 2]
    assert sorted(d["n"] for d in outbox.decisions("COC-DE-AAAAAAAAAA")) == [1, 2]
    assert sorted(d["note"] for d in outbox.decisions("COC-DE-AAAAAAAAAA")) == ["specialist 0", "specialist 1"]


def test_eight_decisions_at_once_get_eight_numbers(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    assert sorted(_race(outbox, "COC-DE-BBBBBBBBBB", 8)) == list(range(1, 9))


def _processes(uri: str, rid: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).with_name("coc")
    for who in ("Ann", "Bob"):
        yield subprocess.Popen([str(exe), "referrals", "decide", rid, "approved", "--note", f"by {who}", "--by",
                                who, "--outbox", uri], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_decisions_at_once_from_two_processes_get_numbers_1_and_2(outbox_uri: str) -> None:
    rid = _request_id(outbox_uri, "Early, Jane")
    env = {**os.environ, "COC_OUTBOX": outbox_uri}
    procs = list(_processes(outbox_uri, rid, env))
    for p in procs:
        _, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr.decode()
    decisions = Outbox(open_store(outbox_uri)).decisions(rid)
    assert sorted(d["n"] for d in decisions) == [1, 2]
    assert sorted(d["by"] for d in decisions) == ["Ann", "Bob"]


# The index.
def test_batches_committed_before_the_index_still_list(built: Path, tmp_path: Path) -> None:
    uri = tmp_path / "outbox"
    _copy(built, LocalStore(uri))
    expected = listed(str(uri))
    for path in [*uri.glob("batches/*/referrals.parquet"), uri / "referrals" / "index.parquet"]:
        path.unlink()
    assert listed(str(uri)) == expected  # derived from the request documents
    assert len(list(uri.glob("batches/*/referrals.parquet"))) == 2  # once: written back


def test_the_index_follows_batches_committed_after_it(built: Path, tmp_path: Path) -> None:
    root = tmp_path
    _copy(built, LocalStore(root / "outbox"))
    assert listed(str(root / "outbox"))["total"] == 4  # the cache now covers two batches
    (root / "inbox").mkdir()
    write_xlsx(root / "inbox" / "third.xlsx", [row(ssn="123-45-6794", last_name="Late", assignment_end=LONG_END)])
    run_intake(root / "inbox", root / "outbox", as_of=TODAY)
    assert ids(listed(str(root / "outbox")))[-1] == "Late, Jane"
    rebuilt = coc("referrals", "reindex", "--outbox", str(root / "outbox"))
    assert "5 referrals of 3 batches" in rebuilt.stdout


def test_the_index_holds_no_full_ssn(built: Path, tmp_path: Path) -> None:
    _copy(built, LocalStore(tmp_path))
    listed(str(tmp_path))  # writes the joined cache
    for path in [*tmp_path.glob("batches/*/referrals.parquet"), tmp_path / "referrals" / "index.parquet"]:
        table = referral_index.from_parquet(path.read_bytes())
        assert not full_ssns_in(json.dumps(table.to_pylist(), default=str), SSNS), path
