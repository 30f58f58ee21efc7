"""Request IDs: a pure function of sponsor, SSN, host country and start date (SPEC §5)."""

from __future__ import annotations

import base64
import hashlib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from coc_intake.decide import request_id


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
