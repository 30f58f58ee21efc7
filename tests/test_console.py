"""``coc run``'s console (docs/commands.md#coc-run, docs/production.md#the-log-file): the real command in a
subprocess whose standard output and error are pipes, as under cron.

Prefect's INFO lines and its documentation link go to the log file, not the console (unless ``--verbose``); the
summary is plain lines, no box drawing, none over 200 characters, batch IDs whole; an empty inbox is one line and
starts no Prefect; a system error is one masked line naming the log file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.builders import AS_OF, row, write_xlsx

ROOT = Path(__file__).resolve().parent.parent
COC = ROOT / ".venv" / "bin" / "coc"
#: Rich's box drawing and the progress bar's characters.
BOX = re.compile("[\u2500-\u259f]")
LONG_NAME = "assignments of the second quarter for the subsidiaries in Germany, Austria and Switzerland " \
            "(corrected after the review of November, third version).xlsx"
#: Prefect's own INFO lines of a run (its temporary server is started by coc run itself: flows/_early.py).
PREFECT_INFO = ("Beginning flow run", "Finished in state")

pytestmark = pytest.mark.slow


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], log: Path, outbox: Path) -> None:
        self.code, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.log, self.outbox = log, outbox

    @property
    def console(self) -> str:
        return self.stdout + self.stderr

    @property
    def logged(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


def coc_run(root: Path, home: Path, *options: str, env: dict[str, str] | None = None,
            inbox: str | None = None) -> Run:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COC_", "PREFECT_", "AWS_"))}
    base.update({"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **(env or {})})
    log, outbox = root / "coc.log", root / "outbox"
    proc = subprocess.run(
        [str(COC), "run", "--inbox", inbox or str(root / "inbox"), "--outbox", str(outbox), "--as-of", AS_OF,
         "--log-file", str(log), *options],
        env=base, cwd=root, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    return Run(proc, log, outbox)


def filled_inbox(root: Path) -> Path:
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    write_xlsx(inbox / "census.xlsx", [row(), row(ssn="234-56-7891", assignment_start="31/02/2027")])
    write_xlsx(inbox / LONG_NAME, [row(ssn="345-67-8912")])
    (inbox / "broken.xlsx").write_bytes(b"not a workbook at all")
    return inbox


@pytest.fixture(scope="module")
def piped(prefect_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("piped")
    filled_inbox(root)
    return coc_run(root, prefect_home)


def test_a_run_into_a_pipe_prints_plain_lines_without_box_drawing(piped: Run) -> None:
    assert piped.code == 0, piped.console
    assert BOX.findall(piped.console) == []
    assert max(len(line) for line in piped.stdout.splitlines()) <= 200
    assert "broken.xlsx" in piped.stdout and LONG_NAME[:30] in piped.stdout


def test_every_batch_id_is_printed_whole_on_its_file_line(piped: Run) -> None:
    manifests = [json.loads(p.read_bytes()) for p in piped.outbox.glob("batches/*/manifest.json")]
    assert len(manifests) == 3
    lines = piped.stdout.splitlines()
    for m in manifests:
        (line,) = [line for line in lines if m["batch_id"] in line]
        assert line.startswith(m["source_name"][:30])


def test_the_summary_gives_a_rejected_files_reason_on_its_line(piped: Run) -> None:
    (line,) = [line for line in piped.stdout.splitlines() if line.startswith("broken.xlsx")]
    assert "rejected-file" in line and "unreadable-file: " in line


def test_prefects_info_lines_go_to_the_log_file_not_the_console(piped: Run) -> None:
    for text in PREFECT_INFO:
        assert text in piped.logged, text
        assert text not in piped.console, text
    assert "INFO" not in piped.console and "prefect.io" not in piped.console
    assert stat.S_IMODE(piped.log.stat().st_mode) == 0o600


def test_the_run_is_recorded_in_the_outbox(piped: Run) -> None:
    (record,) = [json.loads(p.read_bytes()) for p in (piped.outbox / "runs").glob("*.json")]
    assert sorted(f["result"] for f in record["files"]) == ["processed", "processed", "rejected-file"]


def test_verbose_shows_prefects_log_on_the_console_and_json_prints_one_object(
        prefect_home: Path, tmp_path: Path) -> None:
    filled_inbox(tmp_path)
    run = coc_run(tmp_path, prefect_home, "--verbose", "--json")
    assert run.code == 0, run.console
    doc = json.loads(run.stdout)
    assert doc["as_of"] == AS_OF and doc["failed"] is False
    assert sorted(f["name"] for f in doc["files"]) == sorted(["broken.xlsx", "census.xlsx", LONG_NAME])
    assert {f["name"]: f["counts"]["rejected"] for f in doc["files"]}["census.xlsx"] == 1
    for text in PREFECT_INFO:
        assert text in run.stderr, text
        assert text in run.logged, text


def test_an_empty_inbox_is_one_line_and_starts_no_prefect(prefect_home: Path, tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    run = coc_run(tmp_path, prefect_home)
    assert run.code == 0, run.console
    assert run.stdout == f"The inbox {tmp_path / 'inbox'} is empty: nothing to do (as of {AS_OF}).\n"
    assert run.stderr == ""
    assert "flow run" not in run.logged and "temporary server" not in run.logged
    assert len(list((run.outbox / "runs").glob("*.json"))) == 1  # the night is recorded all the same


def test_a_system_error_is_one_masked_line_naming_the_log_file(prefect_home: Path, tmp_path: Path) -> None:
    # An S3 endpoint nobody answers on: listing the inbox fails before any file, an error no file is to blame for.
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
           "AWS_DEFAULT_REGION": "us-east-1", "COC_S3_ADDRESSING_STYLE": "path", "AWS_MAX_ATTEMPTS": "1"}
    run = coc_run(tmp_path, prefect_home, env=env, inbox="s3://no-bucket/inbox-212-48-1937")
    assert run.code == 1
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("Error: the run stopped: TransientError: S3 did not answer")
    assert line.endswith(f"The details are in {tmp_path / 'coc.log'}.")
    assert "212-48-1937" not in run.console
    assert "Traceback" in run.logged and "212-48-1937" not in run.logged and "***-**-1937" in run.logged
