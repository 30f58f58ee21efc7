"""Property tests of the cell parsers against python-stdnum and the accepted date forms
(docs/reading.md#rows, docs/fields.md)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.us import ein as stdnum_ein
from stdnum.us import ssn as stdnum_ssn

from coc_intake.normalize import blank_to_na, ein_value, is_blank, parse_dates, parse_ssn, ssn_is_valid

SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
#: The column parsers work on pandas Series (about 5 ms a call): fewer examples keep the file fast.
SERIES_SETTINGS = settings(SETTINGS, max_examples=100)
CANONICAL_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
EXCEL_EPOCH = dt.date(1899, 12, 30)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _digit_string(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


# Nine-digit SSNs, biased towards the edges of SSA's rules (area 000/666/9xx, group 00, serial 0000, blacklist).
ssn_digits = st.one_of(
    _digit_string(9),
    st.builds(
        lambda a, g, s: a + g + s,
        st.one_of(st.sampled_from(["000", "666", "900", "999", "078", "457", "219", "001", "665", "667", "899"]),
                  _digit_string(3)),
        st.one_of(st.sampled_from(["00", "01", "05", "09", "55", "99"]), _digit_string(2)),
        st.one_of(st.sampled_from(["0000", "0001", "1120", "5462", "9999"]), _digit_string(4)),
    ),
    st.sampled_from(["078051120", "457555462", "219099999"]),
)


def _canonical(nine: str) -> str:
    return f"{nine[:3]}-{nine[3:5]}-{nine[5:]}"


def _ssn(text: str) -> tuple[str | None, bool, bool]:
    canonical, restored, invalid = parse_ssn(pd.Series([text], dtype="str"))
    value = canonical.iloc[0]
    return (None if pd.isna(value) else str(value)), bool(restored.iloc[0]), bool(invalid.iloc[0])


# --- SSN -----------------------------------------------------------------------------------------------------


@SERIES_SETTINGS
@given(nine=ssn_digits, style=st.sampled_from(["hyphens", "spaces", "none"]))
def test_ssn_validity_agrees_with_stdnum_in_every_accepted_format(nine: str, style: str) -> None:
    text = {"hyphens": _canonical(nine), "spaces": f"{nine[:3]} {nine[3:5]} {nine[5:]}", "none": nine}[style]
    expected = stdnum_ssn.is_valid(nine)
    assert ssn_is_valid(text) == expected
    value, restored, invalid = _ssn(text)
    assert invalid == (not expected)
    assert restored is False
    assert value == (_canonical(nine) if expected else None)


@SERIES_SETTINGS
@given(short=st.one_of(_digit_string(7), _digit_string(8)))
def test_ssn_of_7_or_8_digits_is_zero_padded_and_flagged_restored(short: str) -> None:
    padded = short.zfill(9)
    expected = stdnum_ssn.is_valid(padded)
    value, restored, invalid = _ssn(short)
    assert invalid == (not expected)
    if expected:
        assert value == _canonical(padded)
        assert restored is True
    else:
        assert value is None
        assert restored is False


@SERIES_SETTINGS
@given(text=st.one_of(st.text(max_size=20), st.text(alphabet="0123456789 -", max_size=14)))
def test_ssn_canonical_output_is_always_nnn_nn_nnnn_and_never_raises(text: str) -> None:
    value, restored, invalid = _ssn(text)
    if value is None:
        assert invalid is True
        assert restored is False
    else:
        assert CANONICAL_SSN.fullmatch(value)
        assert invalid is False
        assert stdnum_ssn.is_valid(value)


def test_ssn_examples_from_the_spec() -> None:
    assert _ssn("123-45-6789") == ("123-45-6789", False, False)
    assert _ssn("123456789") == ("123-45-6789", False, False)
    assert _ssn("123 45 6789") == ("123-45-6789", False, False)
    assert _ssn("1234567") == ("001-23-4567", True, False)
    assert _ssn("12345678") == ("012-34-5678", True, False)
    for bad in ("000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "078-05-1120",
                "123456", "1234567890", "12-345-6789", "abc-de-fghi"):
        assert _ssn(bad)[0] is None, bad
        assert _ssn(bad)[2] is True, bad


# --- EIN -----------------------------------------------------------------------------------------------------


@SETTINGS
@given(nine=_digit_string(9), hyphen=st.booleans())
def test_ein_agrees_with_stdnum_for_nine_digits(nine: str, hyphen: bool) -> None:
    text = f"{nine[:2]}-{nine[2:]}" if hyphen else nine
    value, flag = ein_value(text)
    if stdnum_ein.is_valid(nine):
        assert value == f"{nine[:2]}-{nine[2:]}"
    else:
        assert value is None
    assert flag is None


@SETTINGS
@given(prefix=st.sampled_from(["01", "02", "03", "04", "05", "06", "07", "08", "09", "00"]), rest=_digit_string(7))
def test_ein_agrees_with_stdnum_for_prefixes_starting_with_zero(prefix: str, rest: str) -> None:
    nine = prefix + rest
    value, _ = ein_value(nine)
    assert (value is not None) == stdnum_ein.is_valid(nine)


@SETTINGS
@given(eight=_digit_string(8))
def test_ein_of_8_digits_is_zero_padded_and_flagged(eight: str) -> None:
    padded = "0" + eight
    value, flag = ein_value(eight)
    if stdnum_ein.is_valid(padded):
        assert value == f"{padded[:2]}-{padded[2:]}"
        assert flag == "restored"
    else:
        assert value is None


@SETTINGS
@given(text=st.text(max_size=15))
def test_ein_never_raises_and_output_is_canonical(text: str) -> None:
    value, flag = ein_value(text)
    assert flag in (None, "restored")
    if value is not None:
        assert re.fullmatch(r"\d{2}-\d{7}", value)
        assert stdnum_ein.is_valid(value)


# --- dates ---------------------------------------------------------------------------------------------------

dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
# Excel's serials follow the 1899-12-30 epoch only from 1900-03-01 (Excel counts a 1900-02-29 that never was).
serial_dates = st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 12, 31))


def _parsed(texts: list[str]) -> list[dt.date | None]:
    out = parse_dates(pd.Series(texts, dtype="str"))
    assert len(out) == len(texts)
    return [None if pd.isna(v) else pd.Timestamp(v).date() for v in out]


def _renderings(d: dt.date) -> list[str]:
    return [
        d.isoformat(),
        f"{d.month:02d}/{d.day:02d}/{d.year}",
        f"{d.month}/{d.day}/{d.year}",
        f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}",
        f"{d.day}-{MONTHS[d.month - 1]}-{d.year}",
        f"{d.isoformat()} 00:00:00",
    ]


@SERIES_SETTINGS
@given(d=dates)
def test_every_accepted_text_rendering_of_a_date_parses_back_to_it(d: dt.date) -> None:
    texts = _renderings(d)
    assert _parsed(texts) == [d] * len(texts)


@SERIES_SETTINGS
@given(d=serial_dates)
def test_excel_serial_of_a_date_parses_back_to_it(d: dt.date) -> None:
    serial = (d - EXCEL_EPOCH).days
    assert _parsed([str(serial), f"{serial}.0", f"{serial}.5"]) == [d, d, d]


@SERIES_SETTINGS
@given(d=dates.filter(lambda d: d.day > 12))
def test_day_month_swapped_forms_with_day_over_12_never_parse(d: dt.date) -> None:
    swapped = [
        f"{d.day:02d}/{d.month:02d}/{d.year}",
        f"{d.day}/{d.month}/{d.year}",
        f"{d.year}-{d.day:02d}-{d.month:02d}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{d.year}/{d.month:02d}/{d.day:02d}",
    ]
    assert _parsed(swapped) == [None] * len(swapped)


@SERIES_SETTINGS
@given(text=st.one_of(st.text(max_size=25), st.text(alphabet="0123456789/-. :", max_size=20)))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = _parsed([text, "2027-01-13"])
    assert result[1] == dt.date(2027, 1, 13)
    assert result[0] is None or isinstance(result[0], dt.date)


def test_date_examples_from_the_spec() -> None:
    assert _parsed(["2027-01-13", "01/13/2027", "1/13/2027", "13-Jan-2027", "46400"]) == [dt.date(2027, 1, 13)] * 5
    assert _parsed(["13/01/2027", "2027/01/13", "1.2.2027", "02/30/2027", "", "Jan 13 2027"]) == [None] * 6


@SERIES_SETTINGS
@given(st.lists(st.none() | st.text(alphabet=st.sampled_from(" \t\n\r\u00a0\u2003\u3000\u200bxY.0"), max_size=4),
                min_size=1, max_size=20))
def test_blank_row_detection_agrees_with_the_blank_to_missing_rule(cells: list[str | None]) -> None:
    raw = pd.Series(cells, dtype="str")
    assert is_blank(raw).tolist() == blank_to_na(raw).isna().tolist()
