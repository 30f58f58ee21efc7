"""One inbox file into one batch: read → check → write → stage → commit → take the source out of the inbox.

The outbox's commit protocol (``outbox.Outbox``) makes a batch appear whole or not at all; the source leaves the
inbox only after its batch is committed, and only if it still holds the bytes of the batch, so a crash at any moment
loses nothing and doubles nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from coc_intake import history, mail, outputs, redact, referral_index, sidecar
from coc_intake.engine import FileCheck, Outcome, rejected_file
from coc_intake.errors import TransientError
from coc_intake.history import KnownRequests
from coc_intake.outbox import Claim, Outbox
from coc_intake.requestwriter import RequestWriter
from coc_intake.settings import Settings
from coc_intake.sidecar import Authorization, SubmissionRecord
from coc_intake.states import FileResult
from coc_intake.store import Entry, Store
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
    note: str = ""
    """One line for the operator, no personal data: why the entry was set aside, or what to know of a file that was
    processed (it changed in the inbox after it was read, or could not be deleted from it)."""
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
    record: SubmissionRecord | None = None
    """The portal's sidecar record, when the file came through the portal."""

    @property
    def authorization(self) -> Authorization | None:
        return None if self.record is None else Authorization.of(self.record)

    @property
    def batch_id(self) -> str:
        return _batch_id(self.sha)

    @property
    def submission_id(self) -> str | None:
        return None if self.record is None else self.record.submission_id

    def keep_record(self, outbox: Outbox) -> None:
        """A copy of the sidecar into the batch (before its commit, or to finish one)."""
        if self.record is not None and not outbox.has_submission(self.batch_id, self.record.submission_id):
            outbox.keep_submission(self.batch_id, self.record.submission_id, self.record.to_json())

    def copy_to(self, outbox: Outbox) -> None:
        """Write the bytes that were hashed into the batch's ``source/`` (streamed from a local file). A file
        replaced in the inbox while it was being processed fails the batch as a transient error (a retry reads the
        new file whole), never a batch of mixed content."""
        if outbox.write_source(self.batch_id, self.name, self.source) not in (None, self.sha):
            outbox.delete_source(self.batch_id, self.name)
            raise TransientError(f"{self.name} changed in the inbox while it was being processed; it is read again")


def open_submission(inbox: Store, name: str) -> Submission:
    """The file and its sidecar record, if it has one. Raises FileNotFoundError when the file is gone (another run
    took it), ``sidecar.SidecarError`` when its record cannot be read (docs/decisions.md#portal-submissions)."""
    path = inbox.local_path(name)
    if path is None:
        data = inbox.read(name)
        return Submission(name, data, batch_id_of(data)[1], len(data), sidecar.read_record(inbox, name))
    with path.open("rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
        size = fh.tell()
    return Submission(name, path, sha, size, sidecar.read_record(inbox, name))


@dataclass(frozen=True)
class InboxListing:
    """What a run finds in the inbox: the files to process, and the entries it sets aside, with why."""

    names: list[str] = field(default_factory=list)
    """The submissions, in order of name."""
    set_aside: list[FileSummary] = field(default_factory=list)
    """``set-aside`` results, their names made showable (``shown_name``)."""


def survey_inbox(inbox: Store) -> InboxListing:
    """The inbox's top level, read flat. Hidden entries and Excel's lock files (``~$…``) are not submissions and
    are passed over; folders, links, other non-files and names the outputs cannot carry are set aside."""
    listing = InboxListing()
    for entry in inbox.entries():
        if entry.key.startswith((".", "~$")):
            continue
        why = _set_aside_because(entry)
        if why:
            listing.set_aside.append(FileSummary(shown_name(entry.key), "", FileResult.SET_ASIDE, note=why))
        else:
            listing.names.append(entry.key)
    listing.names.sort()
    return listing


def list_inbox(inbox: Store) -> list[str]:
    """The files waiting, in order of name (``survey_inbox``'s submissions)."""
    return survey_inbox(inbox).names


def _set_aside_because(entry: Entry) -> str:
    """Why an inbox entry is not processed, in one line for the operator; "" for a submission.

    A name goes into the batch's keys, the mail's subject, CSV cells and Prefect's records: bytes that are not
    UTF-8 cannot be written to most of them, and a line break in a subject or a log line would forge another."""
    if entry.kind == "folder":
        return "a folder: the inbox is read flat, so the files in it are not processed; move them up into the inbox"
    if entry.kind == "link":
        return "a symbolic link, which intake never follows: put the file itself in the inbox"
    if entry.kind == "other":
        return "not a regular file (a pipe, socket or device): remove it from the inbox"
    try:
        entry.key.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8: rename the file"
    if any(_is_control(c) for c in entry.key):
        return "its name holds a control character (such as a line break or a tab): rename the file"
    return ""


def _is_control(char: str) -> bool:
    # Control characters, and the Unicode line and paragraph separators, which break lines as well as \n does.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def shown_name(name: str) -> str:
    """A name as any output can carry it: bytes that are not UTF-8 as ``\\xNN``, control characters escaped."""
    try:
        raw = name.encode("utf-8", "surrogateescape")  # the bytes os decoded as surrogate escapes, as they were
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c.encode("unicode_escape").decode("ascii") if _is_control(c) else c for c in text)


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
    claim = outbox.claim(batch_id, settings.claim_ttl_seconds)
    if claim is None:
        return FileSummary(name, batch_id, FileResult.TAKEN_BY_ANOTHER_RUN)
    try:
        if outbox.is_committed(batch_id):  # committed by another run between our check and our claim
            return _already(inbox, outbox, file)
        outbox.tidy(batch_id)
        return _write_batch(outbox, file, as_of, settings, known, _poisoned(file, claim))
    except BaseException:
        # What the failed write left goes before the next file: a full disk's partial batch would fail it too.
        # The rerun writes the whole batch again anyway; a failed clean-up must not hide the failure itself.
        with contextlib.suppress(Exception):
            outbox.discard(batch_id)
        outbox.release(batch_id)
        raise


def _poisoned(file: Submission, claim: Claim) -> Outcome | None:
    """A file whose reading killed the run twice (``Claim.poisonous``) is not read again: it is rejected whole, so
    that the night goes on and the employer is told. None for any other file."""
    if not claim.poisonous:
        return None
    return rejected_file(file.name, "unreadable-file",
                         reason=f"reading it stopped the intake {claim.deaths} times, so it is not read again")


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
    manifest = outbox.commit(summary.batch_id)
    outbox.release(summary.batch_id)
    # Last: until the file is gone, a rerun finishes the clean-up above. From the commit on the file is processed,
    # whatever the deletion does.
    note = _take_out(inbox, summary.name, int(manifest["size_bytes"]), str(manifest["sha256"]))
    if not note:  # the file is gone: its record, kept in the batch, goes too (a file left keeps its record)
        sidecar.remove_record(inbox, summary.name)
    known.add(summary.batch_id, staged)
    return replace(summary, pending=False, note=note)


def _take_out(inbox: Store, name: str, size: int, sha: str) -> str:
    """Delete a processed file from the inbox if it still holds the bytes its batch was made of; else leave it, and
    say why in a note. Never a failure: the batch is committed, and the next run finds it already processed."""
    try:
        if inbox.delete_if_same(name, size, sha):
            return ""
    except Exception as exc:  # a read-only inbox, an S3 policy without DeleteObject, a store not answering
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        return (f"processed, but it could not be deleted from the inbox ({redact.redact(why)}); the next run "
                "takes it out as already-processed")
    return ("processed as it was read, but it changed in the inbox afterwards: the new content stays there and is "
            "processed next run as a new file")


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
    file.keep_record(outbox)  # this submission's record, also when another submission made the batch
    outbox.unstage(file.batch_id)
    outbox.release(file.batch_id)
    outbox.tidy(file.batch_id)
    note = _take_out(inbox, file.name, file.size, file.sha)
    if not note:
        sidecar.remove_record(inbox, file.name)
    return FileSummary(file.name, file.batch_id, FileResult.ALREADY_PROCESSED, note=note)


def _check(file: Submission, as_of: dt.date, settings: Settings, known: KnownRequests,
           requests: RequestWriter) -> Outcome:
    """The file's outcome, its requests being written: a large file's rows are checked in parts, and each part's
    requests are written while the next is checked. Nothing here holds the outcome once it is returned."""
    with FileCheck(file.source, file.name, as_of, settings.limits, known, authorization=file.authorization) as check:
        for part in check.parts():
            requests.add(part)
        return check.outcome()


def _write_batch(outbox: Outbox, file: Submission, as_of: dt.date, settings: Settings,
                 known: KnownRequests, decided: Outcome | None = None) -> FileSummary:
    """Check the file and write every document of its batch; the manifest is staged, not committed. With
    ``decided``, that outcome is written and the file is not read."""
    batch_id = file.batch_id
    with RequestWriter(outbox, batch_id, as_of) as requests:
        outcome = decided if decided is not None else _check(file, as_of, settings, known, requests)
        # The other outputs are built while the request files are written: their building is Python work, the
        # writing mostly the file system's. "write requests" is the wait left once they are done.
        with stage("write workbooks"):
            outbox.write_document(batch_id, "results.xlsx", build_results_workbook(outcome, as_of))
        # results.xlsx is the one output that quotes the sheet's own cells: the rest of the batch is written without
        # holding them (a million rows' cells are ~0.5 GB, and the largest file's memory peaks in what follows).
        outcome = outcome.without_cells()
        with stage("write csv"):
            outbox.write_document(batch_id, "results.csv", outputs.results_csv(outcome))
            outbox.write_document(batch_id, "errors.csv", outputs.errors_csv(outcome))
        with stage("commit"):
            outbox.queue_messages(batch_id, mail.compose(outcome, batch_id, as_of, settings.mail_from))
            # The manifest is built now, from the IDs being written, while they are being written.
            request_ids = outputs.request_ids(outcome)
            manifest = outputs.manifest(outcome, batch_id, file.sha, file.size, as_of, request_ids,
                                        submission_id=file.submission_id)
        with stage("write requests"):
            written = requests.finish()
        if written != request_ids:  # pragma: no cover - both come from the same positions
            raise RuntimeError(f"{file.name}: the request files written differ from the manifest's request IDs")
    with stage("commit"):
        # The batch's requests with their workers and periods, for the registry of later files and runs.
        outbox.write_history(batch_id, history.to_parquet(history.of_outcome(outcome)))
        outbox.write_referrals(batch_id, referral_index.to_parquet(referral_index.of_outcome(outcome, batch_id, as_of)))
        file.copy_to(outbox)
        file.keep_record(outbox)
        outbox.stage(batch_id, manifest)
    counts = outcome.counts()  # all 0 for a file rejected whole
    return FileSummary(file.name, batch_id, outcome.status, rows=counts["rows"], approved=counts["approved"],
                       referred=counts["referred"], rejected=counts["rejected"],
                       already_requested=counts["already_requested"], requests=len(request_ids), pending=True,
                       known_version=known.version)
