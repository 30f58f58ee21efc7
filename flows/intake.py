"""The nightly intake flow: list the inbox, process each file in isolation, deliver the confirmations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from coc_intake import intake, mail, redact
from coc_intake.settings import Settings
from coc_intake.stores import open_store

#: Set by the CLI to follow progress in the same process (file summaries as they finish).
progress: Callable[[str, dict[str, Any]], None] | None = None

_known: dict[str, dict[str, str]] = {}


def _registry(outbox_uri: str) -> dict[str, str]:
    """Request IDs of committed batches, loaded once per run and kept up to date by each batch."""
    if outbox_uri not in _known:
        _known[outbox_uri] = intake.known_requests(open_store(outbox_uri))
    return _known[outbox_uri]


def _emit(event: str, data: dict[str, Any]) -> None:
    if progress is not None:
        progress(event, data)


@task(cache_policy=NONE, task_run_name="list {inbox_uri}")
def list_inbox(inbox_uri: str) -> list[str]:
    return intake.list_inbox(open_store(inbox_uri))


@task(cache_policy=NONE, task_run_name="intake {name}")
def process_file(inbox_uri: str, outbox_uri: str, name: str, as_of: dt.date) -> dict[str, Any]:
    settings = Settings.from_env()
    summary = intake.process_file(open_store(inbox_uri), open_store(outbox_uri), name, as_of, settings,
                                  _registry(outbox_uri))
    get_run_logger().info("%s: %s (%s rows, %s approved, %s referred, %s rejected)", summary.name,
                          summary.result, summary.rows, summary.approved, summary.referred, summary.rejected)
    return summary.as_dict()


@task(cache_policy=NONE, task_run_name="deliver confirmations")
def deliver_mail(outbox_uri: str) -> dict[str, Any]:
    result = mail.deliver(open_store(outbox_uri), Settings.from_env())
    return {"sent": result.sent, "written": result.written, "failed": result.failed, "already": result.already,
            "errors": [redact.redact(e) for e in result.errors]}


@flow(name="nightly-intake", flow_run_name="intake {as_of}", validate_parameters=False)
def nightly_intake(inbox_uri: str, outbox_uri: str, as_of: dt.date) -> dict[str, Any]:
    """One intake over every file waiting. A file that fails stays in the inbox; the others go on."""
    redact.install("prefect", "prefect.flow_runs", "prefect.task_runs")
    logger = get_run_logger()
    _known.pop(outbox_uri, None)
    names = list_inbox(inbox_uri)
    _emit("files", {"names": names})
    files: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for name in names:
        state = process_file(inbox_uri, outbox_uri, name, as_of, return_state=True)
        if state.is_completed():
            summary = state.result()
            files.append(summary)
            _emit("file", summary)
        else:
            reason = redact.redact(str(state.message or state.type))
            try:
                state.result()
            except Exception as exc:  # the task's own exception says what went wrong
                reason = redact.redact(f"{type(exc).__name__}: {exc}")
            logger.error("%s could not be processed and stays in the inbox: %s", name, reason)
            failures.append({"name": name, "error": reason})
            _emit("failed", {"name": name, "error": reason})
    mail_result = deliver_mail(outbox_uri)
    return {"as_of": as_of.isoformat(), "files": files, "failures": failures, "mail": mail_result}
