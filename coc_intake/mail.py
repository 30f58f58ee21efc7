"""E-mail confirmations of approved requests (docs/outputs.md#confirmation-e-mails).

A batch queues one message per contact address in the outbox's mail queue (written before the batch commits, so a
rerun writes the same one). Delivery sends each queued message of a committed batch that the outbox's ledger does
not list, then records it there: a message is never sent twice, and one that fails stays queued for the next run.
With no SMTP server configured, delivery writes the message to a file in the outbox.

Messages carry masked SSNs only and no attachments. A message lists at most ``MAX_LISTED`` requests and counts
the rest (every request ID is in the batch's results.csv).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage

import numpy as np
import pandas as pd
import yagmail

from coc_intake.countries import name_of
from coc_intake.engine import CheckedRows, Outcome
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.settings import Settings
from coc_intake.states import RowStatus

#: Requests listed in one confirmation, in sheet order; the rest are counted. A census of 100k rows would otherwise
#: make a message of megabytes, which mail servers refuse (10-25 MB limits) and no reader uses.
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


def compose(outcome: Outcome, batch_id: str, as_of: dt.date, sender: str) -> list[tuple[str, bytes]]:
    """(message id, .eml bytes) for each contact address with approved requests in the batch."""
    if not isinstance(outcome, CheckedRows):
        return []
    v, rows = outcome.values, outcome.rows
    approved = rows["status"].eq(RowStatus.APPROVED) & v["contact_email"].notna()
    messages = []
    # One address's lines at a time, from plain lists and only the columns they show: a million approved rows would
    # otherwise hold a copy of every row, every line, and each step of building them, at once.
    accepted = np.flatnonzero(approved.to_numpy())
    emails = v["contact_email"].iloc[accepted].astype(str)
    by_address = emails.groupby(emails.to_numpy(), sort=True).indices
    shown = v[["first_name", "last_name", "ssn", "host_country", "assignment_start", "assignment_end"]]
    request_ids = rows["request_id"].astype(str).to_numpy()
    names = {c: name_of(str(c)) for c in v["host_country"].iloc[accepted].unique()}
    # The file's name as the employer chose it may carry an SSN ("payroll 123-45-6789.xlsx"): shown masked.
    file = redact(outcome.file)
    repeated = v["contact_email"][rows["status"].eq(RowStatus.ALREADY_REQUESTED)].dropna().astype(str)
    already: dict[str, int] = {str(k): int(n) for k, n in repeated.value_counts().items()}
    for address in sorted(by_address, key=str):
        every = accepted[by_address[address]]
        at = every[:MAX_LISTED]
        part = shown.iloc[at]
        group = [
            f"  {rid}  {first} {last}  SSN ***-**-{ssn[-4:]}  {names[host]}  {start} to {end}"
            for rid, first, last, ssn, host, start, end in zip(
                request_ids[at].tolist(), part["first_name"].astype(str).tolist(),
                part["last_name"].astype(str).tolist(), part["ssn"].astype(str).tolist(), part["host_country"].tolist(),
                part["assignment_start"].dt.strftime("%Y-%m-%d").tolist(),
                part["assignment_end"].dt.strftime("%Y-%m-%d").tolist(), strict=True)
        ]
        lines = [
            "Hello,",
            "",
            f"The Social Security Administration's intake accepted {len(every)} Certificate of Coverage "
            f"request(s) from the file {file}:",
            "",
            *group,
        ]
        if len(every) > len(at):
            lines += ["", f"  ... and {len(every) - len(at)} more. Every request ID is listed in results.csv of this "
                          f"file's results (batch {batch_id})."]
        if already.get(str(address)):  # counted apart: nothing new was requested for them, nothing is wrong
            lines += ["", f"{already[str(address)]} other row(s) of the file had already been requested by an "
                          "earlier file and made no new request: see the 'Already requested' sheet of the results."]
        lines += ["", "Keep the request IDs for your records. Certificates are sent to the employer by mail.",
                  "This message was sent because the workbook asked for a confirmation at this address."]
        mid = hashlib.sha256(f"{batch_id}|{address}".encode()).hexdigest()[:24]
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = sender
        msg["To"] = str(address)
        msg["Subject"] = f"Certificate of Coverage requests approved ({len(every)}) — {file}"
        msg["Date"] = email.utils.format_datetime(dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC))
        msg["Message-ID"] = f"<{mid}@coc-intake>"
        msg.set_content("\n".join(lines))
        messages.append((mid, msg.as_bytes()))
    return messages


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


def deliver(outbox: Outbox, settings: Settings) -> MailSummary:
    """Send (or write) every queued message of a committed batch that the ledger does not list yet.

    Sending stops once ``smtp_budget_seconds`` have gone: a server that accepts connections and never answers
    would otherwise cost a timeout per message, hours for a busy night. The messages not tried stay queued for the
    next run and are counted as ``deferred``.
    """
    summary = MailSummary()
    errors: list[str] = []
    outbox.tidy_mail()
    deadline = time.monotonic() + settings.smtp_budget_seconds
    for message in outbox.queued():
        if not outbox.is_committed(message.batch_id):
            continue  # its batch has not committed (yet): a rerun will write the same message again
        mid = message.message_id
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
