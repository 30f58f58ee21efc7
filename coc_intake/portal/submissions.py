"""Submitting a checked upload into the inbox, and where each submission stands (docs/portal.md#my-submissions).

The inbox is written and the outbox read only through ``Store`` and ``Outbox``, so the portal works over S3 as over
folders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from coc_intake import referral_index, sidecar, status
from coc_intake.outbox import DOCUMENTS, Outbox
from coc_intake.portal.accounts import Account, Accounts, SubmissionRow
from coc_intake.portal.uploads import Upload, UploadState, new_id
from coc_intake.redact import redact
from coc_intake.store import Store

#: The batch documents an employer downloads from a submission's page.
DOWNLOADS = ("results.xlsx", "results.csv")
assert set(DOWNLOADS) <= set(DOCUMENTS)


class NotSubmittable(Exception):
    """Why an upload cannot be submitted: ``code`` is an error code of the catalog, or ``not-checked``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def submit(inbox: Store, accounts: Accounts, account: Account, upload: Upload) -> SubmissionRow:
    """Place the checked upload in the inbox with its sidecar record, and record the submission. A file the
    pre-check rejected whole is refused: the intake would reject it the same way."""
    if upload.state is UploadState.SUBMITTED and upload.submission_id:
        found = accounts.submission(account.id, upload.submission_id)
        if found is not None:
            return found
    if upload.state is not UploadState.CHECKED:
        raise NotSubmittable("not-checked", "The file has not been checked yet; wait for the pre-check to finish.")
    if upload.rejected_whole:
        codes = [f["code"] for f in upload.check.get("findings", []) if f.get("row") is None] or ["rejected-file"]
        raise NotSubmittable(str(codes[0]), "The pre-check rejected the whole file, so it was not submitted. Fix "
                                            "what the findings say and upload it again.")
    now = dt.datetime.now(dt.UTC)
    record = sidecar.SubmissionRecord(
        submission_id=new_id(), account=account.email, submitted_at=now.isoformat(timespec="seconds"),
        original_name=upload.original_name, eins=account.eins,
        ssns=(account.ssn,) if account.ssn else ())
    name = sidecar.submit(inbox, upload.source, record)
    row = SubmissionRow(record.submission_id, account.id, upload.original_name, name, upload.sha256,
                        upload.sha256[:16], upload.size, now)
    accounts.add_submission(row)
    upload.state, upload.submission_id = UploadState.SUBMITTED, record.submission_id
    return row


#: The referred requests a submission's page lists at most (with their count).
REFERRED_SHOWN = 1000


@dataclass(frozen=True)
class ReferredRequest:
    """A referred request of the employer's batch and what the specialists decided: the SSN masked, the note
    with any SSN-shaped text masked."""

    request_id: str
    row: int
    worker: str
    masked_ssn: str
    host: str
    reasons: tuple[str, ...]
    decision: str | None = None
    """The latest decision, or None while it waits."""
    decided_at: str | None = None
    note: str | None = None
    decisions: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "row": self.row, "worker": self.worker, "ssn": self.masked_ssn,
                "host": self.host, "reasons": list(self.reasons), "decision": self.decision,
                "decided_at": self.decided_at, "note": self.note, "decisions": self.decisions}


def referred(outbox: Outbox, batch_id: str, limit: int = REFERRED_SHOWN) -> tuple[list[ReferredRequest], int]:
    """The committed batch's referred requests (sheet order, at most ``limit``) with their latest decision, and
    how many it has. Reads the batch's referral index and one listing of the decisions folder, then only the
    decisions of this batch's requests."""
    table = referral_index.batch_index(outbox, batch_id)
    numbers = outbox.decision_numbers() if len(table) else {}
    found = []
    for r in table.slice(0, limit).to_pylist():
        rid = r["request_id"]
        latest = None
        # An extension has the ID of the request it extends: its decisions name the batch they decide.
        for n in reversed(numbers.get(rid, [])):
            record = outbox.decision(rid, n)
            if record.get("batch_id") in (None, batch_id):
                latest = record
                break
        found.append(ReferredRequest(
            rid, int(r["row"]), r["worker"] or "", f"***-**-{r['ssn_last4'] or ''}", r["host"] or "",
            tuple(r["reasons"] or ()), None if latest is None else str(latest.get("decision")),
            None if latest is None else str(latest.get("at")),
            None if latest is None else redact(str(latest.get("note") or "")),
            0 if latest is None else int(latest.get("n") or 0)))
    return found, len(table)


#: Why a submission whose bytes another account submitted first shows no outcome, and what to do.
BY_ANOTHER_ACCOUNT = (
    "The same file (these exact bytes) was already submitted by another account, so it was not processed again, "
    "and its results belong to that account. If a colleague filed it for your employer, ask them for the results. "
    "To file it under your own account, change the file (rows already requested are reported as such, not filed "
    "twice) and upload it again.")


def earlier(outbox: Outbox, accounts: Accounts, account: Account, upload: Upload) -> tuple[SubmissionRow | None, bool]:
    """Before Submit: the account's own earlier submission of the upload's bytes, or whether another account (or a
    file dropped into the inbox) has them already; submitted again they would be ``already-processed``."""
    if upload.state is UploadState.SUBMITTED:
        return None, False
    first = accounts.first_of_batch(upload.sha256[:16])
    if first is not None:
        return (first, False) if first.account_id == account.id else (None, True)
    return None, outbox.is_committed(upload.sha256[:16])


@dataclass(frozen=True)
class Standing:
    """A submission as its page shows it."""

    row: SubmissionRow
    file: status.FileStatus
    downloads: bool
    """Whether its batch's results may be downloaded by the account (the batch is committed and was made by one of
    the account's own submissions)."""
    referred: list[ReferredRequest] | None = None
    """Its batch's referred requests with their decisions (asked for, and the batch the account's own)."""
    referred_total: int = 0
    by_another_account: bool = False
    """Its bytes are a batch made by another account's submission (or a file not submitted through the portal):
    that batch's outcome is not shown (``BY_ANOTHER_ACCOUNT`` says why and what to do)."""

    def as_json(self) -> dict[str, Any]:
        found = {"submission_id": self.row.submission_id, "name": redact(self.row.original_name),
                 "inbox_name": self.row.inbox_name, "batch_id": self.row.batch_id, "sha256": self.row.sha256,
                 "size_bytes": self.row.size_bytes, "submitted_at": self.row.submitted_at.isoformat(),
                 "state": self.file.state.value, "counts": self.file.counts, "reason": self.file.reason,
                 "as_of": self.file.as_of, "downloads": list(DOWNLOADS) if self.downloads else [],
                 "submitted_by_another_account": self.by_another_account}
        if self.referred is not None:
            found["referred"] = [r.as_json() for r in self.referred]
            found["referred_total"] = self.referred_total
        return found


def standing(inbox: Store, outbox: Outbox, accounts: Accounts, account: Account, row: SubmissionRow,
             with_referred: bool = False) -> Standing:
    """Where the submission stands: waiting or failed while in the inbox, else its batch's outcome, but nothing of
    a batch that another account's submission made (its counts, date and file name are that account's); with
    ``with_referred``, its referred requests and their decisions too."""
    if not outbox.is_committed(row.batch_id):
        return Standing(row, status.of_file(inbox, outbox, name=row.inbox_name), False)
    found = status.of_file(inbox, outbox, name=row.inbox_name, batch_id=row.batch_id)
    made_by = outbox.manifest(row.batch_id).get("submission_id")
    first = accounts.submission(account.id, made_by) if isinstance(made_by, str) else None
    if first is None:
        hidden = status.FileStatus(found.name, status.FileState.ALREADY_PROCESSED, row.batch_id,
                                   reason=BY_ANOTHER_ACCOUNT)
        return Standing(row, hidden, False, by_another_account=True)
    if first.submission_id != row.submission_id:
        found = replace(found, reason=f"the same bytes as your submission of {redact(first.original_name)} on "
                                      f"{first.submitted_at:%Y-%m-%d %H:%M} UTC, processed as batch {row.batch_id}")
    if with_referred:
        shown, total = referred(outbox, row.batch_id)
        return Standing(row, found, True, shown, total)
    return Standing(row, found, True)


def document(outbox: Outbox, row: SubmissionRow, name: str) -> bytes:
    """A batch document of the submission (``DOWNLOADS``); FileNotFoundError when there is none."""
    if name not in DOWNLOADS:
        raise FileNotFoundError(name)
    return outbox.store.read(outbox.document_key(row.batch_id, name))
