"""Shared fixtures: Prefect's test harness (one per session) and a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

# Prefect's home for the tests: a temporary folder, never the developer's ~/.prefect or the project's own. Under
# pytest-xdist each worker makes its own: a worker inherits the environment of the process that started it, whose
# home the other worker would share.
if "PREFECT_HOME" not in os.environ or os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="coc-prefect-home-")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


#: The modules that use Prefect's test harness (``prefect_harness``, a session fixture, 15-20 s to start): one unit of
#: work under ``python3 dev.py test``, so that only one worker starts the harness. A module missing here still passes;
#: it only starts a second harness on the other worker.
HARNESS_MODULES = frozenset(f"tests/test_{name}.py" for name in (
    "flow", "inbox_safety", "masking", "resubmit", "retries", "sidecar"))

#: The units of work sent to a worker first under ``python3 dev.py test`` (pytest-xdist, a worker per core): the
#: longest, measured (s of setup + call on the 2-core machine, 2026-12-04), so that no long one starts last and runs
#: alone at the end. A module not named here is merely sent later, larger ones first; the order changes no result.
LONGEST_FIRST = (
    "tests/test_crash.py",  # 65: two `coc run` processes and dozens of forked intakes
    "tests/test_intake.py",  # 45
    "tests/test_production.py",  # 44: a real Prefect server, `coc serve`, a Dask cluster
    "prefect_harness",  # 41: HARNESS_MODULES
    "tests/test_console.py",  # 31
    "tests/test_operations.py",  # 23
    "tests/test_portal_security.py",  # 16
    "tests/test_portal_queue.py",  # 16
    "tests/test_early_server.py",  # 14
    "tests/test_prescan_fast_path.py",  # 13
    "tests/test_codes_cli.py",  # 12
    "tests/test_portal_specialist_browser.py",  # 12
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``--dist loadscope``: whole modules to a worker (their module-scoped fixtures, such as a portal server or a
    shared run, start once), ``HARNESS_MODULES`` together, the longest first (``LONGEST_FIRST``). Other ``--dist``
    modes are xdist's own."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesLongestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "prefect_harness" if module in HARNESS_MODULES else module

        def schedule(self) -> None:
            """``LoadScopeScheduling.schedule`` with the units in the order above instead of by size alone."""
            if self.collection is not None:  # a later call: rescheduling
                super().schedule()
                return
            if not self._check_nodes_have_same_collection():  # reports the difference
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
            for unit in sorted(units, key=lambda u: (rank.get(u, len(rank)), -len(units[u]))):
                self.workqueue[unit] = units[unit]
            for node in list(self.assigned_work)[len(self.workqueue):]:  # more workers than units
                del self.assigned_work[node]
                node.shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)
            if not self.workqueue:
                for node in self.nodes:
                    node.shutdown()

    return ModulesLongestFirst(config, log)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness, entered once: it costs 15-20 s to start on the 2-core machine."""
    from prefect.testing.utilities import prefect_test_harness

    import coc_intake.flows  # noqa: F401 - applies the project's Prefect settings first

    with prefect_test_harness(server_startup_timeout=180):
        yield


def free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port: int = so.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What a real SMTP server on 127.0.0.1 received."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"COC_SMTP_HOST": self.host, "COC_SMTP_PORT": str(self.port), "COC_MAIL_FROM": "intake@ssa.example"}


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"


class SmtpServer:
    """An aiosmtpd server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.box = Mailbox("127.0.0.1", free_port())
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(_Collect(self.box), hostname=self.box.host, port=self.box.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _running_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (started); ``.box.messages`` holds what arrived."""
    yield from _running_smtp()


@pytest.fixture(scope="module")
def module_smtp() -> Iterator[SmtpServer]:
    """``smtp_server`` for a whole test module (a portal server started once per module sends to it)."""
    yield from _running_smtp()


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh inbox and outbox folder."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    return inbox, outbox


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 endpoint: ``moto_server`` on 127.0.0.1, spoken to over HTTP exactly as S3 would be."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS environment pointing boto3 at the moto endpoint; a fresh bucket per test."""
    import uuid

    import boto3

    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "COC_S3_ADDRESSING_STYLE": "path",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bucket = f"coc-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return {**env, "BUCKET": bucket}


@pytest.fixture(params=["local", "s3"])
def store_uris(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(inbox URI, outbox URI) on a local folder or on S3: the intake suite runs against both stores."""
    if request.param == "local":
        (tmp_path / "inbox").mkdir()
        return str(tmp_path / "inbox"), str(tmp_path / "outbox")
    env = request.getfixturevalue("s3_env")
    return f"s3://{env['BUCKET']}/inbox", f"s3://{env['BUCKET']}/outbox"


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real, long-lived Prefect server on loopback (``prefect server start``); yields its API URL."""
    import subprocess
    import sys
    import time
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-server-home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    exe = Path(sys.executable).with_name("prefect")
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen([str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.read().strip() == b"true":
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
        time.sleep(0.5)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
