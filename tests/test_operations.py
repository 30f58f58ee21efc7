"""Operating the pipeline: empty reports, settings and dates that make no sense, a run stopped by a signal, and a
mail server that never answers (docs/production.md#failures, docs/decisions.md#operations).

The signal tests start a real ``coc run`` (with its temporary Prefect server) in a subprocess, stop it while it
waits on a mail server that accepts connections and never answers, and look for its server among the processes
in /proc.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from coc_intake import mail
from coc_intake.batch import process_file
from coc_intake.cli import EARLIEST_DATE, app, latest_date
from coc_intake.errors import ConfigError
from coc_intake.history import KnownRequests
from coc_intake.mail import MailSummary
from coc_intake.night import NightSummary
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings, env_names
from coc_intake.store import LocalStore
from tests.builders import AS_OF, row, write_xlsx
from tests.conftest import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date.fromisoformat(AS_OF)
SSNS = ["212-48-1937", "318-22-4410", "401-55-2308", "522-19-8876"]
ADDRESSES = [f"hr{i}@employer{i}.example" for i in range(len(SSNS))]


def _batch(root: Path) -> Path:
    """An outbox with one committed batch of approved rows, each with its own contact address, so one queued
    confirmation per address."""
    inbox, outbox = LocalStore(root / "in"), Outbox(LocalStore(root / "out"))
    write_xlsx(root / "approved.xlsx", [row(ssn=s, contact_email=a) for s, a in zip(SSNS, ADDRESSES, strict=True)])
    inbox.write("approved.xlsx", (root / "approved.xlsx").read_bytes())
    summary = process_file(inbox, outbox, "approved.xlsx", DAY, Settings(), KnownRequests())
    assert summary.result == "processed" and summary.approved == len(SSNS)
    return root / "out"


# --- 9: a report over no batches ------------------------------------------------------------------------------


def _report(args: list[str], out: Path) -> tuple[openpyxl.Workbook, str]:
    result = CliRunner().invoke(app, ["report", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (xlsx,) = out.glob("*.xlsx")
    (page,) = out.glob("*.html")
    return openpyxl.load_workbook(xlsx), page.read_text(encoding="utf-8")


def _dashboard_text(wb: openpyxl.Workbook) -> str:
    return "\n".join(str(v) for r in wb["Dashboard"].iter_rows(values_only=True) for v in r if v is not None)


def test_a_report_over_an_empty_outbox_is_an_empty_report(tmp_path: Path) -> None:
    wb, page = _report(["--outbox", str(tmp_path / "nothing-here")], tmp_path / "rep")
    text = _dashboard_text(wb)
    assert wb["Dashboard"]._charts == []
    assert "no batches" in text and "Findings by error code: nothing in this period." in text
    assert "no batches" in page and "<svg" not in page


def test_a_report_over_a_period_without_batches_says_so_and_draws_no_empty_chart(tmp_path: Path) -> None:
    outbox = _batch(tmp_path)
    wb, page = _report(["--outbox", str(outbox), "--since", "2026-12-01", "--until", "2026-12-31"], tmp_path / "rep")
    text = _dashboard_text(wb)
    assert "none: no committed batch has an as-of date in this period" in text
    assert wb["Dashboard"]._charts == []
    assert "2026-12-01 to 2026-12-31 (no batches in this period)" in page


def test_a_period_without_rejections_leaves_out_only_the_charts_without_data(tmp_path: Path) -> None:
    wb, _ = _report(["--outbox", str(_batch(tmp_path))], tmp_path / "rep")
    text = _dashboard_text(wb)
    # No finding: the error-code chart has no data, nor have the charts of rejected rows by host country and by
    # employer (a bar of zero says nothing, as on the page); the weekly chart has (zero rejections that week).
    assert "Findings by error code: nothing in this period." in text
    assert "Rejected rows by host country: nothing in this period." in text
    assert "Rejected rows by employer: nothing in this period." in text
    assert len(wb["Dashboard"]._charts) == 1


# --- 10: settings and dates that make no sense -------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "wanted"), [
    ("COC_MAX_ROWS", "0", "greater than 0"),
    ("COC_MAX_BYTES", "-5", "greater than 0"),
    ("COC_MAX_RATIO", "0", "greater than or equal to 1"),
    ("COC_MAX_RATIO", "0.5", "greater than or equal to 1"),
    ("COC_SMTP_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("COC_SMTP_BUDGET_SECONDS", "-1", "greater than 0"),
])
def test_a_bound_that_makes_no_sense_is_a_configuration_error(variable: str, value: str, wanted: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value) and wanted in str(caught.value)


def test_a_ratio_of_one_is_allowed() -> None:
    assert Settings.from_env({"COC_MAX_RATIO": "1"}).limits.max_ratio == 1


def test_a_misspelt_variable_is_an_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"COC_SMTP_HOTS": "smtp.internal"})
    message = str(caught.value)
    assert "COC_SMTP_HOTS" in message
    assert all(name in message for name in env_names())
    assert "COC_SMTP_BUDGET_SECONDS" in env_names()


def test_coc_run_stops_with_exit_2_on_a_bad_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--inbox", str(tmp_path), "--outbox", str(tmp_path / "out")],
                                env={"COC_MAX_RATIO": "0.5"})
    assert result.exit_code == 2 and "COC_MAX_RATIO" in result.output


def _dated(command: str, option: str, value: str, tmp_path: Path) -> Any:
    """``coc <command>`` with one date option; none of them gets as far as Prefect or a file."""
    (tmp_path / "f.csv").write_text("x\n1\n")
    args = {"run": ["run", "--inbox", str(tmp_path), "--outbox", str(tmp_path / "out")],
            "validate": ["validate", str(tmp_path / "f.csv")],
            "report": ["report", "--outbox", str(tmp_path / "out"), "--out", str(tmp_path / "rep")]}[command]
    return CliRunner().invoke(app, [*args, option, value])


DATE_OPTIONS = [("run", "--as-of"), ("validate", "--as-of"), ("report", "--since"), ("report", "--until")]


@pytest.mark.parametrize(("command", "option"), DATE_OPTIONS)
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1989-12-31", "next-year"])
def test_a_date_out_of_range_is_a_usage_error_saying_how_to_fix_it(
        command: str, option: str, value: str, tmp_path: Path) -> None:
    result = _dated(command, option, value, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    text = " ".join(result.output.split())
    assert f"{option} " in text and "YYYY-MM-DD" in text
    if value != "next-year":
        assert f"from {EARLIEST_DATE} to {latest_date()}" in text


def test_the_range_runs_from_1990_to_a_year_from_today() -> None:
    assert dt.date(1990, 1, 1) == EARLIEST_DATE
    assert latest_date(dt.date(2026, 12, 4)) == dt.date(2027, 12, 4)
    assert latest_date(dt.date(2028, 2, 29)) == dt.date(2029, 2, 28)


@pytest.mark.parametrize("value", [str(EARLIEST_DATE), "today", "latest"])
def test_the_ends_of_the_range_are_accepted(value: str, tmp_path: Path) -> None:
    day = {"today": dt.date.today(), "latest": latest_date()}.get(value) or EARLIEST_DATE
    result = _dated("report", "--since", day.isoformat(), tmp_path)
    assert result.exit_code == 0, result.output


# --- 11: Prefect's temporary server ends with `coc run` ----------------------------------------------------------


def test_the_tied_server_runs_prefects_command_through_the_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    """TiedServer repeats Prefect's private server command (there is no hook); an upgrade that changes it fails
    here instead of silently starting a server Prefect no longer expects."""
    from prefect.server.api.server import SubprocessASGIServer

    from coc_intake.flows._server import WATCHDOG, TiedServer

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda **kwargs: calls.append(kwargs))
    server = object.__new__(TiedServer)  # neither registered nor started
    server.port = 8123
    SubprocessASGIServer._run_uvicorn_command(server)
    TiedServer._run_uvicorn_command(server)
    prefects, ours = calls
    assert prefects["args"][:3] == [sys.executable, "-m", "uvicorn"]
    assert ours["args"] == [sys.executable, "-c", WATCHDOG, str(os.getpid()), *prefects["args"][3:]]
    assert ours["env"] == prefects["env"]
    assert set(ours) == set(prefects) == {"args", "env"}


class BlackHole:
    """A mail server that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self._held.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()


def test_delivery_stops_at_its_time_budget_and_keeps_the_rest_queued(
        tmp_path: Path, black_hole: BlackHole, smtp_server: SmtpServer) -> None:
    outbox = Outbox(LocalStore(_batch(tmp_path)))
    assert len(outbox.queued()) == len(ADDRESSES)
    stuck = Settings(smtp_host="127.0.0.1", smtp_port=black_hole.port, smtp_timeout_seconds=0.5,
                     smtp_budget_seconds=1.2)
    started = time.monotonic()
    result = mail.deliver(outbox, stuck)
    took = time.monotonic() - started
    # Three attempts fit (0.5 + 0.5 + what is left, 0.2); without the budget it would be 4 x 0.5 s, with the old
    # fixed timeout 4 x 30 s.
    assert took < 1.2 + 1.0, took
    assert result.sent == 0 and result.failed >= 1 and result.deferred >= 1
    assert result.failed + result.deferred == len(ADDRESSES)
    assert any("smtp_budget_seconds" in e and f"{result.deferred} message(s) not tried" in e for e in result.errors)
    assert len(outbox.queued()) == len(ADDRESSES)  # nothing lost, nothing recorded as sent
    assert not any(outbox.is_sent(m.message_id) for m in outbox.queued())

    working = Settings(smtp_host=smtp_server.box.host, smtp_port=smtp_server.box.port)
    again = mail.deliver(outbox, working)
    assert (again.sent, again.failed, again.deferred) == (len(ADDRESSES), 0, 0)
    assert sorted(str(m["To"]) for m in smtp_server.box.messages) == sorted(ADDRESSES)
    assert outbox.queued() == []


def test_the_night_summary_says_how_many_messages_were_not_tried() -> None:
    summary = NightSummary(DAY, mail=MailSummary(failed=1, deferred=3))
    assert "4 kept for the next run (3 not tried: the delivery time budget ran out)." in summary.markdown()


# The real thing: `coc run` in a subprocess, stopped while it waits on the black hole.

def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def _servers_of(root: int) -> dict[int, int]:
    """Prefect servers (pid → start time) among the descendants of ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))):
            children.setdefault(st[0], []).append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                continue
            st = _stat(pid)
            if b"prefect.server.api.server:create_app" in cmdline and st:
                found[pid] = st[2]
    return found


def _alive(pid: int, started: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == started and st[1] != "Z"  # a zombie has ended; a new start time is another


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home for the module: the first run creates its database, the second reuses it."""
    return tmp_path_factory.mktemp("prefect-home")


def _start_run(tmp_path: Path, home: Path, hole: BlackHole) -> subprocess.Popen[bytes]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_xlsx(inbox / "approved.xlsx", [row(ssn=SSNS[0], contact_email=ADDRESSES[0])])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COC_", "PREFECT_API_URL"))}
    env.update(PREFECT_HOME=str(home), COC_SMTP_HOST="127.0.0.1", COC_SMTP_PORT=str(hole.port),
               COC_SMTP_TIMEOUT_SECONDS="600", COC_SMTP_BUDGET_SECONDS="600")
    # Standard error to a file, not a pipe: a server that outlives the run would hold a pipe open.
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "coc_intake.cli", "run", "--inbox", str(inbox), "--outbox", str(tmp_path / "out"),
             "--as-of", AS_OF], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)


@pytest.fixture
def servers() -> Iterator[dict[int, int]]:
    """The Prefect servers (pid → start time) a test found; any still running afterwards are killed."""
    found: dict[int, int] = {}
    yield found
    for pid, started in found.items():
        if _alive(pid, started):
            os.kill(pid, signal.SIGKILL)


def _waiting_on_mail(run: subprocess.Popen[bytes], hole: BlackHole, servers: dict[int, int], log: Path) -> None:
    """Wait until the run is in the middle of its flow (connected to the black hole), and note its Prefect servers."""
    # Generous: a first start of Prefect's temporary server creates its database (20-35 s on 2 cores, more on a busy
    # machine); this bounds a hung run, it does not time one.
    if not hole.connected.wait(240):
        run.kill()
        run.wait()
        pytest.fail("coc run never reached mail delivery: " + log.read_text(errors="replace")[-2000:])
    servers.update(_servers_of(run.pid))
    assert servers, "coc run started no temporary Prefect server"


def _assert_gone(servers: dict[int, int], within: float) -> None:
    deadline = time.monotonic() + within
    while any(_alive(pid, started) for pid, started in servers.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid, started in servers.items() if _alive(pid, started)]
    assert not left, f"Prefect server(s) {left} outlived their coc run"


@pytest.mark.slow
def test_sigterm_ends_coc_run_like_ctrl_c_and_stops_its_server(
        tmp_path: Path, prefect_home: Path, black_hole: BlackHole, servers: dict[int, int]) -> None:
    run = _start_run(tmp_path, prefect_home, black_hole)
    _waiting_on_mail(run, black_hole, servers, tmp_path / "stderr.txt")
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=90)
    log = (tmp_path / "stderr.txt").read_text(errors="replace")
    assert run.returncode == 128 + signal.SIGTERM, log[-2000:]
    assert "Traceback" not in log
    _assert_gone(servers, within=15)


@pytest.mark.slow
def test_a_killed_coc_run_leaves_no_server_behind(
        tmp_path: Path, prefect_home: Path, black_hole: BlackHole, servers: dict[int, int]) -> None:
    run = _start_run(tmp_path, prefect_home, black_hole)
    _waiting_on_mail(run, black_hole, servers, tmp_path / "stderr.txt")
    run.kill()
    run.wait(timeout=30)
    _assert_gone(servers, within=20)
