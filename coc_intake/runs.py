"""What a run did with each file, in one line per file, and the run's record in the outbox (``runs/``).

A file that failed stays in the inbox and makes no batch, so the run's record is the only place that says why:
``coc status`` and the portal read it (``last_seen``). The same lines make the run's summary on the console and
its ``--json`` object, so the three never disagree. Everything here is shown or recorded: names and reasons are
masked, one line each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coc_intake.redact import redact
from coc_intake.states import FileResult, RowStatus

if TYPE_CHECKING:
    from coc_intake.night import NightSummary
    from coc_intake.outbox import Outbox

#: The result of a file that could not be processed for a system reason (not a ``FileResult``: no batch says it).
FAILED = "failed"
#: The counts of a file, by name, as manifests and summaries carry them.
COUNTS = ("rows", *(s.key for s in RowStatus))
#: The longest reason kept in a record; the console cuts it shorter to fit its line.
MAX_REASON = 500


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line (every run of whitespace, line breaks too, made one space), SSNs masked, cut to
    ``limit`` characters with an ellipsis."""
    flat = redact(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def rejection_reason(manifest: dict[str, Any]) -> str:
    """Why a batch was rejected whole: its first file error (code and message), and how many more there are."""
    errors = manifest.get("file_errors") or []
    if not errors:
        return ""
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return one_line(f"{first.get('code')}: {first.get('message') or ''}".rstrip(": ") + more)


def earlier_batch(manifest: dict[str, Any]) -> str:
    """What an already processed file repeated: its batch's file, date and counts (this run made nothing new, so
    its own counts are zero)."""
    counts = {k: int(manifest.get(k, 0)) for k in COUNTS}
    return one_line(f"the same bytes as {manifest.get('source_name', '?')}, processed as of {manifest.get('as_of')}: "
                    f"{counts['rows']:,} rows, {counts['approved']:,} approved, {counts['referred']:,} referred, "
                    f"{counts['rejected']:,} rejected (results.xlsx of that batch).")


@dataclass(frozen=True)
class FileLine:
    """One file of a run, as it is shown and recorded."""

    name: str
    """SSNs masked."""
    result: str
    """A ``FileResult`` value, or ``failed``."""
    batch_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    """One line, masked: why the file was rejected whole, the error of a failed file, or the note on a file (set
    aside, changed in the inbox, not deletable); "" when there is nothing to say."""


def file_lines(summary: NightSummary, outbox: Outbox) -> list[FileLine]:
    """The run's files in the order of its summary, failures last; a rejected file's reason read from its
    manifest."""
    lines = []
    for f in summary.files:
        reason = f.note
        if f.result == FileResult.REJECTED_FILE and f.batch_id:
            reason = rejection_reason(outbox.manifest(f.batch_id)) or reason
        elif f.result == FileResult.ALREADY_PROCESSED and f.batch_id and not reason:
            reason = earlier_batch(outbox.manifest(f.batch_id))
        lines.append(FileLine(redact(f.name), str(f.result), f.batch_id, {k: int(getattr(f, k)) for k in COUNTS},
                              one_line(reason)))
    lines += [FileLine(redact(x.name), FAILED, reason=one_line(x.error)) for x in summary.failures]
    return lines


def record(summary: NightSummary, outbox: Outbox, at: dt.datetime | None = None) -> dict[str, Any]:
    """The run as one JSON-ready object: when it ended (UTC), its as-of date, verdict and totals, every file's
    line and the confirmations delivered."""
    at = at or dt.datetime.now(dt.UTC)
    return {
        "at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "as_of": summary.as_of.isoformat(),
        "failed": summary.failed,
        "verdict": summary.verdict(),
        "totals": summary.totals(),
        "files": [dataclasses.asdict(line) for line in file_lines(summary, outbox)],
        "mail": dataclasses.asdict(summary.mail),
    }


def record_run(outbox: Outbox, summary: NightSummary) -> dict[str, Any]:
    """Write the run's record to the outbox (``runs/``); the record, with where it went (``written_to``)."""
    doc = record(summary, outbox)
    return {**doc, "written_to": outbox.record_run(doc)}


#: How many of the newest runs that listed files ``last_seen`` reads: a file still in the inbox was listed by the
#: first run after it came; the few before it cover runs over other inboxes into the same outbox.
RECENT_RUNS = 5
#: The most records ``last_seen`` reads: runs over an empty inbox (recorded too, a few bytes each) do not count
#: among ``RECENT_RUNS``, so that an hour of them does not hide the night's failure.
MOST_RECORDS = 50


def last_seen(outbox: Outbox, name: str, runs: int = RECENT_RUNS) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest of the last ``runs`` runs that listed files to list a file of this name, and its line there;
    None when none did. Names are compared masked, as records hold them."""
    shown = redact(name)
    for run_name in reversed(outbox.runs()[-MOST_RECORDS:]):
        run = outbox.run(run_name)
        files = run.get("files", [])
        for line in files:
            if line.get("name") == shown:
                return run, line
        runs -= bool(files)
        if runs <= 0:
            break
    return None
