"""Where a file, a batch or a request stands (``coc status``, the portal's submission pages).

A file is found by its name: in the inbox (waiting, or failed in the last run that saw it, whose record says why),
and in the ``source/`` of the committed batches (processed, rejected whole, or already processed when its bytes were
committed before under another name). A request is found by the batch holding its document, with the
specialists' decisions on it. Everything returned is for showing: names and reasons are masked, one line each.

Lookups cost one existence check per batch folder (``Outbox.batches_with_source`` / ``batches_with_request``), not a
read of every manifest: see docs/decisions.md for the figures over 1,000 batches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from coc_intake import runs
from coc_intake.redact import redact
from coc_intake.states import FileResult

if TYPE_CHECKING:
    from coc_intake.outbox import Outbox
    from coc_intake.store import Store

#: A batch ID: the first 16 hex digits of the SHA-256 of the file's bytes.
BATCH_ID = re.compile(r"[0-9a-f]{16}")
#: A request ID, as ``schemas/request.schema.json`` gives its pattern.
REQUEST_ID = re.compile(r"COC-[A-Z]{2}-[A-Z0-9]{10}")


class FileState(StrEnum):
    WAITING = "waiting"
    """In the inbox, for the next run."""
    FAILED = "failed"
    """In the inbox: the last run that saw it could not process it for a system reason (``reason``)."""
    PROCESSED = "processed"
    REJECTED_FILE = "rejected-file"
    """Processed, and rejected whole (``reason``)."""
    ALREADY_PROCESSED = "already-processed"
    """Its bytes were committed before, under another name: ``batch_id`` is that batch."""
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FileStatus:
    name: str
    """SSNs masked."""
    state: FileState
    batch_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """rows, approved, referred, rejected, already_requested (empty for a file without a batch)."""
    reason: str | None = None
    """One line, SSNs masked: a rejected file's error, a failed file's error."""
    as_of: str | None = None
    """The batch's as-of date; for a failed file, the as-of date of the run that failed it."""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "batch_id": self.batch_id, "counts": self.counts,
                "reason": self.reason, "as_of": self.as_of}


@dataclass(frozen=True)
class RequestStatus:
    request_id: str
    status: str
    """The request's status when it was made (``approved`` or ``referred``); a specialist's decision is in
    ``decisions``."""
    batch_id: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """``Outbox.decisions``: every decision, the latest last (the latest counts)."""

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "status": self.status, "batch_id": self.batch_id,
                "decisions": self.decisions}


def of_batch(outbox: Outbox, batch_id: str) -> FileStatus | None:
    """A committed batch's file: processed or rejected whole, with its counts; None when there is no such batch."""
    if not BATCH_ID.fullmatch(batch_id) or not outbox.is_committed(batch_id):
        return None
    manifest = outbox.manifest(batch_id)
    rejected = manifest.get("status") == FileResult.REJECTED_FILE
    return FileStatus(redact(str(manifest.get("source_name", ""))),
                      FileState.REJECTED_FILE if rejected else FileState.PROCESSED, batch_id,
                      {k: int(manifest.get(k, 0)) for k in runs.COUNTS},
                      (runs.rejection_reason(manifest) or None) if rejected else None, manifest.get("as_of"))


def of_file(inbox: Store, outbox: Outbox, *, name: str, batch_id: str | None = None) -> FileStatus:
    """Where the file of this name stands now: waiting or failed while it is in the inbox, else its newest batch
    (or the given one); ``unknown`` when it is in neither."""
    if batch_id is not None:
        found = of_batch(outbox, batch_id)
        return _as_named(found, name) if found else FileStatus(redact(name), FileState.UNKNOWN)
    if _in_inbox(inbox, name):
        return _waiting(outbox, name)
    batches = _batches_of(outbox, name)
    return batches[0] if batches else FileStatus(redact(name), FileState.UNKNOWN)


def of_request(outbox: Outbox, request_id: str) -> RequestStatus | None:
    """A request's status, batch and decisions; None when no committed batch holds it. Made again by a later batch
    (another end date), the newest batch's document counts."""
    if not REQUEST_ID.fullmatch(request_id):
        return None
    found = [(outbox.request(b, request_id), b) for b in outbox.batches_with_request(request_id)]
    if not found:
        return None
    doc, batch_id = max(found, key=lambda d: (str(d[0].get("as_of", "")), d[1]))
    return RequestStatus(request_id, str(doc.get("status", "")), batch_id, outbox.decisions(request_id))


def lookup(inbox: Store, outbox: Outbox, query: str) -> list[FileStatus] | RequestStatus:
    """A request ID, a batch ID or a file name: the request's status, or every status of the file (the inbox's
    first, then its batches, newest first). An empty list when nothing matches."""
    query = query.strip()
    if REQUEST_ID.fullmatch(query.upper()):
        found = of_request(outbox, query.upper())
        if found is not None:
            return found
    if BATCH_ID.fullmatch(query.lower()):
        batch = of_batch(outbox, query.lower())
        if batch is not None:
            return [batch]
    # A path (the operator's shell completed it in the inbox folder): the file's name is its last part.
    query = query.rstrip("/").rsplit("/", 1)[-1]
    statuses = [_waiting(outbox, query)] if _in_inbox(inbox, query) else []
    statuses += _batches_of(outbox, query)
    if not statuses and redact(query) == query and "*" in query:
        # A name as the console, the run's record and the portal show it, its SSN masked: the operator copied it
        # from there. One listing of the inbox and of each batch's source/ finds the names it stands for.
        for real in _names_shown_as(inbox, outbox, query):
            statuses += ([_waiting(outbox, real)] if _in_inbox(inbox, real) else []) + _batches_of(outbox, real)
    return statuses


def _names_shown_as(inbox: Store, outbox: Outbox, shown: str) -> list[str]:
    """The names of inbox files and of batches' source files that show as ``shown`` once masked."""
    names = {n for n in inbox.list() if "/" not in n and n != shown and redact(n) == shown}
    for batch_id in outbox.batch_ids():
        names.update(n for n in outbox.source_names(batch_id) if n != shown and redact(n) == shown)
    return sorted(names)


def _in_inbox(inbox: Store, name: str) -> bool:
    if not name or "/" in name:
        return False  # the inbox is read flat
    try:
        return inbox.exists(name)
    except ValueError:  # a name that leaves the store ("..")
        return False


def _waiting(outbox: Outbox, name: str) -> FileStatus:
    seen = runs.last_seen(outbox, name)
    if seen is not None and seen[1].get("result") == runs.FAILED:
        run, line = seen
        return FileStatus(redact(name), FileState.FAILED, reason=line.get("reason") or None, as_of=run.get("as_of"))
    return FileStatus(redact(name), FileState.WAITING)


def _batches_of(outbox: Outbox, name: str) -> list[FileStatus]:
    """The batches that hold a file of this name in ``source/``, newest first (by as-of date, then batch ID)."""
    found = [s for b in outbox.batches_with_source(name) if (s := of_batch(outbox, b)) is not None]
    found.sort(key=lambda s: (s.as_of or "", s.batch_id or ""), reverse=True)
    return [_as_named(s, name) for s in found]


def _as_named(batch: FileStatus, name: str) -> FileStatus:
    """A batch's status as the status of the file ``name``: already processed when the batch was made from a file
    of another name with the same bytes."""
    shown = redact(name)
    if batch.name == shown:
        return batch
    return replace(batch, name=shown, state=FileState.ALREADY_PROCESSED,
                   reason=f"the same bytes as {batch.name}, processed as batch {batch.batch_id}")
