"""Uploads being pre-checked: streamed to disk within the bounds, checked by the engine in a worker process, their
findings and marked workbook kept until they are submitted or dropped (docs/portal.md#pre-check).

An upload lives in ``state_dir/uploads/<upload id>/`` (owner-only): ``source<.suffix>``, the bytes as received
(the name is made here, never taken from the upload), and ``marked.xlsx``. Its state is this process's: a portal
host checks what was uploaded to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import multiprocessing
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from coc_intake.errors import FileRejected
from coc_intake.limits import Limits, human

#: The findings a page or an API answer lists; the counts above them count them all.
SHOWN_FINDINGS = 500
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
_ID_LETTERS = "abcdefghijkmnpqrstuvwxyz"
_ID = re.compile(rf"[{_ID_LETTERS}]{{24}}")
#: How long an upload (its pre-check and its files, full SSNs and all) is kept: a day to fix and submit it, not for
#: ever; a submitted file is in the inbox and My submissions by then.
KEEP_SECONDS = 24 * 3600
#: How often, at most, the uploads past KEEP_SECONDS are swept (on a new upload).
SWEEP_SECONDS = 3600


def new_id() -> str:
    """An upload's or a submission's ID: 24 random letters (~110 bits). No digits, so that no part of it looks like
    an SSN to the log's masking."""
    return "".join(secrets.choice(_ID_LETTERS) for _ in range(24))


class UploadState(StrEnum):
    CHECKING = "checking"
    CHECKED = "checked"
    FAILED = "failed"
    """The check itself failed (a fault on our side, not the file's): the employer may upload the file again."""
    SUBMITTED = "submitted"


@dataclass
class Upload:
    upload_id: str
    account_id: int
    original_name: str
    folder: Path
    source: Path
    size: int
    sha256: str
    uploaded_at: dt.datetime
    state: UploadState = UploadState.CHECKING
    check: dict[str, Any] = field(default_factory=dict)
    """The worker's summary (``summarize``) once checked."""
    submission_id: str | None = None

    @property
    def marked(self) -> Path:
        return self.folder / "marked.xlsx"

    @property
    def rejected_whole(self) -> bool:
        return self.check.get("status") == "rejected-file"

    def as_json(self) -> dict[str, Any]:
        from coc_intake.redact import redact

        return {"upload_id": self.upload_id, "name": redact(self.original_name), "size_bytes": self.size,
                "sha256": self.sha256, "state": self.state.value, "submission_id": self.submission_id,
                **({k: v for k, v in self.check.items() if k != "marked"} if self.check else {}),
                "marked_workbook": bool(self.check.get("marked"))}


def suffix_of(name: str) -> str:
    """The original name's extension, lowercased, when it is a plain one (the reader tells formats by it)."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.casefold()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


async def receive(chunks: AsyncIterator[bytes], target: Path, max_bytes: int) -> tuple[int, str]:
    """Write the chunks to ``target`` as they come; (size, SHA-256). FileRejected ``file-too-large`` as soon as they
    pass ``max_bytes``: what was written is deleted, and the rest is not read."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise FileRejected("file-too-large", reason=f"more than {human(max_bytes)} uploaded")
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def precheck(source: str, name: str, as_of: str, limits: dict[str, Any], eins: list[str], ssns: list[str],
             marked: str) -> dict[str, Any]:
    """The engine's check of one upload, in a worker process: its summary (picklable, SSNs masked) and, when it can
    be made, the marked workbook at ``marked`` (``coc validate --annotate``)."""
    from coc_intake.annotate import AnnotateError, write_annotated
    from coc_intake.engine import check_file
    from coc_intake.sidecar import Authorization

    day = dt.date.fromisoformat(as_of)
    authorization = Authorization(frozenset(eins), frozenset(ssns))
    outcome = check_file(Path(source), name, day, Limits(**limits), authorization=authorization)
    summary = summarize(outcome)
    try:
        write_annotated(Path(source), outcome, Path(marked), day)
        summary["marked"] = True
    except AnnotateError as exc:
        from coc_intake.redact import redact

        summary["marked"], summary["marked_note"] = False, redact(str(exc))
    return summary


def summarize(outcome: Any) -> dict[str, Any]:
    """Counts by status and by code, and the first findings (masked as every finding is)."""
    from coc_intake.findings import records

    found = outcome.findings
    by_code: list[dict[str, Any]] = []
    if len(found):
        grouped = found.groupby("code", sort=False).agg(n=("code", "size"), rows=("row", "nunique"),
                                                       severity=("severity", "first")).reset_index()
        grouped = grouped.sort_values(["n", "code"], ascending=[False, True], kind="stable")
        by_code = [{"code": str(c), "severity": str(s), "findings": int(n), "rows": int(r)}
                   for c, s, n, r in zip(grouped["code"], grouped["severity"], grouped["n"], grouped["rows"],
                                         strict=True)]
    return {"status": str(outcome.status), "counts": outcome.counts(), "by_code": by_code,
            "findings": records(found.head(SHOWN_FINDINGS)), "total_findings": len(found),
            "rejected": bool(outcome.rejected)}


class Uploads:
    """This host's uploads, and the worker processes that check them."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        # Spawned, not forked: the server process has an event loop and threads that a fork would copy half-way.
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()
        self._swept = 0.0
        self.sweep()

    def close(self) -> None:
        """Stop the checking processes now. Left to end on their own, they outlive the portal: uvicorn ends its
        process by raising the stop signal again once it has shut down, which runs no exit handlers. A check under
        way is dropped, as the uploads held in memory end with the process anyway."""
        # ProcessPoolExecutor has no public way to end its workers before Python 3.14 (terminate_workers).
        workers = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)

    def sweep(self) -> None:
        """Forget the uploads older than KEEP_SECONDS and delete their folders, and the folders as old that an
        earlier process left (its uploads died with it). A younger folder may be another process's: it is kept."""
        now = time.time()
        self._swept = now
        cutoff = now - KEEP_SECONDS
        with self._lock:
            for upload_id, item in list(self._uploads.items()):
                if item.uploaded_at.timestamp() < cutoff and item.state is not UploadState.CHECKING:
                    del self._uploads[upload_id]
            kept = set(self._uploads)
        for child in self.folder.iterdir():
            try:
                old = child.lstat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if child.name not in kept and old:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def new_folder(self) -> tuple[str, Path]:
        if time.time() - self._swept > SWEEP_SECONDS:
            self.sweep()
        upload_id = new_id()
        folder = self.folder / upload_id
        folder.mkdir(mode=0o700)
        return upload_id, folder

    def add(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.upload_id] = upload

    def get(self, account_id: int, upload_id: str) -> Upload | None:
        """The account's own upload; None for another's, as for one that does not exist."""
        if not _ID.fullmatch(upload_id):
            return None
        found = self._uploads.get(upload_id)
        return found if found is not None and found.account_id == account_id else None

    def of_account(self, account_id: int) -> list[Upload]:
        with self._lock:
            return sorted((u for u in self._uploads.values() if u.account_id == account_id),
                          key=lambda u: u.uploaded_at, reverse=True)

    def discard(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    async def check(self, upload: Upload, as_of: dt.date, limits: Limits, eins: tuple[str, ...],
                    ssns: tuple[str, ...]) -> None:
        """Run the pre-check in a worker process; the upload's state says when it is done."""
        loop = asyncio.get_running_loop()
        try:
            upload.check = await loop.run_in_executor(
                self._pool, precheck, str(upload.source), PurePosixPath(upload.original_name).name,
                as_of.isoformat(), limits.model_dump(), list(eins), list(ssns), str(upload.marked))
            upload.state = UploadState.CHECKED
        except Exception as exc:
            from coc_intake.redact import redact

            upload.check = {"error": redact(f"{type(exc).__name__}: {exc}").splitlines()[0]}
            upload.state = UploadState.FAILED
