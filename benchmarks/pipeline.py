"""One measured run in a fresh process: ``python -m benchmarks.pipeline KIND ARGS…``; prints one JSON line.

KIND: ``intake FILE OUTBOX`` (the plain intake of one file), ``intake-whole FILE OUTBOX`` (the same with every sheet
read whole, never in windows: what the windows cost or save), ``parse FILE`` (fastexcel alone), ``floor N DIR``
(the parallel orjson write of N request-sized files), ``count FILE`` (how many requests the intake makes, without
writing them), ``naive FILE DIR`` (pandas + openpyxl + pandera on object columns + json.dump per file + an openpyxl
results workbook), ``files DIR OUTBOX`` (every file of a folder).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coc_intake.timing import cpu_seconds, peak_rss_mb

AS_OF = dt.date(2026, 11, 25)


def intake(file: str, outbox: str) -> dict[str, Any]:
    from coc_intake.batch import process_file
    from coc_intake.history import KnownRequests
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.store import LocalStore
    from coc_intake.timing import measured

    path = Path(file)
    inbox_dir = Path(outbox).with_name(Path(outbox).name + "-inbox")
    inbox_dir.mkdir(parents=True, exist_ok=True)
    os.link(path, inbox_dir / path.name) if not (inbox_dir / path.name).exists() else None
    with measured() as stages:
        start, used = time.perf_counter(), cpu_seconds()
        # The registry of the outbox's committed batches (none in a fresh outbox), as a nightly run reads it.
        out = Outbox(LocalStore(outbox))
        summary = process_file(LocalStore(inbox_dir), out, path.name, AS_OF, Settings.from_env(),
                               KnownRequests.load(out))
        wall = time.perf_counter() - start
    peak = max(stages.peak_mb.values())
    return {"wall": wall, "cpu": cpu_seconds() - used, "stages": dict(stages.seconds), "stage_cpu": dict(stages.cpu),
            "rows": summary.rows, "requests": summary.requests, "rss_mb": peak_rss_mb(),
            "peak_stage": next(s for s, mb in stages.peak_mb.items() if mb == peak)}


def intake_whole(file: str, outbox: str) -> dict[str, Any]:
    """The intake with every sheet read whole, as before the reading in windows (coc_intake.sheet_windows)."""
    from coc_intake import sheet_windows

    sheet_windows.WINDOW_THRESHOLD = 1 << 62
    return intake(file, outbox)


def count(file: str) -> dict[str, Any]:
    """How many requests the intake of the file makes (the check alone: nothing is written)."""
    from coc_intake.engine import check_file
    from coc_intake.settings import Settings

    outcome = check_file(Path(file), Path(file).name, AS_OF, Settings.from_env().limits)
    counts = outcome.counts()
    return {"requests": counts["approved"] + counts["referred"], "rss_mb": peak_rss_mb()}


def files(folder: str, outbox: str) -> dict[str, Any]:
    """Every file of a folder through the plain functions, serially, then the confirmations: the outbox a nightly
    run must write."""
    from coc_intake import mail
    from coc_intake.batch import list_inbox, process_file
    from coc_intake.history import KnownRequests
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.store import LocalStore

    inbox, out = LocalStore(folder), Outbox(LocalStore(outbox))
    start = time.perf_counter()
    known = KnownRequests.load(out)
    rows = 0
    names = list_inbox(inbox)
    for name in names:
        rows += process_file(inbox, out, name, AS_OF, Settings.from_env(), known).rows
    mail.deliver(out, Settings.from_env())
    return {"wall": time.perf_counter() - start, "files": len(names), "rows": rows, "rss_mb": peak_rss_mb()}


def flow(folder: str, outbox: str) -> dict[str, Any]:
    """Every file of a folder through the real nightly flow (Prefect's embedded server; its start-up excluded)."""
    import coc_intake.flows  # noqa: F401, I001 - Prefect settings before Prefect is imported
    from prefect import flow as prefect_flow

    from coc_intake.flows.intake import night_summary, nightly_intake

    @prefect_flow
    def warm_up() -> None:  # starts the embedded server, so that the timing below is the intake's own
        return None

    warm_up()
    start = time.perf_counter()
    result = night_summary(nightly_intake(folder, outbox, AS_OF, return_state=True))
    return {"wall": time.perf_counter() - start, "files": len(result.files), "rows": sum(f.rows for f in result.files),
            "rss_mb": peak_rss_mb()}


def parse(file: str) -> dict[str, Any]:
    import fastexcel

    start, used = time.perf_counter(), cpu_seconds()
    sheet = fastexcel.read_excel(file).load_sheet(0, header_row=None, dtypes="string").to_arrow()
    return {"wall": time.perf_counter() - start, "cpu": cpu_seconds() - used, "rows": sheet.num_rows,
            "rss_mb": peak_rss_mb()}


def floor(n: str, folder: str) -> dict[str, Any]:
    """N request-sized JSON documents written with orjson from 4 threads: what writing the requests must cost."""
    import orjson

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    root = str(target)
    count = int(n)
    doc = {"request_id": "COC-DE-ABCDEFGHIJ", "batch_id": "0123456789abcdef", "status": "approved",
           "worker": {"last_name": "Smith", "first_name": "Jane", "ssn": "123-45-6789"}, "pad": "x" * 1200}
    start, used = time.perf_counter(), cpu_seconds()

    def put(indexes: range) -> None:
        for i in indexes:
            # A plain string path: joining pathlib paths costs ~20 us per file under the GIL (2 s per 100k files
            # on tmpfs), which a floor must not include.
            fd = os.open(f"{root}/COC-DE-{i:010d}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, orjson.dumps({**doc, "n": i}, option=orjson.OPT_INDENT_2))
            os.close(fd)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, [range(k, count, 4) for k in range(4)]))
    return {"wall": time.perf_counter() - start, "cpu": cpu_seconds() - used, "files": count, "rss_mb": peak_rss_mb()}


def naive(file: str, folder: str) -> dict[str, Any]:
    """The stack a first version would use: pandas + openpyxl, pandera on object columns, json.dump per file."""
    import openpyxl
    import pandas as pd
    import pandera.pandas as pa

    from coc_intake import schemas

    timings: dict[str, float] = {}
    start = time.perf_counter()
    frame = pd.read_excel(file, engine="openpyxl", dtype=object)
    timings["read"] = time.perf_counter() - start
    labels = {f.label: k for k, f in schemas.fields().items()}
    frame = frame.rename(columns=labels)
    t = time.perf_counter()
    ssn = r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$"
    schema = pa.DataFrameSchema({
        "ssn": pa.Column(object, pa.Check.str_matches(ssn)),
        "last_name": pa.Column(object, pa.Check.str_matches(r"^[^\W\d_][\w '.-]*$")),
        "employer_ein": pa.Column(object, pa.Check.str_matches(r"^\d{2}-\d{7}$"), nullable=True),
        "employer_zip": pa.Column(object, pa.Check.str_matches(r"^\d{5}(-\d{4})?$"), nullable=True),
        "host_country": pa.Column(object, pa.Check.isin(sorted({a.country for a in __import__("agreements")
                                                               .all_agreements().values()}))),
        "assignment_start": pa.Column("datetime64[ns]", coerce=True),
        "assignment_end": pa.Column("datetime64[ns]", coerce=True),
        "date_of_birth": pa.Column("datetime64[ns]", coerce=True),
    }, checks=[pa.Check(lambda df: df["assignment_end"] >= df["assignment_start"], name="end-before-start")])
    with contextlib.suppress(pa.errors.SchemaErrors, pa.errors.SchemaError):
        schema.validate(frame, lazy=True)
    timings["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for i, record in enumerate(frame.astype(str).to_dict("records")):
        with (target / f"req-{i:07d}.json").open("w") as fh:
            json.dump(record, fh, indent=2)
    timings["write requests"] = time.perf_counter() - t
    t = time.perf_counter()
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(frame.columns))
    for values in frame.head(1000).astype(str).itertuples(index=False):
        ws.append(list(values))
    wb.save(target / "results.xlsx")
    timings["write workbooks"] = time.perf_counter() - t
    return {"wall": time.perf_counter() - start, "stages": timings, "rows": len(frame), "rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    steps: dict[str, Callable[..., dict[str, Any]]] = {"intake": intake, "intake-whole": intake_whole,
                                                        "parse": parse, "floor": floor,
                                                        "naive": naive, "files": files, "flow": flow,
                                                        "count": count}
    result = steps[kind](*args)
    print(json.dumps(result))
