"""The nightly intake: list the inbox, process each file in isolation, commit in order of name, deliver mail.

Thin orchestration over ``coc_intake``: tasks pass names, URIs and small summaries, never DataFrames. Each file is a
flow run named after the file (``intake-file``), so the UI reads like an intake log. With ``workers`` > 1 or a Dask
address the files are prepared in parallel and committed in order of name, so the outbox is the one a serial run
would write (a file whose requests an earlier file of the same run already made is prepared again).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

import orjson
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.settings import temporary_settings
from prefect.tasks import Task, exponential_backoff
from prefect.utilities.annotations import quote

from coc_intake import intake, mail, redact, report
from coc_intake.errors import TransientError
from coc_intake.intake import FileSummary
from coc_intake.outputs import manifest_key
from coc_intake.settings import Settings
from coc_intake.states import BATCH_RESULTS, RowStatus
from coc_intake.stores import open_store

#: Set by the CLI to follow progress in the same process (file summaries as they finish).
progress: Callable[[str, dict[str, Any]], None] | None = None


def _emit(event: str, data: dict[str, Any]) -> None:
    if progress is not None:
        progress(event, data)


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


@task(cache_policy=NONE, task_run_name="list {inbox_uri}", retries=3, retry_delay_seconds=_BACKOFF,
      retry_condition_fn=_transient_only)
@_masked
def list_inbox(inbox_uri: str) -> list[str]:
    return intake.list_inbox(open_store(inbox_uri))


@task(cache_policy=NONE, task_run_name="known requests", retries=3, retry_delay_seconds=_BACKOFF,
      retry_condition_fn=_transient_only)
@_masked
def load_known(outbox_uri: str) -> dict[str, str]:
    return intake.known_requests(open_store(outbox_uri))


@task(cache_policy=NONE, task_run_name="prepare {name}", retries=3, retry_delay_seconds=_BACKOFF,
      retry_condition_fn=_transient_only)
@_masked
def prepare(inbox_uri: str, outbox_uri: str, name: str, as_of: dt.date, known: dict[str, str]) -> dict[str, Any]:
    summary = intake.prepare_file(open_store(inbox_uri), open_store(outbox_uri), name, as_of, Settings.from_env(),
                                  known)
    return summary.as_dict()


@task(cache_policy=NONE, task_run_name="commit {summary[name]}", retries=3, retry_delay_seconds=_BACKOFF,
      retry_condition_fn=_transient_only)
@_masked
def commit(inbox_uri: str, outbox_uri: str, summary: dict[str, Any], as_of: dt.date,
           known: dict[str, str]) -> dict[str, Any]:
    """Commit a prepared batch, first preparing it again if an earlier file of this run made its requests."""
    inbox, outbox = open_store(inbox_uri), open_store(outbox_uri)
    s = FileSummary.from_dict(summary)
    if s.pending and any(rid in known for rid in intake.pending_request_ids(outbox, s)):
        s = intake.redo_file(inbox, outbox, s, as_of, Settings.from_env(), known)
    s = intake.commit_file(inbox, outbox, s)
    for rid in intake.pending_request_ids(outbox, s):
        known.setdefault(rid, s.batch_id)
    return s.as_dict()


def _publish(outbox_uri: str, summary: dict[str, Any]) -> None:
    """The batch's table artifact: counts and top error codes, no personal data."""
    if summary["result"] not in BATCH_RESULTS:
        return
    doc = orjson.loads(open_store(outbox_uri).read(manifest_key(summary["batch_id"])))
    top = sorted(doc["error_counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    table = [{"measure": k, "value": doc[k]} for k in ("status", "rows", *RowStatus)]
    table += [{"measure": f"top code: {code}", "value": n} for code, n in top]
    create_table_artifact(key=f"batch-{summary['batch_id']}", table=table,
                          description=f"Intake of {doc['source_name']} as of {doc['as_of']}")


#: The request IDs of committed batches (request ID → batch), by nightly run, for the file runs it starts in this
#: process. Not a flow parameter: Prefect would store every entry with every file's flow run (a million request IDs
#: each night on a busy outbox). Tasks get it wrapped in ``quote``, which spares its traversal for dependencies.
_KNOWN: dict[str, dict[str, str]] = {}


def _untraversed(known: dict[str, str]) -> dict[str, str]:
    """``known`` for a task call: Prefect hands the task the dict itself, without visiting its every entry."""
    return cast(dict[str, str], quote(known))


@flow(name="intake-file", flow_run_name="{name}", validate_parameters=False)
def intake_file(inbox_uri: str, outbox_uri: str, name: str, as_of: dt.date, registry: str) -> dict[str, Any]:
    """One file, serially: prepare, commit, publish."""
    known = _KNOWN[registry]
    summary = prepare(inbox_uri, outbox_uri, name, as_of, _untraversed(known))
    summary = commit(inbox_uri, outbox_uri, summary, as_of, _untraversed(known))
    _publish(outbox_uri, summary)
    assert isinstance(summary, dict)
    get_run_logger().info("%s: %s (%s rows, %s approved, %s referred, %s rejected)", name, summary["result"],
                          summary["rows"], *(summary[s] for s in RowStatus))
    return summary


@task(cache_policy=NONE, task_run_name="deliver confirmations")
@_masked
def deliver_mail(outbox_uri: str) -> dict[str, Any]:
    result = mail.deliver(open_store(outbox_uri), Settings.from_env())
    return {"sent": result.sent, "written": result.written, "failed": result.failed, "already": result.already,
            "errors": [redact.redact(e) for e in result.errors]}


@task(cache_policy=NONE, task_run_name="rejections headline")
@_masked
def headline(outbox_uri: str, day: dt.date) -> str:
    """The analysts' headline numbers for the night (the batches as of ``day``), as a markdown artifact."""
    data = report.build(report.load_manifests(open_store(outbox_uri)), day, day)
    text = report.headline_markdown(data)
    create_markdown_artifact(key="rejections-headline", markdown=text,
                             description=f"Rejections in the batches as of {day.isoformat()}")
    return text


def _failure(name: str, exc: BaseException) -> dict[str, str]:
    reason = redact.redact(f"{type(exc).__name__}: {exc}")
    get_run_logger().error("%s could not be processed and stays in the inbox: %s", name, reason)
    _emit("failed", {"name": name, "error": reason})
    return {"name": name, "error": reason}


def _serial(inbox_uri: str, outbox_uri: str, names: list[str], as_of: dt.date, known: dict[str, str],
            files: list[dict[str, Any]], failures: list[dict[str, str]]) -> None:
    # The per-file flow runs go without heartbeats of their own: they run in this process, whose nightly flow run
    # beats for all of them, and each heartbeat thread costs its flow run up to 1 s on exit (it is joined while it
    # sleeps) — a second per file on a night of 1,000 small files.
    registry = str(uuid.uuid4())
    _KNOWN[registry] = known
    try:
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            for name in names:
                try:
                    summary = intake_file(inbox_uri, outbox_uri, name, as_of, registry)
                except Exception as exc:
                    failures.append(_failure(name, exc))
                    continue
                files.append(summary)
                _emit("file", summary)
    finally:
        del _KNOWN[registry]


def _parallel(inbox_uri: str, outbox_uri: str, names: list[str], as_of: dt.date, known: dict[str, str],
              files: list[dict[str, Any]], failures: list[dict[str, str]]) -> None:
    futures = [prepare.submit(inbox_uri, outbox_uri, name, as_of, _untraversed(dict(known))) for name in names]
    for name, future in zip(names, futures, strict=True):  # commit in order of name
        try:
            summary = commit(inbox_uri, outbox_uri, future.result(), as_of, _untraversed(known))
            _publish(outbox_uri, summary)
        except Exception as exc:
            failures.append(_failure(name, exc))
            continue
        files.append(summary)
        _emit("file", summary)


def _markdown(as_of: dt.date, files: list[dict[str, Any]], failures: list[dict[str, str]],
              mail_result: dict[str, Any]) -> str:
    totals = {k: sum(int(f[k]) for f in files) for k in ("rows", *RowStatus)}
    lines = [f"# Nightly intake, as of {as_of.isoformat()}", "",
             f"{len(files)} files, {len(failures)} failed; {totals['rows']:,} rows: {totals['approved']:,} approved, "
             f"{totals['referred']:,} referred, {totals['rejected']:,} rejected.", "",
             "| file | result | rows | approved | referred | rejected | batch |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {f['name']} | {f['result']} | {f['rows']} | {f['approved']} | {f['referred']} | {f['rejected']} "
              f"| {f['batch_id']} |" for f in files]
    lines += [f"| {f['name']} | **failed** (left in the inbox): {f['error']} | | | | | |" for f in failures]
    lines += ["", f"Confirmations: {mail_result['sent']} sent, {mail_result['written']} written, "
              f"{mail_result['failed']} kept for the next run."]
    return "\n".join(lines)


@flow(name="nightly-intake", flow_run_name="intake {as_of}", validate_parameters=False)
def nightly_intake(inbox_uri: str, outbox_uri: str, as_of: dt.date | None = None,
                   parallel: bool = False) -> dict[str, Any]:
    """One intake over every file waiting. A file that fails stays in the inbox; the others go on."""
    redact.install("prefect", "prefect.flow_runs", "prefect.task_runs")
    day = as_of or dt.date.today()
    names = list_inbox(inbox_uri)
    _emit("files", {"names": names})
    known = load_known(outbox_uri)
    files: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    (_parallel if parallel else _serial)(inbox_uri, outbox_uri, names, day, known, files, failures)
    mail_result = deliver_mail(outbox_uri)
    create_markdown_artifact(key="nightly-intake-summary", markdown=_markdown(day, files, failures, mail_result),
                             description=f"Nightly intake as of {day.isoformat()}")
    headline(outbox_uri, day)
    return {"as_of": day.isoformat(), "files": files, "failures": failures, "mail": mail_result}
