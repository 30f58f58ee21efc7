"""The ``coc`` command line (docs/commands.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from coc_intake import status_cmd
from coc_intake.portal import commands as portal_commands
from coc_intake.redact import redact
from coc_intake.referrals_cli import app as referrals_app
from coc_intake.states import RowStatus

if TYPE_CHECKING:
    from coc_intake.engine import Outcome
    from coc_intake.night import NightSummary
    from coc_intake.outbox import Outbox

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Batch intake of Certificate of Coverage requests from employers' workbooks.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
app.add_typer(referrals_app, name="referrals")


def _fail(text: str, code: int = 2) -> typer.Exit:
    err.print(f"Error: {text}")
    return typer.Exit(code)


#: The first date --as-of, --since and --until accept; the last is a year from today (docs/decisions.md). A date
#: outside is a slip (0026, 2062, 9999): as an as-of it would date batches and confirmation e-mails wrongly and
#: fail every date rule, and at 9999 the date arithmetic overflows.
EARLIEST_DATE = dt.date(1990, 1, 1)


def latest_date(today: dt.date | None = None) -> dt.date:
    """The last date the date options accept: the same day a year after ``today`` (28 February for 29 February)."""
    today = today or dt.date.today()
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def _date(value: str, option: str) -> dt.date:
    """``value`` of ``option`` as a date in the accepted range, else a usage error (exit 2) that says what to give."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} '{value}' is not a date. Give it as YYYY-MM-DD, e.g. {option} 2026-11-25.") from None
    latest = latest_date()
    if not EARLIEST_DATE <= day <= latest:
        raise _fail(f"{option} {value} is out of range. Give a date from {EARLIEST_DATE} to {latest} (a year from "
                    f"today) as YYYY-MM-DD; leave {option} out for {'today' if option == '--as-of' else 'no bound'}.")
    return day


def _as_of(value: str | None) -> dt.date:
    return dt.date.today() if value is None else _date(value, "--as-of")


AsOf = Annotated[str | None, typer.Option("--as-of", help="The run's date (YYYY-MM-DD); default today.")]


#: How many findings ``coc validate`` lists by default; the summary above the list counts them all.
MAX_FINDINGS = 200


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    from coc_intake.engine import CheckedRows
    from coc_intake.findings import records

    rows = {} if not isinstance(outcome, CheckedRows) else {
        str(row): {"status": status, "request_id": rid, "codes": list(codes)}
        for row, status, rid, codes in zip(outcome.rows.index, outcome.rows["status"], outcome.rows["request_id"],
                                           outcome.rows["codes"], strict=True)
    }
    # The findings quote values masked already; the file's name may carry an SSN too.
    return {"file": redact(outcome.file), "status": outcome.status, "rows": rows,
            "findings": records(outcome.findings)}


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The workbook (.xlsx) or CSV file to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    as_of: AsOf = None,
    max_findings: Annotated[int, typer.Option(
        "--max-findings", min=0, help="List at most N findings (the counts above the list count them all).")
    ] = MAX_FINDINGS,
    annotate: Annotated[Path | None, typer.Option(
        "--annotate", metavar="OUT.xlsx",
        help="Also write the workbook marked: an .xlsx file itself (problem cells filled and commented, a Messages "
             "column, a Summary sheet first), a CSV file as the results workbook.")] = None,
) -> None:
    """Check a file as intake would, and print what it finds; writes nothing but the --annotate workbook.

    Exit 0 when no row and not the file would be rejected, 1 otherwise.
    """
    from coc_intake.engine import check_file

    day = _as_of(as_of)
    if not file.is_file():
        raise _fail(f"{file} does not exist or is not a file. Give the path of an .xlsx or .csv workbook.")
    if annotate is not None:
        from coc_intake.annotate import AnnotateError, check_target

        try:
            check_target(file, annotate)
        except AnnotateError as exc:
            raise _fail(str(exc)) from None
    from coc_intake.errors import ConfigError
    from coc_intake.settings import Settings

    try:
        limits = Settings.from_env().limits
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    outcome = check_file(file, file.name, day, limits)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(outcome_json(outcome), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render_outcome(out, outcome, max_findings)
    if annotate is not None:
        _annotate(file, outcome, annotate, day, err if as_json else out)
    raise typer.Exit(1 if outcome.rejected else 0)


def _annotate(file: Path, outcome: Outcome, target: Path, day: dt.date, console: Console) -> None:
    """Write the --annotate workbook and say what it holds; a usage error (exit 2) that says what to do if it
    cannot be written."""
    from coc_intake.annotate import AnnotateError, write_annotated

    try:
        written = write_annotated(file, outcome, target, day)
    except AnnotateError as exc:
        raise _fail(redact(str(exc))) from None
    name = _shown(str(written.path))
    if written.generated:
        console.print(f"Wrote {name}: the results workbook of this check (Summary, Fix and resubmit, Referred, "
                      "Errors).")
        return
    console.print(f"Wrote {name}: {written.cells:,} cells marked, messages on {written.rows:,} rows, a Summary "
                  "sheet first. Fix the marked cells there and check it again.")
    if written.formulas:
        console.print(f"[yellow]Note:[/] its data sheet has {written.formulas:,} formulas, whose values Excel "
                      "computes when it opens the file: open it in Excel and save it before sending it.")


def render_outcome(console: Console, outcome: Outcome, max_findings: int = MAX_FINDINGS) -> None:
    """The console view of a check (docs/commands.md#coc-validate): the counts per status and per code first, then
    at most ``max_findings`` findings, then what to do. Every text from the file is shown as plain text (never Rich
    markup) with SSN-shaped numbers masked, though the findings are masked already."""
    from coc_intake.engine import CheckedRows

    file = _shown(outcome.file)
    if isinstance(outcome, CheckedRows):
        console.print(f"{file}: {_status_counts(outcome.counts())}.")
    else:
        console.print(f"[bold red]{file}: the whole file is rejected.[/]")
    findings = outcome.findings
    if len(findings):
        console.print(_code_counts(findings))
    shown = max(0, min(max_findings, len(findings)))
    if shown:
        console.print(_findings_table(findings.head(shown), file))
    if len(findings) > shown:
        more = len(findings) - shown
        console.print(f"… and {more:,} more finding{'s' if more > 1 else ''} (use --json or --max-findings to see "
                      "them)")
    if outcome.rejected:
        console.print("Fix what the errors say and check the file again before sending it.")


def _status_counts(counts: dict[str, int]) -> str:
    """'12 rows — 9 approved, 1 referred, 2 rejected' (and every other row status there is, when it counts any)."""
    colours = {RowStatus.APPROVED: "green", RowStatus.REFERRED: "yellow", RowStatus.REJECTED: "red"}
    shown = [f"[{colours.get(s, 'cyan')}]{counts.get(s.value, 0):,} {s.value}[/]" for s in RowStatus
             if s in colours or counts.get(s.value, 0)]
    return f"{counts['rows']:,} rows — " + ", ".join(shown)


_SEVERITY_COLOURS = {"error": "red", "warning": "yellow"}


def _code_counts(findings: Any) -> Table:
    """The findings per code, most frequent first (then by code), with the severity and how many rows."""
    table = Table(title="Findings by code", show_lines=False, title_justify="left")
    for name, justify in (("Findings", "right"), ("Rows", "right"), ("Severity", "left"), ("Code", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    grouped = findings.groupby("code", sort=False).agg(n=("code", "size"), rows=("row", "nunique"),
                                                       severity=("severity", "first"))
    grouped = grouped.reset_index().sort_values(["n", "code"], ascending=[False, True], kind="stable")
    for code, n, rows, severity in zip(grouped["code"], grouped["n"], grouped["rows"], grouped["severity"],
                                       strict=True):
        colour = _SEVERITY_COLOURS.get(str(severity), "cyan")
        table.add_row(f"{int(n):,}", f"{int(rows):,}", Text(str(severity), style=colour), Text(str(code)))
    return table


def _findings_table(findings: Any, file: str) -> Table:
    """The findings listed, under the title 'Findings in <file>' (``file`` ready for the console)."""
    from coc_intake.findings import records

    table = Table(title=f"Findings in {file}", show_lines=False, title_justify="left")
    for name in ("Row", "Col", "Severity", "Code", "Message"):
        table.add_column(name, overflow="fold")
    for rec in records(findings):
        severity = str(rec["severity"])
        table.add_row("" if rec["row"] is None else str(rec["row"]), Text(redact(str(rec["column"] or ""))),
                      Text(severity, style=_SEVERITY_COLOURS.get(severity, "cyan")), Text(str(rec["code"])),
                      Text(redact(str(rec["message"] or ""))))
    return table


@app.command()
def run(
    inbox: Annotated[str | None, typer.Option(help="Folder (or s3://bucket/prefix) to take files from.")] = None,
    outbox: Annotated[str | None, typer.Option(help="Folder (or s3://bucket/prefix) to write batches to.")] = None,
    as_of: AsOf = None,
    workers: Annotated[int, typer.Option(min=1, help="Prepare files in N processes on this machine.")] = 1,
    dask_address: Annotated[str | None, typer.Option(
        help="Prepare files on a Dask cluster (tcp://scheduler:8786) instead of this machine.")] = None,
    plain: Annotated[bool, typer.Option(
        "--plain", help="Plain lines: no progress bar, no table drawing, no line over 200 characters (the default "
                        "when standard output is not a terminal).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's summary as one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Also show Prefect's and the library's log on the console (standard error).")] = False,
    log_file: Annotated[Path | None, typer.Option(
        "--log-file", metavar="PATH",
        help="Where the log goes (default: logs/coc-run.log under the Prefect home, rotated at 10 MB).")] = None,
) -> None:
    """One nightly intake over every file waiting in the inbox.

    Exit 0 when every file was processed (rejected rows are a normal outcome) or the inbox was empty; 1 when a file
    could not be processed for a system reason (it stays in the inbox) or the run itself stopped on an error (one
    line on the console, the details in the log file).
    """
    from coc_intake import logs, runs, runview
    from coc_intake.errors import ConfigError
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.store import absolute_uri, open_store

    day = _as_of(as_of)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    # Absolute once, here: the flow's tasks, worker processes and the summary all get the same locations.
    inbox_uri = absolute_uri(inbox or settings.inbox)
    outbox_uri = absolute_uri(outbox or settings.outbox)
    if not inbox_uri.startswith("s3://") and not Path(inbox_uri).is_dir():
        raise _fail(f"The inbox {inbox_uri} is not a folder. Create it, or pass --inbox PATH.")
    import coc_intake.flows  # noqa: F401 - Prefect's settings (its home, where the log goes) before anything else

    plain = plain or not out.is_terminal
    box = Outbox(open_store(outbox_uri))
    with logs.to_file(log_file or logs.default_file(), verbose=verbose) as routing:
        try:
            result = _night(inbox_uri, outbox_uri, box, day, settings, workers, dask_address, routing,
                            bar=not (plain or as_json) and err.is_terminal)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        except Exception as exc:  # a system error: the traceback to the log only
            logging.getLogger("coc_intake.run").error("coc run stopped", exc_info=True)
            raise _fail(f"the run stopped: {runs.one_line(f'{type(exc).__name__}: {exc}', 150)}. The details are in "
                        f"{routing.path}.", 1) from None
        finally:
            from coc_intake.flows._env import stop_server

            stop_server()
    if as_json:
        sys.stdout.buffer.write(runview.as_json(runs.record(result, box)))
    else:
        _print_run(result, box, plain=plain, inbox=inbox_uri, log_file=str(routing.path))
    raise typer.Exit(1 if result.failed else 0)


def _night(inbox_uri: str, outbox_uri: str, box: Outbox, day: dt.date, settings: Any, workers: int,
           dask_address: str | None, routing: Any, bar: bool) -> NightSummary:
    """The night: without Prefect when the inbox holds no submission (docs/decisions.md), else the flow."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from coc_intake.batch import survey_inbox
    from coc_intake.night import without_files
    from coc_intake.store import open_store

    listing = survey_inbox(open_store(inbox_uri))
    if not listing.names:
        return without_files(listing, box, day, settings)
    err.print(escape(f"Intake of {inbox_uri} into {outbox_uri} as of {day} (starting Prefect) ..."))
    from coc_intake.flows._env import tie_server

    # Before Prefect is imported: its temporary server then boots while the intake's modules load (flows/_early.py),
    # and ends with this process, even a killed one.
    tie_server(routing.path)
    from coc_intake.flows.intake import night_summary

    routing.capture()  # Prefect set up its logging when it was imported, just now
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=False, disable=not bar)
    with _signals_exit(), progress, _following(progress):
        state = _intake_flow(workers, dask_address)(inbox_uri, outbox_uri, day,
                                                    parallel=workers > 1 or dask_address is not None,
                                                    return_state=True)
    return night_summary(state)


@contextlib.contextmanager
def _signals_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run as Ctrl-C does: as an exception (``SystemExit(128 + signal)``), so that
    ``finally`` blocks (a file's claim is released) and the ``atexit`` handlers run, among them Prefect's, which
    stops its temporary server. Python's default for both ends the process on the spot, leaving the server running.

    While the flow runs Prefect puts its own SIGTERM handler first (it marks the flow run crashed), then sends the
    signal again, to this handler."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread (an embedding caller): signals are its business
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _following(progress: Any) -> Iterator[None]:
    """Move the progress bar with the night's progress records (``night.announce``) while the flow runs."""
    from coc_intake.night import PROGRESS

    bar = progress.add_task("waiting for the first file", total=None)
    rows_seen = 0

    class Follow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            nonlocal rows_seen
            event, data = getattr(record, "event", None), getattr(record, "data", ())
            if event == "files":
                progress.update(bar, total=len(data), description=f"{len(data)} files")
            elif event in ("file", "failed"):
                rows_seen += getattr(data, "rows", 0)
                name = redact(str(getattr(data, "name", "")))
                progress.update(bar, advance=1, description=f"{name} — {rows_seen:,} rows so far")

    handler = Follow()
    level = PROGRESS.level
    PROGRESS.addHandler(handler)
    PROGRESS.setLevel(logging.INFO)
    try:
        yield
    finally:
        PROGRESS.removeHandler(handler)
        PROGRESS.setLevel(level)


def _intake_flow(workers: int, dask_address: str | None) -> Any:
    from coc_intake.flows import intake as intake_flow
    from coc_intake.flows._env import server_ready

    server_ready()
    if dask_address:
        from prefect_dask.task_runners import DaskTaskRunner

        return intake_flow.nightly_intake.with_options(
            task_runner=DaskTaskRunner(address=dask_address))  # type: ignore[arg-type]
    if workers > 1:
        from prefect.task_runners import ProcessPoolTaskRunner

        return intake_flow.nightly_intake.with_options(
            task_runner=ProcessPoolTaskRunner(max_workers=workers))  # type: ignore[arg-type]
    return intake_flow.nightly_intake


def _print_run(result: NightSummary, outbox: Outbox, *, plain: bool = False, inbox: str = "the inbox",
               log_file: str | None = None) -> None:
    """The run's summary on ``out``: a table, or plain lines (``runview``)."""
    from coc_intake import runs, runview

    runview.show(out, runs.record(result, outbox), plain=plain, inbox=inbox, mail_folder=outbox.mail_folder(),
                 batches_folder=outbox.batches_folder(), log_file=log_file)


def _shown(text: str) -> str:
    """A file name or note for the console: SSNs masked, and brackets in it never read as Rich markup."""
    return escape(redact(text))


@app.command()
def report(
    outbox: Annotated[str | None, typer.Option(help="Folder or s3://bucket/prefix of the batches.")] = None,
    since: Annotated[str | None, typer.Option(help="First as-of date to include (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last as-of date to include (YYYY-MM-DD).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the report files (default: the "
                                                                "outbox's reports folder).")] = None,
) -> None:
    """The analysts' rejection report over the committed batches: an .xlsx with charts and an HTML page."""
    from coc_intake import report as reports
    from coc_intake.errors import ConfigError
    from coc_intake.outbox import Outbox
    from coc_intake.report_render import render_html, render_xlsx
    from coc_intake.settings import Settings
    from coc_intake.store import LocalStore, absolute_uri, open_store

    out_dir = out_dir.absolute() if out_dir else None  # absolute, as the outbox is
    first = _date(since, "--since") if since else None
    last = _date(until, "--until") if until else None
    if first and last and first > last:
        raise _fail(f"--since {first} is after --until {last}; swap them.")
    try:
        source = Outbox(open_store(absolute_uri(outbox or Settings.from_env().outbox)))
        data = reports.add_decisions(reports.build(reports.load_manifests(source), first, last), source)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    stem = f"rejections-{data.since or 'none'}-to-{data.until or 'none'}"
    files = {f"{stem}.xlsx": render_xlsx(data), f"{stem}.html": render_html(data).encode("utf-8")}
    written = []
    for name, body in files.items():
        if out_dir:
            LocalStore(out_dir).write(name, body)
            written.append(str(out_dir / name))
        else:
            written.append(source.write_report(name, body))
    out.print(reports.headline_markdown(data))
    out.print(f"Wrote {' and '.join(written)}")


@app.command()
def serve(
    name: Annotated[str, typer.Option(help="The deployment's name.")] = "nightly",
    workers: Annotated[int, typer.Option(min=1, help="Prepare files in N processes on this machine.")] = 1,
    dask_address: Annotated[str | None, typer.Option(help="Prepare files on this Dask cluster.")] = None,
) -> None:
    """Serve the nightly intake as a deployment on its cron schedule (needs a Prefect server: PREFECT_API_URL)."""
    import os

    from coc_intake.errors import ConfigError
    from coc_intake.settings import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if not os.environ.get("PREFECT_API_URL"):
        raise _fail("coc serve needs a long-lived Prefect server. Start one with `prefect server start` and set "
                    "PREFECT_API_URL (for example http://127.0.0.1:4200/api).")
    from prefect.schedules import Cron

    import coc_intake.flows  # noqa: F401 - configures Prefect before it is imported
    err.print(f"Serving nightly-intake/{name}: '{settings.schedule_cron}' ({settings.schedule_timezone}), "
              f"{settings.inbox} → {settings.outbox}. Stop with Ctrl-C.")
    _intake_flow(workers, dask_address).serve(
        name=name,
        schedule=Cron(settings.schedule_cron, timezone=settings.schedule_timezone),
        parameters={"inbox_uri": settings.inbox, "outbox_uri": settings.outbox,
                    "parallel": workers > 1 or dask_address is not None},
    )


@app.command()
def template(
    out_path: Annotated[Path, typer.Argument(metavar="[OUT.xlsx]", help="Where to write it.")] = Path(
        "coc-template.xlsx"),
) -> None:
    """Write a blank workbook of the current template edition."""
    from coc_intake import schemas
    from coc_intake.template import write_template

    if out_path.suffix.casefold() != ".xlsx":
        raise _fail(f"{out_path} must end in .xlsx, for example: coc template assignments.xlsx")
    if not out_path.parent.exists():
        raise _fail(f"The folder {out_path.parent} does not exist. Create it first or choose another path.")
    write_template(out_path)
    out.print(f"Wrote {out_path} (template edition {schemas.edition()}).")


@app.command("agreements")
def agreements_cmd() -> None:
    """List the agreements in force with their rules."""
    from coc_intake import agreements as data

    table = Table(title="U.S. totalization agreements in force")
    for name in ("Code", "Country", "In force since", "Limit (months)", "Self-employed rule (source)", "Also requires"):
        table.add_column(name)
    for a in data.all_agreements().values():
        table.add_row(a.code, a.name, a.in_force_since.isoformat(), str(a.max_months or "none"),
                      a.self_employment_text, ", ".join(a.requires) or "-")
    out.print(table)


@app.command("help")
def help_cmd(
    field: Annotated[str | None, typer.Argument(help="A field's key, label or alias; omit it to list all.")] = None,
) -> None:
    """Show the help of a field (or list every field)."""
    from coc_intake import schemas

    if field is None:
        table = Table(title=f"Fields of template edition {schemas.edition()}")
        for name in ("Label", "Key", "Required"):
            table.add_column(name)
        for f in schemas.fields().values():
            table.add_row(f.label, f.key, f.required_text)
        out.print(table)
        return
    found = schemas.find(field)
    if found is None:
        keys = ", ".join(schemas.fields())
        raise _fail(f"'{field}' is not a field. Try one of: {keys}.")
    out.print(f"[bold]{found.label}[/] ({found.key})")
    out.print(f"Required: {found.required_text}")
    if found.values:
        out.print("Allowed values: " + ", ".join(found.values))
    if found.aliases:
        out.print("Also accepted as a header: " + ", ".join(found.aliases))
    out.print(found.help)


app.command("status")(status_cmd.status)
app.add_typer(portal_commands.accounts_app, name="accounts")
app.command("portal")(portal_commands.portal)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
