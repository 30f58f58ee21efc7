"""The outbox: every key it holds, and the protocol that makes a batch appear whole or not at all.

This module is the one place that knows the outbox's layout (``docs/outputs.md`` describes it for readers)::

    batches/<batch id>/results.xlsx, results.csv, errors.csv     the batch's documents
    batches/<batch id>/requests/<request id>.json                 one per approved or referred row
    batches/<batch id>/source/<file name>                         the file's own bytes
    batches/<batch id>/history.parquet                            its requests' workers and periods (full SSNs)
    batches/<batch id>/referrals.parquet                          its referred requests, for the specialists' queue
    batches/<batch id>/submissions/<submission id>.json           the portal's sidecar records of its file
    batches/<batch id>/manifest.pending.json                      staged: written, not committed yet
    batches/<batch id>/manifest.json                              the commit marker: the batch exists
    claims/<batch id>.json                                        a run is working on these bytes
    mail/queue/<batch id>.<message id>.eml                        a confirmation waiting to be delivered
    mail/sent/<message id>.json                                   the ledger: delivered, never again
    mail/<message id>.eml                                         a confirmation written (no SMTP server)
    decisions/<request id>/<n>.json                               a specialist's decisions, appended
    referrals/index.parquet                                       the queue's index: every batch's referrals, joined
    reports/<name>                                                the analysts' reports
    audit/<YYYY-MM-DD>/<HHMMSS.ffffff>-<8 hex>.json               the audit log: one record each, appended
    runs/<UTC time>.json                                          a record of each run: every file's result and why

The commit protocol: a batch's documents are written first, then its manifest is *staged*
(``manifest.pending.json``), and ``commit`` turns the staged manifest into ``manifest.json``, flushed to disk. A
batch without a manifest does not exist: a rerun writes the same bytes again. A ``claim`` keeps two runs from
working on the same bytes at once. Anchor: dlt's ``PackageStorage``, one owner of folder names, markers and states.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from coc_intake.filewriter import FileWriter
from coc_intake.store import LocalStore, Store

_BATCHES, _CLAIMS = "batches/", "claims/"
_MAIL, _QUEUE, _SENT = "mail/", "mail/queue/", "mail/sent/"
_DECISIONS, _REPORTS, _AUDIT, _RUNS = "decisions/", "reports/", "audit/", "runs/"
_MANIFEST, _STAGED = "manifest.json", "manifest.pending.json"
_HISTORY = "history.parquet"
_REFERRALS, _REFERRAL_INDEX = "referrals.parquet", "referrals/index.parquet"
_SUBMISSIONS = "submissions/"
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: A request ID as it may name a folder of decisions (docs/outputs.md#request-documents).
_REQUEST_ID = re.compile(r"COC-[A-Z]{2}-[A-Z0-9]{10}")
#: The documents of a batch other than its requests and source, by the name they have in the batch's folder.
DOCUMENTS = ("results.xlsx", "results.csv", "errors.csv")


#: A file is set aside (``unreadable-file``) when this many runs died while they had its batch claimed.
POISON_DEATHS = 2


@dataclass(frozen=True)
class Claim:
    """This process's claim on a batch."""

    deaths: int = 0
    """How many runs before this one died holding the batch's claim, one after the other (their process gone, or
    their claim expired): a file that kills its reader (an abort, an out-of-memory kill) would otherwise stop every
    night at the same place. A claim released normally (the batch committed, or a failure raised) ends the count."""

    @property
    def poisonous(self) -> bool:
        return self.deaths >= POISON_DEATHS


@dataclass(frozen=True)
class QueuedMessage:
    """A confirmation in the mail queue."""

    key: str
    batch_id: str
    message_id: str


class Outbox:
    """An outbox over a store (a folder or an S3 prefix): its keys, claims, staging and commits, mail queue and
    ledger, decisions and reports. Everything else in the library reaches the outbox through this class."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self, key: str = "") -> str:
        return self.store.describe(key)

    # The batch's keys.
    def _batch(self, batch_id: str) -> str:
        return f"{_BATCHES}{batch_id}/"

    def document_key(self, batch_id: str, name: str) -> str:
        if name not in DOCUMENTS:
            raise ValueError(f"{name!r} is not a document of a batch; they are {', '.join(DOCUMENTS)}")
        return f"{self._batch(batch_id)}{name}"

    def manifest_key(self, batch_id: str) -> str:
        return f"{self._batch(batch_id)}{_MANIFEST}"

    def request_key(self, batch_id: str, request_id: str) -> str:
        return f"{self.requests_folder(batch_id)}/{request_id}.json"

    def requests_folder(self, batch_id: str) -> str:
        return f"{self._batch(batch_id)}requests"

    def _source_folder(self, batch_id: str) -> str:
        return f"{self._batch(batch_id)}source/"

    def _source_key(self, batch_id: str, name: str) -> str:
        """The file's own bytes; a name with folders keeps only its last part."""
        return f"{self._source_folder(batch_id)}{PurePosixPath(name).name}"

    def _staged_key(self, batch_id: str) -> str:
        return f"{self._batch(batch_id)}{_STAGED}"

    # Writing a batch.
    def write_document(self, batch_id: str, name: str, data: bytes) -> None:
        self.store.write(self.document_key(batch_id, name), data)

    def write_requests(self, batch_id: str, documents: list[tuple[str, bytes]]) -> None:
        """(request ID, JSON) pairs: made visible by the commit, not one by one."""
        self.store.write_many([(self.request_key(batch_id, rid), body) for rid, body in documents])

    def request_file_writer(self, batch_id: str) -> FileWriter | None:
        """A helper process that writes the batch's request files, when the store is a folder."""
        return self.store.file_writer(self.requests_folder(batch_id))

    def delete_request(self, batch_id: str, request_id: str) -> None:
        self.store.delete(self.request_key(batch_id, request_id))

    def write_source(self, batch_id: str, name: str, source: bytes | Path) -> str | None:
        """The file's own bytes into the batch; for a local file, streamed, and the SHA-256 of what was copied."""
        key = self._source_key(batch_id, name)
        if isinstance(source, bytes):
            self.store.write(key, source)
            return None
        return self.store.write_from(key, source)

    def write_history(self, batch_id: str, data: bytes) -> None:
        """The batch's requests for the registry of earlier requests (``history.KnownRequests``); written before the
        manifest, read once the batch is committed. It holds full SSNs, like the request documents."""
        self.store.write(f"{self._batch(batch_id)}{_HISTORY}", data)

    def read_history(self, batch_id: str) -> bytes | None:
        """The batch's ``history.parquet``; None for a batch committed before there were history files."""
        try:
            return self.store.read(f"{self._batch(batch_id)}{_HISTORY}")
        except FileNotFoundError:
            return None

    def _submission_key(self, batch_id: str, submission_id: str) -> str:
        if not _SUBMISSION_ID.fullmatch(submission_id):
            raise ValueError(f"{submission_id!r} is not a submission ID (letters, digits, - and _)")
        return f"{self._batch(batch_id)}{_SUBMISSIONS}{submission_id}.json"

    def keep_submission(self, batch_id: str, submission_id: str, record: bytes) -> None:
        """A portal submission's sidecar record, kept with the batch its file made (or was already processed
        as). Written before the commit, like the batch's other files."""
        self.store.write(self._submission_key(batch_id, submission_id), record)

    def has_submission(self, batch_id: str, submission_id: str) -> bool:
        return self.store.exists(self._submission_key(batch_id, submission_id))

    def kept_submissions(self, batch_id: str) -> dict[str, bytes]:
        """Submission ID → the sidecar record of every portal submission of the batch's file (the one that made it,
        the manifest's ``submission_id``, and any later one of the same bytes and EINs)."""
        folder = f"{self._batch(batch_id)}{_SUBMISSIONS}"
        return {PurePosixPath(k).stem: self.store.read(k) for k in self.store.list(folder) if k.endswith(".json")}

    def write_referrals(self, batch_id: str, data: bytes) -> None:
        """The batch's referred requests for the specialists' queue (``referral_index``): written before the
        manifest, or derived once from the request documents of a batch committed before there were such files."""
        self.store.write(f"{self._batch(batch_id)}{_REFERRALS}", data)

    def read_referrals(self, batch_id: str) -> bytes | None:
        """The batch's ``referrals.parquet``; None for a batch committed before there were such files."""
        try:
            return self.store.read(f"{self._batch(batch_id)}{_REFERRALS}")
        except FileNotFoundError:
            return None

    def read_referral_index(self) -> bytes | None:
        """The queue's index, every committed batch's referrals joined (a cache: ``referral_index`` checks it
        against the committed batches each time and rebuilds it from the batches' files)."""
        try:
            return self.store.read(_REFERRAL_INDEX)
        except FileNotFoundError:
            return None

    def write_referral_index(self, data: bytes) -> None:
        self.store.write(_REFERRAL_INDEX, data)

    def read_request(self, batch_id: str, request_id: str) -> bytes:
        return self.store.read(self.request_key(batch_id, request_id))

    def read_document(self, batch_id: str, name: str) -> bytes:
        return self.store.read(self.document_key(batch_id, name))

    def has_source(self, batch_id: str, name: str) -> bool:
        return self.store.exists(self._source_key(batch_id, name))

    def delete_source(self, batch_id: str, name: str) -> None:
        self.store.delete(self._source_key(batch_id, name))

    def tidy(self, batch_id: str) -> None:
        """Remove what writers killed mid-write left in the batch's folder."""
        self.store.sweep(self._batch(batch_id))

    def discard(self, batch_id: str) -> None:
        """Remove an uncommitted batch: what a failed write left (its request files, the source's copy, the staged
        manifest) and its queued confirmations, so that a full disk is not kept full for the files after it. A
        committed batch is never touched. Called by the claim's holder only."""
        if self.is_committed(batch_id):
            return
        self.store.delete_tree(self._batch(batch_id))
        for message in self.queued(batch_id):
            self.dequeue(message)

    # Staging and committing.
    def stage(self, batch_id: str, manifest: bytes) -> None:
        """Write the manifest beside the batch, not yet as its commit marker."""
        self.store.write(self._staged_key(batch_id), manifest)

    def staged_manifest(self, batch_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.store.read(self._staged_key(batch_id)))
        return doc

    def commit(self, batch_id: str) -> dict[str, Any]:
        """The staged manifest becomes the batch's commit marker, flushed to disk: from now on the batch exists.
        Returns the manifest, read once for both."""
        body = self.store.read(self._staged_key(batch_id))
        key = self.manifest_key(batch_id)
        self.store.write(key, body)
        self.store.sync(key)
        self.store.delete(self._staged_key(batch_id))
        doc: dict[str, Any] = orjson.loads(body)
        return doc

    def unstage(self, batch_id: str) -> None:
        self.store.delete(self._staged_key(batch_id))

    def is_committed(self, batch_id: str) -> bool:
        return self.store.exists(self.manifest_key(batch_id))

    def committed(self) -> list[str]:
        """The IDs of the committed batches, in order.

        The batches' folders, then each one's manifest looked up: a recursive listing would go through every
        request file too (1.8 s for 1,000 batches of 100 requests on a folder, against 0.08 s)."""
        folders = [e.key.rsplit("/", 1)[-1] for e in self.store.entries(_BATCHES) if e.kind == "folder"]
        with ThreadPoolExecutor(8) as pool:  # on S3 each lookup is a round trip
            found = pool.map(lambda b: b if self.store.exists(self.manifest_key(b)) else None, folders)
            return sorted(b for b in found if b is not None)

    def manifest(self, batch_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.store.read(self.manifest_key(batch_id)))
        return doc

    def batch_ids(self) -> list[str]:
        """The IDs of the batch folders, committed or not, in order: one listing of the ``batches/`` level (not of
        every file under it, as ``committed`` does)."""
        return [e.key[len(_BATCHES):] for e in self.store.entries(_BATCHES) if e.kind == "folder"]

    def batches_with_source(self, name: str) -> list[str]:
        """The committed batches whose ``source/`` holds a file of this name: the batch it made, and any batch whose
        bytes it repeated (taken out of the inbox as already processed)."""
        return self._committed_holding(lambda batch_id: self._source_key(batch_id, name))

    def source_names(self, batch_id: str) -> list[str]:
        """The names of the files in the batch's ``source/`` (one listing)."""
        return [PurePosixPath(k).name for k in self.store.list(self._source_folder(batch_id))]

    def batches_with_request(self, request_id: str) -> list[str]:
        """The committed batches that hold the request's document (usually one)."""
        return self._committed_holding(lambda batch_id: self.request_key(batch_id, request_id))

    def _committed_holding(self, key_of: Callable[[str], str]) -> list[str]:
        """One existence check per batch folder (stat calls locally, HEAD requests side by side on S3), then the
        commit markers of the few that hold the key."""
        ids = self.batch_ids()
        if isinstance(self.store, LocalStore):
            held = [self.store.exists(key_of(b)) for b in ids]
        else:
            with ThreadPoolExecutor(max_workers=16) as pool:
                held = list(pool.map(lambda b: self.store.exists(key_of(b)), ids))
        return [b for b, yes in zip(ids, held, strict=True) if yes and self.is_committed(b)]

    def request(self, batch_id: str, request_id: str) -> dict[str, Any]:
        """A request document (it holds full SSNs: read it for its status, never show it whole)."""
        doc: dict[str, Any] = orjson.loads(self.store.read(self.request_key(batch_id, request_id)))
        return doc

    def manifests(self) -> Iterator[dict[str, Any]]:
        """Every committed batch's manifest, in order of batch ID."""
        for batch_id in self.committed():
            yield self.manifest(batch_id)

    # Claims: one run at a time on the same bytes.
    def _claim_key(self, batch_id: str) -> str:
        return f"{_CLAIMS}{batch_id}.json"

    def claim(self, batch_id: str, ttl: float) -> Claim | None:
        """Take the batch for this process, so that two runs never process the same bytes at once; None when
        another run holds it.

        A conditional create (O_EXCL locally, If-None-Match on S3) lets one writer win. A claim whose process is
        gone (same host) or that is older than ``ttl`` seconds is taken over, and the new claim counts that death
        (``Claim.deaths``, kept in the record as ``deaths``).
        """
        key = self._claim_key(batch_id)
        self.store.sweep(_CLAIMS)

        def record(deaths: int) -> bytes:
            fields: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
            if deaths:  # only after a death: a normal run's claim is as it always was
                fields["deaths"] = deaths
            return orjson.dumps(fields)

        if self.store.create(key, record(0)):
            return Claim()
        try:
            current = self.store.read(key)
        except FileNotFoundError:
            return Claim() if self.store.create(key, record(0)) else None
        deaths = _deaths_if_stale(current, ttl)
        if deaths is None:
            return None
        self.store.delete(key)
        return Claim(deaths) if self.store.create(key, record(deaths)) else None

    def release(self, batch_id: str) -> None:
        self.store.delete(self._claim_key(batch_id))

    def claims(self) -> list[str]:
        """The batch IDs claimed now."""
        return [k[len(_CLAIMS):-len(".json")] for k in self.store.list(_CLAIMS) if k.endswith(".json")]

    # The mail queue and ledger.
    def queue_messages(self, batch_id: str, messages: list[tuple[str, bytes]]) -> None:
        """(message ID, .eml bytes) of a batch: delivered once the batch is committed."""
        self.store.write_many([(f"{_QUEUE}{batch_id}.{mid}.eml", data) for mid, data in messages])

    def queued(self, batch_id: str | None = None) -> list[QueuedMessage]:
        """The messages waiting, all or one batch's."""
        found = []
        for key in self.store.list(_QUEUE):
            name = key.rsplit("/", 1)[-1]
            if not name.endswith(".eml"):
                continue
            owner, _, mid = name[: -len(".eml")].partition(".")
            if batch_id is None or owner == batch_id:
                found.append(QueuedMessage(key, owner, mid))
        return found

    def read_queued(self, message: QueuedMessage) -> bytes:
        return self.store.read(message.key)

    def dequeue(self, message: QueuedMessage) -> None:
        self.store.delete(message.key)

    def is_sent(self, message_id: str) -> bool:
        return self.store.exists(self._sent_key(message_id))

    def record_sent(self, message_id: str, record: dict[str, Any]) -> None:
        self.store.write(self._sent_key(message_id), orjson.dumps(record))

    def sent_ids(self) -> set[str]:
        """The message IDs the ledger lists: one listing."""
        return {PurePosixPath(k).stem for k in self.store.list(_SENT) if k.endswith(".json")}

    def _sent_key(self, message_id: str) -> str:
        return f"{_SENT}{message_id}.json"

    def write_message(self, message_id: str, raw: bytes) -> None:
        """A confirmation delivered as a file, when no SMTP server is configured."""
        self.store.write(f"{_MAIL}{message_id}.eml", raw)

    def tidy_mail(self) -> None:
        self.store.sweep(_MAIL)

    def mail_folder(self) -> str:
        """Where confirmations are written, for the reader."""
        return self.store.describe(_MAIL.rstrip("/"))

    def batches_folder(self) -> str:
        """Where the batches are, for the reader."""
        return self.store.describe(f"{_BATCHES}<batch id>/")

    # Decisions on referred requests: appended, never overwritten; the latest counts.
    def decisions(self, request_id: str) -> list[dict[str, Any]]:
        keys = [k for k in self.store.list(f"{_DECISIONS}{request_id}/") if k.endswith(".json")]
        numbered = sorted(keys, key=lambda k: int(PurePosixPath(k).stem))
        return [orjson.loads(self.store.read(k)) for k in numbered]

    def add_decision(self, request_id: str, record: dict[str, Any]) -> int:
        """Append a decision, its number first in the record as ``n``; the number (1, 2, …). Each number is a
        conditional create, so two specialists at once never both get the same one."""
        n = len(self.decisions(request_id)) + 1
        while not self.store.create(self._decision_key(request_id, n), orjson.dumps({"n": n, **record})):
            n += 1
        return n

    # Run records: what each run did with every file, for ``coc status`` and the portal.
    def record_run(self, record: dict[str, Any]) -> str:
        """Write a run's record as ``runs/<UTC time>.json`` (a name that sorts in time order, never overwritten);
        where it went, for the reader."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        body = orjson.dumps(record, option=orjson.OPT_INDENT_2)
        n = 0
        while not self.store.create(key := f"{_RUNS}{stamp}{f'-{n}' if n else ''}.json", body):
            n += 1
        return self.store.describe(key)

    def runs(self) -> list[str]:
        """The names of the run records, oldest first."""
        return sorted(k[len(_RUNS):] for k in self.store.list(_RUNS) if k.endswith(".json"))

    def run(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.store.read(f"{_RUNS}{name}"))
        return doc

    def latest_run(self) -> dict[str, Any] | None:
        names = self.runs()
        return self.run(names[-1]) if names else None

    def _decision_key(self, request_id: str, n: int) -> str:
        if not _REQUEST_ID.fullmatch(request_id):
            raise ValueError(f"{request_id!r} is not a request ID (COC-XX-XXXXXXXXXX)")
        return f"{_DECISIONS}{request_id}/{n}.json"

    def decision_numbers(self) -> dict[str, list[int]]:
        """Every request with decisions → their numbers, in order: one listing of the decisions folder."""
        found: dict[str, list[int]] = {}
        for key in self.store.list(_DECISIONS, recursive=True):
            rid, _, name = key[len(_DECISIONS):].partition("/")
            stem, _, ext = name.partition(".")
            if ext == "json" and stem.isdigit():
                found.setdefault(rid, []).append(int(stem))
        return {rid: sorted(ns) for rid, ns in found.items()}

    def decision(self, request_id: str, n: int) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.store.read(self._decision_key(request_id, n)))
        return doc

    # Reports.
    def write_report(self, name: str, data: bytes) -> str:
        """A report file under ``reports/``; where it went, for the reader."""
        key = f"{_REPORTS}{name}"
        self.store.write(key, data)
        return self.store.describe(key)

    # The audit log: appended, never overwritten.
    def append_audit(self, record: dict[str, Any]) -> None:
        """Add one record to the audit log under the UTC time of its ``at`` (now when it has none). Each record is
        its own object, created only where nothing is, so concurrent writers (threads, processes, hosts) never
        overwrite one another and nothing ever rewrites the log."""
        at = _utc(record.get("at"))
        body = orjson.dumps(record)
        folder = f"{_AUDIT}{at:%Y-%m-%d}/{at:%H%M%S.%f}-"
        while not self.store.create(f"{folder}{secrets.token_hex(4)}.json", body):
            pass  # the same microsecond and suffix: draw another suffix

    def audit_records(self, day: dt.date | None = None) -> Iterator[dict[str, Any]]:
        """The audit log's records, of one UTC day or all, in time order (records of the same microsecond in any
        order)."""
        prefix = f"{_AUDIT}{day:%Y-%m-%d}/" if day is not None else _AUDIT
        for key in sorted(k for k in self.store.list(prefix, recursive=True) if k.endswith(".json")):
            doc: dict[str, Any] = orjson.loads(self.store.read(key))
            yield doc


def _utc(at: object) -> dt.datetime:
    """The record's time as an aware UTC datetime; now for a record without one (or not in ISO 8601)."""
    if isinstance(at, str):
        try:
            parsed = dt.datetime.fromisoformat(at)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def _deaths_if_stale(raw: bytes, ttl: float) -> int | None:
    """None while the claim holds; once it is stale, the deaths to record in the claim that takes it over."""
    try:
        claim = orjson.loads(raw)
        earlier, at, pid = int(claim.get("deaths", 0)), float(claim.get("at", 0)), int(claim.get("pid", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0  # claims are created whole (atomically): an unreadable one is damaged, not in progress
    if time.time() - at > ttl:
        return earlier + 1  # abandoned: its run died elsewhere (or hung for longer than any file takes)
    if claim.get("host") == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return earlier + 1  # its process is gone (killed): nobody is working on the file
        except PermissionError:
            return None
    return None
