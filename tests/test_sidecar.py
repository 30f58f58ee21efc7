"""Portal submissions in the inbox: the file and its sidecar record, through the nightly intake (docs/outputs.md#
submissions-from-the-portal): authorization from the record, the record kept with the batch, crash safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from coc_intake import batch, sidecar
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.sidecar import SidecarError, SubmissionRecord
from coc_intake.states import FileResult
from coc_intake.store import LocalStore, Store, open_store
from tests.builders import row, write_csv, write_xlsx
from tests.intake_helpers import AS_OF_DATE, batch_dir, manifest, read_csv, run_intake, settings, snapshot
from tests.test_messages import self_employed

CODE = "not-authorized-for-employer"
SUBMITTED_AT = "2026-11-25T10:11:12.000001+00:00"


def record(eins: tuple[str, ...] = ("12-3456789",), ssns: tuple[str, ...] = (), name: str = "census.xlsx",
           account: str = "hr@acme.example") -> SubmissionRecord:
    return SubmissionRecord(uuid.uuid4().hex, account, SUBMITTED_AT, name, eins, ssns)


def census(folder: Path) -> Path:
    """Three rows: the second for another employer's EIN."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_xlsx(folder / "census.xlsx", [
        row(), row(ssn="234-56-7890", employer_ein="98-7654321"), row(ssn="345-67-8901")])


def statuses(outbox: Path, summary: batch.FileSummary) -> dict[str, tuple[str, str]]:
    return {r["row"]: (r["status"], r["codes"]) for r in read_csv(batch_dir(outbox, summary) / "results.csv")}


def test_a_submitted_file_is_processed_with_its_accounts_authorization_and_its_record_kept(
        stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    upload = census(tmp_path / "uploads")
    rec = record()
    name = sidecar.submit(LocalStore(inbox), upload, rec)
    assert sorted(p.name for p in inbox.iterdir()) == sorted([name, f".{name}.submission.json"])
    assert batch.list_inbox(LocalStore(inbox)) == [name]  # the record is not a submission

    [summary] = run_intake(inbox, outbox, deliver=False)
    assert (summary.result, summary.approved, summary.rejected) == (FileResult.PROCESSED, 2, 1)
    assert statuses(outbox, summary) == {"2": ("approved", ""), "3": ("rejected", CODE), "4": ("approved", "")}
    doc = manifest(outbox, summary)
    assert doc["submission_id"] == rec.submission_id
    assert summary.batch_id == hashlib.sha256(upload.read_bytes()).hexdigest()[:16]  # the bytes' alone
    kept = Outbox(LocalStore(outbox)).kept_submissions(summary.batch_id)
    assert {k: SubmissionRecord.from_json(v) for k, v in kept.items()} == {rec.submission_id: rec}
    assert list(inbox.iterdir()) == []  # the file and its record both left the inbox
    assert (batch_dir(outbox, summary) / "source" / name).read_bytes() == upload.read_bytes()


def test_the_same_file_without_a_record_is_processed_as_before(stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    data = census(inbox).read_bytes()
    [summary] = run_intake(inbox, outbox, deliver=False)
    assert (summary.approved, summary.rejected) == (3, 0)
    assert summary.batch_id == hashlib.sha256(data).hexdigest()[:16]
    assert manifest(outbox, summary)["submission_id"] is None
    assert Outbox(LocalStore(outbox)).kept_submissions(summary.batch_id) == {}


def test_a_self_employed_accounts_rows_are_checked_against_its_ssn(stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    upload = write_csv(tmp_path / "mine.csv", [self_employed(), self_employed(ssn="234-56-7890")])
    sidecar.submit(LocalStore(inbox), upload, record(eins=(), ssns=("123456789",), name="mine.csv",
                                                     account="jane@smith.example"))
    [summary] = run_intake(inbox, outbox, deliver=False)
    got = statuses(outbox, summary)
    assert got["3"] == ("rejected", CODE) and got["2"][0] != "rejected"
    # The record's SSN goes into the batch's record only: not the manifest, not what the run hands on.
    assert b"123456789" not in (batch_dir(outbox, summary) / "manifest.json").read_bytes()
    assert "123456789" not in repr(summary) and "123-45-6789" not in repr(summary)


def test_a_file_on_s3_is_submitted_and_processed_with_its_record(s3_env: dict[str, str], tmp_path: Path) -> None:
    inbox, outbox = (open_store(f"s3://{s3_env['BUCKET']}/{p}") for p in ("inbox", "outbox"))
    rec = record()
    name = sidecar.submit(inbox, census(tmp_path / "uploads"), rec)
    assert batch.list_inbox(inbox) == [name]
    assert sidecar.read_record(inbox, name) == rec
    box = Outbox(outbox)
    summary = batch.process_file(inbox, box, name, AS_OF_DATE, settings(), KnownRequests.load(box))
    assert (summary.approved, summary.rejected) == (2, 1)
    assert box.manifest(summary.batch_id)["submission_id"] == rec.submission_id
    assert list(box.kept_submissions(summary.batch_id)) == [rec.submission_id]
    assert inbox.list() == [] and [e.key for e in inbox.entries()] == []


def test_the_inbox_name_is_made_of_safe_characters_never_a_path_nor_a_full_ssn(tmp_path: Path) -> None:
    rec = record(name="../../etc/Café payroll 123-45-6789 (final).XLSX")
    name = sidecar.inbox_name(rec)
    assert name == f"20261125T101112-{rec.submission_id[:8]}-Cafe_payroll_6789_final.xlsx"
    assert sidecar.inbox_name(record(name="..")).endswith("-file")
    assert sidecar.inbox_name(record(name="payroll.xls")).endswith("-payroll.xls")  # rejected by its kind at intake
    inbox = LocalStore(tmp_path / "inbox")
    upload = tmp_path / "u.csv"
    upload.write_text("x")
    placed = sidecar.submit(inbox, upload, rec)
    assert placed == name and (tmp_path / "inbox" / name).read_text() == "x"


def test_a_record_intake_could_not_read_is_refused_at_submit(tmp_path: Path) -> None:
    inbox = LocalStore(tmp_path / "inbox")
    upload = tmp_path / "u.csv"
    upload.write_text("x")
    for bad in (record(eins=("123456789",)), record(ssns=("123-45-6789",)),
                SubmissionRecord("../x", "a@b.example", SUBMITTED_AT, "u.csv", ())):
        with pytest.raises(ValueError):
            sidecar.submit(inbox, upload, bad)
    assert inbox.entries() == []


def test_a_file_whose_record_is_corrupt_is_not_processed_and_stays_with_its_record(
        stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    name = sidecar.submit(LocalStore(inbox), census(tmp_path / "uploads"), record())
    key = inbox / f".{name}.submission.json"
    for corrupt in (b"{not json", orjson.dumps({"submission_id": "x"}), b""):
        key.write_bytes(corrupt)
        with pytest.raises(SidecarError) as caught:
            run_intake(inbox, outbox, deliver=False)
        assert "stays in the inbox" in str(caught.value)
        assert sorted(p.name for p in inbox.iterdir()) == sorted([name, key.name])
        assert Outbox(LocalStore(outbox)).committed() == []


def test_the_same_bytes_from_the_same_account_are_already_processed_and_both_records_kept(
        stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    upload = census(tmp_path / "uploads")
    first, second = record(), record()
    sidecar.submit(LocalStore(inbox), upload, first)
    [done] = run_intake(inbox, outbox, deliver=False)
    sidecar.submit(LocalStore(inbox), upload, second)
    [again] = run_intake(inbox, outbox, deliver=False)
    assert (again.result, again.batch_id) == (FileResult.ALREADY_PROCESSED, done.batch_id)
    assert sorted(Outbox(LocalStore(outbox)).kept_submissions(done.batch_id)) == sorted(
        [first.submission_id, second.submission_id])
    assert manifest(outbox, done)["submission_id"] == first.submission_id
    assert list(inbox.iterdir()) == []


def test_the_same_bytes_after_an_ein_was_added_are_already_processed_under_their_bytes_batch_id(
        stores: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, outbox = stores
    upload = census(tmp_path / "uploads")
    sidecar.submit(LocalStore(inbox), upload, record())
    [before] = run_intake(inbox, outbox, deliver=False)
    later = record(eins=("12-3456789", "98-7654321"))
    sidecar.submit(LocalStore(inbox), upload, later)
    [after] = run_intake(inbox, outbox, deliver=False)
    assert (after.result, after.batch_id) == (FileResult.ALREADY_PROCESSED, before.batch_id)
    assert before.batch_id == hashlib.sha256(upload.read_bytes()).hexdigest()[:16]
    assert later.submission_id in Outbox(LocalStore(outbox)).kept_submissions(before.batch_id)


class _Killed(BaseException):
    """Stands for a kill -9: nothing after it runs, no handler sees it."""


def _kill_once(monkeypatch: pytest.MonkeyPatch, owner: Any, attr: str) -> None:
    original = getattr(owner, attr)
    state = {"killed": False}

    def dying(*args: Any, **kwargs: Any) -> Any:
        if not state["killed"]:
            state["killed"] = True
            raise _Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attr, dying)


@pytest.mark.parametrize("moment", ["before the source leaves the inbox", "before the record leaves the inbox"])
def test_a_crash_between_commit_and_inbox_removal_then_a_rerun_loses_and_doubles_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    upload = census(tmp_path / "uploads")
    rec = record()
    # The uninterrupted run.
    ref_in, ref_out = tmp_path / "ref-in", tmp_path / "ref-out"
    ref_in.mkdir()
    sidecar.submit(LocalStore(ref_in), upload, rec)
    run_intake(ref_in, ref_out, deliver=False)

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    name = sidecar.submit(LocalStore(inbox), upload, rec)
    if moment == "before the source leaves the inbox":
        _kill_once(monkeypatch, LocalStore, "delete_if_same")
    else:
        _kill_once(monkeypatch, sidecar, "remove_record")
    with pytest.raises(_Killed):
        run_intake(inbox, outbox, deliver=False)
    [committed] = Outbox(LocalStore(outbox)).committed()
    assert (inbox / f".{name}.submission.json").exists()

    if moment == "before the source leaves the inbox":
        [again] = run_intake(inbox, outbox, deliver=False)
        assert (again.result, again.batch_id) == (FileResult.ALREADY_PROCESSED, committed)
    else:
        # The file is gone, its record left behind: no run takes it for a submission; a day on, a run tidies it.
        assert run_intake(inbox, outbox, deliver=False) == []
        assert sidecar.tidy_orphans(LocalStore(inbox), dt.datetime.fromisoformat(SUBMITTED_AT)) == 0
        later = dt.datetime.fromisoformat(SUBMITTED_AT) + dt.timedelta(days=1, seconds=1)
        assert sidecar.tidy_orphans(LocalStore(inbox), later) == 1
    assert list(inbox.iterdir()) == []
    assert snapshot(outbox) == snapshot(ref_out)


def test_tidying_leaves_records_whose_file_is_there_and_records_it_cannot_read(tmp_path: Path) -> None:
    store: Store = LocalStore(tmp_path / "inbox")
    upload = tmp_path / "u.csv"
    upload.write_text("x")
    kept = sidecar.submit(store, upload, record(name="kept.csv"))
    store.write(".lost.csv.submission.json", b"garbage")
    store.write(".notes.txt", b"not a record")
    later = dt.datetime.fromisoformat(SUBMITTED_AT) + dt.timedelta(days=30)
    assert sidecar.tidy_orphans(store, later) == 0
    assert sorted(e.key for e in store.entries()) == sorted(
        [kept, f".{kept}.submission.json", ".lost.csv.submission.json", ".notes.txt"])


def test_the_nightly_flow_keeps_the_records_ssns_out_of_prefect_and_tidies_old_orphans(
        prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coc_intake.flows.intake import night_summary, nightly_intake
    from tests.intake_helpers import full_ssns_in, stored_by_prefect

    monkeypatch.delenv("COC_SMTP_HOST", raising=False)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    store = LocalStore(inbox)
    mine = write_csv(tmp_path / "mine 123-45-6789.csv", [self_employed(), self_employed(ssn="234-56-7890")])
    good = sidecar.submit(store, mine, record(eins=(), ssns=("123456789",), name=mine.name))
    bad = sidecar.submit(store, census(tmp_path / "uploads"), record(name="census.xlsx"))
    (inbox / f".{bad}.submission.json").write_bytes(b'{"ssns": ["123456789"]')  # corrupt: the file fails
    store.write(".gone.csv.submission.json", record(ssns=("123456789",), name="gone.csv").to_json())  # an orphan

    state = nightly_intake(str(inbox), str(outbox), AS_OF_DATE, return_state=True)
    summary = night_summary(state)
    assert [f.name for f in summary.failures] == [bad]
    assert [(f.result, f.rejected) for f in summary.files] == [(FileResult.PROCESSED, 1)]
    assert sorted(p.name for p in inbox.iterdir()) == sorted([bad, f".{bad}.submission.json"])
    assert good not in {p.name for p in inbox.iterdir()}

    stored = stored_by_prefect(state.state_details.flow_run_id)
    texts = [f"{r.name} {r.parameters} {r.state and r.state.message}" for r in stored["flow_runs"]]
    texts += [f"{r.name} {r.state and r.state.message}" for r in stored["task_runs"]]
    texts += [entry.message for entry in stored["logs"]]
    texts += [f"{a.data} {a.description}" for a in stored["artifacts"]]
    assert stored["flow_runs"] and len(stored["task_runs"]) >= 2 and stored["artifacts"]  # a task run per file
    assert full_ssns_in("\n".join(texts), ["123-45-6789", "234-56-7890"]) == []
