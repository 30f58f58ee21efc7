"""results.csv (docs/outputs.md#resultscsv-and-errorscsv) is joined by Arrow when no cell needs care; the same bytes
as the csv module either way."""

from __future__ import annotations

import pandas as pd
import pytest

from coc_intake import outputs
from coc_intake.engine import CheckedRows


def _outcome(rows: dict[int, tuple[str, str | None, list[str]]]) -> CheckedRows:
    frame = pd.DataFrame({"status": [r[0] for r in rows.values()],
                          "request_id": [r[1] for r in rows.values()],
                          "codes": [r[2] for r in rows.values()]}, index=list(rows))
    values = pd.DataFrame(index=list(rows))
    return CheckedRows(file="f.xlsx", findings=pd.DataFrame(), rows=frame, values=values)


def _by_csv_module(outcome: CheckedRows) -> bytes:
    rows = outcome.rows
    return outputs.csv_bytes(["row", "status", "request_id", "codes"],
                             zip(rows.index.tolist(), rows["status"].tolist(), rows["request_id"].tolist(),
                                 [";".join(c) for c in rows["codes"]], strict=True))


def test_results_csv_lists_row_status_request_id_and_codes_of_every_row() -> None:
    outcome = _outcome({2: ("approved", "COC-DE-AAAAAAAAAA", []),
                        3: ("rejected", None, ["invalid-ssn", "missing-value"]),
                        4: ("referred", "COC-IT-BBBBBBBBBB", ["italy-election-required", "far-future-start"])})
    assert outputs.results_csv(outcome) == (
        b"row,status,request_id,codes\n"
        b"2,approved,COC-DE-AAAAAAAAAA,\n"
        b"3,rejected,,invalid-ssn;missing-value\n"
        b"4,referred,COC-IT-BBBBBBBBBB,italy-election-required;far-future-start\n")
    assert outputs.results_csv(outcome) == _by_csv_module(outcome)


@pytest.mark.parametrize("awkward", ["=1+2", "-3", "+x", "@sum", "\tx", "a,b", 'say "hi"', "two\nlines", "cr\rx"])
def test_a_cell_that_needs_quoting_or_a_formula_guard_is_written_as_the_csv_module_does(awkward: str) -> None:
    outcome = _outcome({2: ("approved", "COC-DE-AAAAAAAAAA", [awkward]), 3: ("rejected", None, [])})
    text = outputs.results_csv(outcome)
    assert text == _by_csv_module(outcome)
    if awkward[0] in "=+-@\t":
        assert b"'" + awkward.encode() in text  # guarded: no spreadsheet runs it


def test_results_csv_of_an_outcome_without_rows_is_its_header() -> None:
    assert outputs.results_csv(_outcome({})) == b"row,status,request_id,codes\n"
