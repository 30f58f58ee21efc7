"""No full SSN leaks through names (docs/outputs.md#confidentiality): an SSN in a file's name, typed in a column
other than the SSN's, or inside an employer's name reaches only the request documents, the employer's own
``results.xlsx`` and ``source/``. Everything else shows it as ``***-**-NNNN``.

- ``redact``'s rules: where an SSN shape is found in free text, and where not;
- the plain functions (``process_file`` + ``mail.deliver``): the outbox, e-mails and logs;
- ``coc validate`` (table and --json) and ``coc report``;
- the nightly flow, once: what Prefect stored (flow and task runs, parameters, state, logs, artifacts, its database),
  what it returned, and what the CLI prints of it (run summary, progress bar).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from coc_intake import mail, schemas
from coc_intake.cli import app
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.store import LocalStore
from tests.builders import AS_OF, row, write_xlsx
from tests.intake_helpers import Collect, full_ssns_in, read_csv, report_texts, run_intake, settings, stored_by_prefect
from tests.test_confidentiality import full_ssn_allowed, scanned_texts

# --------------------------------------------------------------------------------------------------------------------
# the rules of redact


@pytest.mark.parametrize(("text", "masked"), [
    # the three shapes, anywhere in a text
    ("payroll 123-45-6789.xlsx", "payroll ***-**-6789.xlsx"),
    ("payroll 123 45 6789.xlsx", "payroll ***-**-6789.xlsx"),
    ("acme123456789.xlsx", "acme***-**-6789.xlsx"),
    ("123-45-6789_payroll.csv", "***-**-6789_payroll.csv"),
    ("SSN:123456789", "SSN:***-**-6789"),
    ("a123456789b987654321c", "a***-**-6789b***-**-4321c"),
    # other separators a file name or a person uses, and two different ones
    ("payroll_123_45_6789.xlsx", "payroll_***-**-6789.xlsx"),
    ("123.45.6789", "***-**-6789"),
    ("123\u201345\u20136789", "***-**-6789"),  # en dashes
    ("123-45 6789", "***-**-6789"),
    # a separator outside the SSN is no digit: masked
    ("*123-45-6789", "****-**-6789"),
    ("12-123-45-6789", "12-***-**-6789"),
    ("123456789.0", "***-**-6789.0"),  # a number cell read as a float
    # Unicode digits are digits
    ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "***-**-\uff16\uff17\uff18\uff19"),
    # kept: part of a longer run of digits, or not the 3-2-4 shape
    ("123456789012", "123456789012"),
    ("1234567890", "1234567890"),
    ("9123-45-6789", "9123-45-6789"),
    ("123-45-67890", "123-45-67890"),
    ("12345-6789", "12345-6789"),  # ZIP+4: one separator only
    ("123-456789", "123-456789"),
    ("12-3456789", "12-3456789"),  # an EIN
    ("20261125", "20261125"),  # 8 digits: a date more often than an SSN that lost a zero
    ("2026-11-25", "2026-11-25"),
    ("COC-DE-QA4DD7ZD7Y", "COC-DE-QA4DD7ZD7Y"),
    ("***-**-6789", "***-**-6789"),
])
def test_redact_masks_every_ssn_shape_in_a_text_but_not_inside_longer_numbers(text: str, masked: str) -> None:
    assert redact(text) == masked


@given(st.text(alphabet=st.sampled_from("0123456789-_. xa*"), max_size=40))
def test_redact_leaves_no_ssn_shape_and_masking_twice_changes_nothing(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    # an SSN typed as NNN-NN-NNNN, NNN NN NNNN or NNNNNNNNN is never left in any form
    digits = [m.group(0) for m in re.finditer(r"(?<!\d)\d{3}([- ]?)\d{2}\1\d{4}(?!\d)", text)]
    assert full_ssns_in(once, digits) == []


# --------------------------------------------------------------------------------------------------------------------
# the inputs: SSNs in file names, in other columns, in an employer's name

NAMED = "payroll 524-81-3907.xlsx"
BROKEN = "321549876_census.xlsx"  # not a workbook: rejected whole
#: The SSNs typed somewhere else than the SSN column (the names' own included).
ELSEWHERE = ["524-81-3907", "321549876", "345-67-8901", "456 78 9012", "567890123", "234-56-7891", "678-90-1234",
             "789-01-2345"]
#: The workers' SSNs, as typed in the SSN column (full in the request documents only).
WORKERS = ["212-48-1937", "318-22-4410", "401-55-2308", "522-19-8876", "233-71-0964", "145-62-7730"]
EXTRA_HEADER = "Note 789-01-2345"  # an unknown column whose header holds an SSN
ROWS = [
    row(ssn=WORKERS[0], last_name="Doe 345-67-8901"),                      # invalid-name quotes it
    row(ssn=WORKERS[1], worksite_city="Berlin 456 78 9012"),               # free text: approved
    row(ssn=WORKERS[2], employer_name="Acme 567890123 LLC"),               # a sole proprietor's name: approved
    row(ssn=WORKERS[3], host_country="234-56-7891"),                       # invalid-country quotes it
    row(ssn=WORKERS[4], employer_ein="678-90-1234"),                       # an SSN in the EIN column
    row(ssn=WORKERS[5]),                                                   # plain and approved
]
ALL = ELSEWHERE + WORKERS


def write_named(path: Path) -> Path:
    keys = [*schemas.fields(), "note"]
    headers = [*(f.label for f in schemas.fields().values()), EXTRA_HEADER]
    return write_xlsx(path, ROWS, headers=headers, keys=keys)


def fill_inbox(inbox: Path) -> None:
    write_named(inbox / NAMED)
    (inbox / BROKEN).write_bytes(b"PK\x03\x04 this is not a workbook")


def leaks(texts: dict[str, str]) -> dict[str, list[str]]:
    found = {key: full_ssns_in(text, ALL) for key, text in texts.items()}
    return {key: ssns for key, ssns in found.items() if ssns}


# --------------------------------------------------------------------------------------------------------------------
# through the plain functions


@dataclasses.dataclass
class PlainRun:
    outbox: Path
    before: dict[str, str]
    after: dict[str, str]
    logged: str


@pytest.fixture
def plain_run(stores: tuple[Path, Path], caplog: pytest.LogCaptureFixture,
              capsys: pytest.CaptureFixture[str]) -> PlainRun:
    inbox, outbox = stores
    fill_inbox(inbox)
    with caplog.at_level(logging.DEBUG):
        summaries = run_intake(inbox, outbox, deliver=False)
        before = scanned_texts(outbox)  # the queued messages are among them
        delivered = mail.deliver(Outbox(LocalStore(outbox)), settings())
    assert sorted(s.result for s in summaries) == ["processed", "rejected-file"]
    assert delivered.written == 1
    captured = capsys.readouterr()
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), captured.out, captured.err])
    return PlainRun(outbox, before, scanned_texts(outbox), logged)


def batch_of(outbox: Path, source_name: str) -> Path:
    [folder] = [p.parent for p in (outbox / "batches").glob("*/manifest.json")
                if json.loads(p.read_bytes())["source_name"] == source_name]
    return folder


def test_no_full_ssn_from_names_or_other_columns_outside_the_allowed_places(plain_run: PlainRun) -> None:
    assert any(k.endswith("errors.csv") for k in plain_run.before)
    assert leaks({**plain_run.before, **plain_run.after}) == {}
    assert full_ssns_in(plain_run.logged, ALL) == []
    # and no key outside source/ has one in its name
    keys = [p.relative_to(plain_run.outbox).as_posix() for p in plain_run.outbox.rglob("*")]
    assert leaks({k: k for k in keys if "/source/" not in k}) == {}


def test_the_manifest_shows_file_and_employer_names_masked(plain_run: PlainRun) -> None:
    batch = batch_of(plain_run.outbox, "payroll ***-**-3907.xlsx")
    doc = json.loads((batch / "manifest.json").read_bytes())
    assert {e["name"] for e in doc["breakdown"]["employers"]} == {"Acme Corp", "Acme ***-**-0123 LLC"}
    assert batch_of(plain_run.outbox, "***-**-9876_census.xlsx")


def test_errors_csv_quotes_other_columns_masked(plain_run: PlainRun) -> None:
    errors = read_csv(batch_of(plain_run.outbox, "payroll ***-**-3907.xlsx") / "errors.csv")
    by_field = {(e["field"] or e["code"]): e for e in errors}
    assert by_field["last_name"]["value"] == "Doe ***-**-8901"
    assert "'Doe ***-**-8901'" in by_field["last_name"]["message"]
    assert by_field["host_country"]["value"] == "***-**-7891"
    assert by_field["employer_ein"]["value"] == "***-**-1234"
    assert by_field["unknown-column"]["value"] == "Note ***-**-2345"


def test_the_confirmation_names_the_file_masked(plain_run: PlainRun) -> None:
    [eml] = [text for key, text in plain_run.after.items() if key.endswith(".eml") and "/" not in key[5:]]
    text = " ".join(eml.split())
    assert "Certificate of Coverage requests: 3 approved, 0 referred, 3 to fix — payroll ***-**-3907.xlsx" in text
    assert "the file payroll ***-**-3907.xlsx (batch" in text


def test_the_employer_keeps_the_full_values_where_they_are_allowed(plain_run: PlainRun) -> None:
    """The other side: source/ keeps the real name (the employer's own file), the request documents the typed
    values, so the masking is where things are shown, not in the data."""
    batch = batch_of(plain_run.outbox, "payroll ***-**-3907.xlsx")
    assert [p.name for p in (batch / "source").iterdir()] == [NAMED]
    requests = " ".join(p.read_text(encoding="utf-8") for p in (batch / "requests").glob("*.json"))
    assert NAMED in requests and "Berlin 456 78 9012" in requests and "Acme 567890123 LLC" in requests
    assert all(full_ssn_allowed(f"batches/{batch.name}/{part}") for part in ("requests/x.json", f"source/{NAMED}"))


def wide_console(file: io.StringIO | None = None) -> Console:
    """The CLI's console, wide enough that no folded table cell hides a full SSN from the scan."""
    return Console(file=file, width=1000, highlight=False, soft_wrap=True)


def test_coc_validate_shows_no_full_ssn_in_its_table_or_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coc_intake import cli

    path = write_named(tmp_path / NAMED)
    monkeypatch.setattr(cli, "out", wide_console())
    args = ["validate", str(path), "--as-of", AS_OF]
    text = CliRunner().invoke(app, args)
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert text.exit_code == as_json.exit_code == 1, text.output
    assert "Findings in payroll ***-**-3907.xlsx" in text.stdout and "Doe ***-**-8901" in text.stdout
    doc = json.loads(as_json.stdout)
    assert doc["file"] == "payroll ***-**-3907.xlsx"
    assert {f["value"] for f in doc["findings"]} >= {"Doe ***-**-8901", "***-**-7891", "Note ***-**-2345"}
    assert full_ssns_in(text.stdout + text.stderr, ALL) == []
    assert full_ssns_in(as_json.stdout + as_json.stderr, ALL) == []


def test_coc_report_shows_no_full_ssn(plain_run: PlainRun, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--outbox", str(plain_run.outbox), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    texts = {"output": result.output} | report_texts(tmp_path / "rep")
    html = next(text for key, text in texts.items() if key.endswith(".html"))
    # The EIN column typed with an SSN is an employer of its own, shown masked (the sole proprietor's name shares
    # Acme's EIN: the report names that employer as typed most often, "Acme Corp").
    assert "***-**-9876_census.xlsx" in html and "***-**-1234" in html
    assert leaks(texts) == {}


def test_the_report_masks_manifests_written_before_they_were_masked() -> None:
    from coc_intake import report

    counts = {"rows": 1, "approved": 0, "referred": 0, "rejected": 1}
    old = {"batch_id": "b1", "as_of": AS_OF, "status": "rejected-file", "source_name": NAMED, **counts,
           "error_counts": {}, "file_errors": [{"code": "unreadable-file", "message": f"{NAMED} is broken"}],
           "breakdown": {"employers": [{"ein": "123456789", "name": "Acme 567890123 LLC", **counts}],
                         "host_countries": [{"country": "234-56-7891", **counts}], "rejecting_fields": {}}}
    built = report.build([old])
    text = json.dumps([built.rejected_files, [list(k) for k in built.by_employer], list(built.by_country)])
    assert full_ssns_in(text, ALL) == [] and "payroll ***-**-3907.xlsx" in text


# --------------------------------------------------------------------------------------------------------------------
# through the nightly flow, once

FAILING = "failing 456-78-9013.xlsx"  # fails for a system reason, its name in the exception's message
FLOW_SSNS = [*ALL, "456-78-9013"]


class ProgressStub:
    """What the CLI's progress bar is told (``cli._following`` moves it): every description it shows."""

    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def add_task(self, description: str, total: Any = None) -> int:
        self.descriptions.append(description)
        return 0

    def update(self, task: int, **fields: Any) -> None:
        if "description" in fields:
            self.descriptions.append(str(fields["description"]))


@dataclasses.dataclass
class FlowRun:
    outbox: Path
    result: Any
    state: Any
    logs: str
    progress: list[str]
    printed: str


def _fail_for(name: str) -> Any:
    from coc_intake.engine import FileCheck as real

    def file_check(source: bytes | Path, file_name: str, *args: Any, **kwargs: Any) -> Any:
        if file_name == name:
            raise RuntimeError(f"cannot open {file_name}: unexpected end of data")
        return real(source, file_name, *args, **kwargs)

    return file_check


@pytest.fixture(scope="module")
def flow_run(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowRun]:
    from coc_intake import cli
    from coc_intake.flows.intake import night_summary, nightly_intake

    root = tmp_path_factory.mktemp("masking-flow")
    inbox, outbox = root / "inbox", root / "outbox"
    inbox.mkdir()
    fill_inbox(inbox)
    write_xlsx(inbox / FAILING, [row(ssn="145-62-7731")])
    collect, progress, printed = Collect(), ProgressStub(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COC_SMTP_HOST", raising=False)
        mp.setattr("coc_intake.batch.FileCheck", _fail_for(FAILING))
        logging.getLogger().addHandler(collect)
        try:
            with cli._following(progress):
                state = nightly_intake(str(inbox), str(outbox), dt.date.fromisoformat(AS_OF), return_state=True)
            result = night_summary(state)
            mp.setattr(cli, "out", wide_console(printed))
            cli._print_run(result, Outbox(LocalStore(outbox)))
        finally:
            logging.getLogger().removeHandler(collect)
    yield FlowRun(outbox, result, state, "\n".join(collect.lines), progress.descriptions, printed.getvalue())


def test_the_flow_stores_file_names_masked_in_run_names_parameters_and_states(flow_run: FlowRun) -> None:
    stored = stored_by_prefect(flow_run.state.state_details.flow_run_id)
    # each file is a task run named after it, masked; the task that opens the file had the real name
    files = [r for r in stored["task_runs"] if r.task_key.startswith("intake_file")]
    assert sorted(r.name for r in files) == sorted(
        ["***-**-9876_census.xlsx", "failing ***-**-9013.xlsx", "payroll ***-**-3907.xlsx"])
    assert [r.name for r in files if r.state is not None and r.state.is_failed()] == ["failing ***-**-9013.xlsx"]
    texts = {kind: "\n".join(item.model_dump_json() for item in items) for kind, items in stored.items()}
    assert {kind: full_ssns_in(text, FLOW_SSNS) for kind, text in texts.items()} == {
        "flow_runs": [], "task_runs": [], "logs": [], "artifacts": []}
    assert "payroll ***-**-3907.xlsx" in texts["logs"] and "payroll ***-**-3907.xlsx" in texts["artifacts"]


def test_the_failed_file_is_reported_masked_and_the_night_ends_failed(flow_run: FlowRun) -> None:
    assert flow_run.state.is_failed()
    assert [f.name for f in flow_run.result.failures] == ["failing ***-**-9013.xlsx"]
    assert "failing ***-**-9013.xlsx" in (flow_run.state.message or "")
    assert full_ssns_in(flow_run.state.message or "", FLOW_SSNS) == []
    # the file stays in the inbox under its real name, for the next night
    assert (flow_run.outbox.parent / "inbox" / FAILING).is_file()


def test_the_flow_returns_logs_and_prints_no_full_ssn(flow_run: FlowRun) -> None:
    returned = json.dumps(dataclasses.asdict(flow_run.result), default=str)
    assert sorted(f.name for f in flow_run.result.files) == ["***-**-9876_census.xlsx", "payroll ***-**-3907.xlsx"]
    assert "payroll ***-**-3907.xlsx" in flow_run.logs
    assert "payroll ***-**-3907.xlsx" in flow_run.printed and "failing ***-**-9013.xlsx" in flow_run.printed
    assert any("payroll ***-**-3907.xlsx" in d for d in flow_run.progress)
    texts = {"returned": returned, "logs": flow_run.logs, "printed": flow_run.printed,
             "progress bar": "\n".join(flow_run.progress)}
    assert {k: full_ssns_in(v, FLOW_SSNS) for k, v in texts.items()} == {k: [] for k in texts}


def test_prefects_database_holds_no_full_ssn(flow_run: FlowRun) -> None:
    """The last word: the bytes of the API server's database (events included), not only what the client reads."""
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import get_current_settings

    APILogHandler().flush()
    url = get_current_settings().server.database.connection_url
    assert url is not None
    path = Path(url.get_secret_value().split("///", 1)[1])
    blobs = [p.read_bytes().decode("utf-8", "replace") for p in path.parent.glob(path.name + "*")]
    assert blobs and "payroll ***-**-3907.xlsx" in "".join(blobs)
    assert full_ssns_in("".join(blobs), FLOW_SSNS) == []
