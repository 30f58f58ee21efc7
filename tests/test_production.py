"""Production operation against a real Prefect server on loopback: the served nightly deployment, and scale-out on a
2-worker Dask cluster that gives the outbox a serial run gives."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coc_intake.batch import list_inbox, process_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _env(api_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": api_url, "DO_NOT_TRACK": "1", **extra}
    env.pop("COC_SMTP_HOST", None)
    return env


def _fill(inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.iterdir():
        if path.suffix in {".xlsx", ".csv"}:
            shutil.copyfile(path, inbox / path.name)
    # two more files, the second repeating one request of the first: a parallel run must decide it as a serial one
    write_xlsx(inbox / "zz-1.xlsx", [row(ssn="501-22-3333"), row(ssn="501-22-4444", host_country="FR",
                                                                health_insurance="Y")])
    write_xlsx(inbox / "zz-2.xlsx", [row(ssn="501-22-3333"), row(ssn="501-22-5555")])


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "batches").rglob("*"))
            if p.is_file()}


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_the_served_deployment_runs_the_intake_when_triggered(prefect_server: str, tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    _fill(inbox)
    env = _env(prefect_server, COC_INBOX=str(inbox), COC_OUTBOX=str(outbox), COC_SCHEDULE_CRON="0 2 * * *",
               COC_SCHEDULE_TIMEZONE="America/New_York")
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen([str(BIN / "coc"), "serve", "--name", "nightly"], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        def registered() -> bool:
            probe = subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "nightly-intake/nightly"],
                                   env=env, capture_output=True, text=True)
            return probe.returncode == 0

        _wait(registered, 120, "the deployment to be registered")
        inspect = subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "nightly-intake/nightly"],
                                 env=env, capture_output=True, text=True, check=True).stdout
        assert "0 2 * * *" in inspect and "America/New_York" in inspect
        subprocess.run([str(BIN / "prefect"), "deployment", "run", "nightly-intake/nightly"], env=env,
                       capture_output=True, check=True)
        _wait(lambda: not any(inbox.iterdir()) and len(list(outbox.glob("batches/*/manifest.json"))) == 5
              and any(outbox.glob("mail/*.eml")), 180, "the triggered run to process the inbox and write mail")
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
    assert not list(outbox.glob("batches/*/manifest.pending.json"))


def test_a_two_worker_dask_cluster_writes_the_outbox_of_a_serial_run(prefect_server: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    monkeypatch.setenv("PREFECT_API_URL", prefect_server)  # the cluster's workers talk to the same server
    as_of = "2026-11-25"
    serial_in, serial_out = tmp_path / "serial-in", tmp_path / "serial-out"
    dask_in, dask_out = tmp_path / "dask-in", tmp_path / "dask-out"
    _fill(serial_in)
    shutil.copytree(serial_in, dask_in)  # the same bytes: workbooks written a second apart differ in their dates
    inbox, outbox = LocalStore(serial_in), Outbox(LocalStore(serial_out))
    known = KnownRequests.load(outbox)
    for name in list_inbox(inbox):
        process_file(inbox, outbox, name, dt.date.fromisoformat(as_of), Settings(), known)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        done = subprocess.run(
            [str(BIN / "coc"), "run", "--inbox", str(dask_in), "--outbox", str(dask_out), "--as-of", as_of,
             "--dask-address", cluster.scheduler_address],
            env=_env(prefect_server), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(dask_in.iterdir())
    serial, parallel = _tree(serial_out), _tree(dask_out)
    assert sorted(parallel) == sorted(serial)
    assert all(parallel[k] == serial[k] for k in serial)
    # The repeated request was decided against the earlier file of the same run, as a serial run decides it (a
    # re-sent request is already-requested since edition 2026.2).
    codes = (dask_out / "batches").glob("*/results.csv")
    assert any("already-requested" in p.read_text() for p in codes)
