"""The nightly intake flow (docs/commands.md#coc-run, docs/outputs.md) under Prefect's test harness.

Every test calls ``coc_intake.flows.intake.nightly_intake(inbox, outbox, as_of)`` (or ``coc run``) for real, inside the
session-scoped ``prefect_harness``. Flow calls cost seconds each, so the runs are shared by module-scoped fixtures
where the tests only read their results.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from coc_intake.night import NightSummary
from tests.builders import AS_OF
from tests.intake_helpers import Collect, summary_column

DAY = dt.date.fromisoformat(AS_OF)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".xlsx", ".csv"))
FAILING = "globex-payroll-export.csv"
#: A full SSN of the failing file (Élise Côté's), carried by the injected exception's message.
LEAKY_SSN = "234-12-5678"


# --------------------------------------------------------------------------------------------------------------------
# helpers


def input_ssns() -> set[str]:
    """Every SSN typed in the example files, as typed."""
    found: set[str] = set()
    for name in EXAMPLE_NAMES:
        path = EXAMPLES / name
        if path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="cp1252")), delimiter=";"))
        else:
            ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
            rows = [[("" if v is None else str(v)) for v in r] for r in ws.iter_rows(values_only=True)]
        header_at = next(i for i, r in enumerate(rows) if any(c in ("SSN", "Social Security number") for c in r))
        col = next(j for j, c in enumerate(rows[header_at]) if c in ("SSN", "Social Security number"))
        found |= {r[col] for r in rows[header_at + 1:] if len(r) > col and r[col]}
    assert len(found) >= 20
    return found


def ssn_forms(ssns: set[str]) -> set[str]:
    forms: set[str] = set()
    for typed in ssns:
        d = re.sub(r"\D", "", typed).zfill(9)
        forms |= {typed, d, f"{d[:3]}-{d[3:5]}-{d[5:]}", f"{d[:3]} {d[3:5]} {d[5:]}"}
    return forms


SSN_FORMS = ssn_forms(input_ssns())


def full_ssns_in(text: str) -> list[str]:
    return sorted(form for form in SSN_FORMS if form in text)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of an outbox but the runs' records (``runs/``: each run adds one)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).as_posix().startswith("runs/")}


def fresh_stores(root: Path, names: list[str] = EXAMPLE_NAMES) -> tuple[Path, Path]:
    inbox, outbox = root / "inbox", root / "outbox"
    inbox.mkdir(parents=True)
    for name in names:
        shutil.copy(EXAMPLES / name, inbox / name)
    return inbox, outbox


def run_flow(inbox: Path, outbox: Path, day: dt.date = DAY) -> NightSummary:
    from coc_intake.flows.intake import night_summary, nightly_intake

    return night_summary(nightly_intake(str(inbox), str(outbox), day, return_state=True))


def as_json(summary: NightSummary) -> str:
    return json.dumps(dataclasses.asdict(summary), default=str)


def fail_for(name: str, message: str) -> Any:
    """A stand-in for ``coc_intake.batch.FileCheck`` that raises for one file name only."""
    from coc_intake.engine import FileCheck as real

    def file_check(source: bytes | Path, file_name: str, *args: Any, **kwargs: Any) -> Any:
        if file_name == name:
            raise RuntimeError(message)
        return real(source, file_name, *args, **kwargs)

    return file_check


@pytest.fixture(scope="module")
def no_smtp() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COC_SMTP_HOST", raising=False)
        yield


# --------------------------------------------------------------------------------------------------------------------
# one intake over the examples


class Run:
    def __init__(self, inbox: Path, outbox: Path, result: NightSummary, logs: str, flow_run_id: Any = None,
                 state: Any = None) -> None:
        self.inbox, self.outbox, self.result, self.logs = inbox, outbox, result, logs
        self.flow_run_id, self.state = flow_run_id, state


@pytest.fixture(scope="module")
def first_run(prefect_harness: None, no_smtp: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    inbox, outbox = fresh_stores(tmp_path_factory.mktemp("first"))
    collect = Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        result = run_flow(inbox, outbox)
    finally:
        root.removeHandler(collect)
    return Run(inbox, outbox, result, collect.text)


def test_every_example_file_becomes_a_committed_batch_and_leaves_the_inbox(first_run: Run) -> None:
    result = first_run.result
    assert result.failures == []
    assert result.as_of == DAY
    assert sorted(f.name for f in result.files) == EXAMPLE_NAMES
    assert list(first_run.inbox.iterdir()) == []
    for f in result.files:
        assert f.result == "processed"
        batch = first_run.outbox / "batches" / f.batch_id
        assert (batch / "manifest.json").is_file()
        assert (batch / "source" / f.name).read_bytes() == (EXAMPLES / f.name).read_bytes()


def test_the_returned_counts_of_each_file_match_its_manifest(first_run: Run) -> None:
    for f in first_run.result.files:
        manifest = json.loads((first_run.outbox / "batches" / f.batch_id / "manifest.json").read_bytes())
        assert manifest["source_name"] == f.name
        assert manifest["batch_id"] == f.batch_id
        assert manifest["status"] == f.result
        assert manifest["as_of"] == AS_OF
        for key in ("rows", "approved", "referred", "rejected"):
            assert getattr(f, key) == manifest[key], (f.name, key)
        assert f.requests == len(manifest["request_ids"])
        assert f.rows == f.approved + f.referred + f.rejected > 0


def test_without_smtp_the_confirmations_are_written_under_outbox_mail(first_run: Run) -> None:
    mail = first_run.result.mail
    written = sorted((first_run.outbox / "mail").glob("*.eml"))
    assert mail.written == len(written) >= 1
    assert mail.sent == 0 and mail.failed == 0 and mail.errors == ()
    assert list((first_run.outbox / "mail" / "queue").glob("*.eml")) == []
    recipients = {re.search(rb"^To: (.+)$", p.read_bytes(), re.M).group(1).strip() for p in written}  # type: ignore[union-attr]
    assert b"mobility@acme.example" in recipients


def test_the_flow_returns_and_logs_no_full_ssn(first_run: Run) -> None:
    assert "intake" in first_run.logs  # the per-file log lines were captured
    for f in first_run.result.files:
        assert f.name in first_run.logs
    assert full_ssns_in(as_json(first_run.result)) == []
    assert full_ssns_in(first_run.logs) == []


def test_a_rerun_with_the_same_files_creates_nothing_new(
        first_run: Run, prefect_harness: None, no_smtp: None, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    shutil.copytree(first_run.outbox, outbox)
    inbox, _ = fresh_stores(tmp_path / "again")
    before = snapshot(outbox)

    result = run_flow(inbox, outbox)

    assert result.failures == []
    assert sorted(f.name for f in result.files) == EXAMPLE_NAMES
    assert {f.result for f in result.files} == {"already-processed"}
    assert {f.name: f.batch_id for f in result.files} == {
        f.name: f.batch_id for f in first_run.result.files}
    assert list(inbox.iterdir()) == []
    assert (result.mail.sent, result.mail.written, result.mail.failed) == (0, 0, 0)
    assert snapshot(outbox) == before


def test_a_rerun_with_an_empty_inbox_creates_nothing(
        first_run: Run, prefect_harness: None, no_smtp: None, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    shutil.copytree(first_run.outbox, outbox)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    before = snapshot(outbox)

    result = run_flow(inbox, outbox)

    assert result.files == [] and result.failures == []
    assert (result.mail.sent, result.mail.written, result.mail.failed) == (0, 0, 0)
    assert snapshot(outbox) == before


# --------------------------------------------------------------------------------------------------------------------
# one file fails for a system reason


@pytest.fixture(scope="module")
def failed_run(prefect_harness: None, no_smtp: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    inbox, outbox = fresh_stores(tmp_path_factory.mktemp("failed"))
    collect = Collect()
    root = logging.getLogger()
    with pytest.MonkeyPatch.context() as mp:
        # an unexpected exception whose message quotes a cell, as a parser's might
        mp.setattr("coc_intake.batch.FileCheck", fail_for(FAILING, f"cannot convert cell value '{LEAKY_SSN}'"))
        root.addHandler(collect)
        try:
            from coc_intake.flows.intake import night_summary, nightly_intake

            state = nightly_intake(str(inbox), str(outbox), DAY, return_state=True)
            result = night_summary(state)
        finally:
            root.removeHandler(collect)
    return Run(inbox, outbox, result, collect.text, state.state_details.flow_run_id, state)


def test_one_file_failing_with_an_unexpected_exception_does_not_stop_the_others(failed_run: Run) -> None:
    result = failed_run.result
    others = [n for n in EXAMPLE_NAMES if n != FAILING]
    assert sorted(f.name for f in result.files) == others
    assert {f.result for f in result.files} == {"processed"}
    for f in result.files:
        assert (failed_run.outbox / "batches" / f.batch_id / "manifest.json").is_file()
    assert result.mail.written >= 1  # the other files' confirmations still go out


def test_the_failing_file_stays_in_the_inbox_uncommitted_and_is_reported_by_name(failed_run: Run) -> None:
    from coc_intake.batch import batch_id_of

    result = failed_run.result
    assert [f.name for f in result.failures] == [FAILING]
    assert "RuntimeError" in result.failures[0].error or "cannot convert" in result.failures[0].error
    assert sorted(p.name for p in failed_run.inbox.iterdir()) == [FAILING]
    assert (failed_run.inbox / FAILING).read_bytes() == (EXAMPLES / FAILING).read_bytes()
    batch_id, _ = batch_id_of((EXAMPLES / FAILING).read_bytes())
    assert not (failed_run.outbox / "batches" / batch_id / "manifest.json").exists()
    assert FAILING in failed_run.logs


def test_a_failure_is_reported_with_the_ssn_in_its_reason_masked(failed_run: Run) -> None:
    assert failed_run.result.failures, "the injected failure did not happen"
    assert "***-**-5678" in failed_run.result.failures[0].error
    assert full_ssns_in(as_json(failed_run.result)) == []


def test_a_failure_leaves_no_full_ssn_in_prefect_run_state_logs_or_artifacts(failed_run: Run) -> None:
    """Prefect run state and artifacts carry masked SSNs or none, as docs/outputs.md#confidentiality requires (here:
    what the API server stored)."""
    from tests.intake_helpers import stored_by_prefect

    stored = stored_by_prefect(failed_run.flow_run_id)
    flow_runs, task_runs, logs, artifacts = (stored[k] for k in ("flow_runs", "task_runs", "logs", "artifacts"))
    assert len(flow_runs) == 1 and logs
    assert sorted(r.name for r in task_runs if r.task_key.startswith("intake_file")) == EXAMPLE_NAMES
    failed = [r.name for r in flow_runs if r.state is not None and r.state.is_failed()]
    failed += [r.name for r in task_runs if r.state is not None and r.state.is_failed()]
    assert failed, "the failed file's runs are not in the API"
    leaks = {
        "flow run states": full_ssns_in(" ".join(f"{r.name}: {r.state and r.state.message}" for r in flow_runs)),
        "task run states": full_ssns_in(" ".join(f"{r.name}: {r.state and r.state.message}" for r in task_runs)),
        "stored logs": full_ssns_in("\n".join(entry.message for entry in logs)),
        "artifacts": full_ssns_in(" ".join(f"{a.data} {a.description}" for a in artifacts)),
    }
    assert leaks == {"flow run states": [], "task run states": [], "stored logs": [], "artifacts": []}


def test_a_night_with_a_failing_file_ends_failed_and_still_commits_the_others(failed_run: Run) -> None:
    """An operator's alert on failed runs fires; the summary still comes with the state."""
    assert failed_run.state.is_failed()
    assert FAILING in (failed_run.state.message or "")
    assert [f.result for f in failed_run.result.files] == ["processed"] * (len(EXAMPLE_NAMES) - 1)


def test_the_summary_artifact_counts_every_file_once(failed_run: Run) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[failed_run.flow_run_id]),
            key=ArtifactFilterKey(any_=["nightly-intake-summary"])))
    processed = len(EXAMPLE_NAMES) - 1
    assert f"{len(EXAMPLE_NAMES)} files: {processed} processed, 1 failed;" in str(artifact.data)


def test_a_night_without_an_as_of_date_is_named_after_today(
        prefect_harness: None, no_smtp: None, tmp_path: Path) -> None:
    """A deployment's scheduled run passes no date: its run is still named after the night it processes."""
    from prefect.client.orchestration import get_client

    from coc_intake.flows.intake import night_summary, nightly_intake

    inbox, outbox = fresh_stores(tmp_path, [])
    state = nightly_intake(str(inbox), str(outbox), return_state=True)
    assert night_summary(state).as_of == dt.date.today()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"intake {dt.date.today().isoformat()}"


def test_a_night_with_a_date_is_named_after_it(failed_run: Run) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(failed_run.flow_run_id)
    assert run.name == f"intake {AS_OF}"


def test_file_task_runs_store_nothing_of_the_registry_of_earlier_requests(failed_run: Run) -> None:
    """Each file's task run gets the registry of earlier requests (in memory): Prefect's database must not hold
    every request ID of the outbox for each file."""
    import orjson

    from tests.intake_helpers import stored_by_prefect

    files = [r for r in stored_by_prefect(failed_run.flow_run_id)["task_runs"] if r.task_key.startswith("intake_file")]
    committed = [f for f in failed_run.result.files if f.result == "processed"]
    request_ids = {rid for f in committed
                   for rid in orjson.loads((failed_run.outbox / "batches" / f.batch_id / "manifest.json")
                                           .read_bytes())["request_ids"]}
    assert len(files) == len(EXAMPLE_NAMES) and request_ids
    for run in files:
        stored = run.model_dump_json()
        assert not [rid for rid in request_ids if rid in stored] and len(stored) < 5000


def test_a_failing_run_logs_no_full_ssn(
        prefect_harness: None, no_smtp: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Logs carry masked SSNs or none (docs/outputs.md#confidentiality), even when an unexpected exception's message
    quotes one. Checked through pytest's caplog: the records' messages and their formatted tracebacks, on a one-file
    run."""
    inbox, outbox = fresh_stores(tmp_path, [FAILING])
    monkeypatch.setattr("coc_intake.batch.FileCheck", fail_for(FAILING, f"cannot convert cell value '{LEAKY_SSN}'"))
    caplog.set_level(logging.INFO)
    result = run_flow(inbox, outbox)
    assert [f.name for f in result.failures] == [FAILING]
    assert any(FAILING in r.getMessage() for r in caplog.records)
    assert full_ssns_in("\n".join(r.getMessage() for r in caplog.records)) == []
    assert full_ssns_in(caplog.text) == []


def test_files_are_processed_one_at_a_time_in_order_of_name(
        prefect_harness: None, no_smtp: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are processed in turn: threads in one process only fought over the GIL (docs/decisions.md)."""
    import time
    from itertools import pairwise

    from coc_intake import batch

    names = EXAMPLE_NAMES[:3]
    inbox, outbox = fresh_stores(tmp_path, names)
    real = batch.process_file
    spans: list[tuple[str, float, float]] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append((args[2], start, time.monotonic()))

    monkeypatch.setattr(batch, "process_file", timed)
    result = run_flow(inbox, outbox)
    assert sorted(f.name for f in result.files) == names
    assert [s[0] for s in spans] == names
    assert all(earlier[2] <= later[1] for earlier, later in pairwise(spans))


def test_a_table_that_cannot_be_published_is_a_warning_and_the_committed_file_counts_as_processed(
        prefect_harness: None, no_smtp: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's table artifact is made after its commit: failing it must not report a committed file failed
    (nor retry it into "already processed")."""
    from coc_intake.flows import intake

    names = EXAMPLE_NAMES[:2]
    inbox, outbox = fresh_stores(tmp_path, names)

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"the API is not answering (for {LEAKY_SSN})")

    monkeypatch.setattr(intake, "create_table_artifact", unavailable)
    collect = Collect()
    logging.getLogger().addHandler(collect)
    try:
        result = run_flow(inbox, outbox)
    finally:
        logging.getLogger().removeHandler(collect)
    assert result.failures == []
    assert [(f.name, f.result) for f in result.files] == [(n, "processed") for n in names]
    assert all((outbox / "batches" / f.batch_id / "manifest.json").is_file() for f in result.files)
    assert list(inbox.iterdir()) == []
    warned = [line for line in collect.lines if "could not be published" in line]
    assert len(warned) == len(names) and all("RuntimeError" in w for w in warned)
    assert full_ssns_in("\n".join(warned)) == []


# --------------------------------------------------------------------------------------------------------------------
# coc run


def coc_run(inbox: Path, outbox: Path) -> Any:
    from coc_intake.cli import app

    return CliRunner().invoke(app, ["run", "--inbox", str(inbox), "--outbox", str(outbox), "--as-of", AS_OF])


def test_coc_run_exits_0_and_prints_a_summary_row_per_file(
        prefect_harness: None, no_smtp: None, tmp_path: Path) -> None:
    inbox, outbox = fresh_stores(tmp_path)
    result = coc_run(inbox, outbox)
    assert result.exit_code == 0, result.output
    files = "".join(summary_column(result.stdout, "file"))
    results = summary_column(result.stdout, "result")
    for name in EXAMPLE_NAMES:
        assert name in files, name
    assert results.count("processed") == len(EXAMPLE_NAMES)
    assert list(inbox.iterdir()) == []
    assert full_ssns_in(result.output) == []


def test_coc_run_exits_1_when_a_file_fails_and_leaves_it_in_the_inbox(
        prefect_harness: None, no_smtp: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = "initech-contractors.xlsx"
    inbox, outbox = fresh_stores(tmp_path, [FAILING, other])
    monkeypatch.setattr("coc_intake.batch.FileCheck", fail_for(FAILING, "disk on fire"))
    result = coc_run(inbox, outbox)
    assert result.exit_code == 1, result.output
    assert FAILING in result.stdout and "disk on fire" in result.stdout
    assert other in summary_column(result.stdout, "file")
    assert sorted(p.name for p in inbox.iterdir()) == [FAILING]
    assert len(list((outbox / "batches").glob("*/manifest.json"))) == 1
