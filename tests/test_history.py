"""Earlier requests (docs/errors.md, docs/outputs.md): successive assignments counted from the start of their chain,
concurrent assignments, re-sent rows already requested, changed end dates, extensions and the template's edition."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from datetime import date as D
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.packaging.custom import StringProperty

from coc_intake import engine, history, report
from coc_intake.engine import CheckedRows, FileCheck
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore
from tests.builders import row, write_csv, write_xlsx
from tests.intake_helpers import AS_OF_DATE, batch_dir, manifest, read_csv, requests_of, run_intake

#: A five-year posting to Germany (limit 60 months: last day 2031-12-31), split in two.
FIRST = {"assignment_start": D(2027, 1, 1), "assignment_end": D(2029, 12, 31)}
SECOND = {"assignment_start": D(2030, 1, 1), "assignment_end": D(2032, 6, 30)}


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    return inbox, outbox


def _lines(outbox: Path, summary: Any) -> dict[int, dict[str, str]]:
    return {int(r["row"]): r for r in read_csv(batch_dir(outbox, summary) / "results.csv")}


def _findings(outbox: Path, summary: Any, code: str) -> list[dict[str, str]]:
    return [f for f in read_csv(batch_dir(outbox, summary) / "errors.csv") if f["code"] == code]


def _request_id(outbox: Path, summary: Any, start: str) -> str:
    [rid] = [r for r, d in requests_of(outbox, summary).items() if d["assignment"]["start"] == start]
    return rid


# --- successive assignments ----------------------------------------------------------------------------------


def _assert_chain_referred(outbox: Path, first: Any, second: Any, row_number: int) -> None:
    earlier = _request_id(outbox, first, "2027-01-01")
    line = _lines(outbox, second)[row_number]
    assert line["status"] == "referred" and "exceeds-detachment-limit" in line["codes"].split(";")
    [finding] = [f for f in _findings(outbox, second, "exceeds-detachment-limit") if f["row"] == str(row_number)]
    assert earlier in finding["message"] and "2027-01-01" in finding["message"]
    assert finding["value"] == "2032-06-30"


def test_a_posting_split_into_two_rows_of_a_file_is_referred_on_the_row_past_the_limit(
        stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "posting.xlsx", [row(**FIRST), row(**SECOND)])
    [summary] = run_intake(inbox, outbox)
    assert _lines(outbox, summary)[2]["status"] == "approved"
    _assert_chain_referred(outbox, summary, summary, 3)


def test_a_posting_split_into_two_files_of_one_run_is_referred_on_the_later_file(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "a-first.xlsx", [row(**FIRST)])
    write_csv(inbox / "b-second.csv", [row(**SECOND)])
    first, second = run_intake(inbox, outbox)
    _assert_chain_referred(outbox, first, second, 2)


def test_a_posting_split_into_two_runs_is_referred_in_the_later_run(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "a-first.xlsx", [row(**FIRST)])
    [first] = run_intake(inbox, outbox)
    write_csv(inbox / "b-second.csv", [row(**SECOND)])
    [second] = run_intake(inbox, outbox, as_of=AS_OF_DATE + dt.timedelta(days=30))
    _assert_chain_referred(outbox, first, second, 2)


def test_a_row_within_the_limit_from_its_own_start_is_not_referred_without_a_chain(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "posting.xlsx", [row(**SECOND)])
    [summary] = run_intake(inbox, outbox)
    assert _lines(outbox, summary)[2]["status"] == "approved"


@pytest.mark.parametrize(("second_start", "status"), [(D(2029, 12, 31), "approved"), (D(2029, 12, 30), "referred")])
def test_a_gap_of_a_year_or_more_starts_a_new_chain(stores: tuple[Path, Path], second_start: D, status: str) -> None:
    inbox, outbox = stores
    # Ends 2028-12-31; a start a whole year later begins a new chain (its own 60 months are enough), a day less
    # continues the chain, whose 60 months from 2027-01-01 end before 2033-06-30.
    write_xlsx(inbox / "posting.xlsx", [row(assignment_start=D(2027, 1, 1), assignment_end=D(2028, 12, 31)),
                                        row(assignment_start=second_start, assignment_end=D(2033, 6, 30))])
    [summary] = run_intake(inbox, outbox)
    line = _lines(outbox, summary)[3]
    assert line["status"] == status
    assert ("exceeds-detachment-limit" in line["codes"].split(";")) == (status == "referred")


def test_a_chain_runs_through_every_link_and_names_its_first_request(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "posting.xlsx", [
        row(assignment_start=D(2027, 1, 1), assignment_end=D(2028, 6, 30)),
        row(assignment_start=D(2029, 3, 1), assignment_end=D(2030, 12, 31)),
        row(assignment_start=D(2031, 6, 1), assignment_end=D(2032, 3, 31)),
    ])
    [summary] = run_intake(inbox, outbox)
    lines = _lines(outbox, summary)
    assert [lines[r]["status"] for r in (2, 3, 4)] == ["approved", "approved", "referred"]
    [finding] = _findings(outbox, summary, "exceeds-detachment-limit")
    assert _request_id(outbox, summary, "2027-01-01") in finding["message"]


def test_a_chain_across_parts_of_a_large_file_is_the_same_as_checked_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_xlsx(tmp_path / "posting.xlsx", [row(**FIRST), row(ssn="234-56-7890"), row(**SECOND)])
    whole = engine.check_file(path, path.name, AS_OF_DATE)
    monkeypatch.setattr(engine, "PART_ROWS", 1)
    with FileCheck(path, path.name, AS_OF_DATE) as check:
        parts = list(check.parts())
        outcome = check.outcome()
    assert len(parts) == 3
    assert isinstance(whole, CheckedRows) and isinstance(outcome, CheckedRows)
    pd.testing.assert_frame_equal(whole.findings, outcome.findings)
    assert whole.rows["status"].tolist() == outcome.rows["status"].tolist() == ["approved", "approved", "referred"]


# --- concurrent assignments ----------------------------------------------------------------------------------


def test_a_concurrent_assignment_in_two_countries_is_referred_naming_the_other_request(
        stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "a-first.xlsx", [row()])
    write_csv(inbox / "b-second.csv", [row(host_country="AT", foreign_employer_name="Acme Austria",
                                           worksite_city="Vienna", assignment_start=D(2027, 6, 1),
                                           assignment_end=D(2027, 12, 31)),
                                       row(ssn="234-56-7890", host_country="AT", worksite_city="Vienna")])
    first, second = run_intake(inbox, outbox)
    lines = _lines(outbox, second)
    assert (lines[2]["status"], lines[2]["codes"]) == ("referred", "concurrent-assignments")
    assert lines[3]["status"] == "approved"
    [finding] = _findings(outbox, second, "concurrent-assignments")
    assert requests_of(outbox, first) and next(iter(requests_of(outbox, first))) in finding["message"]
    assert "Germany" in finding["message"] and "123-45-6789" not in finding["message"]


def test_assignments_in_two_countries_that_do_not_overlap_are_not_concurrent(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "posting.xlsx", [row(), row(host_country="AT", worksite_city="Vienna",
                                                   assignment_start=D(2029, 1, 1), assignment_end=D(2029, 12, 31))])
    [summary] = run_intake(inbox, outbox)
    assert [line["status"] for line in _lines(outbox, summary).values()] == ["approved", "approved"]


# --- re-sent requests ----------------------------------------------------------------------------------------


def _resent(stores: tuple[Path, Path], change: dict[str, Any] | None = None) -> tuple[Path, Any, Any]:
    inbox, outbox = stores
    rows = [row(), row(ssn="234-56-7890", **FIRST), row(ssn="234-56-7890", **SECOND)]
    write_xlsx(inbox / "census.xlsx", rows)
    [first] = run_intake(inbox, outbox)
    if change:
        rows[0] = {**rows[0], **change}
    write_xlsx(inbox / "census-again.xlsx", rows, title_rows=[["Sent again"]])
    [second] = run_intake(inbox, outbox, as_of=AS_OF_DATE + dt.timedelta(days=1))
    return outbox, first, second


def test_a_re_sent_file_rejects_nothing_and_every_row_is_already_requested_naming_its_request(
        stores: tuple[Path, Path]) -> None:
    outbox, first, second = _resent(stores)
    earlier = {d["source"]["row"]: rid for rid, d in requests_of(outbox, first).items()}
    assert (second.rows, second.rejected, second.approved, second.referred, second.already_requested) == (3, 0, 0, 0, 3)
    lines = _lines(outbox, second)
    # The header is one row lower in the re-sent file.
    assert {r: (line["status"], line["request_id"]) for r, line in lines.items()} == {
        r + 1: ("already-requested", rid) for r, rid in earlier.items()}
    found = _findings(outbox, second, "already-requested")
    assert [(f["row"], f["severity"]) for f in found] == [("3", "info"), ("4", "info"), ("5", "info")]
    assert all(earlier[int(f["row"]) - 1] in f["message"] and first.batch_id in f["message"] for f in found)
    doc = manifest(outbox, second)
    assert (doc["rejected"], doc["already_requested"], doc["request_ids"]) == (0, 3, [])
    assert list(doc)[list(doc).index("rejected") + 1] == "already_requested"
    assert not requests_of(outbox, second)
    assert history.from_parquet((batch_dir(outbox, second) / "history.parquet").read_bytes(), "x").empty
    sheet = openpyxl.load_workbook(batch_dir(outbox, second) / "results.xlsx")["Already requested"]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][-2:] == ("Request ID", "Batch")
    assert [c[-2:] for c in cells[1:]] == [(earlier[r], first.batch_id) for r in sorted(earlier)]
    totals = report.build(report.load_manifests(Outbox(LocalStore(outbox)))).totals
    assert (totals.already_requested, totals.rejected) == (3, 0)


def test_a_first_manifest_counts_no_row_already_requested(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row()])
    [summary] = run_intake(inbox, outbox)
    assert manifest(outbox, summary)["already_requested"] == 0
    assert "Already requested" not in openpyxl.load_workbook(batch_dir(outbox, summary) / "results.xlsx").sheetnames


def test_the_outcome_e_mail_counts_the_rows_already_requested(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row()])
    run_intake(inbox, outbox)
    write_xlsx(inbox / "census-more.xlsx", [row(), row(ssn="234-56-7890")])
    run_intake(inbox, outbox)
    bodies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in
              sorted((outbox / "mail").glob("*.eml"))]
    texts = [str(m.get_body(("plain",)).get_content()) for m in bodies]  # type: ignore[union-attr]
    assert sum("1 already requested: an earlier file made these requests" in " ".join(t.split()) for t in texts) == 1


def test_a_changed_end_date_is_a_duplicate_request_on_that_row_only_pointing_to_an_extension(
        stores: tuple[Path, Path]) -> None:
    outbox, first, second = _resent(stores, {"assignment_end": D(2029, 6, 30)})
    lines = _lines(outbox, second)
    assert [lines[r]["status"] for r in (3, 4, 5)] == ["rejected", "already-requested", "already-requested"]
    assert lines[3]["codes"] == "duplicate-request"
    [finding] = _findings(outbox, second, "duplicate-request")
    assert finding["row"] == "3" and "extension" in finding["message"] and first.batch_id in finding["message"]
    assert "2028-12-31" in finding["message"]
    assert (second.rejected, second.already_requested) == (1, 2)


def test_an_extension_row_is_referred_as_an_extension_request(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row()])
    [first] = run_intake(inbox, outbox)
    write_xlsx(inbox / "extension.xlsx", [row(assignment_end=D(2029, 6, 30), request_type="Extension")])
    [second] = run_intake(inbox, outbox)
    line = _lines(outbox, second)[2]
    assert (line["status"], line["codes"]) == ("referred", "extension-request")
    [doc] = requests_of(outbox, second).values()
    assert doc["referral_reasons"] == ["extension-request"]
    assert doc["request_id"] == next(iter(requests_of(outbox, first)))


def test_a_new_row_of_an_unknown_request_type_is_rejected(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row(request_type="renewal")])
    [summary] = run_intake(inbox, outbox)
    assert _lines(outbox, summary)[2]["codes"] == "invalid-value"


# --- the template's edition ----------------------------------------------------------------------------------


def test_a_workbook_of_template_edition_2026_1_is_processed_with_outdated_template(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    path = write_xlsx(inbox / "old.xlsx", [row()], keys=[k for k in row() if k != "request_type"])
    wb = openpyxl.load_workbook(path)
    wb.custom_doc_props.append(StringProperty(name="coc-template-edition", value="2026.1"))
    wb.save(path)
    [summary] = run_intake(inbox, outbox)
    doc = manifest(outbox, summary)
    assert (doc["status"], doc["template_edition"], doc["approved"]) == ("processed", "2026.1", 1)
    [finding] = _findings(outbox, summary, "outdated-template")
    assert finding["severity"] == "warning" and "2026.2" in finding["message"]


# --- the registry --------------------------------------------------------------------------------------------


def test_request_ids_and_ssns_are_packed_into_integers_and_back_exactly() -> None:
    ids = ["COC-DE-ABCDEFGH23", "COC-ZZ-7777777777", "COC-AA-AAAAAAAAAA"]
    assert history.rid_texts(history.rid_keys(ids)) == ids
    assert history.ssn_keys(["123-45-6789", "001-01-0001"]).tolist() == [123456789, 1010001]



@pytest.mark.parametrize("dtype", [pd.StringDtype("pyarrow", na_value=np.nan), object])
def test_columns_of_arrow_text_or_objects_pack_as_their_lists_do(dtype: Any) -> None:
    ids = pd.Series(["COC-DE-ABCDEFGH23", "COC-XX-NOTPACKED", "COC-ZZ-7777777777", "COC-AA-AAAAAAAAAA"],
                    dtype=dtype)[[0, 2, 3]]  # a slice: the Arrow column's offset is not 0
    ssns = pd.Series(["000-00-0000", "123-45-6789", None, "001-01-0001"], dtype=dtype)
    assert history.rid_keys(ids).tolist() == history.rid_keys(ids.tolist()).tolist()
    assert history.ssn_keys(ssns[[1, 3]]).tolist() == [123456789, 1010001]
    # A value of another width, or a missing one, is read as the list of texts would be, not from the buffer.
    odd = pd.Series(["DE", "FRA", None], dtype=dtype)
    assert history.country_keys(odd).tolist() == history.country_keys(odd.to_numpy()).tolist()

def test_a_batch_s_history_file_holds_its_requests_readable_by_the_owner_only(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row(), row(ssn="234-56-7890", host_country="XX")])
    [summary] = run_intake(inbox, outbox)
    path = batch_dir(outbox, summary) / "history.parquet"
    assert path.stat().st_mode & 0o077 == 0
    frame = history.from_parquet(path.read_bytes(), summary.batch_id)
    [rid] = requests_of(outbox, summary)
    assert history.rid_texts(frame["rid"].to_numpy()) == [rid] and frame["ssn"].tolist() == [123456789]
    assert "123-45-6789" not in json.dumps(manifest(outbox, summary))


def test_a_batch_committed_before_history_files_keeps_its_request_ids(stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    write_xlsx(inbox / "census.xlsx", [row()])
    [first] = run_intake(inbox, outbox)
    (batch_dir(outbox, first) / "history.parquet").unlink()
    known = KnownRequests.load(Outbox(LocalStore(outbox)))
    assert next(iter(requests_of(outbox, first))) in known and len(known) == 1
    write_xlsx(inbox / "again.xlsx", [row()], title_rows=[["again"]])
    [second] = run_intake(inbox, outbox)
    # Its end date is not known: the same request again stays a duplicate, as before.
    assert _lines(outbox, second)[3]["codes"] == "duplicate-request"


def test_the_registry_looks_up_a_million_requests_by_merges(tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
    chars = letters[rng.integers(0, 32, size=(n, 10))]
    ids = (b"COC-DE-" + chars.view("S10").ravel()).astype("S17")
    start = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"))
    frame = pd.DataFrame({"rid": history.rid_keys(ids), "ssn": rng.integers(1_000_000, 899_999_999, n),
                          "country": np.full(n, history.country_keys(["DE"])[0], np.int16),
                          "start": start.to_numpy("datetime64[s]"), "end": (start + pd.Timedelta(days=300)).to_numpy(
                              "datetime64[s]"), "batch": history._batch_column("b" * 16, n)})
    data = history.to_parquet(frame)
    known = KnownRequests(history.from_parquet(data, "b" * 16))
    assert known.frame.memory_usage(deep=True).sum() < 60 * 1024 * 1024
    assert len(known.workers(frame["ssn"].to_numpy()[:100_000])) >= 100_000
    assert len(known.same_ids(frame["rid"].to_numpy()[-10:])) == 10
