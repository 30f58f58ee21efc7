"""Load on the portal over loopback (not part of the test suite): EMPLOYERS concurrent employers each upload and
pre-check a ROWS-row workbook through the API while a prober times a status page; then each submits. Reports the
status page's latency percentiles during the pre-checks, how long the pre-checks took, and that every upload was
checked and every submission reached the inbox.

    .venv/bin/python -m benchmarks.bench_portal [--employers 20] [--rows 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.generate import EMPLOYERS, write_workbook
from coc_intake.portal.accounts import Accounts
from coc_intake.settings import Settings


def _free_port() -> int:
    import socket

    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port: int = so.getsockname()[1]
        return port


def _start(root: Path, workers: int) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    for name in ("inbox", "outbox", "state"):
        (root / name).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COC_")}
    env.update({"COC_INBOX": str(root / "inbox"), "COC_OUTBOX": str(root / "outbox"),
                "COC_STATE_DIR": str(root / "state"), "COC_PORTAL_CHECK_WORKERS": str(workers),
                "COC_PORTAL_SECRET": "bench"})
    port = _free_port()
    log = (root / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "coc_intake.cli", "portal", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/sign-in", timeout=2).status_code == 200:
                return process, url, env
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the portal did not start")


def _employer(url: str, token: str, data: bytes, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as api:
        start = time.perf_counter()
        upload = api.post("/api/v1/uploads", params={"filename": name}, content=data).json()
        while (found := api.get(f"/api/v1/uploads/{upload['upload_id']}").json())["state"] == "checking":
            time.sleep(0.5)
        checked = time.perf_counter() - start
        submitted = api.post(f"/api/v1/uploads/{upload['upload_id']}/submit").json()
        return {"seconds": checked, "state": found["state"], "rows": found["counts"]["rows"],
                "inbox_name": submitted["inbox_name"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="coc-bench-portal-"))
    process, url, env = _start(root, args.workers)
    try:
        accounts = Accounts.from_settings(Settings.from_env(env))
        eins = tuple(e[0] for e in EMPLOYERS)
        made = [accounts.add(f"employer{i}@bench.example", "employer", eins) for i in range(args.employers)]
        prober = accounts.add("prober@bench.example", "employer", eins)
        workbooks = [write_workbook(root / f"w{i}.xlsx", args.rows, seed=i).read_bytes() for i in range(args.employers)]
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {prober.token}"}) as api:
                api.get("/api/v1/submissions")
                while not done.is_set():
                    start = time.perf_counter()
                    api.get("/api/v1/submissions").raise_for_status()
                    latencies.append(time.perf_counter() - start)
                    time.sleep(0.05)

        thread = threading.Thread(target=probe)
        thread.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.employers) as pool:
            results = list(pool.map(lambda i: _employer(url, made[i].token, workbooks[i], f"w{i}.xlsx"),
                                    range(args.employers)))
        wall = time.perf_counter() - started
        done.set()
        thread.join()
        inbox = {p.name for p in (root / "inbox").iterdir() if not p.name.startswith(".")}
        lost = [r for r in results if r["state"] != "checked" or r["rows"] != args.rows or r["inbox_name"] not in inbox]
        qs = statistics.quantiles(latencies, n=100)
        seconds = sorted(r["seconds"] for r in results)
        print(f"{args.employers} employers × {args.rows:,}-row workbooks, {args.workers} check workers, "
              f"{os.cpu_count()} CPUs")
        print(f"all uploaded, checked and submitted in {wall:.1f} s; each employer's upload→checked: "
              f"median {statistics.median(seconds):.1f} s, max {seconds[-1]:.1f} s")
        print(f"status page (GET /api/v1/submissions) during the pre-checks: {len(latencies)} requests, "
              f"p50 {qs[49] * 1000:.0f} ms, p95 {qs[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        print(f"lost: {len(lost)} (inbox holds {len(inbox)} of {args.employers} submissions)")
        accounts.close()
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
