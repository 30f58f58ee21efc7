"""Prefect's temporary server, started before Prefect is imported (docs/decisions.md#performance-and-memory).

Left to Prefect, a ``coc run`` imports Prefect and its server's modules (~6 s on the 2-core machine), and only then
starts the server, which imports the same modules again in its own process before it answers (~6 s more). Started
here, first thing, the server boots on the other core while this process imports what the intake needs, and this
process, pointed at it by ``PREFECT_API_URL``, never imports the server's modules at all.

The server listens on a socket this process bound (port 0: the kernel picks a free port, so no other process can
take it between the choice and the start) and runs under the parent watchdog of ``WATCHDOG``, so it ends with this
process even when it is killed (``_server``). Nothing in this module imports Prefect.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

#: Run as ``python -c WATCHDOG <parent pid> <uvicorn's arguments>``: watch the parent in a daemon thread, then run
#: uvicorn in this process as ``python -m uvicorn`` would. When the parent is gone (the server was reparented), the
#: server gets SIGTERM, uvicorn's graceful shutdown, and is ended outright if that has not finished in 10 s.
WATCHDOG = """\
import os, runpy, signal, sys, threading, time

parent = int(sys.argv[1])


def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    os._exit(1)


threading.Thread(target=watch, name="coc-intake-parent-watchdog", daemon=True).start()
sys.argv = ["uvicorn", *sys.argv[2:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""

#: What Prefect sets for its temporary server (SubprocessASGIServer in Prefect 3.9.1): no UI, ephemeral services.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}

#: Where Prefect could be told of another server than the temporary one; with any of them, Prefect decides.
_ELSEWHERE = ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH")

_started: dict[str, subprocess.Popen[bytes]] = {}


def start(output: Path | None = None) -> bool:
    """Start the temporary server now if this process is going to need one: Prefect not imported yet, and no server
    named in the environment, a profile or a ``prefect.toml``. Points ``PREFECT_API_URL`` at it; False otherwise.
    With ``output``, the server's own output is appended to that file (the run's log), not the console's."""
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    if ("prefect" in sys.modules or any(os.environ.get(k) for k in _ELSEWHERE) or (home / "profiles.toml").exists()
            or Path("prefect.toml").exists()):
        return False
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        return False
    sink = output.open("ab") if output is not None else None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), "--app-dir", str(Path(spec.origin).parent.parent),
             "--factory", "prefect.server.api.server:create_app", "--fd", str(sock.fileno()),
             "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **SERVER_ENV}, pass_fds=(sock.fileno(),),
            stdout=sink, stderr=subprocess.STDOUT if sink is not None else None)
        if sink is not None:
            sink.close()  # the server holds its own descriptor
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    _started["server"] = process
    atexit.register(_stop, process)
    return True


def wait() -> None:
    """Return once the server ``start`` started answers (at once when it started none)."""
    process = _started.get("server")
    if process is None:
        return
    url = os.environ["PREFECT_API_URL"] + "/health"
    deadline = time.monotonic() + float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prefect's temporary server stopped at start (exit code {process.returncode})")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("Timed out while waiting for Prefect's temporary server to start")


def started() -> bool:
    """Whether ``start`` started a server that has not been stopped."""
    return "server" in _started


def stop() -> None:
    """Stop the server ``start`` started (the run is over), rather than at the process's exit."""
    process = _started.pop("server", None)
    if process is not None:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
