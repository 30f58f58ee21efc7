"""``coc run`` starts Prefect's temporary server before it imports Prefect (``flows._early``): the server boots
while the intake's modules are imported, and the run's own process never imports the server's modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import os, sys
import coc_intake.flows
from coc_intake.flows._env import server_ready, tie_server

tie_server()
from prefect import flow

server_ready()


@flow
def probe() -> int:
    return 41 + 1


assert probe() == 42
print(os.environ["PREFECT_API_URL"])
print("server modules imported:", "prefect.server.api.server" in sys.modules)
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COC_", "PREFECT_"))}
    env.update({"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"})
    return env


@pytest.mark.slow
def test_a_run_starts_its_server_first_and_never_imports_the_server_modules(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], env=_env(tmp_path / "home"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    url, imported = done.stdout.strip().splitlines()[-2:]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
    assert imported == "server modules imported: False"


def test_a_server_named_in_the_environment_is_used_as_it_is(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "home"), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    code = "import coc_intake.flows, coc_intake.flows._early as e, os; print(e.start(), os.environ['PREFECT_API_URL'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "http://127.0.0.1:9/api"], done.stderr[-2000:]
