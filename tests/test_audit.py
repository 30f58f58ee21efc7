"""The audit log: appended to the outbox, never overwritten, read back in time order, no full SSN in it."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from coc_intake import audit
from coc_intake.audit import AuditAction
from coc_intake.outbox import Outbox
from coc_intake.store import open_store


def test_a_record_says_who_did_what_when_and_reads_back(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    before = dt.datetime.now(dt.UTC)
    audit.record(outbox, "hr@acme.example", AuditAction.SUBMIT, "payroll.xlsx", batch_id="0123456789abcdef", rows=12)
    [entry] = list(outbox.audit_records())
    assert {k: v for k, v in entry.items() if k != "at"} == {
        "who": "hr@acme.example", "action": "submit", "subject": "payroll.xlsx",
        "batch_id": "0123456789abcdef", "rows": 12}
    at = dt.datetime.fromisoformat(entry["at"])
    assert at.tzinfo is not None and at.utcoffset() == dt.timedelta(0)
    assert "." in entry["at"]  # microseconds, so the records of one second keep their order
    assert before <= at <= dt.datetime.now(dt.UTC)
    assert list(outbox.audit_records(at.date())) == [entry]
    assert list(outbox.audit_records(at.date() - dt.timedelta(days=1))) == []


@pytest.mark.parametrize("ssn", ["123-45-6789", "123456789"])
def test_a_full_ssn_in_any_text_of_a_record_is_stored_masked(store_uris: tuple[str, str], ssn: str) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    audit.record(outbox, f"user {ssn}", "download", f"payroll {ssn}.xlsx", note=f"ssn {ssn}", count=3, empty=None)
    [entry] = list(outbox.audit_records())
    assert entry["who"] == "user ***-**-6789"
    assert entry["subject"] == "payroll ***-**-6789.xlsx"
    assert entry["note"] == "ssn ***-**-6789"
    assert (entry["count"], entry["empty"]) == (3, None)
    raw = b"".join(outbox.store.read(k) for k in outbox.store.list("audit/", recursive=True))
    assert ssn.encode() not in raw and b"123456789" not in raw and b"123-45-6789" not in raw


def test_records_are_read_in_the_order_of_their_time_across_days(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    times = ["2026-03-02T00:00:00.000001+00:00", "2026-03-01T23:59:59.999999+00:00",
             "2026-03-01T08:00:00.000000-05:00"]  # the last is 13:00 UTC on 1 March
    for n, at in enumerate(times):
        outbox.append_audit({"at": at, "who": "a", "action": "sign-in", "subject": "", "n": n})
    assert [r["n"] for r in outbox.audit_records()] == [2, 1, 0]
    assert [r["n"] for r in outbox.audit_records(dt.date(2026, 3, 1))] == [2, 1]
    assert [r["n"] for r in outbox.audit_records(dt.date(2026, 3, 2))] == [0]


def test_records_of_the_same_microsecond_are_all_kept(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    for n in range(5):
        outbox.append_audit({"at": "2026-03-01T12:00:00.000000+00:00", "n": n})
    assert sorted(r["n"] for r in outbox.audit_records()) == [0, 1, 2, 3, 4]


def test_many_threads_appending_at_once_lose_no_record(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    per_thread, threads = 25, 8

    def append(t: int) -> None:
        for i in range(per_thread):
            audit.record(outbox, f"user{t}@x.example", AuditAction.UPLOAD, f"file-{t}-{i}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(append, range(threads)))
    subjects = [r["subject"] for r in outbox.audit_records()]
    assert sorted(subjects) == sorted(f"file-{t}-{i}" for t in range(threads) for i in range(per_thread))
    ats = [r["at"] for r in outbox.audit_records()]
    assert ats == sorted(ats)


def test_an_action_outside_the_vocabulary_or_a_detail_named_like_a_field_is_refused(tmp_path: object) -> None:
    outbox = Outbox(open_store(str(tmp_path)))
    with pytest.raises(ValueError):
        audit.record(outbox, "a@x.example", "deleted-everything")
    with pytest.raises(ValueError):
        audit.record(outbox, "a@x.example", "sign-in", at="yesterday")
    assert list(outbox.audit_records()) == []


def test_every_action_is_a_string_of_its_own() -> None:
    assert [str(a) for a in AuditAction] == [
        "sign-in", "sign-in-failed", "sign-out", "upload", "pre-check", "submit", "download", "decision",
        "account-added", "account-disabled", "account-reset"]
