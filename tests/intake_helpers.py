"""Helpers shared by the tests of the nightly intake's outputs: run the plain functions, read an outbox back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from coc_intake import batch, mail
from coc_intake.batch import FileSummary
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import AS_OF

AS_OF_DATE = dt.date.fromisoformat(AS_OF)
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCHEMA_PATH = ROOT / "schemas" / "request.schema.json"


def settings() -> Settings:
    """Defaults, whatever the environment says: no SMTP server, so confirmations are written as .eml files."""
    return Settings()


#: Where run_intake keeps the stores: "local" folders, or an "s3://bucket" (set by the tests' store fixture).
STORE: dict[str, str] = {"mode": "local"}


def _mirror(source: Any, target: Any) -> None:
    """Make ``target`` hold exactly the objects of ``source``."""
    wanted = set(source.list("", recursive=True))
    for key in set(target.list("", recursive=True)) - wanted:
        target.delete(key)
    for key in sorted(wanted):
        target.write(key, source.read(key))


def run_intake(inbox: Path, outbox: Path, as_of: dt.date = AS_OF_DATE, cfg: Settings | None = None,
               deliver: bool = True) -> list[FileSummary]:
    """One nightly intake through the plain functions, as the flow does it: every file in order of name, the
    registry of earlier requests read from the outbox once, then the confirmations.

    With an S3 store the same run goes through a real S3 endpoint: the folders are mirrored up before the run and
    back after it, so that every test reads the outbox the run wrote, wherever it was."""
    if STORE["mode"] != "local":
        from coc_intake.store import open_store

        s3_in, s3_out = open_store(f"{STORE['mode']}/inbox"), open_store(f"{STORE['mode']}/outbox")
        _mirror(LocalStore(inbox), s3_in)
        _mirror(LocalStore(outbox), s3_out)
        summaries = _run(s3_in, s3_out, as_of, cfg, deliver)
        _mirror(s3_in, LocalStore(inbox))
        _mirror(s3_out, LocalStore(outbox))
        return summaries
    return _run(LocalStore(inbox), LocalStore(outbox), as_of, cfg, deliver)


def _run(inbox_store: Any, outbox_store: Any, as_of: dt.date, cfg: Settings | None,
         deliver: bool) -> list[FileSummary]:
    cfg = cfg or settings()
    outbox = Outbox(outbox_store)
    known = KnownRequests.load(outbox)
    summaries = [batch.process_file(inbox_store, outbox, name, as_of, cfg, known)
                 for name in batch.list_inbox(inbox_store)]
    if deliver:
        mail.deliver(outbox, cfg)
    return summaries


def batch_dir(outbox: Path, summary: FileSummary) -> Path:
    return outbox / "batches" / summary.batch_id


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def csv_header(path: Path) -> list[str]:
    return next(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def manifest(outbox: Path, summary: FileSummary) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((batch_dir(outbox, summary) / "manifest.json").read_bytes())
    return data


def requests_of(outbox: Path, summary: FileSummary) -> dict[str, dict[str, Any]]:
    folder = batch_dir(outbox, summary) / "requests"
    return {p.stem: json.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden and temporary ones too) → its bytes; the wall-clock values the outbox may
    hold are left out: the delivery time in the mail ledger (``mail/sent/*.json``) and the runs' records
    (``runs/``, named after the time of each run)."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(root).as_posix()
        if key.startswith("runs/"):
            continue
        data = path.read_bytes()
        if key.startswith("mail/sent/") and key.endswith(".json"):
            record = json.loads(data)
            record.pop("at", None)
            data = json.dumps(record, sort_keys=True).encode()
        files[key] = data
    return files


@cache
def request_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def request_validator() -> Draft202012Validator:
    schema = request_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in request_validator().iter_errors(doc)]


# --- SSN scanning (docs/outputs.md#confidentiality) ---

_SSN_SHAPED = re.compile(r"(?<!\d)(\d{3})[- ]?(\d{2})[- ]?(\d{4})(?!\d)")
_DIGIT_RUN = re.compile(r"(?<!\d)\d{7,9}(?!\d)")


def ssn_digits(value: str) -> str:
    """The nine digits of an SSN as typed (7-8 digits are the zeros a spreadsheet lost)."""
    digits = re.sub(r"\D", "", value)
    return digits.zfill(9)


def full_ssns_in(text: str, ssns: Iterable[str]) -> list[str]:
    """The SSNs of ``ssns`` (any typed form) that appear in full in ``text``: NNN-NN-NNNN, NNN NN NNNN,
    NNNNNNNNN, or the 7-8 digits typed when a spreadsheet dropped the zeros."""
    wanted = {ssn_digits(s) for s in ssns}
    typed = {re.sub(r"\D", "", s) for s in ssns}
    found = {"".join(m.groups()) for m in _SSN_SHAPED.finditer(text)} & wanted
    found |= {m.group(0).zfill(9) for m in _DIGIT_RUN.finditer(text) if m.group(0) in typed or
              m.group(0).zfill(9) in wanted}
    return sorted(found)


def stored_by_prefect(parent: Any) -> dict[str, Any]:
    """Everything the API server holds of a nightly run (``parent``: its flow run ID): its flow runs (the files'
    among them), task runs, logs and artifacts, as the client reads them back."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])))
        ids = [parent, *(f.id for f in children)]
        return {
            "flow_runs": client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))),
            "task_runs": client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))),
            "logs": client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))),
            "artifacts": client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))),
        }


class Collect(logging.Handler):
    """Like caplog, for module-scoped fixtures: every record that reaches the root logger, formatted with its
    traceback."""

    def __init__(self) -> None:
        super().__init__(level=0)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def summary_column(stdout: str, heading: str) -> list[str]:
    """One column of ``coc run``'s plain summary (its output when standard output is not a terminal), by heading
    (``file``, ``result``, ``batch`` or ``reason``): the cells of its file lines, in order."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("file ") and " result " in line)
    words = [(m.group(0), m.start()) for m in re.finditer(r"\S+", lines[at])]
    k = [w for w, _ in words].index(heading)
    start, end = words[k][1], (words[k + 1][1] if k + 1 < len(words) else None)
    cells = []
    for line in lines[at + 1:]:
        if line.startswith(("Confirmations:", "Batches are in")):
            break
        cells.append(line[start:end].strip())
    return cells


def report_texts(folder: Path) -> dict[str, str]:
    """Every text of the report files in ``folder``: each xlsx part (``name:part``) and each other file whole."""
    texts: dict[str, str] = {}
    for path in folder.iterdir():
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                texts |= {f"{path.name}:{n}": z.read(n).decode("utf-8", "replace") for n in z.namelist()}
        else:
            texts[path.name] = path.read_text(encoding="utf-8")
    return texts
