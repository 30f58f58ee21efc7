"""``coc status NAME|BATCH_ID|REQUEST_ID`` (docs/commands.md#coc-status) and the lookup behind it
(``coc_intake.status``), over real inbox and outbox folders filled by the intake's own functions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from coc_intake import runs, status
from coc_intake.cli import app
from coc_intake.night import FileFailure, NightSummary
from coc_intake.outbox import Outbox
from coc_intake.status import FileState, RequestStatus
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE, run_intake

LATER = AS_OF_DATE + dt.timedelta(days=1)


def coc_status(stores: tuple[Path, Path], query: str, *extra: str) -> Any:
    inbox, outbox = stores
    return CliRunner().invoke(app, ["status", query, "--inbox", str(inbox), "--outbox", str(outbox), *extra])


def status_json(stores: tuple[Path, Path], query: str) -> dict[str, Any]:
    result = coc_status(stores, query, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def boxes(stores: tuple[Path, Path]) -> tuple[LocalStore, Outbox]:
    return LocalStore(stores[0]), Outbox(LocalStore(stores[1]))


def test_a_file_in_the_inbox_that_no_run_has_seen_is_waiting(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    result = coc_status(stores, "census.xlsx")
    assert result.exit_code == 0, result.output
    assert "census.xlsx: waiting in the inbox" in result.stdout
    assert status_json(stores, "census.xlsx")["files"] == [
        {"name": "census.xlsx", "state": "waiting", "batch_id": None, "counts": {}, "reason": None, "as_of": None}]


def test_a_processed_file_shows_its_batch_and_counts(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row(), row(ssn="234-56-7891", assignment_start="31/02/2027")])
    (summary,) = run_intake(*stores)
    result = coc_status(stores, "census.xlsx")
    assert result.exit_code == 0, result.output
    assert f"batch {summary.batch_id}" in result.stdout
    assert "2 rows: 1 approved, 0 referred, 1 rejected" in result.stdout
    (found,) = status_json(stores, "census.xlsx")["files"]
    assert found["state"] == "processed" and found["batch_id"] == summary.batch_id
    assert found["counts"] == {"rows": 2, "approved": 1, "referred": 0, "rejected": 1, "already_requested": 0}
    assert found["as_of"] == AS_OF_DATE.isoformat()
    # the batch ID finds the same file
    assert status_json(stores, summary.batch_id)["files"] == [found]


def test_a_file_rejected_whole_shows_why_in_one_line(stores: tuple[Path, Path]) -> None:
    (stores[0] / "broken.xlsx").write_bytes(b"not a workbook at all")
    (summary,) = run_intake(*stores)
    result = coc_status(stores, "broken.xlsx")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"broken.xlsx: rejected whole (batch {summary.batch_id}") and "unreadable-file" in line
    (found,) = status_json(stores, "broken.xlsx")["files"]
    assert found["state"] == "rejected-file" and found["reason"].startswith("unreadable-file: ")


def test_a_file_that_failed_stays_failed_with_the_masked_error_of_the_last_run(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "payroll 212-48-1937.xlsx", [row()])
    inbox, outbox = boxes(stores)
    failure = FileFailure.of("payroll 212-48-1937.xlsx", OSError("disk full\nwhile writing 212-48-1937"))
    runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[failure]))

    result = coc_status(stores, "payroll 212-48-1937.xlsx")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1 and "212-48-1937" not in result.stdout
    assert "payroll ***-**-1937.xlsx: failed in the run as of 2026-11-25 and stays in the inbox" in result.stdout
    assert "OSError: disk full while writing ***-**-1937" in result.stdout
    found = status.of_file(inbox, outbox, name="payroll 212-48-1937.xlsx")
    assert (found.state, found.reason) == (FileState.FAILED, "OSError: disk full while writing ***-**-1937")


def test_a_failed_file_that_a_later_run_did_not_fail_is_waiting_again(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    inbox, outbox = boxes(stores)
    runs.record_run(outbox, NightSummary(AS_OF_DATE, failures=[FileFailure.of("census.xlsx", OSError("x"))]))
    runs.record_run(outbox, NightSummary(LATER))  # a later run over another inbox, say
    assert status.of_file(inbox, outbox, name="census.xlsx").state == FileState.FAILED  # still the last that saw it
    assert status.of_file(inbox, outbox, name="other.xlsx").state == FileState.UNKNOWN


def test_the_same_bytes_under_another_name_are_already_processed_by_the_first_batch(
        stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    (first,) = run_intake(*stores)
    (stores[0] / "census copy.xlsx").write_bytes((stores[1] / "batches" / first.batch_id / "source" /
                                                  "census.xlsx").read_bytes())
    (again,) = run_intake(*stores, as_of=LATER)
    assert again.result == "already-processed"
    result = coc_status(stores, "census copy.xlsx")
    assert result.exit_code == 0, result.output
    assert f"census copy.xlsx: already processed: the same bytes as census.xlsx, processed as batch " \
           f"{first.batch_id}" in result.stdout
    (found,) = status_json(stores, "census copy.xlsx")["files"]
    assert (found["state"], found["batch_id"], found["counts"]["approved"]) == ("already-processed", first.batch_id, 1)


def test_a_name_resubmitted_with_new_content_lists_every_batch_newest_first(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [row()])
    (first,) = run_intake(*stores)
    write_xlsx(stores[0] / "census.xlsx", [row(), row(ssn="234-56-7891")])
    (second,) = run_intake(*stores, as_of=LATER)
    write_xlsx(stores[0] / "census.xlsx", [row(ssn="345-67-8912")])  # and a third, waiting

    found = status_json(stores, "census.xlsx")["files"]
    assert [(f["state"], f["batch_id"]) for f in found] == [
        ("waiting", None), ("processed", second.batch_id), ("processed", first.batch_id)]
    result = coc_status(stores, "census.xlsx")
    assert result.stdout.splitlines()[0] == "census.xlsx: 3 matches, newest first."
    inbox, outbox = boxes(stores)
    assert status.of_file(inbox, outbox, name="census.xlsx", batch_id=first.batch_id).counts["rows"] == 1


def test_a_request_shows_its_status_batch_and_the_specialists_decisions(stores: tuple[Path, Path]) -> None:
    write_xlsx(stores[0] / "census.xlsx", [
        row(), row(ssn="234-56-7891", assignment_start=dt.date(2027, 1, 1), assignment_end=dt.date(2032, 6, 30))])
    (summary,) = run_intake(*stores)
    assert (summary.approved, summary.referred) == (1, 1)
    inbox, outbox = boxes(stores)
    ids = {outbox.request(summary.batch_id, rid)["status"]: rid for rid in outbox.manifest(summary.batch_id)[
        "request_ids"]}

    approved = coc_status(stores, ids["approved"])
    assert approved.exit_code == 0, approved.output
    assert approved.stdout == f"{ids['approved']}: approved (batch {summary.batch_id}).\n"

    referred = ids["referred"]
    assert "No specialist's decision yet." in coc_status(stores, referred).stdout
    outbox.add_decision(referred, {"decision": "denied", "by": "s1@ssa.example", "at": "2026-11-26", "note": "no"})
    outbox.add_decision(referred, {"decision": "approved", "by": "s2@ssa.example", "at": "2026-11-27",
                                   "note": "extension granted"})
    text = coc_status(stores, referred.lower()).stdout
    assert f"{referred}: referred (batch {summary.batch_id})." in text
    assert "Decision 2: approved by s2@ssa.example on 2026-11-27: extension granted" in text
    assert text.rstrip().endswith("The latest decision counts: approved.")
    doc = status_json(stores, referred)
    assert doc["files"] == [] and doc["request"]["status"] == "referred"
    assert [d["decision"] for d in doc["request"]["decisions"]] == ["denied", "approved"]
    found = status.lookup(inbox, outbox, referred)
    assert isinstance(found, RequestStatus) and found.batch_id == summary.batch_id


@pytest.mark.parametrize("query", ["nothing.xlsx", "0123456789abcdef", "COC-DE-AAAAAAAAAA", "../etc/passwd"])
def test_nothing_found_exits_1_saying_what_was_searched_and_how_to_fix_it(
        stores: tuple[Path, Path], query: str) -> None:
    stores[1].mkdir()
    result = coc_status(stores, query)
    assert result.exit_code == 1
    assert "Nothing matches" in result.stderr and str(stores[0]) in result.stderr and str(stores[1]) in result.stderr
    assert "--outbox" in result.stderr and result.stdout == ""


def test_finding_a_request_among_a_thousand_batches_checks_each_folder_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup asks one existence question per batch folder and reads no manifest but the match's."""
    outbox = Outbox(LocalStore(tmp_path / "out"))
    for i in range(1000):
        outbox.store.write(f"batches/{i:016x}/manifest.json", b"{}")
    outbox.store.write(f"batches/{999:016x}/requests/COC-DE-AAAAAAAAAA.json",
                       json.dumps({"status": "approved", "as_of": "2026-11-25"}).encode())
    reads: list[str] = []
    real_read = LocalStore.read
    monkeypatch.setattr(LocalStore, "read", lambda self, key: reads.append(key) or real_read(self, key))
    found = status.of_request(outbox, "COC-DE-AAAAAAAAAA")
    assert found is not None and found.batch_id == f"{999:016x}"
    assert reads == [f"batches/{999:016x}/requests/COC-DE-AAAAAAAAAA.json"]
