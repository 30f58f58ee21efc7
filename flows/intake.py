"""The nightly intake: list the inbox, process each file in isolation, commit in order of name, deliver mail.

Orchestration only: every step is a function of ``coc_intake`` (``batch.process_file``, or ``batch.prepare_file``
and ``batch.commit_file`` when files are prepared elsewhere), and tasks pass names, URIs and small dataclasses. Each
file is a task run named after the file (task ``intake-file``, with the batch's table artifact), so the UI reads like
an intake log and a failed file is red. The files' task runs run one after another in the flow's own thread, in order
of name, so the outbox is the one a serial run writes; threads in one process only fought over the GIL
(docs/decisions.md#performance-and-memory).
A file name may carry an SSN: the flow runs, task runs, logs, state messages and artifacts show it masked
(``night.InboxName``; docs/outputs.md#confidentiality), and only the task that opens the file reads the real name.
With ``parallel`` (a process pool or a Dask cluster) the files are prepared in other processes and committed in order
of name by the flow. The night ends Failed when any file failed; the others are still committed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import flow_run, task_run
from prefect.states import Failed
from prefect.tasks import Task, exponential_backoff

from coc_intake import batch, mail, night, redact, report, runs, sidecar
from coc_intake.batch import FileSummary, InboxListing
from coc_intake.errors import TransientError
from coc_intake.history import KnownRequests
from coc_intake.mail import MailSummary
from coc_intake.night import FileFailure, InboxName, NightSummary
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.states import BATCH_RESULTS
from coc_intake.store import open_store

P = ParamSpec("P")
R = TypeVar("R")

def _masked(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a task body so that what Prefect stores of a failure (state message, traceback) has no full SSN."""

    @functools.wraps(fn)
    def body(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TransientError as exc:
            raise TransientError(redact.redact(str(exc))) from None
        except Exception as exc:
            raise redact.sanitize(exc) from None

    return body


def _transient_only(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry store and mail outages; a problem in the data never gets better by trying again."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


_BACKOFF = exponential_backoff(backoff_factor=2)
_RETRIED: dict[str, Any] = {"cache_policy": NONE, "retries": 3, "retry_delay_seconds": _BACKOFF,
                            "retry_condition_fn": _transient_only}


def _outbox(uri: str) -> Outbox:
    return Outbox(open_store(uri))


@task(task_run_name="list {inbox_uri}", **_RETRIED)
@_masked
def survey_inbox(inbox_uri: str) -> InboxListing:
    """The files to process, and the entries that are not submissions a run can take (folders, links, unusable
    names), each with why: listed every night, never a failure (docs/decisions.md). Portal records left without
    their file for over a day go first."""
    inbox = open_store(inbox_uri)
    sidecar.tidy_orphans(inbox)
    return batch.survey_inbox(inbox)


@task(task_run_name="known requests", **_RETRIED)
@_masked
def load_known(outbox_uri: str) -> KnownRequests:
    return KnownRequests.load(_outbox(outbox_uri))


@task(task_run_name="prepare {name}", **_RETRIED)  # formats InboxName: the masked name
@_masked
def prepare(inbox_uri: str, outbox_uri: str, name: InboxName, as_of: dt.date, known: KnownRequests) -> FileSummary:
    return batch.prepare_file(open_store(inbox_uri), _outbox(outbox_uri), name.real, as_of, Settings.from_env(), known)


def _commit_run_name() -> str:
    """``commit <file>``, the name masked: the prepared summary carries the real one, which commit needs."""
    summary = task_run.parameters.get("summary")
    return f"commit {redact.redact(getattr(summary, 'name', ''))}"


@task(task_run_name=_commit_run_name, **_RETRIED)
@_masked
def commit(inbox_uri: str, outbox_uri: str, summary: FileSummary, as_of: dt.date,
           known: KnownRequests) -> FileSummary:
    return batch.commit_file(open_store(inbox_uri), _outbox(outbox_uri), summary, as_of, Settings.from_env(), known)


def _publish(outbox_uri: str, summary: FileSummary) -> None:
    """The batch's table as an artifact. The batch is committed by now, and the table is a view of it (the outbox
    is its record): a table that cannot be made is a warning, never the file's failure or a retry of it."""
    if summary.result not in BATCH_RESULTS:
        return
    try:
        manifest = _outbox(outbox_uri).manifest(summary.batch_id)
        # masked again: a batch committed before manifests were masked may be published by a rerun
        create_table_artifact(key=f"batch-{summary.batch_id}", table=night.batch_table(manifest),
                              description=f"Intake of {redact.redact(manifest['source_name'])} as of "
                                          f"{manifest['as_of']}")
    except Exception as exc:
        get_run_logger().warning("%s: processed, but its table could not be published to Prefect (%s: %s); the "
                                 "batch is in the outbox", redact.redact(summary.name), type(exc).__name__,
                                 redact.redact(str(exc)))


def _published(outbox_uri: str, summary: FileSummary) -> FileSummary:
    """A committed file's table published and its note warned of; it is returned as shown from here on (its name
    masked), whichever way it was prepared."""
    _publish(outbox_uri, summary)
    shown = night.shown_summary(summary)  # the file is committed: from here on its name is only shown and recorded
    _warn(shown)
    return shown


@task(name="intake-file", task_run_name="{name}", **_RETRIED)  # formats InboxName: the masked name
@_masked
def intake_file(inbox_uri: str, outbox_uri: str, name: InboxName, as_of: dt.date, known: KnownRequests) -> FileSummary:
    """One file: prepare and commit it (its requests added to ``known``), publish its table. Its task run is the
    file's unit in Prefect: named after it (masked), failed when the file failed, with the batch's table artifact."""
    summary = batch.process_file(open_store(inbox_uri), _outbox(outbox_uri), name.real, as_of, Settings.from_env(),
                                 known)
    get_run_logger().info("%s: %s (%s rows, %s approved, %s referred, %s rejected)", name, summary.result,
                          summary.rows, summary.approved, summary.referred, summary.rejected)
    return _published(outbox_uri, summary)


def _warn(summary: FileSummary) -> None:
    """A note on a file (set aside, changed in the inbox, not deletable) is a warning for the operator."""
    if summary.note:
        get_run_logger().warning("%s: %s", redact.redact(summary.name), redact.redact(summary.note))


@task(cache_policy=NONE, task_run_name="deliver confirmations")
@_masked
def deliver_mail(outbox_uri: str) -> MailSummary:
    return mail.deliver(_outbox(outbox_uri), Settings.from_env())


@task(cache_policy=NONE, task_run_name="rejections headline")
@_masked
def headline(outbox_uri: str, day: dt.date) -> str:
    """The analysts' headline numbers for the night (the batches as of ``day``), as a markdown artifact."""
    text = report.headline_markdown(report.build(report.load_manifests(_outbox(outbox_uri)), day, day))
    create_markdown_artifact(key="rejections-headline", markdown=text,
                             description=f"Rejections in the batches as of {day.isoformat()}")
    return text


@task(task_run_name="record the run", **_RETRIED)
@_masked
def record_run(outbox_uri: str, summary: NightSummary) -> None:
    """The night's record in the outbox (``runs/``), which ``coc status`` reads: a deployment's runs too."""
    runs.record_run(_outbox(outbox_uri), summary)


def _failure(name: InboxName, exc: BaseException) -> FileFailure:
    failure = FileFailure.of(name.real, exc)  # masks the name
    get_run_logger().error("%s could not be processed and stays in the inbox: %s", failure.name, failure.error)
    night.announce("failed", failure)
    return failure


def _in_turn(inbox_uri: str, outbox_uri: str, names: list[InboxName], as_of: dt.date, known: KnownRequests,
             done: NightSummary) -> None:
    """Each file a task run, one after another in order of name: a failed one is recorded and the next goes on."""
    for name in names:
        try:
            summary = intake_file(inbox_uri, outbox_uri, name, as_of, known)
        except Exception as exc:
            done.failures.append(_failure(name, exc))
            continue
        done.files.append(summary)
        night.announce("file", summary)


def _parallel(inbox_uri: str, outbox_uri: str, names: list[InboxName], as_of: dt.date, known: KnownRequests,
              done: NightSummary) -> None:
    futures = [prepare.submit(inbox_uri, outbox_uri, name, as_of, known.copy()) for name in names]
    for name, future in zip(names, futures, strict=True):  # commit in order of name
        try:
            shown = _published(outbox_uri, commit(inbox_uri, outbox_uri, future.result(), as_of, known))
        except Exception as exc:
            done.failures.append(_failure(name, exc))
            continue
        done.files.append(shown)
        night.announce("file", shown)


def _day(as_of: dt.date | None) -> dt.date:
    return as_of or dt.date.today()


def _run_name() -> str:
    """``intake <date>``: the as-of date, or today's for a scheduled run (which passes none)."""
    as_of = flow_run.parameters.get("as_of")
    return f"intake {_day(dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of).isoformat()}"


@flow(name="nightly-intake", flow_run_name=_run_name, validate_parameters=False)
def nightly_intake(inbox_uri: str, outbox_uri: str, as_of: dt.date | None = None,
                   parallel: bool = False) -> NightSummary | State[NightSummary]:
    """One intake over every file waiting. A file that fails stays in the inbox, the others go on, and the run ends
    Failed (with the night's summary as its result)."""
    redact.install("prefect", "prefect.flow_runs", "prefect.task_runs")
    day = _day(as_of)
    listing = survey_inbox(inbox_uri)
    names = [InboxName(real=name) for name in listing.names]
    night.announce("files", [name.shown for name in names])
    known = load_known(outbox_uri)
    done = NightSummary(day)
    (_parallel if parallel else _in_turn)(inbox_uri, outbox_uri, names, day, known, done)
    for entry in listing.set_aside:
        _warn(entry)
    summary = NightSummary(day, done.files + listing.set_aside, done.failures, deliver_mail(outbox_uri))
    create_markdown_artifact(key="nightly-intake-summary", markdown=summary.markdown(),
                             description=f"Nightly intake as of {day.isoformat()}")
    headline(outbox_uri, day)
    record_run(outbox_uri, summary)
    if summary.failed:
        stay = ", ".join(f.name for f in summary.failures)
        return Failed(message=f"{summary.verdict()}; left in the inbox: {stay}", data=summary)
    return summary


def night_summary(state: State[Any]) -> NightSummary:
    """The summary of a finished nightly run, whether it ended Completed or Failed; a run that could not go through
    the inbox at all (a store not answering, a wrong setting) raises its error."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, NightSummary):  # pragma: no cover - the flow returns nothing else
        raise TypeError(f"the nightly run returned {type(result).__name__}, not a NightSummary")
    return result
