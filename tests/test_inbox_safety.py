"""No single inbox file can stop the night (docs/outputs.md#the-commit-protocol, docs/decisions.md#inbox): relative
locations, a file changed after it was read, names and entries the intake cannot take, a read-only inbox, a failure
mid-write, and a file that kills its reader.

Every file is built by the test. Two tests run ``coc run`` for real (Prefect's harness): they cost seconds each.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from coc_intake import batch
from coc_intake.batch import FileSummary, Submission
from coc_intake.history import KnownRequests
from coc_intake.night import NightSummary
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.states import FileResult
from coc_intake.store import LocalStore, absolute_uri, open_store
from tests.builders import AS_OF, row, write_csv
from tests.intake_helpers import AS_OF_DATE, read_csv, summary_column


def _process(inbox: Path, outbox: Path, name: str) -> FileSummary:
    return batch.process_file(LocalStore(inbox), Outbox(LocalStore(outbox)), name, AS_OF_DATE, Settings(),
                              KnownRequests())


def _dead_pid() -> int:
    """The pid of a process that has ended (it is not reused this soon)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def _dead_claim(outbox: Path, batch_id: str, deaths: int = 0) -> None:
    """What a run killed while it held the batch leaves: its claim, naming a process that is gone."""
    record: dict[str, Any] = {"host": socket.gethostname(), "pid": _dead_pid(), "at": 9e12}
    if deaths:
        record["deaths"] = deaths
    LocalStore(outbox).write(f"claims/{batch_id}.json", json.dumps(record).encode())


def _odd_entries(inbox: Path, elsewhere: Path) -> None:
    """A non-UTF-8 name, a name with a line break, a symbolic link (to a file outside the inbox) and a sub-folder
    holding a file."""
    write_csv(Path(os.fsdecode(os.path.join(os.fsencode(inbox), b"caf\xe9.csv"))), [row(ssn="111-22-3333")])
    write_csv(inbox / "two\nlines.csv", [row(ssn="111-22-4444")])
    write_csv(elsewhere / "secret.csv", [row(ssn="111-22-5555")])
    (inbox / "link.csv").symlink_to(elsewhere / "secret.csv")
    (inbox / "sub").mkdir()
    write_csv(inbox / "sub" / "deep.csv", [row(ssn="111-22-6666")])


ODD_SHOWN = {"caf\\xe9.csv", "two\\nlines.csv", "link.csv", "sub"}


def _first_column(table: str) -> str:
    """The file names of ``coc run``'s plain summary, joined."""
    return "".join(summary_column(table, "file"))


# --- paths ------------------------------------------------------------------------------------------------------


def test_settings_make_relative_folders_absolute_and_leave_s3_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(inbox="in", outbox="s3://bucket/out")
    assert (settings.inbox, settings.outbox) == (str(tmp_path / "in"), "s3://bucket/out")
    assert absolute_uri("s3://b/p") == "s3://b/p"
    assert LocalStore("out").root == tmp_path / "out"


def test_coc_run_and_report_with_relative_folders_and_odd_entries_in_the_inbox(
        prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coc_intake.cli import app

    monkeypatch.delenv("COC_SMTP_HOST", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "elsewhere").mkdir()
    _odd_entries(tmp_path / "in", tmp_path / "elsewhere")
    # A rejected row too: the report's charts need one (without, report_render fails on an empty chart today).
    write_csv(tmp_path / "in" / "night1.csv", [row(contact_email="hr@acme.example"), row(ssn="900-11-2222")])
    run = ["run", "--inbox", "in", "--outbox", "out", "--as-of", AS_OF]

    first = CliRunner().invoke(app, run)
    assert first.exit_code == 0, first.output
    assert summary_column(first.stdout, "result").count("set-aside") == len(ODD_SHOWN)
    assert "caf\\xe9.csv" in _first_column(first.stdout)  # Rich folds long names over several lines
    assert len(list((tmp_path / "out" / "mail").glob("*.eml"))) == 1  # delivered on night 1
    assert not (tmp_path / "in" / "night1.csv").exists()
    assert (tmp_path / "in" / "link.csv").is_symlink() and (tmp_path / "elsewhere" / "secret.csv").is_file()
    assert (tmp_path / "in" / "sub" / "deep.csv").is_file()

    write_csv(tmp_path / "in" / "night2.csv", [row(ssn="222-33-4444")])
    second = CliRunner().invoke(app, run)  # every later night goes through its files too
    assert second.exit_code == 0, second.output
    assert not (tmp_path / "in" / "night2.csv").exists()
    assert len(list((tmp_path / "out" / "batches").glob("*/manifest.json"))) == 2

    report = CliRunner().invoke(app, ["report", "--outbox", "out", "--out", "reports"])
    assert report.exit_code == 0, report.output
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".html", ".xlsx"]


# --- names and entries the intake cannot take ------------------------------------------------------------------


def test_folders_links_and_unusable_names_are_set_aside_with_a_reason_and_left_alone(tmp_path: Path) -> None:
    inbox, outbox, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    inbox.mkdir()
    elsewhere.mkdir()
    _odd_entries(inbox, elsewhere)
    write_csv(inbox / "good.csv", [row()])
    before = sorted(os.listdir(os.fsencode(inbox)))

    listing = batch.survey_inbox(LocalStore(inbox))
    assert listing.names == ["good.csv"]
    aside = {s.name: s for s in listing.set_aside}
    assert set(aside) == ODD_SHOWN
    assert {s.result for s in aside.values()} == {FileResult.SET_ASIDE}
    assert "UTF-8" in aside["caf\\xe9.csv"].note
    assert "control character" in aside["two\\nlines.csv"].note
    assert "symbolic link" in aside["link.csv"].note
    assert "folder" in aside["sub"].note
    assert all("\n" not in s.note for s in aside.values())

    done = _process(inbox, outbox, "good.csv")
    summary = NightSummary(AS_OF_DATE, [done, *listing.set_aside])
    text = summary.markdown()  # the end-of-run summary: showable and encodable whatever the names
    text.encode("utf-8")
    assert "4 set-aside" in summary.verdict()
    assert sorted(os.listdir(os.fsencode(inbox))) == [n for n in before if n != b"good.csv"]
    assert not summary.failed


def test_s3_keys_in_sub_folders_are_reported_and_a_changed_object_is_kept(s3_env: dict[str, str]) -> None:
    store = open_store(f"s3://{s3_env['BUCKET']}/inbox")
    store.write("a.csv", b"x")
    store.write("sub/deep.csv", b"y")
    listing = batch.survey_inbox(store)
    assert listing.names == ["a.csv"]
    assert [(s.name, s.result) for s in listing.set_aside] == [("sub", FileResult.SET_ASIDE)]
    sha = batch.batch_id_of(b"x")[1]
    assert not store.delete_if_same("a.csv", 1, batch.batch_id_of(b"z")[1])
    assert store.exists("a.csv")
    assert store.delete_if_same("a.csv", 1, sha)
    assert not store.exists("a.csv")


# --- the file changed after it was read -------------------------------------------------------------------------


def test_a_file_appended_to_after_its_copy_stays_in_the_inbox_and_is_a_new_file_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    path = write_csv(inbox / "census.csv", [row(ssn="123-45-6789"), row(ssn="234-56-7890")])
    read = path.read_bytes()
    late = b"\n".join(read.rstrip(b"\r\n").splitlines()[-1:]).replace(b"234-56-7890", b"345-67-8901") + b"\r\n"
    copy_to = Submission.copy_to

    def copy_then_append(self: Submission, box: Outbox) -> None:
        copy_to(self, box)
        with path.open("ab") as fh:  # the employer's program writes one more row after the copy
            fh.write(late)

    monkeypatch.setattr(Submission, "copy_to", copy_then_append)
    first = _process(inbox, outbox, "census.csv")
    assert (first.result, first.rows) == (FileResult.PROCESSED, 2)
    assert "changed in the inbox" in first.note
    assert path.read_bytes() == read + late  # kept, late bytes and all
    assert (outbox / "batches" / first.batch_id / "source" / "census.csv").read_bytes() == read
    assert Outbox(LocalStore(outbox)).claims() == []

    monkeypatch.setattr(Submission, "copy_to", copy_to)
    box = Outbox(LocalStore(outbox))
    second = batch.process_file(LocalStore(inbox), box, "census.csv", AS_OF_DATE, Settings(),
                                KnownRequests.load(box))
    assert second.batch_id != first.batch_id
    assert (second.result, second.rows, second.note) == (FileResult.PROCESSED, 3, "")
    assert not path.exists()


# --- a read-only inbox ------------------------------------------------------------------------------------------


def _chmod_protects(folder: Path) -> bool:
    """Whether a folder without write permission refuses a new file here (not for root, as CI runs)."""
    probe = folder / "probe"
    probe.mkdir()
    probe.chmod(0o500)
    try:
        (probe / "x").touch()
    except PermissionError:
        return True
    finally:
        probe.chmod(0o700)
    return False


def test_a_committed_batch_whose_source_cannot_be_deleted_is_processed_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    path = write_csv(inbox / "acme.csv", [row()])
    if _chmod_protects(tmp_path):
        inbox.chmod(0o500)
    else:
        def refuse(self: LocalStore, key: str, size: int, sha256: str) -> bool:
            raise PermissionError(errno.EACCES, "Permission denied", str(self.root / key))

        monkeypatch.setattr(LocalStore, "delete_if_same", refuse)
    try:
        first = _process(inbox, outbox, "acme.csv")
        again = _process(inbox, outbox, "acme.csv")
    finally:
        inbox.chmod(0o700)
        monkeypatch.undo()
    assert (first.result, first.approved) == (FileResult.PROCESSED, 1)
    assert "could not be deleted" in first.note and "Permission denied" in first.note
    assert str(inbox) not in first.note  # one line, no path
    assert (outbox / "batches" / first.batch_id / "manifest.json").is_file()
    assert path.exists()
    assert (again.result, again.batch_id) == (FileResult.ALREADY_PROCESSED, first.batch_id)
    assert "could not be deleted" in again.note

    tidied = _process(inbox, outbox, "acme.csv")  # the inbox is writable again: the next night tidies it
    assert (tidied.result, tidied.note) == (FileResult.ALREADY_PROCESSED, "")
    assert not path.exists()


# --- a failure mid-write ----------------------------------------------------------------------------------------


def test_a_batch_failing_mid_write_removes_what_it_wrote_before_the_next_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    write_csv(inbox / "a-full.csv", [row(ssn=f"123-45-{6780 + i}", contact_email="hr@acme.example") for i in range(5)])
    write_csv(inbox / "b-next.csv", [row(ssn="234-56-7890")])
    stage = Outbox.stage

    def disk_full(self: Outbox, batch_id: str, manifest: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # The failure comes last, once the requests, documents, queued mail and source's copy are written.
    monkeypatch.setattr(Outbox, "stage", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _process(inbox, outbox, "a-full.csv")
    failed_id = batch.open_submission(LocalStore(inbox), "a-full.csv").batch_id
    assert not (outbox / "batches" / failed_id).exists()
    assert list((outbox / "mail" / "queue").glob("*")) == []
    assert Outbox(LocalStore(outbox)).claims() == []
    assert (inbox / "a-full.csv").exists()

    monkeypatch.setattr(Outbox, "stage", stage)
    assert _process(inbox, outbox, "b-next.csv").result == FileResult.PROCESSED
    redo = _process(inbox, outbox, "a-full.csv")  # the next night
    assert (redo.result, redo.approved, redo.batch_id) == (FileResult.PROCESSED, 5, failed_id)


# --- a file that kills its reader ---------------------------------------------------------------------------------


def test_claims_count_the_deaths_of_the_runs_that_held_them(tmp_path: Path) -> None:
    box = Outbox(LocalStore(tmp_path))
    _dead_claim(tmp_path, "b")
    claim = box.claim("b", ttl=3600)
    assert claim is not None and (claim.deaths, claim.poisonous) == (1, False)
    record = json.loads((tmp_path / "claims" / "b.json").read_bytes())
    assert (record["pid"], record["deaths"]) == (os.getpid(), 1)
    record["pid"] = _dead_pid()  # this run dies too
    (tmp_path / "claims" / "b.json").write_text(json.dumps(record))
    claim = box.claim("b", ttl=3600)
    assert claim is not None and (claim.deaths, claim.poisonous) == (2, True)
    box.release("b")
    claim = box.claim("b", ttl=3600)  # a claim released normally ends the count
    assert claim is not None and claim.deaths == 0
    assert "deaths" not in json.loads((tmp_path / "claims" / "b.json").read_bytes())


def test_one_death_is_not_enough_to_set_a_file_aside(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    write_csv(inbox / "acme.csv", [row()])
    _dead_claim(outbox, batch.open_submission(LocalStore(inbox), "acme.csv").batch_id)
    summary = _process(inbox, outbox, "acme.csv")
    assert (summary.result, summary.approved) == (FileResult.PROCESSED, 1)


def test_a_file_whose_reading_killed_two_runs_is_rejected_whole_without_being_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    path = write_csv(inbox / "poison.csv", [row()])
    data = path.read_bytes()
    batch_id = batch.open_submission(LocalStore(inbox), "poison.csv").batch_id
    _dead_claim(outbox, batch_id, deaths=1)  # the first run died on it, then the second one (this claim's)

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was read a third time")

    monkeypatch.setattr(batch, "FileCheck", no_reading)
    summary = _process(inbox, outbox, "poison.csv")
    assert (summary.result, summary.batch_id, summary.rows) == (FileResult.REJECTED_FILE, batch_id, 0)
    folder = outbox / "batches" / batch_id
    manifest = json.loads((folder / "manifest.json").read_bytes())
    assert (manifest["status"], manifest["error_counts"]) == ("rejected-file", {"unreadable-file": 1})
    [error] = read_csv(folder / "errors.csv")
    assert error["code"] == "unreadable-file"
    assert "stopped the intake 2 times" in error["message"]  # what the employer reads in results.xlsx too
    assert (folder / "source" / "poison.csv").read_bytes() == data
    assert not path.exists()
    assert Outbox(LocalStore(outbox)).claims() == []
