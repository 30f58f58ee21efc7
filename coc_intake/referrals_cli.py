"""``coc referrals …``: the specialists' queue from the command line (docs/commands.md#coc-referrals-list).

Thin: every decision is ``coc_intake.referrals``'s. The console never shows a full SSN (the request's is masked,
as is any SSN-shaped text of a note or a file name), and every text from a document is shown as plain text, never
as Rich markup.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.table import Table
from rich.text import Text

from coc_intake.redact import redact
from coc_intake.states import Decision

if TYPE_CHECKING:
    from coc_intake.outbox import Outbox
    from coc_intake.referrals import Decided, RequestView

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="The specialists' queue of referred requests: list, show, decide.")

OutboxOption = Annotated[str | None, typer.Option(help="Folder or s3://bucket/prefix of the batches (default: the "
                                                       "outbox setting).")]


def _outbox(uri: str | None) -> Outbox:
    from coc_intake.cli import _fail
    from coc_intake.errors import ConfigError
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.store import absolute_uri, open_store

    try:
        return Outbox(open_store(absolute_uri(uri or Settings.from_env().outbox)))
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _plain(value: object) -> Text:
    """A value for the console: SSN-shaped numbers masked, never read as markup."""
    return Text(redact("" if value is None else str(value)))


@app.command("list")
def list_cmd(
    reason: Annotated[str | None, typer.Option(metavar="CODE", help="Only referrals for this reason (a referral "
                                                                    "code of docs/errors.md).")] = None,
    host: Annotated[str | None, typer.Option(metavar="ISO2", help="Only assignments to this host country.")] = None,
    employer: Annotated[str | None, typer.Option(metavar="EIN", help="Only this employer's requests.")] = None,
    older_than: Annotated[int | None, typer.Option(min=0, metavar="DAYS",
                                                   help="Only referrals waiting more than DAYS since their as-of "
                                                        "date.")] = None,
    include_decided: Annotated[bool, typer.Option("--all", help="Also list referrals already decided, with their "
                                                                "latest decision.")] = False,
    limit: Annotated[int, typer.Option(min=0, metavar="N", help="List at most N (0: all); the count says how many "
                                                   "passed.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    outbox: OutboxOption = None,
) -> None:
    """The referred requests waiting for a specialist, oldest first (masked SSNs only)."""
    from coc_intake.catalog import REFERRAL_CODES
    from coc_intake.cli import _fail, out
    from coc_intake.referrals import Filters, Queue, normalize_ein

    if reason is not None and reason not in REFERRAL_CODES:
        raise _fail(f"--reason {reason} is not a referral reason. Give one of: {', '.join(sorted(REFERRAL_CODES))}.")
    if host is not None and not (len(host) == 2 and host.isascii() and host.isalpha()):
        raise _fail(f"--host {host} is not a country code. Give the host's two-letter ISO code, e.g. --host DE.")
    try:
        ein = normalize_ein(employer) if employer is not None else None
    except ValueError as exc:
        raise _fail(f"--employer {exc}.") from None
    today = dt.date.today()
    queue = Queue.load(_outbox(outbox))
    filters = Filters(reason, host.upper() if host else None, ein, older_than, include_decided)
    chosen, total = queue.select(filters, today, limit or None)
    if as_json:
        doc = {"total": total, "shown": len(chosen), "referrals": [r.as_json(today) for r in chosen]}
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return
    what = "referrals" if include_decided else "referrals waiting"
    if not total:
        out.print(f"No {what}{' that pass the filters' if filters != Filters() else ''}.")
        return
    table = Table(title=f"{what.capitalize()}, oldest first", title_justify="left")
    columns = ["Request", "Batch", "As of", "Age", "Host", "Employer", "Worker", "SSN", "Reasons"]
    whole = {"Request", "As of", "SSN"}  # what a specialist copies or reads at a glance stays on one line
    for name in columns + (["Decision"] if include_decided else []):
        table.add_column(name, overflow="fold", no_wrap=name in whole)
    for r in chosen:
        employer_text = " ".join(t for t in (r.employer_ein, r.employer_name) if t) or "self-employed"
        cells = [r.request_id, r.batch_id, r.as_of.isoformat(), str(r.age(today)), r.host, employer_text, r.worker,
                 r.masked_ssn, ", ".join(r.reasons)]
        if include_decided:
            cells.append(f"{r.latest} ({r.decisions})" if r.latest else "waiting")
        table.add_row(*(_plain(c) for c in cells))
    out.print(table)
    shown = f"{len(chosen):,} of {total:,}" if len(chosen) < total else f"{total:,}"
    out.print(f"{shown} {what}. `coc referrals show REQUEST_ID` shows one; --limit 0 lists all.")


@app.command()
def show(
    request_id: Annotated[str, typer.Argument(help="The referred request's ID.")],
    outbox: OutboxOption = None,
) -> None:
    """One referred request: its content, the reasons with the agreement's rule behind each, the worker's earlier
    requests and the decisions so far (the SSN masked)."""
    from coc_intake.cli import _fail, out
    from coc_intake.referrals import ReferralError, view

    try:
        shown = view(_outbox(outbox), request_id)
    except ReferralError as exc:
        raise _fail(str(exc), 1) from None
    for line in _request_lines(shown):
        out.print(line)
    out.print(_earlier_table(shown) if shown.earlier else Text("The worker has no other request."))
    if not shown.decisions:
        out.print(Text(f"No decision yet: `coc referrals decide {shown.referral.request_id} approved|denied --note "
                       "TEXT --by NAME`."))
    for line in _decision_lines(shown) if shown.decisions else []:
        out.print(line)


def _request_lines(shown: RequestView) -> list[Text]:
    from coc_intake.countries import name_of

    d, r = shown.document, shown.referral
    worker, employer, assignment = d.get("worker") or {}, d.get("employer") or {}, d.get("assignment") or {}
    source = d.get("source") or {}
    age = (dt.date.today() - r.as_of).days
    names = " ".join(str(worker[k]) for k in ("first_name", "middle_initial", "last_name") if worker.get(k))
    lines = [
        f"{r.request_id}: referred, batch {r.batch_id}, row {source.get('row')} of {source.get('file')} "
        f"(sheet {source.get('sheet')}), as of {r.as_of} ({age} days ago)",
        f"Worker: {names} ({worker.get('type')}), SSN {r.masked_ssn}, born {worker.get('date_of_birth')} in "
        f"{worker.get('place_of_birth')}, citizenship {', '.join(worker.get('citizenship') or [])}, residence "
        f"{worker.get('residence_country')}, hired {worker.get('hire_date')}",
    ]
    if employer:
        lines.append(f"Employer: {employer.get('ein')} {employer.get('name')}, {employer.get('street')}, "
                     f"{employer.get('city')} {employer.get('state')} {employer.get('zip')} "
                     f"({employer.get('employed_by')}); abroad: {employer.get('foreign_employer_name')}")
    elif worker.get("business_nature"):
        lines.append(f"Business: {worker.get('business_nature')}")
    host = str(assignment.get("host_country") or "")
    lines += [f"Assignment: {name_of(host) if host else ''} ({host}), {assignment.get('start')} to "
              f"{assignment.get('end')}, {assignment.get('worksite_city')}, {assignment.get('worksite_address')}",
              f"Contact e-mail: {d.get('contact_email') or 'none'}", "Reasons:"]
    texts = [_plain(line) for line in lines]
    for reason in shown.reasons:
        texts += [_plain(f"  {reason.code} ({reason.title})"), _plain(f"    {reason.message}")]
        if reason.rule:
            texts.append(_plain(f"    Rule: {reason.rule}"))
    return texts


def _earlier_table(shown: RequestView) -> Table:
    table = Table(title="The worker's other requests", title_justify="left")
    for name in ("Request", "Batch", "Host", "Start", "End", "Status"):
        table.add_column(name)
    for e in shown.earlier:
        table.add_row(*(_plain(c) for c in (e.request_id, e.batch_id, e.host, e.start, e.end, e.status)))
    return table


def _decision_lines(shown: RequestView) -> list[Text]:
    """One line per decision, the note last and whole (a table would fold it)."""
    lines = [Text("Decisions (the latest counts):")]
    for d in shown.decisions:
        lines.append(_plain(f"  {d.get('n')}. {d.get('decision')} by {d.get('by')} at {d.get('at')}: ")
                     + _plain(d.get("note")))
    return lines


@app.command()
def decide(
    request_id: Annotated[str, typer.Argument(help="The referred request's ID.")],
    decision: Annotated[Decision, typer.Argument(help="approved or denied.", case_sensitive=False)],
    note: Annotated[str, typer.Option(help="Why: the employer reads it (stored as typed).")],
    by: Annotated[str, typer.Option(metavar="NAME", help="Who decides.")],
    outbox: OutboxOption = None,
) -> None:
    """Record a decision on a referred request and tell the employer by e-mail.

    A request already decided gets one more decision (the latest counts). The e-mail is sent at once when an SMTP
    server is configured, else written to the outbox's mail folder; one that cannot be sent stays queued for the
    next run. Exit 1 when the request is not a referred one.
    """
    from coc_intake.cli import _fail, out
    from coc_intake.errors import ConfigError
    from coc_intake.referrals import ReferralError
    from coc_intake.referrals import decide as record
    from coc_intake.settings import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    store = _outbox(outbox)
    try:
        done = record(store, request_id, decision, note, by, settings)
    except ReferralError as exc:
        raise _fail(str(exc), 1) from None
    out.print(_plain(f"Recorded decision {done.n} on {done.record['request_id']}: {done.record['decision']}, by "
                     f"{by}, at {done.record['at']}."))
    out.print(Text("Note: ") + _plain(note))
    out.print(_plain(_mail_line(done, store)))


def _mail_line(done: Decided, outbox: Outbox) -> str:
    m = done.mail
    if done.message_id is None:
        return "The request names no contact e-mail: the employer is not told by e-mail."
    if m.sent:
        return "The employer's e-mail was sent."
    if m.written:
        return f"The employer's e-mail was written to {outbox.mail_folder()} (no SMTP server is configured)."
    why = f" ({'; '.join(m.errors)})" if m.errors else ""
    return f"The employer's e-mail could not be sent{why}: it stays queued and the next run sends it."


@app.command()
def reindex(outbox: OutboxOption = None) -> None:
    """Rebuild the queue's index from every committed batch (it is kept up to date by itself; this is for an index
    damaged or removed by hand)."""
    from coc_intake import referral_index
    from coc_intake.cli import out

    store = _outbox(outbox)
    table = referral_index.load(store, rebuild=True)
    out.print(_plain(f"The referral index lists {len(table):,} referrals of {len(store.committed()):,} batches."))
