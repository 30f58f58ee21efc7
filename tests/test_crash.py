"""Crash safety of the nightly intake (docs/outputs.md#the-commit-protocol, docs/commands.md#coc-run): a kill -9 at
any moment, then a rerun, gives the outbox of an uninterrupted run — no lost source, no duplicate batch or request,
no half batch.

Two kinds of tests:

- a real ``coc run`` process (Prefect's embedded server and all) killed with SIGKILL while it writes the request
  documents of a 3,000-row file, then ``coc run`` again to completion; the whole outbox is compared, file by file
  and byte by byte, with an uninterrupted run of the plain functions into another outbox;
- the plain functions run in a forked child that kills itself with SIGKILL at one chosen moment (before any store
  operation, between two request documents, inside an atomic write, inside a claim), once per moment, each followed
  by a rerun in this process.

The mail ledger's delivery time is the one wall-clock value an outbox may hold; it is left out of the comparison.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from coc_intake import batch, store
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore
from tests.builders import AS_OF, row, write_csv, write_xlsx
from tests.intake_helpers import ROOT, manifest, run_intake, snapshot

COC = ROOT / ".venv" / "bin" / "coc"
BIG_ROWS = 3000


def big_ssn(i: int) -> str:
    """Distinct valid SSNs (areas 200-230), apart from the small files' ones."""
    return f"{200 + i // 99:03d}-{1 + i % 99:02d}-{1000 + i:04d}"


def write_inputs(folder: Path, big_rows: int | None) -> dict[str, bytes]:
    """Files taken in this order: a small one, (a big one,) a late one. The big file repeats a request of the
    small one and the late file one of the big one (or of the small one): ``duplicate-request`` across batches.
    Each has rejected rows and confirmation addresses; the small one has a referred row."""
    folder.mkdir(parents=True, exist_ok=True)
    write_xlsx(folder / "a-small.xlsx", [
        row(ssn="101-23-4567"),
        row(ssn="102-34-5678", assignment_end=row()["assignment_start"].replace(year=2033)),  # referred
        row(ssn="103-45-6789", worksite_city=None),  # rejected
    ])
    repeated = "101-23-4567"
    if big_rows is not None:
        big = [row(ssn=big_ssn(i), last_name="Worker", first_name=f"Number{'abcdefghij'[i % 10]}",
                   contact_email=f"hr{i % 3}@acme.example") for i in range(big_rows)]
        big.append(row(ssn=repeated, worksite_city="Munich"))  # the small file's request again
        big.append(row(ssn="900-11-2222"))  # rejected: invalid SSN
        write_xlsx(folder / "big.xlsx", big)
        repeated = big_ssn(0)
    write_csv(folder / "z-late.csv", [
        row(ssn=repeated, contact_email="late@acme.example"),  # an earlier file's request again
        row(ssn="104-56-7890", contact_email="late@acme.example"),
    ])
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def copy_inputs(files: dict[str, bytes], inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (inbox / name).write_bytes(data)


def reference_outbox(files: dict[str, bytes], where: Path) -> dict[str, bytes]:
    """The outbox of one uninterrupted intake (plain functions, confirmations written as .eml)."""
    copy_inputs(files, where / "in")
    summaries = run_intake(where / "in", where / "out")
    assert [s.result for s in summaries] == ["processed"] * len(files)
    assert list((where / "in").iterdir()) == []
    return snapshot(where / "out")


def describe_difference(got: dict[str, bytes], want: dict[str, bytes]) -> str:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    return f"missing {missing[:10]}, extra {extra[:10]}, changed {changed[:10]}"


# --- a real `coc run` killed with SIGKILL ---


def coc_env(prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COC_", "PREFECT_"))}
    env.update({"PREFECT_HOME": str(prefect_home), "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    return env


def coc_run(inbox: Path, outbox: Path) -> list[str]:
    return [str(COC), "run", "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", AS_OF]


@contextmanager
def process_group(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own; whatever is left of it (Prefect's server) is killed on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=log.parent)
        try:
            yield proc
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


@pytest.mark.slow
def test_coc_run_killed_while_writing_requests_then_rerun_gives_the_outbox_of_an_uninterrupted_run(
        tmp_path: Path) -> None:
    files = write_inputs(tmp_path / "inputs", BIG_ROWS)
    want = reference_outbox(files, tmp_path / "reference")
    big_id = batch.batch_id_of(files["big.xlsx"])[0]
    expected = len(json.loads(want[f"batches/{big_id}/manifest.json"])["request_ids"])
    assert expected == BIG_ROWS  # every row but the repeated request and the invalid SSN

    inbox, outbox = tmp_path / "run" / "in", tmp_path / "run" / "out"
    copy_inputs(files, inbox)
    env = coc_env(tmp_path / "prefect-home")
    requests = outbox / "batches" / big_id / "requests"
    seen = 0
    with process_group(coc_run(inbox, outbox), env, tmp_path / "interrupted.log") as proc:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = len(os.listdir(requests))
            except FileNotFoundError:
                seen = 0
            if 0 < seen < expected:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
    log = (tmp_path / "interrupted.log").read_text(errors="replace")
    assert proc.returncode == -signal.SIGKILL, f"coc run was not killed in time (saw {seen} requests):\n{log[-3000:]}"
    assert 0 < seen < expected

    # The moment of the kill: the big file half written and uncommitted, it and the late file still in the inbox.
    # Files are processed one after another in order of name: the small file (first) is committed, the late one not.
    assert not (outbox / "batches" / big_id / "manifest.json").exists()
    assert 0 < len(os.listdir(requests)) < expected
    left = sorted(p.name for p in inbox.iterdir())
    assert {"big.xlsx", "z-late.csv"} <= set(left)
    small_id = batch.batch_id_of(files["a-small.xlsx"])[0]
    assert (outbox / "batches" / small_id / "manifest.json").is_file() and "a-small.xlsx" not in left
    late_id = batch.batch_id_of(files["z-late.csv"])[0]
    assert not (outbox / "batches" / late_id / "manifest.json").exists()

    with process_group(coc_run(inbox, outbox), env, tmp_path / "rerun.log") as rerun:
        rerun.wait(timeout=600)
    rerun_log = (tmp_path / "rerun.log").read_text(errors="replace")
    assert rerun.returncode == 0, rerun_log[-3000:]

    assert list(inbox.iterdir()) == []
    got = snapshot(outbox)
    assert got == want, describe_difference(got, want)
    for name, data in files.items():  # no lost source
        assert got[f"batches/{batch.batch_id_of(data)[0]}/source/{name}"] == data


# --- the plain functions killed at every moment (forked children) ---

STORE_METHODS = ("write", "write_from", "write_many", "create", "delete", "sync")
STORE_FILE = store.__file__


def _instrument(kill_at: int | None, trace: list[str]) -> None:
    """In a forked child only: record every moment of the store's work; SIGKILL the child at moment ``kill_at``.

    Moments: before each store operation (``op …``); inside an atomic write (``write``, ``write_from``), once its
    temporary file is full but not renamed yet (``tmp …``); inside a claim, once its content is staged but not yet
    linked to the claim's key (``claim …``); before each file of a ``write_many`` (``item …``)."""
    from coc_intake import filewriter, store

    def hit(label: str) -> None:
        trace.append(label)
        if kill_at is not None and len(trace) - 1 == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    for name in STORE_METHODS:
        original = getattr(store.LocalStore, name)

        def wrapper(self: Any, first: Any, *args: Any, _original: Callable[..., Any] = original, _name: str = name,
                    **kwargs: Any) -> Any:
            what = f"{len(first)} items" if isinstance(first, list) else first
            hit(f"op {_name} {what}")
            return _original(self, first, *args, **kwargs)

        setattr(store.LocalStore, name, wrapper)

    real_link, real_replace, real_write = os.link, os.replace, os.write

    def from_store() -> str | None:
        frame = sys._getframe(2)
        return frame.f_code.co_name if frame.f_code.co_filename == STORE_FILE else None

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if from_store() == "create":
            hit("claim staged")
        return real_link(src, dst, *args, **kwargs)

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if from_store() == "_replace":  # write and write_from stage, then rename here
            hit(f"tmp full {Path(dst).name}")
        return real_replace(src, dst, *args, **kwargs)

    def write(fd: int, data: Any) -> int:
        # write_many's files are written by filewriter.write_file (shared with the helper process, which runs
        # apart and is not instrumented): each of its writes is a moment between two request documents.
        if sys._getframe(1).f_code is filewriter.write_file.__code__:
            hit("item")
        return real_write(fd, data)

    os.link, os.replace, os.write = link, replace, write


def _run_child(inbox: Path, outbox: Path, kill_at: int | None, trace_file: Path) -> int:
    """Run one intake in a forked child (killed at ``kill_at``); its exit status as ``waitpid`` reports it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            trace: list[str] = []
            _instrument(kill_at, trace)
            run_intake(inbox, outbox)
            trace_file.write_text(json.dumps(trace))
        except BaseException:
            trace_file.with_suffix(".error").write_text(traceback.format_exc())
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, bytes], list[str]]:
    """Three small files, the outbox of an uninterrupted run, and the moments of that run."""
    where = tmp_path_factory.mktemp("moments")
    files = write_inputs(where / "inputs", None)
    want = reference_outbox(files, where / "reference")
    copy_inputs(files, where / "dry" / "in")
    status = _run_child(where / "dry" / "in", where / "dry" / "out", None, where / "trace.json")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (where / "trace.error").read_text()
    assert snapshot(where / "dry" / "out") == want  # instrumenting changes nothing
    moments: list[str] = json.loads((where / "trace.json").read_text())
    return files, want, moments


def _kill_and_rerun(files: dict[str, bytes], want: dict[str, bytes], moments: list[str], kinds: tuple[str, ...],
                    where: Path, one_per_kind_of_file: bool = False) -> list[str]:
    """Kill a run at each moment of the given kinds, rerun it; the moments after which the outbox is wrong.

    ``one_per_kind_of_file``: only the first moment of each label, batch and message IDs aside."""
    wrong = []
    chosen = [i for i, m in enumerate(moments) if m.startswith(kinds)]
    if one_per_kind_of_file:
        labels = [re.sub(r"[0-9a-f]{16,}", "<id>", m) for m in moments]
        chosen = [i for i in chosen if labels.index(labels[i]) == i]
    assert chosen
    for i in chosen:
        inbox, outbox = where / f"k{i}" / "in", where / f"k{i}" / "out"
        copy_inputs(files, inbox)
        status = _run_child(inbox, outbox, i, where / f"k{i}.json")
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (i, moments[i])
        summaries = run_intake(inbox, outbox)
        got = snapshot(outbox)
        left = sorted(p.name for p in inbox.iterdir())
        if got != want or left:
            results = [(s.name, s.result) for s in summaries]
            wrong.append(f"killed at #{i} '{moments[i]}': inbox left {left}, rerun {results}; "
                         f"{describe_difference(got, want)}")
        shutil.rmtree(where / f"k{i}")
    return wrong


def _verdict(wrong: list[str]) -> str:
    return f"{len(wrong)} moments leave a wrong outbox after the rerun:\n" + "\n".join(wrong)


@pytest.mark.slow
def test_a_kill_before_any_store_operation_then_a_rerun_gives_the_uninterrupted_outbox(
        small_inputs: tuple[dict[str, bytes], dict[str, bytes], list[str]], tmp_path: Path) -> None:
    files, want, moments = small_inputs
    assert sum(m.startswith("op ") for m in moments) >= 15
    wrong = _kill_and_rerun(files, want, moments, ("op ",), tmp_path)
    assert not wrong, _verdict(wrong)


def test_a_kill_between_two_request_documents_then_a_rerun_gives_the_uninterrupted_outbox(
        small_inputs: tuple[dict[str, bytes], dict[str, bytes], list[str]], tmp_path: Path) -> None:
    files, want, moments = small_inputs
    wrong = _kill_and_rerun(files, want, moments, ("item",), tmp_path)
    assert not wrong, _verdict(wrong)


@pytest.mark.slow
def test_a_kill_inside_an_atomic_write_leaves_no_temporary_file_after_the_rerun(
        small_inputs: tuple[dict[str, bytes], dict[str, bytes], list[str]], tmp_path: Path) -> None:
    files, want, moments = small_inputs
    wrong = _kill_and_rerun(files, want, moments, ("tmp ",), tmp_path, one_per_kind_of_file=True)
    assert not wrong, _verdict(wrong)


def test_a_kill_while_a_claim_is_written_does_not_keep_the_file_from_the_rerun(
        small_inputs: tuple[dict[str, bytes], dict[str, bytes], list[str]], tmp_path: Path) -> None:
    files, want, moments = small_inputs
    wrong = _kill_and_rerun(files, want, moments, ("claim",), tmp_path)
    assert not wrong, _verdict(wrong)


def test_a_half_written_uncommitted_batch_does_not_exist_for_known_requests(tmp_path: Path) -> None:
    """What a kill leaves before the manifest (requests, results, no manifest) makes no ``duplicate-request``."""
    files = write_inputs(tmp_path / "inputs", None)
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    copy_inputs({"a-small.xlsx": files["a-small.xlsx"]}, inbox)
    [summary] = run_intake(inbox, outbox, deliver=False)
    (outbox / "batches" / summary.batch_id / "manifest.json").unlink()
    assert len(KnownRequests.load(Outbox(LocalStore(outbox)))) == 0
    copy_inputs({"a-small.xlsx": files["a-small.xlsx"]}, inbox)
    [again] = run_intake(inbox, outbox, deliver=False)
    assert (again.result, again.approved, again.rejected) == ("processed", 1, 1)
    assert manifest(outbox, again)["error_counts"].get("duplicate-request") is None
