"""Request IDs: a pure function of sponsor, SSN, host country and start date (docs/outputs.md#the-outbox)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from coc_intake.catalog import CATALOG
from coc_intake.decide import request_id
from coc_intake.engine import check_file


@settings(max_examples=200, database=None)
@given(st.text(max_size=12), st.from_regex(r"\d{3}-\d{2}-\d{4}", fullmatch=True),
       st.sampled_from(["DE", "GB", "CA", "IT"]), st.dates().map(lambda d: d.isoformat()))
def test_a_request_id_is_the_first_ten_base32_characters_of_the_sha256_of_its_parts(
        sponsor: str, ssn: str, country: str, start: str) -> None:
    rid = request_id(sponsor, ssn, country, start)
    digest = hashlib.sha256(f"{sponsor}|{ssn}|{country}|{start}".encode()).digest()
    assert rid == f"COC-{country}-{base64.b32encode(digest).decode()[:10]}"
    assert re.fullmatch(r"COC-[A-Z]{2}-[A-Z0-9]{10}", rid)


def test_a_request_id_changes_with_each_of_its_parts() -> None:
    base = request_id("12-3456789", "123-45-6789", "DE", "2027-01-01")
    assert base == request_id("12-3456789", "123-45-6789", "DE", "2027-01-01")
    others = {request_id("12-3456780", "123-45-6789", "DE", "2027-01-01"),
              request_id("12-3456789", "123-45-6780", "DE", "2027-01-01"),
              request_id("12-3456789", "123-45-6789", "FR", "2027-01-01"),
              request_id("12-3456789", "123-45-6789", "DE", "2027-01-02")}
    assert base not in others and len(others) == 4


def test_each_rows_codes_are_a_tuple_in_catalog_order_once_each_and_empty_for_a_row_without_findings() -> None:
    example = Path(__file__).parent.parent / "examples" / "acme-2027-assignments.xlsx"
    outcome = check_file(example.read_bytes(), example.name, dt.date(2026, 11, 25))
    codes = outcome.rows["codes"].tolist()
    order = list(CATALOG)
    assert all(isinstance(c, tuple) for c in codes)
    assert any(len(c) >= 2 for c in codes) and () in codes
    for row_codes in codes:
        assert list(row_codes) == sorted(set(row_codes), key=order.index)
    with_findings = set(outcome.findings["row"].dropna().astype(int))
    assert {row for row, c in zip(outcome.rows.index, codes, strict=True) if c} == with_findings
