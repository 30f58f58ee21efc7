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
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

import orjson

from coc_intake import mail, outputs
from coc_intake.engine import check_bytes
from coc_intake.outputs import BATCHES, manifest_key
from coc_intake.settings import Settings
from coc_intake.store import Store
from coc_intake.workbook import build_results_workbook


@dataclass
class FileSummary:
    """What happened to one inbox file: small enough to pass between tasks and show in logs (no personal data)."""

    name: str
    batch_id: str
    result: str
    """processed, rejected-file or already-processed."""
    rows: int = 0
    approved: int = 0
    referred: int = 0
    rejected: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def batch_id_of(data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    return sha[:16], sha


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
        return False  # being written right now
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
                 known: dict[str, str]) -> FileSummary:
    """Process one inbox file into a committed batch and take it out of the inbox. ``known`` grows with the
    batch's request IDs."""
    try:
        data = inbox.read(name)
    except FileNotFoundError:
        return FileSummary(name, "", "taken-by-another-run")
    batch_id, sha = batch_id_of(data)
    if outbox.exists(manifest_key(batch_id)):
        return _already(inbox, outbox, name, batch_id, data)
    if not claim(outbox, batch_id, settings.claim_ttl_seconds):
        return FileSummary(name, batch_id, "taken-by-another-run")
    try:
        if outbox.exists(manifest_key(batch_id)):  # committed by another run between our check and our claim
            return _already(inbox, outbox, name, batch_id, data)
        return _process(inbox, outbox, name, as_of, settings, known, data, batch_id, sha)
    finally:
        release(outbox, batch_id)


def _already(inbox: Store, outbox: Store, name: str, batch_id: str, data: bytes) -> FileSummary:
    source_key = f"{BATCHES}{batch_id}/source/{PurePosixPath(name).name}"
    if not outbox.exists(source_key):
        outbox.write(source_key, data)
    inbox.delete(name)
    return FileSummary(name, batch_id, "already-processed")


def _process(inbox: Store, outbox: Store, name: str, as_of: dt.date, settings: Settings, known: dict[str, str],
             data: bytes, batch_id: str, sha: str) -> FileSummary:
    base = f"{BATCHES}{batch_id}/"
    source_key = f"{base}source/{PurePosixPath(name).name}"
    outcome = check_bytes(data, name, as_of, settings.limits, known)
    docs = outputs.request_documents(outcome, batch_id, as_of) if outcome.status == "processed" else []
    outbox.write_many([(f"{base}requests/{rid}.json", body) for rid, body in docs])
    outbox.write(f"{base}results.csv", outputs.results_csv(outcome))
    outbox.write(f"{base}errors.csv", outputs.errors_csv(outcome))
    outbox.write(f"{base}results.xlsx", build_results_workbook(outcome, as_of))
    outbox.write(source_key, data)
    outbox.write_many(mail.queue_items(batch_id, mail.compose(outcome, batch_id, as_of, settings.mail_from)))
    request_ids = [rid for rid, _ in docs]
    outbox.write(manifest_key(batch_id), outputs.manifest(outcome, batch_id, sha, len(data), as_of, request_ids))
    sync = getattr(outbox, "sync", None)
    if sync is not None:
        sync(manifest_key(batch_id))
    inbox.delete(name)
    for rid in request_ids:
        known.setdefault(rid, batch_id)
    counts = outcome.counts() if outcome.status == "processed" else {}
    return FileSummary(name, batch_id, outcome.status, requests=len(request_ids), **counts)
