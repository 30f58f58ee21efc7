"""One inbox file into one batch: read → check → write → stage → commit → take the source out of the inbox.

The outbox's commit protocol (``outbox.Outbox``) makes a batch appear whole or not at all; the source leaves the
inbox only after its batch is committed, so a crash at any moment loses nothing and doubles nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from coc_intake import history, mail, outputs
from coc_intake.engine import CheckedRows, FileCheck
from coc_intake.errors import TransientError
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.requestwriter import RequestWriter
from coc_intake.settings import Settings
from coc_intake.states import FileResult
from coc_intake.store import Store
from coc_intake.timing import stage
from coc_intake.workbook import build_results_workbook


@dataclass
class FileSummary:
    """What happened to one inbox file: small enough to pass between tasks and show in logs (no personal data)."""

    name: str
    batch_id: str
    result: FileResult
    rows: int = 0
    approved: int = 0
    referred: int = 0
    rejected: int = 0
    already_requested: int = 0
    requests: int = 0
    pending: bool = False
    """Prepared but not committed yet (no manifest)."""
    known_version: int = 0
    """The registry of earlier requests it was prepared with (``KnownRequests.version``)."""

    def __post_init__(self) -> None:
        self.result = FileResult(self.result)  # a process pool or Dask may hand it back as text


def _batch_id(sha: str) -> str:
    """A batch is named after its file's content: the first 16 hex digits of its SHA-256."""
    return sha[:16]


def batch_id_of(data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    return _batch_id(sha), sha


@dataclass(frozen=True)
class Submission:
    """One inbox file as intake reads it: its path when the inbox is a folder (the reader maps the file itself, so a
    125 MB workbook is not also held in memory), else its bytes."""

    name: str
    source: bytes | Path
    sha: str
    size: int

    @property
    def batch_id(self) -> str:
        return _batch_id(self.sha)

    def copy_to(self, outbox: Outbox) -> None:
        """Write the bytes that were hashed into the batch's ``source/`` (streamed from a local file). A file
        replaced in the inbox while it was being processed fails the batch as a transient error (a retry reads the
        new file whole), never a batch of mixed content."""
        if outbox.write_source(self.batch_id, self.name, self.source) not in (None, self.sha):
            outbox.delete_source(self.batch_id, self.name)
            raise TransientError(f"{self.name} changed in the inbox while it was being processed; it is read again")


def open_submission(inbox: Store, name: str) -> Submission:
    """Raises FileNotFoundError when the file is gone (another run took it)."""
    path = inbox.local_path(name)
    if path is None:
        data = inbox.read(name)
        return Submission(name, data, batch_id_of(data)[1], len(data))
    with path.open("rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
        size = fh.tell()
    return Submission(name, path, sha, size)


def list_inbox(inbox: Store) -> list[str]:
    """The files waiting, in order of name; hidden files and Excel's lock files (``~$…``) are not submissions."""
    names = [k for k in inbox.list() if "/" not in k]
    return sorted(n for n in names if not n.startswith((".", "~$")))


def process_file(inbox: Store, outbox: Outbox, name: str, as_of: dt.date, settings: Settings,
                 known: KnownRequests) -> FileSummary:
    """Process one inbox file into a committed batch and take it out of the inbox: what a nightly run does with
    each file, in one call. ``known`` grows with the batch's request IDs."""
    prepared = prepare_file(inbox, outbox, name, as_of, settings, known)
    with stage("commit"):
        return commit_file(inbox, outbox, prepared, as_of, settings, known)


def prepare_file(inbox: Store, outbox: Outbox, name: str, as_of: dt.date, settings: Settings,
                 known: KnownRequests) -> FileSummary:
    """Write the whole batch but its commit marker (``pending`` set) and keep the file claimed; or say why not."""
    try:
        file = open_submission(inbox, name)
    except FileNotFoundError:
        return FileSummary(name, "", FileResult.TAKEN_BY_ANOTHER_RUN)
    batch_id = file.batch_id
    if outbox.is_committed(batch_id):
        return _already(inbox, outbox, file)
    if not outbox.claim(batch_id, settings.claim_ttl_seconds):
        return FileSummary(name, batch_id, FileResult.TAKEN_BY_ANOTHER_RUN)
    try:
        if outbox.is_committed(batch_id):  # committed by another run between our check and our claim
            return _already(inbox, outbox, file)
        outbox.tidy(batch_id)
        return _write_batch(outbox, file, as_of, settings, known)
    except BaseException:
        outbox.release(batch_id)
        raise


def commit_file(inbox: Store, outbox: Outbox, summary: FileSummary, as_of: dt.date, settings: Settings,
                known: KnownRequests) -> FileSummary:
    """Commit a prepared batch: write its manifest (the batch now exists), take the source out of the inbox, release
    the claim, and add its requests to ``known``.

    A batch prepared beside others (a parallel run) did not know the requests of the files before it in the same
    run: if one of them made a request for one of its workers (the same request, or a successive or concurrent
    one), it is prepared again first.
    """
    if not summary.pending:
        return summary
    staged = history.from_parquet(outbox.read_history(summary.batch_id) or b"", summary.batch_id)
    if known.since(summary.known_version)["ssn"].isin(staged["ssn"].to_numpy()).any():
        summary = _redo(inbox, outbox, summary, _staged_ids(outbox, summary.batch_id), as_of, settings, known)
        staged = history.from_parquet(outbox.read_history(summary.batch_id) or b"", summary.batch_id)
    outbox.commit(summary.batch_id)
    outbox.release(summary.batch_id)
    inbox.delete(summary.name)  # last: until the file is gone, a rerun finishes the clean-up above
    known.add(summary.batch_id, staged)
    return replace(summary, pending=False)


def _staged_ids(outbox: Outbox, batch_id: str) -> list[str]:
    ids: list[str] = outbox.staged_manifest(batch_id).get("request_ids", [])
    return ids


def _redo(inbox: Store, outbox: Outbox, summary: FileSummary, before: list[str], as_of: dt.date, settings: Settings,
          known: KnownRequests) -> FileSummary:
    """Write a prepared, uncommitted batch again with more known requests: its stale request documents and queued
    messages go."""
    file = open_submission(inbox, summary.name)
    for message in outbox.queued(file.batch_id):
        outbox.dequeue(message)
    redone = _write_batch(outbox, file, as_of, settings, known)
    for rid in set(before) - set(_staged_ids(outbox, redone.batch_id)):
        outbox.delete_request(redone.batch_id, rid)
    return redone


def _already(inbox: Store, outbox: Outbox, file: Submission) -> FileSummary:
    """The batch is committed: finish what a run killed after its commit left undone, and take the file out."""
    if not outbox.has_source(file.batch_id, file.name):
        file.copy_to(outbox)
    outbox.unstage(file.batch_id)
    outbox.release(file.batch_id)
    outbox.tidy(file.batch_id)
    inbox.delete(file.name)
    return FileSummary(file.name, file.batch_id, FileResult.ALREADY_PROCESSED)


def _write_batch(outbox: Outbox, file: Submission, as_of: dt.date, settings: Settings,
                 known: KnownRequests) -> FileSummary:
    """Check the file and write every document of its batch; the manifest is staged, not committed."""
    batch_id = file.batch_id
    with RequestWriter(outbox, batch_id, as_of) as requests:
        with FileCheck(file.source, file.name, as_of, settings.limits, known) as check:
            # A large file's rows are checked in parts: each part's requests are written while the next is checked.
            for part in check.parts():
                requests.add(part)
            outcome = check.outcome()
        # The other outputs are built while the request files are written: their building is Python work, the
        # writing mostly the file system's. "write requests" is the wait left once they are done.
        with stage("write csv"):
            outbox.write_document(batch_id, "results.csv", outputs.results_csv(outcome))
            outbox.write_document(batch_id, "errors.csv", outputs.errors_csv(outcome))
        with stage("write workbooks"):
            outbox.write_document(batch_id, "results.xlsx", build_results_workbook(outcome, as_of))
        with stage("commit"):
            outbox.queue_messages(batch_id, mail.compose(outcome, batch_id, as_of, settings.mail_from))
            # The manifest is built now, from the IDs being written, while they are being written.
            request_ids = outputs.request_ids(outcome)
            manifest = outputs.manifest(outcome, batch_id, file.sha, file.size, as_of, request_ids)
        with stage("write requests"):
            written = requests.finish()
        if written != request_ids:  # pragma: no cover - both come from the same positions
            raise RuntimeError(f"{file.name}: the request files written differ from the manifest's request IDs")
    with stage("commit"):
        # The batch's requests with their workers and periods, for the registry of later files and runs.
        outbox.write_history(batch_id, history.to_parquet(history.of_outcome(outcome)))
        file.copy_to(outbox)
        outbox.stage(batch_id, manifest)
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    return FileSummary(file.name, batch_id, outcome.status, requests=len(request_ids), pending=True,
                       known_version=known.version, **counts)
