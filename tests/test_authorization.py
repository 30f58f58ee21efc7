"""The account's authorization in the check of a file: rows for an employer (or a self-employed SSN) the submitting
account does not hold are rejected, ``not-authorized-for-employer``; the pre-check and intake share it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coc_intake import engine
from coc_intake.engine import CheckedRows, FileCheck, check_file
from coc_intake.sidecar import Authorization, SubmissionRecord
from coc_intake.states import RowStatus
from tests.builders import row, write_csv, write_xlsx
from tests.intake_helpers import AS_OF_DATE
from tests.test_messages import self_employed

CODE = "not-authorized-for-employer"
ACME = Authorization(frozenset({"12-3456789"}), frozenset())


def _checked(path: Path, authorization: Authorization | None) -> CheckedRows:
    outcome = check_file(path, path.name, AS_OF_DATE, authorization=authorization)
    assert isinstance(outcome, CheckedRows)
    return outcome


def _codes(outcome: CheckedRows) -> dict[int, tuple[str, ...]]:
    return dict(zip(outcome.rows.index.tolist(), map(tuple, outcome.rows["codes"].tolist()), strict=True))


def test_a_row_for_another_ein_is_rejected_and_the_others_are_approved(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "census.xlsx", [
        row(), row(ssn="234-56-7890", employer_ein="98-7654321"), row(ssn="345-67-8901")])
    outcome = _checked(path, ACME)
    assert outcome.rows["status"].tolist() == [RowStatus.APPROVED, RowStatus.REJECTED, RowStatus.APPROVED]
    assert _codes(outcome)[3] == (CODE,)
    [finding] = outcome.findings[outcome.findings["code"].eq(CODE)].to_dict("records")
    assert (finding["row"], finding["column"], finding["field"], finding["value"]) == (3, "A", "employer_ein",
                                                                                     "98-7654321")
    assert "EIN 98-7654321 (column A)" in finding["message"]
    assert "ask the administrator to add EIN 98-7654321 to your account" in finding["message"]


def test_without_an_authorization_every_employer_is_accepted(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "census.xlsx", [row(), row(ssn="234-56-7890", employer_ein="98-7654321")])
    outcome = _checked(path, None)
    assert outcome.rows["status"].tolist() == [RowStatus.APPROVED, RowStatus.APPROVED]
    assert not outcome.findings["code"].eq(CODE).any()


def test_an_unauthorized_row_keeps_its_other_findings(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "census.xlsx", [row(employer_ein="98-7654321", worksite_city=None)])
    outcome = _checked(path, ACME)
    assert set(_codes(outcome)[2]) == {CODE, "missing-value"}


def test_an_ein_that_could_not_be_read_is_rejected_for_that_only(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "census.xlsx", [row(employer_ein="12-345678")])
    assert _codes(_checked(path, ACME))[2] == ("invalid-ein",)


def test_a_self_employed_row_is_checked_against_the_accounts_ssn_shown_masked(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "self.csv", [self_employed(), self_employed(ssn="234-56-7890")])
    record = SubmissionRecord("a" * 32, "jane@smith.example", "2026-11-25T10:00:00+00:00", "self.csv", (),
                              ("123456789",))
    outcome = _checked(path, Authorization.of(record))
    assert outcome.rows["status"].tolist()[1] == RowStatus.REJECTED
    assert outcome.rows["status"].tolist()[0] != RowStatus.REJECTED
    [finding] = outcome.findings[outcome.findings["code"].eq(CODE)].to_dict("records")
    assert (finding["row"], finding["field"], finding["value"]) == (3, "ssn", "***-**-7890")
    assert "234-56-7890" not in finding["message"] and "234567890" not in finding["message"]
    assert "SSN ***-**-7890" in finding["message"]


def test_an_employee_row_of_a_self_employed_account_needs_the_ein(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "census.xlsx", [row()])
    only_ssn = Authorization(frozenset(), frozenset({"123456789"}))
    assert _codes(_checked(path, only_ssn))[2] == (CODE,)


def test_a_file_checked_in_parts_rejects_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [row(ssn=f"2{i // 99:02d}-{1 + i % 99:02d}-{1000 + i:04d}",
                employer_ein="98-7654321" if i % 7 == 0 else "12-3456789") for i in range(40)]
    path = write_xlsx(tmp_path / "census.xlsx", rows)
    monkeypatch.setattr(engine, "PART_ROWS", 10)
    with FileCheck(path, path.name, AS_OF_DATE, authorization=ACME) as check:
        parts = list(check.parts())
        outcome = check.outcome()
    assert len(parts) == 4
    assert isinstance(outcome, CheckedRows)
    rejected = outcome.rows.index[outcome.rows["status"].eq(RowStatus.REJECTED)].tolist()
    assert rejected == [2 + i for i in range(40) if i % 7 == 0]
    assert pd.concat([p.rows for p in parts])["status"].tolist() == outcome.rows["status"].tolist()
