"""Prefect's temporary (embedded) API server, tied to the process that started it (docs/decisions.md).

Without ``PREFECT_API_URL`` Prefect starts ``uvicorn`` in a subprocess (``SubprocessASGIServer``) and stops it from
an ``atexit`` handler. A process ended by a signal Python does not turn into an exception (SIGTERM, SIGKILL) runs no
``atexit`` handler, so its server ran on for good: ~220 MB and a port each. ``coc run`` turns SIGTERM into a normal
exit (``coc_intake.cli``); for SIGKILL, which nothing can catch, the server itself must notice:
``_env.tie_server()`` makes Prefect's default server a ``TiedServer``, whose process runs a watchdog thread that
shuts it down once its parent process is gone.

Why not ``PR_SET_PDEATHSIG``: Linux sends that signal when the *thread* that forked the child ends, and Prefect
starts the server from whichever thread first needs the API (an event loop's thread may), so the server could be
killed under a living run. A watchdog on ``os.getppid()`` follows the process, and works on any POSIX system.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings

from coc_intake.flows._early import SERVER_ENV, WATCHDOG

__all__ = ["WATCHDOG", "TiedServer"]


class TiedServer(SubprocessASGIServer):
    """Prefect's temporary server, started under the parent watchdog; with ``output``, its standard output and
    error are appended to that file (the run's log) instead of the console."""

    output: Path | None = None

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        streams: dict[str, Any] = {}
        if self.output is not None:
            from coc_intake.logs import open_private

            log = open_private(self.output)  # the child gets its own copy of the descriptor; ours closes below
            streams = {"stdout": log, "stderr": subprocess.STDOUT}
        try:
            return self._popen(streams)
        finally:
            if streams:
                streams["stdout"].close()

    def _popen(self, streams: dict[str, Any]) -> subprocess.Popen[Any]:
        # The command and environment of SubprocessASGIServer._run_uvicorn_command in Prefect 3.9.1 (uv.lock), run
        # through WATCHDOG instead of ``-m uvicorn``. Prefect builds them inside the method, with nothing to hook, so
        # they are repeated here; tests/test_operations.py fails when Prefect's differ.
        return subprocess.Popen(
            args=[
                sys.executable, "-c", WATCHDOG, str(os.getpid()),
                "--app-dir", str(prefect.__module_path__.parent),
                "--factory", "prefect.server.api.server:create_app",
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--log-level", "error",
                "--lifespan", "on",
            ],
            env={
                **os.environ,
                **SERVER_ENV,
                **get_current_settings().to_environment_variables(exclude_unset=True),
            },
            **streams,
        )

