"""``coc status NAME|BATCH_ID|REQUEST_ID``: where a file, batch or request stands (``coc_intake.status``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from coc_intake.redact import redact

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def status(
    query: Annotated[str, typer.Argument(metavar="NAME|BATCH_ID|REQUEST_ID",
                                         help="A file's name as it was put in the inbox, a batch ID or a request ID.")],
    inbox: Annotated[str | None, typer.Option(help="Folder (or s3://bucket/prefix) of the waiting files.")] = None,
    outbox: Annotated[str | None, typer.Option(help="Folder (or s3://bucket/prefix) of the batches.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Where a file, batch or request stands: waiting, failed (with why), processed with its counts, rejected whole
    (with why) or already processed; a request's status, batch and decisions.

    Exit 0 when found, 1 when nothing matches, 2 for a usage error.
    """
    from coc_intake.errors import ConfigError
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.status import RequestStatus, lookup
    from coc_intake.store import absolute_uri, open_store

    try:
        settings = Settings.from_env()
        inbox_uri = absolute_uri(inbox or settings.inbox)
        outbox_uri = absolute_uri(outbox or settings.outbox)
        box = Outbox(open_store(outbox_uri))
        found = lookup(open_store(inbox_uri), box, query)
    except ConfigError as exc:
        err.print(f"Error: {escape(str(exc))}")
        raise typer.Exit(2) from None
    shown = redact(query)
    if not found:
        err.print(escape(
            f"Nothing matches '{shown}': no file of that name in the inbox {inbox_uri} or in the source/ of the "
            f"{len(box.batch_ids()):,} batches in {outbox_uri}, and no batch or request with that ID. Check the "
            "spelling (a file's name with its extension, as it was put in the inbox), and that --inbox and --outbox "
            "(or COC_INBOX and COC_OUTBOX) name the stores the run used."))
        raise typer.Exit(1)
    if as_json:
        doc: dict[str, Any] = {"query": shown, "request": None, "files": []}
        if isinstance(found, RequestStatus):
            doc["request"] = found.as_json()
        else:
            doc["files"] = [s.as_json() for s in found]
        sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
        return
    if isinstance(found, RequestStatus):
        _print_request(found)
    else:
        if len(found) > 1:
            out.print(escape(f"{shown}: {len(found)} matches, newest first."))
        for s in found:
            out.print(escape(_file_line(s, inbox_uri)), soft_wrap=True)


def _counts(counts: dict[str, int]) -> str:
    already = counts.get("already_requested", 0)
    return (f"{counts.get('rows', 0):,} rows: {counts.get('approved', 0):,} approved, "
            f"{counts.get('referred', 0):,} referred, {counts.get('rejected', 0):,} rejected"
            + (f", {already:,} already requested" if already else ""))


def _file_line(s: Any, inbox_uri: str) -> str:
    """One line per status, for the console (the statuses are masked already)."""
    from coc_intake.status import FileState

    batch = f"batch {s.batch_id}, as of {s.as_of}"
    if s.state == FileState.WAITING:
        return f"{s.name}: waiting in the inbox {inbox_uri} for the next run."
    if s.state == FileState.FAILED:
        from coc_intake.logs import default_file

        reason = (s.reason or "no reason recorded").rstrip(".")
        return (f"{s.name}: failed in the run as of {s.as_of} and stays in the inbox for the next run: {reason}. "
                f"The details are in the run's log file ({default_file()} unless the run was given --log-file); "
                "once the cause is fixed, the next run takes the file.")
    if s.state == FileState.PROCESSED:
        return f"{s.name}: processed ({batch}): {_counts(s.counts)}."
    if s.state == FileState.REJECTED_FILE:
        return f"{s.name}: rejected whole ({batch}): {s.reason or 'no reason recorded'}"
    if s.state == FileState.ALREADY_PROCESSED:
        return f"{s.name}: already processed: {s.reason} (as of {s.as_of}; {_counts(s.counts)})."
    return f"{s.name}: unknown."


def _print_request(r: Any) -> None:
    out.print(escape(f"{r.request_id}: {r.status} (batch {r.batch_id})."))
    if not r.decisions:
        if r.status == "referred":
            out.print("No specialist's decision yet.")
        return
    for n, d in enumerate(r.decisions, 1):
        who = d.get("by") or d.get("who") or d.get("specialist")
        when = d.get("at") or d.get("when")
        note = d.get("note")
        text = (f"Decision {n}: {d.get('decision', '?')}" + (f" by {who}" if who else "")
                + (f" on {when}" if when else "") + (f": {note}" if note else ""))
        out.print(escape(redact(" ".join(text.split()))))
    out.print(escape(f"The latest decision counts: {r.decisions[-1].get('decision', '?')}."))
