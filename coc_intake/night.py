"""A nightly run's bookkeeping: what it did with each file, its summary, and its progress as it goes.

Everything here is plain data and text for the orchestration (``flows/``) to pass around, show and record: file
names, batch IDs and counts, never a row's content. A file name may itself carry an SSN ("payroll 123-45-6789.xlsx"),
so what is shown or recorded of it is masked (docs/outputs.md#confidentiality); only ``InboxName.real`` and the
``FileSummary`` a task hands to the next keep the name that opens the file.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_serializer

from coc_intake import mail, redact, runs
from coc_intake.batch import FileSummary, InboxListing
from coc_intake.mail import MailSummary
from coc_intake.states import RowStatus

if TYPE_CHECKING:
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings

#: Progress goes out as log records of this logger (``event`` and ``data`` attributes), so that whoever runs the
#: night (the CLI's progress bar) can follow it without the orchestration knowing who listens.
PROGRESS = logging.getLogger("coc_intake.progress")
PROGRESS.propagate = False  # not for the console or Prefect's handlers: only a listener's own handler sees it


class InboxName(BaseModel):
    """An inbox file's name as the nightly flow hands it to each file's flow run and tasks.

    Prefect records a flow run's parameters in its database and names runs from them ("{name}", "prepare {name}").
    Everything it can record or show of this object is the masked name: its JSON form (Prefect encodes parameters
    with FastAPI's ``jsonable_encoder``, which dumps a pydantic model through its serializer), its text (run names
    are ``str.format``-ed) and its repr. Only ``real`` is the name that opens the file.
    """

    model_config = ConfigDict(frozen=True)

    real: str

    @property
    def shown(self) -> str:
        return redact.redact(self.real)

    @model_serializer
    def _as_shown(self) -> str:
        return self.shown

    def __str__(self) -> str:
        return self.shown

    def __format__(self, spec: str) -> str:
        return format(self.shown, spec)

    def __repr__(self) -> str:
        return f"InboxName({self.shown!r})"

    def __repr_args__(self) -> list[tuple[str | None, Any]]:  # pydantic's repr and rich's pretty-printing
        return [("shown", self.shown)]


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be processed for a system reason: it stays in the inbox for the next night."""

    name: str
    """The file's name, SSNs masked: a failure is only shown and recorded (the file stays in the inbox)."""
    error: str
    """One line, SSNs masked."""

    @classmethod
    def of(cls, name: str, exc: BaseException) -> FileFailure:
        # A task's failure comes back sanitized, its message already "<original type>: <message>": the wrapper's
        # name would only stand before it.
        text = str(exc) if isinstance(exc, redact.SanitizedError) else f"{type(exc).__name__}: {exc}"
        return cls(redact.redact(name), redact.redact(text))


@dataclass(frozen=True)
class NightSummary:
    as_of: dt.date
    files: list[FileSummary] = field(default_factory=list)
    """The files processed, already processed or taken by another run, in order of name, then the entries set
    aside; their names are masked (``shown``), as the night's summary is shown and recorded, never used to open a
    file."""
    failures: list[FileFailure] = field(default_factory=list)
    mail: MailSummary = field(default_factory=MailSummary)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(f, k) for f in self.files) for k in ("rows", *(s.key for s in RowStatus))}

    def verdict(self) -> str:
        """One line: how many files, and what became of them (the counts add up to the files seen)."""
        results: dict[str, int] = {}
        for f in self.files:
            results[f.result] = results.get(f.result, 0) + 1
        if self.failures:
            results["failed"] = len(self.failures)
        seen = len(self.files) + len(self.failures)
        parts = ", ".join(f"{n} {result}" for result, n in results.items())
        return f"{seen} file{'' if seen == 1 else 's'}" + (f": {parts}" if parts else "")

    def markdown(self) -> str:
        """The night's summary artifact."""
        t = self.totals()
        lines = [f"# Nightly intake, as of {self.as_of.isoformat()}", "",
                 f"{self.verdict()}; {t['rows']:,} rows: {t['approved']:,} approved, {t['referred']:,} referred, "
                 f"{t['rejected']:,} rejected.", "",
                 "| file | result | rows | approved | referred | rejected | batch |", "|---|---|---|---|---|---|---|"]
        # names masked again: a summary may be built from FileSummary objects of any caller
        lines += [f"| {redact.redact(f.name)} | {f.result}{f' — {redact.redact(f.note)}' if f.note else ''} "
                  f"| {f.rows} | {f.approved} | {f.referred} | {f.rejected} | {f.batch_id} |" for f in self.files]
        lines += [f"| {redact.redact(f.name)} | **failed** (left in the inbox): {f.error} | | | | | |"
                  for f in self.failures]
        m = self.mail
        lines += ["", f"Confirmations: {m.sent} sent, {m.written} written, {m.failed + m.deferred} kept for the next "
                      f"run" + (f" ({m.deferred} not tried: the delivery time budget ran out)." if m.deferred else ".")]
        return "\n".join(lines)


def batch_table(manifest: dict[str, Any]) -> list[dict[str, object]]:
    """A batch's counts and top error codes, as the batch's table artifact shows them (no personal data)."""
    top = sorted(manifest["error_counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    measures = ("status", "rows", *(s.key for s in RowStatus))
    table: list[dict[str, object]] = [{"measure": k, "value": manifest[k]} for k in measures]
    table += [{"measure": f"top code: {code}", "value": n} for code, n in top]
    return table


def shown_summary(summary: FileSummary) -> FileSummary:
    """The summary as the night records and shows it: its file name masked."""
    return replace(summary, name=redact.redact(summary.name))


def announce(event: str, data: object) -> None:
    """``files`` (the names, a list), ``file`` (a FileSummary) or ``failed`` (a FileFailure)."""
    PROGRESS.info(event, extra={"event": event, "data": data})


def without_files(listing: InboxListing, outbox: Outbox, as_of: dt.date, settings: Settings) -> NightSummary:
    """The night of an inbox that holds no submission, run without the orchestrator (docs/decisions.md): the
    entries set aside are listed, the confirmations still queued are delivered, and the run is recorded."""
    summary = NightSummary(as_of, list(listing.set_aside), [], mail.deliver(outbox, settings))
    runs.record_run(outbox, summary)
    return summary
