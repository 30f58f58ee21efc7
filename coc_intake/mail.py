"""The outcome e-mail of a batch (docs/outputs.md#confirmation-e-mails).

A batch queues one message per contact address of its rows (approved, referred, rejected or already requested) in
the outbox's mail queue (written before the batch commits, so a rerun writes the same one). Delivery sends each
queued message of a committed batch that the outbox's ledger does not list, then records it there: a message is
never sent twice, and one that fails stays queued for the next run.
With no SMTP server configured, delivery writes the message to a file in the outbox.

A message counts the address's rows per status, lists its approved and referred requests and says where the results
workbook comes from. Messages carry masked SSNs only and no attachments. A message lists at most ``MAX_LISTED``
requests and counts the rest (every request ID is in the batch's results.csv).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import smtplib
import time
from collections.abc import Collection
from dataclasses import dataclass
from email.message import EmailMessage

import numpy as np
import pandas as pd
import yagmail

from coc_intake import decision_mail
from coc_intake.countries import name_of
from coc_intake.engine import CheckedRows, Outcome
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.settings import Settings
from coc_intake.states import RowStatus

#: Requests listed in one message (approved then referred, each in sheet order); the rest are counted. A census of
#: 100k rows would otherwise make a message of megabytes, which mail servers refuse (10-25 MB limits) and no reader
#: uses.
MAX_LISTED = 1_000


@dataclass
class MailSummary:
    sent: int = 0
    written: int = 0
    failed: int = 0
    already: int = 0
    deferred: int = 0
    """Messages not tried because the run's delivery time (``smtp_budget_seconds``) ran out; still queued."""
    errors: tuple[str, ...] = ()
    """One line per failed delivery, SSNs masked."""


#: The statuses whose requests a message lists, in the order of its sections, with each section's heading.
LISTED = ((RowStatus.APPROVED, "Approved"), (RowStatus.REFERRED, "Referred to a specialist"))


@dataclass(frozen=True)
class _Batch:
    """What every message of one batch draws on: the rows that name a contact address, as plain arrays."""

    batch_id: str
    file: str
    """The file's name, masked."""
    positions: np.ndarray
    """Positions (in the outcome's rows) of the rows with a contact address."""
    addresses: np.ndarray
    statuses: np.ndarray
    counts: dict[tuple[str, str], int]
    """(address, status) → rows."""
    shown: pd.DataFrame
    request_ids: np.ndarray
    hosts: dict[str, str]
    """Host code → country name, for the hosts of listed rows."""

    @classmethod
    def of(cls, outcome: CheckedRows, batch_id: str) -> _Batch:
        v, rows = outcome.values, outcome.rows
        positions = np.flatnonzero(v["contact_email"].notna().to_numpy())
        addresses = v["contact_email"].iloc[positions].astype(str).to_numpy()
        statuses = rows["status"].iloc[positions].astype(str).to_numpy()
        pairs = pd.DataFrame({"address": addresses, "status": statuses}).value_counts()
        listed = positions[np.isin(statuses, [s for s, _ in LISTED])]
        return cls(
            batch_id=batch_id,
            # The file's name as the employer chose it may carry an SSN ("payroll 123-45-6789.xlsx"): shown masked.
            file=redact(outcome.file),
            positions=positions, addresses=addresses, statuses=statuses,
            counts={(str(a), str(s)): int(n) for a, s, n in zip(
                pairs.index.get_level_values(0), pairs.index.get_level_values(1), pairs.to_numpy(), strict=True)},
            shown=v[["first_name", "last_name", "ssn", "host_country", "assignment_start", "assignment_end"]],
            request_ids=rows["request_id"].astype(str).to_numpy(),
            hosts={str(c): name_of(str(c)) for c in v["host_country"].iloc[listed].dropna().unique()},
        )

    def by_address(self) -> dict[str, np.ndarray]:
        """Address → indices into ``positions`` of its rows, in sheet order."""
        groups = pd.Series(self.addresses).groupby(self.addresses, sort=True).indices
        return {str(a): np.asarray(i) for a, i in groups.items()}

    def count(self, address: str, status: RowStatus) -> int:
        return self.counts.get((address, str(status)), 0)


def compose(outcome: Outcome, batch_id: str, as_of: dt.date, sender: str) -> list[tuple[str, bytes]]:
    """(message id, .eml bytes): the outcome message of each contact address of the batch's rows."""
    if not isinstance(outcome, CheckedRows):
        return []  # a file rejected whole: no row was read, so no address either
    batch = _Batch.of(outcome, batch_id)
    # One address's lines at a time, from plain lists and only the columns they show: a million rows would
    # otherwise hold a copy of every row, every line, and each step of building them, at once.
    return [_message(batch, address, at, as_of, sender) for address, at in batch.by_address().items()]


def _message(batch: _Batch, address: str, at: np.ndarray, as_of: dt.date, sender: str) -> tuple[str, bytes]:
    mid = hashlib.sha256(f"{batch.batch_id}|{address}".encode()).hexdigest()[:24]
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = _subject(batch, address)
    msg["Date"] = email.utils.format_datetime(dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC))
    msg["Message-ID"] = f"<{mid}@coc-intake>"
    msg.set_content("\n".join(_body(batch, address, at)))
    return mid, msg.as_bytes()


def _subject(batch: _Batch, address: str) -> str:
    counts = [f"{batch.count(address, RowStatus.APPROVED)} approved",
              f"{batch.count(address, RowStatus.REFERRED)} referred",
              f"{batch.count(address, RowStatus.REJECTED)} to fix"]
    if already := batch.count(address, RowStatus.ALREADY_REQUESTED):
        counts.append(f"{already} already requested")
    return f"Certificate of Coverage requests: {', '.join(counts)} — {batch.file}"


def _body(batch: _Batch, address: str, at: np.ndarray) -> list[str]:
    lines = ["Hello,", "",
             f"The Social Security Administration's intake has read the file {batch.file} (batch {batch.batch_id}). "
             "Its rows that ask for a confirmation at this address:", ""]
    lines += _tally(batch, address)
    budget, listed = MAX_LISTED, 0
    for status, heading in LISTED:
        rows = batch.positions[at[batch.statuses[at] == str(status)]]
        if len(rows):
            lines += ["", f"{heading} ({len(rows)}):", *_listing(batch, rows[:budget])]
            if len(rows) > budget:
                lines.append(f"  ... and {len(rows) - budget} more. Every request ID is listed in results.csv of "
                             f"this file's results (batch {batch.batch_id}).")
            budget, listed = max(budget - len(rows), 0), listed + len(rows)
    lines += ["", *_where_results(batch), ""]
    if listed:
        lines.append("Keep the request IDs for your records. Certificates are sent to the employer by mail.")
    lines.append("This message was sent because the workbook asked for a confirmation at this address.")
    return lines


def _tally(batch: _Batch, address: str) -> list[str]:
    """One line per status the address has rows of, saying what it means and what to do."""
    approved, referred, rejected, already = (batch.count(address, s) for s in (
        RowStatus.APPROVED, RowStatus.REFERRED, RowStatus.REJECTED, RowStatus.ALREADY_REQUESTED))
    lines = []
    if approved:
        lines.append(f"  {approved} approved: the Certificate of Coverage requests are made.")
    if referred:
        lines.append(f"  {referred} referred: requested; a specialist reviews each before a decision (the reasons are "
                     "on the 'Referred' sheet of the results workbook).")
    if rejected:
        lines.append(f"  {rejected} to fix: rejected, nothing was requested for them. Open the 'Fix and resubmit' "
                     "sheet of the results workbook, correct the highlighted cells (each has a comment saying what "
                     "is wrong) and send that workbook again as it is.")
    if already:  # counted apart: nothing new was requested for them, nothing is wrong
        lines.append(f"  {already} already requested: an earlier file made these requests, so nothing new was made "
                     "and nothing needs doing (see the 'Already requested' sheet of the results workbook).")
    return lines


def _listing(batch: _Batch, at: np.ndarray) -> list[str]:
    """One line per request at these positions (at most ``MAX_LISTED``): ID, name, masked SSN, host, period."""
    part = batch.shown.iloc[at]
    return [
        f"  {rid}  {first} {last}  SSN ***-**-{ssn[-4:]}  {batch.hosts[host]}  {start} to {end}"
        for rid, first, last, ssn, host, start, end in zip(
            batch.request_ids[at].tolist(), part["first_name"].astype(str).tolist(),
            part["last_name"].astype(str).tolist(), part["ssn"].astype(str).tolist(),
            part["host_country"].astype(str).tolist(), part["assignment_start"].dt.strftime("%Y-%m-%d").tolist(),
            part["assignment_end"].dt.strftime("%Y-%m-%d").tolist(), strict=True)
    ]


def _where_results(batch: _Batch) -> list[str]:
    """Where the employer gets the results workbook. The portal's submission page is not built yet: until it is,
    the workbook is in the batch's folder of the outbox, and the intake team that received the file returns it."""
    return [f"The results workbook (results.xlsx of batch {batch.batch_id}) holds every row of the file with what "
            "became of it. The SSA intake team that received your file returns it to you; quote the batch number "
            "if you ask for it. Once the online portal opens, it will also be on your file's submission page."]


def _send_smtp(settings: Settings, raw: bytes, timeout: float) -> None:
    """Send the queued message exactly as composed. yagmail opens the connection (TLS, login); the message goes
    out through its SMTP session with ``sendmail``, which raises on any refusal (yagmail's own ``send`` would
    rebuild the body and swallow a failure into its ``unsent`` list). ``timeout`` bounds each step of the
    conversation (connect, each reply), not the whole."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    client = yagmail.SMTP(
        user=settings.smtp_user or settings.mail_from,
        password=settings.smtp_password,
        host=settings.smtp_host,
        port=settings.smtp_port,
        smtp_starttls=settings.smtp_security == "starttls",
        smtp_ssl=settings.smtp_security == "ssl",
        smtp_skip_login=settings.smtp_password is None,
        soft_email_validation=False,
        timeout=timeout,
    )
    try:
        client.login()
        refused = client.smtp.sendmail(settings.mail_from, [str(parsed["To"])], raw)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    except BaseException:
        # Drop the connection without QUIT: a server that stopped answering would make QUIT wait another timeout
        # (is_closed keeps yagmail's __del__ from sending it later).
        if client.smtp is not None:
            client.smtp.close()
        client.is_closed = True
        raise
    client.close()


def deliver(outbox: Outbox, settings: Settings, only: Collection[str] | None = None) -> MailSummary:
    """Send (or write) every queued message of a committed batch that the ledger does not list yet (``only``: of
    these message IDs; a decision's message is delivered when it is recorded).

    Sending stops once ``smtp_budget_seconds`` have gone: a server that accepts connections and never answers
    would otherwise cost a timeout per message, hours for a busy night. The messages not tried stay queued for the
    next run and are counted as ``deferred``.

    A whole delivery (``only`` None) first queues the message of any specialist's decision that has none yet
    (``decision_mail.queue_missing``): one whose recording was cut short before its message was queued.
    """
    summary = MailSummary()
    errors: list[str] = []
    outbox.tidy_mail()
    if only is None:
        decision_mail.queue_missing(outbox, settings.mail_from)
    deadline = time.monotonic() + settings.smtp_budget_seconds
    for message in outbox.queued():
        if not outbox.is_committed(message.batch_id):
            continue  # its batch has not committed (yet): a rerun will write the same message again
        mid = message.message_id
        if only is not None and mid not in only:
            continue
        if outbox.is_sent(mid):
            outbox.dequeue(message)
            summary.already += 1
            continue
        left = deadline - time.monotonic()
        if settings.smtp_host and left <= 0:
            summary.deferred += 1
            continue
        raw = outbox.read_queued(message)
        how = "file"
        if settings.smtp_host:
            try:
                # The last attempt gets only what is left of the budget, so the budget bounds the whole delivery.
                _send_smtp(settings, raw, min(settings.smtp_timeout_seconds, left))
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                summary.failed += 1
                errors.append(redact(f"message {mid}: {type(exc).__name__}: {exc}"))
                continue
            how = "smtp"
            summary.sent += 1
        else:
            outbox.write_message(mid, raw)
            summary.written += 1
        outbox.record_sent(mid, {"message_id": mid, "delivered_by": how, "at": pd.Timestamp.now(tz="UTC").isoformat()})
        outbox.dequeue(message)
    if summary.deferred:
        errors.append(f"delivery stopped after {settings.smtp_budget_seconds:g} s (smtp_budget_seconds): "
                      f"{summary.deferred} message(s) not tried, kept for the next run")
    summary.errors = tuple(errors)
    return summary
