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

# Prefect's home for the tests: a temporary folder, never the developer's ~/.prefect or the project's own.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="coc-prefect-home-"))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness, entered once: it costs 15-20 s to start on the 2-core machine."""
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401 - applies the project's Prefect settings first

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


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (started); ``.box.messages`` holds what arrived."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh inbox and outbox folder."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    return inbox, outbox
