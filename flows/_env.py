"""Prefect's settings for the embedded default, applied before Prefect is imported."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coc_intake.settings import project_root


def configure() -> None:
    """Home inside the project (git-ignored), telemetry off, time-outs that suit a small machine.

    Values already in the environment win, so a long-lived server is used by setting ``PREFECT_API_URL``.
    """
    defaults = {
        "PREFECT_HOME": str(project_root() / ".prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        # The embedded server needs none of its background services for one intake run.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "true",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def tie_server(output: Path | None = None) -> None:
    """Make the temporary server Prefect starts in this process, if it needs one, end with the process, even when
    the process is killed (``_server.TiedServer``; docs/decisions.md).

    Prefect asks ``SubprocessASGIServer()`` for its server, which returns the instance registered for the default
    port (``None``), so registering a ``TiedServer`` there first is enough. Nothing changes when ``PREFECT_API_URL``
    names a server (no temporary one is started; the server module is not even imported) or when a server is
    registered already (Prefect's test harness registers its own). When Prefect is not imported yet, the server is
    started at once instead (``_early``), and waited for by ``server_ready``. With ``output`` the server's own output
    goes to that file (the run's log), not to the console.
    """
    from coc_intake.flows import _early

    if _early.start(output):  # before Prefect is imported: the server boots while the intake's modules are imported
        return
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    from coc_intake.flows._server import TiedServer

    if None not in SubprocessASGIServer._instances:
        TiedServer().output = output  # registers itself under the default port (SubprocessASGIServer.__new__)


def server_ready() -> None:
    """Wait until the server ``tie_server`` started early answers; at once if it started none."""
    from coc_intake.flows import _early

    _early.wait()


def stop_server() -> None:
    """Stop the temporary server ``tie_server`` made, if it runs, now rather than at the process's exit: what it
    logs on the way goes where the run's logs go, not to a console given back already."""
    from coc_intake.flows import _early

    tied = sys.modules.get("coc_intake.flows._server")
    if not _early.started() and tied is None:
        return
    if "prefect.logging.handlers" in sys.modules:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        # The run's last log records and events reach the server before it goes, as at Prefect's own exit.
        APILogWorker.drain_all(timeout=5)
        EventsWorker.drain_all(timeout=5)
    if _early.started():
        _early.stop()
        return
    assert tied is not None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer._instances.get(None)
    if isinstance(server, tied.TiedServer) and server.running:
        server.stop()
