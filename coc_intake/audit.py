"""The audit log of the portal and the intake: who did what, when (docs/outputs.md#the-audit-log-audit).

One record per event, appended to the outbox (``Outbox.append_audit``), never rewritten. Every text in a record is
masked by ``redact``: a full SSN typed as a user name, a file name or a note never reaches the log.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from coc_intake.outbox import Outbox
from coc_intake.redact import redact


class AuditAction(StrEnum):
    """What was done. A member is the string it names, so callers may pass either."""

    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"
    SIGN_OUT = "sign-out"
    UPLOAD = "upload"
    PRE_CHECK = "pre-check"
    SUBMIT = "submit"
    DOWNLOAD = "download"
    DECISION = "decision"
    ACCOUNT_ADDED = "account-added"
    ACCOUNT_DISABLED = "account-disabled"
    ACCOUNT_RESET = "account-reset"


#: The keys every record has; a detail may not take one of them.
FIELDS = ("at", "who", "action", "subject")


def record(outbox: Outbox, who: str, action: str, subject: str = "", **detail: str | int | None) -> None:
    """Append ``{"at", "who", "action", "subject", **detail}`` to the audit log: ``at`` is now, in UTC (ISO 8601,
    microseconds); ``action`` one of ``AuditAction`` (ValueError otherwise, so the log keeps one vocabulary)."""
    if clash := set(detail) & set(FIELDS):
        raise ValueError(f"audit detail may not be named {', '.join(sorted(clash))}")
    entry: dict[str, str | int | None] = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "who": redact(who),
        "action": str(AuditAction(action)),
        "subject": redact(subject),
    }
    for key, value in detail.items():
        entry[key] = redact(value) if isinstance(value, str) else value
    outbox.append_audit(entry)
