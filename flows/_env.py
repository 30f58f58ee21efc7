"""Prefect's settings for the embedded default, applied before Prefect is imported."""

from __future__ import annotations

import os

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
