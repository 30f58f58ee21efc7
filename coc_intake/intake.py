"""One file through the nightly intake: read → validate → decide → write → commit → move the source (SPEC §5).

The commit protocol: every document of a batch is written under ``batches/<batch_id>/`` first, the manifest last.
A batch without a manifest does not exist: a rerun processes the file again and writes the same bytes. The source
leaves the inbox only after the manifest is written, so a crash at any moment loses nothing and doubles nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from coc_intake import mail, outputs
from coc_intake.engine import CheckedRows, check_file
from coc_intake.errors import TransientError
from coc_intake.filewriter import FileWriter
from coc_intake.outputs import BATCHES, manifest_key
from coc_intake.settings import Settings
from coc_intake.states import BATCH_RESULTS, FileResult, RowStatus
from coc_intake.store import Store
from coc_intake.timing import OFF, Stages
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
    requests: int = 0
    pending: bool = False
    """Prepared but not committed yet (no manifest)."""

    def __post_init__(self) -> None:
        self.result = FileResult(self.result)  # from_dict gets it back as text

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FileSummary:
        return cls(**data)  # type: ignore[arg-type]


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

    def copy_to(self, store: Store, key: str) -> None:
        """Write the bytes that were hashed under ``key`` (streamed from a local file). A file replaced in the inbox
        while it was being processed fails the batch as a transient error (a retry reads the new file whole),
        never a batch of mixed content."""
        if isinstance(self.source, bytes):
            store.write(key, self.source)
        elif store.write_from(key, self.source) != self.sha:
            store.delete(key)
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


def committed_batches(outbox: Store) -> list[str]:
    return sorted(
        k[len(BATCHES):].split("/", 1)[0] for k in outbox.list(BATCHES, recursive=True) if k.endswith("/manifest.json")
    )


def known_requests(outbox: Store) -> dict[str, str]:
    """Request ID → batch ID over every committed batch (for ``duplicate-request``)."""
    known: dict[str, str] = {}
    for batch in committed_batches(outbox):
        doc = orjson.loads(outbox.read(manifest_key(batch)))
        for rid in doc.get("request_ids", []):
            known.setdefault(rid, batch)
    return known


CLAIMS = "claims/"


def _claim_is_stale(raw: bytes, ttl: float) -> bool:
    try:
        claim = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True  # claims are created whole (atomically): an unreadable one is damaged, not in progress
    if time.time() - float(claim.get("at", 0)) > ttl:
        return True
    if claim.get("host") == socket.gethostname():
        try:
            os.kill(int(claim.get("pid", 0)), 0)
        except ProcessLookupError:
            return True  # its process is gone (killed): nobody is working on the file
        except PermissionError:
            return False
    return False


def claim(outbox: Store, batch_id: str, ttl: float) -> bool:
    """Take the batch for this process, so that two runs never process the same bytes at once.

    A conditional create (O_EXCL locally, If-None-Match on S3) lets one writer win. A claim whose process is gone
    (same host) or that is older than ``ttl`` seconds is taken over.
    """
    key = f"{CLAIMS}{batch_id}.json"
    _sweep(outbox, CLAIMS)
    record = orjson.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})
    if outbox.create(key, record):
        return True
    try:
        current = outbox.read(key)
    except FileNotFoundError:
        return outbox.create(key, record)
    if not _claim_is_stale(current, ttl):
        return False
    outbox.delete(key)
    return outbox.create(key, record)


def release(outbox: Store, batch_id: str) -> None:
    outbox.delete(f"{CLAIMS}{batch_id}.json")


def process_file(inbox: Store, outbox: Store, name: str, as_of: dt.date, settings: Settings,
                 known: dict[str, str], stages: Stages = OFF) -> FileSummary:
    """Process one inbox file into a committed batch and take it out of the inbox. ``known`` (request ID → batch)
    grows with the batch's request IDs."""
    prepared = prepare_file(inbox, outbox, name, as_of, settings, known, stages)
    with stages("commit"):
        summary = commit_file(inbox, outbox, prepared)
    for rid in pending_request_ids(outbox, summary):
        known.setdefault(rid, summary.batch_id)
    return summary


def prepare_file(inbox: Store, outbox: Store, name: str, as_of: dt.date, settings: Settings,
                 known: dict[str, str], stages: Stages = OFF) -> FileSummary:
    """Write the whole batch but its commit marker (``pending`` set) and keep the file claimed; or say why not."""
    try:
        file = open_submission(inbox, name)
    except FileNotFoundError:
        return FileSummary(name, "", FileResult.TAKEN_BY_ANOTHER_RUN)
    batch_id = file.batch_id
    if outbox.exists(manifest_key(batch_id)):
        return _already(inbox, outbox, file)
    if not claim(outbox, batch_id, settings.claim_ttl_seconds):
        return FileSummary(name, batch_id, FileResult.TAKEN_BY_ANOTHER_RUN)
    try:
        if outbox.exists(manifest_key(batch_id)):  # committed by another run between our check and our claim
            return _already(inbox, outbox, file)
        _sweep(outbox, f"{BATCHES}{batch_id}/")
        return _write_batch(outbox, file, as_of, settings, known, stages)
    except BaseException:
        release(outbox, batch_id)
        raise


def redo_file(inbox: Store, outbox: Store, summary: FileSummary, as_of: dt.date, settings: Settings,
              known: dict[str, str]) -> FileSummary:
    """Write a prepared, uncommitted batch again with more known requests (a parallel run found that an earlier
    file of the same run made some of its requests): its stale request documents and messages go."""
    before = set(pending_request_ids(outbox, summary))
    file = open_submission(inbox, summary.name)
    batch_id = file.batch_id
    base = f"{BATCHES}{batch_id}/"
    for key in outbox.list(mail.QUEUE):
        if key.rsplit("/", 1)[-1].startswith(f"{batch_id}."):
            outbox.delete(key)
    redone = _write_batch(outbox, file, as_of, settings, known)
    for rid in before - set(pending_request_ids(outbox, redone)):
        outbox.delete(f"{base}requests/{rid}.json")
    return redone


def pending_key(batch_id: str) -> str:
    return f"{BATCHES}{batch_id}/manifest.pending.json"


def pending_request_ids(outbox: Store, summary: FileSummary) -> list[str]:
    """The request IDs of a prepared batch (before or after its commit)."""
    if summary.result not in BATCH_RESULTS:
        return []
    key = pending_key(summary.batch_id) if summary.pending else manifest_key(summary.batch_id)
    ids: list[str] = orjson.loads(outbox.read(key)).get("request_ids", [])
    return ids


def commit_file(inbox: Store, outbox: Store, summary: FileSummary) -> FileSummary:
    """Write the manifest (the batch now exists), take the source out of the inbox, release the claim."""
    if not summary.pending:
        return summary
    body = outbox.read(pending_key(summary.batch_id))
    outbox.write(manifest_key(summary.batch_id), body)
    sync = getattr(outbox, "sync", None)
    if sync is not None:
        sync(manifest_key(summary.batch_id))
    outbox.delete(pending_key(summary.batch_id))
    release(outbox, summary.batch_id)
    inbox.delete(summary.name)  # last: until the file is gone, a rerun finishes the clean-up above
    summary.pending = False
    return summary


def _already(inbox: Store, outbox: Store, file: Submission) -> FileSummary:
    """The batch is committed: finish what a run killed after its commit left undone, and take the file out."""
    name, batch_id = file.name, file.batch_id
    source_key = f"{BATCHES}{batch_id}/source/{PurePosixPath(name).name}"
    if not outbox.exists(source_key):
        file.copy_to(outbox, source_key)
    outbox.delete(pending_key(batch_id))
    release(outbox, batch_id)
    _sweep(outbox, f"{BATCHES}{batch_id}/")
    inbox.delete(name)
    return FileSummary(name, batch_id, FileResult.ALREADY_PROCESSED)


def _sweep(store: Store, prefix: str) -> None:
    sweep = getattr(store, "sweep", None)  # only folders have temporary files; S3 PUTs are whole
    if sweep is not None:
        sweep(prefix)


#: Rows per unit of request writing, and how many units run at once.
REQUEST_CHUNK, REQUEST_THREADS = 2000, 4
#: From this many requests on, a folder outbox has them written by a helper process (``filewriter``).
HELPER_FROM = 10_000
_JSON, _NOTHING = pa.scalar(".json", pa.large_string()), pa.scalar("", pa.large_string())


def _start_requests(pool: Executor, outbox: Store, outcome: CheckedRows, batch_id: str, as_of: dt.date,
                    writer: FileWriter | None) -> list[Future[list[str]]]:
    """Build and write the request documents, each task a chunk of rows: writing small files is bound by system
    calls, which release the GIL, so building one chunk overlaps writing others and memory stays bounded. With a
    ``writer``, a chunk is handed to it as Arrow columns, and written by its process."""
    folder = f"{BATCHES}{batch_id}/requests"
    documents = outputs.RequestDocuments(outcome, batch_id, as_of)

    def unit(part: np.ndarray) -> list[str]:
        ids, docs = documents.columns_at(part)
        written: list[str] = ids.to_pylist()
        if writer is not None:
            writer.write(pc.binary_join_element_wise(ids, _JSON, _NOTHING), docs)
        else:
            outbox.write_many([(f"{folder}/{rid}.json", body)
                               for rid, body in zip(written, docs.to_pylist(), strict=True)])
        return written

    return [pool.submit(unit, part) for part in outputs.request_chunks(outcome, REQUEST_CHUNK)]


def _file_writer(outbox: Store, part: CheckedRows, batch_id: str, writer: FileWriter | None) -> FileWriter | None:
    """The helper process for the request files of a part of the rows: started for the first part with many
    requests when the outbox is a folder, then kept for the parts after."""
    make = getattr(outbox, "file_writer", None)  # S3 has no files: its PUTs go through write_many
    if writer is not None or make is None:
        return writer
    if len(part.rows) - part.counts()[RowStatus.REJECTED] < HELPER_FROM:
        return None  # starting the process (~50 ms) would cost more than it saves
    started: FileWriter = make(f"{BATCHES}{batch_id}/requests")
    return started


def _write_batch(outbox: Store, file: Submission, as_of: dt.date, settings: Settings, known: dict[str, str],
                 stages: Stages = OFF) -> FileSummary:
    name, batch_id = file.name, file.batch_id
    base = f"{BATCHES}{batch_id}/"
    writer: FileWriter | None = None
    with ThreadPoolExecutor(REQUEST_THREADS) as pool:
        requests: list[Future[list[str]]] = []

        def decided(part: CheckedRows) -> None:
            # A large file's rows are checked in parts: the requests of each part are written while the next one
            # is checked, by the helper process when there is one (it needs no GIL).
            nonlocal writer
            writer = _file_writer(outbox, part, batch_id, writer)
            requests.extend(_start_requests(pool, outbox, part, batch_id, as_of, writer))

        try:
            outcome = check_file(file.source, name, as_of, settings.limits, known, stages, decided)
            # The other outputs are built while the request files are written: their building is Python work, the
            # writing mostly the file system's. "write requests" is the wait left once they are done.
            with stages("write csv"):
                outbox.write(f"{base}results.csv", outputs.results_csv(outcome))
                outbox.write(f"{base}errors.csv", outputs.errors_csv(outcome))
            with stages("write workbooks"):
                outbox.write(f"{base}results.xlsx", build_results_workbook(outcome, as_of))
            with stages("commit"):
                outbox.write_many(mail.queue_items(batch_id, mail.compose(outcome, batch_id, as_of,
                                                                          settings.mail_from)))
                # The manifest is built now, from the IDs the chunks write, while they are being written.
                request_ids = outputs.request_ids(outcome)
                manifest = outputs.manifest(outcome, batch_id, file.sha, file.size, as_of, request_ids)
            with stages("write requests"):
                written = [rid for done in requests for rid in done.result()]
                if writer is not None:
                    writer.close()
            if written != request_ids:  # pragma: no cover - both come from the same positions
                raise RuntimeError(f"{name}: the request files written differ from the manifest's request IDs")
        except BaseException:
            for pending in requests:  # a failed batch is not committed: its remaining chunks need not be written
                pending.cancel()
            if writer is not None:
                writer.abort()
            raise
    with stages("commit"):
        file.copy_to(outbox, f"{base}source/{PurePosixPath(name).name}")
        outbox.write(pending_key(batch_id), manifest)
    counts = outcome.counts() if isinstance(outcome, CheckedRows) else {}
    return FileSummary(name, batch_id, outcome.status, requests=len(request_ids), pending=True, **counts)
