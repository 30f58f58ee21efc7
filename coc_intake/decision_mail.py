"""The e-mail that tells the employer of a specialist's decision (docs/outputs.md#decision-e-mails).

One message per decision, to the request's contact address, through the outbox's mail queue and ledger like the
outcome e-mails (``mail.deliver``): never sent twice, never lost. ``queue_missing`` queues the message of every
decision that has neither a queued message nor a ledger entry, so a decision recorded by a process killed before it
queued its message is told at the next decision or nightly run. A decision on a request without a contact address
gets a ledger entry that says so (``delivered_by: none``), so it is not looked at again. Messages carry the masked
SSN only; the note is shown as typed, SSNs masked.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
from email.message import EmailMessage
from typing import Any

import orjson

from coc_intake.catalog import CATALOG
from coc_intake.countries import name_of
from coc_intake.outbox import Outbox
from coc_intake.redact import redact


def message_id(request_id: str, n: int) -> str:
    return hashlib.sha256(f"decision|{request_id}|{n}".encode()).hexdigest()[:24]


def compose(document: dict[str, Any], record: dict[str, Any], sender: str) -> tuple[str, bytes] | None:
    """(message id, .eml bytes) of a decision on the request ``document``; None when it names no contact address."""
    address = document.get("contact_email")
    if not address:
        return None
    rid, n = str(record["request_id"]), int(record["n"])
    mid = message_id(rid, n)
    worker, assignment = document.get("worker") or {}, document.get("assignment") or {}
    name = " ".join(str(worker.get(k)) for k in ("first_name", "last_name") if worker.get(k))
    ssn = str(worker.get("ssn") or "")
    host = str(assignment.get("host_country") or "")
    decision = str(record["decision"])
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = str(address)
    msg["Subject"] = f"Certificate of Coverage request {rid}: {decision}"
    msg["Date"] = email.utils.format_datetime(dt.datetime.fromisoformat(str(record["at"])))
    msg["Message-ID"] = f"<{mid}@coc-intake>"
    reasons = [f"  - {CATALOG[c].title}" if c in CATALOG else f"  - {c}"
               for c in document.get("referral_reasons") or []]
    lines = [
        "Hello,", "",
        f"A Social Security Administration specialist has decided the request {rid}, which was referred for "
        "review:", "",
        f"  {redact(name)}  SSN ***-**-{ssn[-4:]}  {name_of(host) if host else ''}  "
        f"{assignment.get('start')} to {assignment.get('end')}",
        f"  (file {redact(str((document.get('source') or {}).get('file', '')))}, row "
        f"{(document.get('source') or {}).get('row')}, batch {document.get('batch_id')})", "",
        "It was referred because:", *reasons, "",
        f"Decision: {decision}.",
        f"Note from the specialist: {redact(str(record.get('note') or ''))}", "",
    ]
    if n > 1:
        lines.append(f"This is decision {n} on the request: it replaces the earlier ones.")
    lines.append("This message was sent because the workbook asked for a confirmation at this address.")
    msg.set_content("\n".join(lines))
    return mid, msg.as_bytes()


def queue_missing(outbox: Outbox, sender: str) -> list[str]:
    """Queue the message of every decision that the queue and the ledger do not list; their message IDs."""
    known = outbox.sent_ids() | {m.message_id for m in outbox.queued()}
    queued = []
    for rid, numbers in outbox.decision_numbers().items():
        for n in numbers:
            mid = message_id(rid, n)
            if mid in known:
                continue
            record = outbox.decision(rid, n)
            batch_id = str(record["batch_id"])
            document = orjson.loads(outbox.read_request(batch_id, rid))
            composed = compose(document, record, sender)
            if composed is None:
                outbox.record_sent(mid, {"message_id": mid, "delivered_by": "none",
                                         "why": "the request names no contact e-mail",
                                         "at": dt.datetime.now(dt.UTC).isoformat()})
                continue
            outbox.queue_messages(batch_id, [composed])
            queued.append(mid)
    return queued
