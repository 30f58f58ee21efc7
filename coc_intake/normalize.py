"""Parsing the text cells into typed columns (docs/fields.md), recording every cell that does not parse.

Each parser works on a whole column: vectorized where the values are mostly unique (SSNs, dates), over the
distinct values where they repeat (countries, names, e-mail addresses). A cell that was typed but does not parse
becomes null in the typed frame and one finding here; validation (``coc_intake.validate``) never sees it as
missing, because it reads the ``given`` mask.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email
from stdnum.us import ein as stdnum_ein

from coc_intake import agreements, countries, schemas
from coc_intake.findings import Findings

USPS_STATES = frozenset(
    [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV",
        "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN",
        "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "PR", "VI", "GU", "AS", "MP",
    ]
)
#: python-stdnum's list of SSNs that were published and may never be used (stdnum.us.ssn).
SSN_BLACKLIST = frozenset({"078051120", "457555462", "219099999"})
_NAME = re.compile(r"[^\W\d_]+(?:[ '’.\-]*[^\W\d_]+)*\.?")
_LETTER = re.compile(r"[^\W\d_]")
_YES = {"y": "Y", "yes": "Y", "true": "Y", "n": "N", "no": "N", "false": "N"}
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_MAX_SERIAL = 2_958_465  # 9999-12-31


@dataclass
class Parsed:
    """The typed frame (one column per field) and which cells were typed at all."""

    values: pd.DataFrame
    given: pd.DataFrame


def blank_to_na(raw: pd.Series) -> pd.Series:
    """The cells' text without surrounding spaces; blank cells (empty or spaces only) as missing."""
    stripped = raw.astype("str").str.strip()
    return stripped.where(stripped != "", None)


def is_blank(raw: pd.Series) -> pd.Series:
    """Where ``blank_to_na`` gives missing, found without building the stripped texts (a million rows × 28 cells)."""
    return pd.Series(blank_mask(raw), index=raw.index)


def blank_mask(raw: pd.Series) -> np.ndarray:
    """``is_blank`` as a boolean array. A column of Arrow text (as the reader gives every cell) is looked at by
    Arrow's kernels directly, the same ones pandas would call, without pandas' set-up around each of its six
    steps: ~0.7 ms a column, 28 columns of every small file."""
    if isinstance(raw.array, pd.arrays.ArrowStringArray):
        text = pa.array(raw.array)
        blank = pc.or_kleene(pc.equal(pc.utf8_length(text), 0), pc.utf8_is_space(text))
        return np.asarray(pc.fill_null(blank, True).to_numpy(zero_copy_only=False), dtype=bool)
    text = raw.astype("str")
    return np.asarray((text.isna() | text.eq("") | text.str.isspace()).fillna(True), dtype=bool)


def _over_unique(raw: pd.Series, fn: Callable[[str], Any]) -> pd.Series:
    """Apply ``fn`` once per distinct value; the result is an object Series aligned with ``raw``."""
    return _over_unique_parts(raw, lambda v: (fn(v),), 1)[0]


def _over_unique_parts(raw: pd.Series, fn: Callable[[str], tuple[Any, ...]], width: int) -> list[pd.Series]:
    """Apply ``fn`` (returning ``width`` parts) once per distinct value: one object Series per part. A blank
    cell gives None in every part."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    results = [fn(u) for u in uniques]
    parts = []
    for i in range(width):
        column = np.empty(len(uniques) + 1, dtype=object)
        column[:-1] = [r[i] for r in results]
        column[-1] = None  # code -1 (a blank cell) picks the last slot
        parts.append(pd.Series(column[codes], index=raw.index, dtype=object))
    return parts


# --- individual parsers: value → (typed value | None, problem code | None, extra params) ------------------


def parse_ssn(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Canonical ``NNN-NN-NNNN``, the rows whose zeros were restored, the rows that are invalid."""
    text = raw.astype("str")
    pattern = text.str.fullmatch(r"\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9}").fillna(False).astype(bool)
    short = text.str.fullmatch(r"\d{7,8}").fillna(False).astype(bool)
    digits = text.str.replace(r"[ \-]", "", regex=True).where(pattern | short)
    digits = digits.str.zfill(9)
    area, group, serial = digits.str.slice(0, 3), digits.str.slice(3, 5), digits.str.slice(5, 9)
    ok = (
        digits.notna()
        & (area != "000") & (area != "666") & ~area.str.startswith("9").fillna(True).astype(bool)
        & (group != "00") & (serial != "0000") & ~digits.isin(SSN_BLACKLIST)
    ).fillna(False).astype(bool)
    canonical = (area + "-" + group + "-" + serial).where(ok)
    invalid = raw.notna() & ~ok
    return canonical, short & ok, invalid


def ssn_is_valid(text: str) -> bool:
    """The column rule for one value (used by the property tests to compare with python-stdnum)."""
    canonical, _, invalid = parse_ssn(pd.Series([text], dtype="str"))
    return bool(canonical.notna().iloc[0]) and not bool(invalid.iloc[0])


def ein_value(text: str) -> tuple[str | None, str | None]:
    """(canonical NN-NNNNNNN or None, None | 'restored')."""
    restored = None
    if re.fullmatch(r"\d{8}", text):
        text, restored = "0" + text, "restored"
    if not re.fullmatch(r"\d{2}-?\d{7}", text):
        return None, None
    digits = text.replace("-", "")
    if not stdnum_ein.is_valid(digits):
        return None, None
    return f"{digits[:2]}-{digits[2:]}", restored


def zip_value(text: str) -> tuple[str | None, str | None]:
    match = re.fullmatch(r"(\d{3,5})(-\d{4})?", text)
    if not match:
        return None, None
    head, tail = match.group(1), match.group(2) or ""
    return head.zfill(5) + tail, ("restored" if len(head) < 5 else None)


def parse_dates(raw: pd.Series) -> pd.Series:
    """The date forms of docs/reading.md#rows only; anything else (or an impossible date) is NaT. Never guessed in
    another order."""
    text = raw.astype("str")
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[s]")
    forms = [
        (r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}(?:\.\d+)?)?", "%Y-%m-%d", 10),
        (r"\d{1,2}/\d{1,2}/\d{4}", "%m/%d/%Y", None),
        (r"\d{1,2}-[A-Za-z]{3}-\d{4}", "%d-%b-%Y", None),
    ]
    # The forms exclude each other, so each is looked for only in the cells no earlier form matched (nearly all
    # cells of a census match the first).
    rest = text[text.notna()]
    for pattern, fmt, cut in forms:
        hit = rest.str.fullmatch(pattern).fillna(False).astype(bool)
        if hit.any():
            part = rest[hit].str.slice(0, cut) if cut else rest[hit]
            out[part.index] = pd.to_datetime(part, format=fmt, errors="coerce").astype("datetime64[s]")
            rest = rest[~hit]
    serial = rest.str.fullmatch(r"\d{1,7}(?:\.\d+)?").fillna(False).astype(bool)
    if serial.any():
        days = pd.to_numeric(rest[serial], errors="coerce")
        days = days.where((days >= 1) & (days <= _MAX_SERIAL))
        out[days.index] = (_EXCEL_EPOCH + pd.to_timedelta(np.floor(days), unit="D")).astype("datetime64[s]")
    return out


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_NUMERIC_DATE = re.compile(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")
_WORDED_DATE = [
    re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[ .\-/]*(?P<m>[A-Za-z]{3,9})\.?,?[ .\-/]*(?P<y>\d{2,4})"),
    re.compile(r"(?P<m>[A-Za-z]{3,9})\.?[ .\-/]*(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[ .\-/]*(?P<y>\d{2,4})"),
]


def _day(year: int, month: int, day: int) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(year=year, month=month, day=day)
    except ValueError:
        return None


def _month_of(word: str) -> int | None:
    folded = word.casefold()
    for number, abbreviation in enumerate(_MONTHS, 1):
        if folded.startswith(abbreviation) and pd.Timestamp(2000, number, 1).month_name().casefold().startswith(
                folded):
            return number
    return None


def date_hint(text: str) -> tuple[str, str]:
    """Why a cell that is no date in an accepted form was refused, and the fix: (``why``, ``fix``) of the
    ``invalid-date`` message (docs/decisions.md, "Suggesting a date").

    A date is suggested only when the text can be read as exactly one day: a four-digit year, a month named in
    words, or a first number over 12 (which cannot be a month). '23/11/1979' can only be 23 November and is
    suggested as 1979-11-23; '05/06/1979' is never guessed either way, and a two-digit year never gets a century.
    """
    numeric = _NUMERIC_DATE.fullmatch(text)
    if numeric:
        a, b, c = numeric.groups()
        if len(a) == 4:
            year, first, second, year_first = int(a), int(b), int(c), True
        elif len(c) in (2, 4) and len(a) <= 2:
            year, first, second, year_first = int(c), int(a), int(b), False
        else:
            return "", ""
        if len(c) == 2 and not year_first:
            problem = "two-digit years are not accepted"
            if first > 12 >= second:
                problem = "day-first dates and two-digit years are not accepted"
            return f" ({problem})", "; write the year in full"
        month_first, day_first = _day(year, first, second), _day(year, second, first)
        if year_first and month_first is not None:  # a year first is always followed by the month (ISO order)
            return "", f"; for {_spelled(month_first)} write {month_first.date().isoformat()}"
        readings = {d for d in (month_first, day_first) if d is not None}
        if month_first is not None and day_first is not None and month_first != day_first:
            return f" (it could be {_spelled(month_first)} or {_spelled(day_first)})", ""
        if not readings:
            return " (there is no such day)", ""
        [only] = readings
        why = " (day-first dates are not accepted)" if only == day_first and not year_first else ""
        return why, f"; for {_spelled(only)} write {only.date().isoformat()}"
    for pattern in _WORDED_DATE:
        worded = pattern.fullmatch(text)
        if worded:
            month = _month_of(worded["m"])
            if month is None:
                return "", ""
            if len(worded["y"]) != 4:
                return " (two-digit years are not accepted)", "; write the year in full"
            day = _day(int(worded["y"]), month, int(worded["d"]))
            if day is None:
                return " (there is no such day)", ""
            return "", f"; for {_spelled(day)} write {day.date().isoformat()}"
    return "", ""


def _spelled(day: pd.Timestamp) -> str:
    return f"{day.day} {day.month_name()} {day.year}"


def name_ok(text: str, max_length: int) -> bool:
    return len(text) <= max_length and _NAME.fullmatch(text) is not None


def countries_value(text: str) -> str | None:
    """``US;IT`` from 'United States; Italy'; None when any part is no country."""
    parts = [p for p in (s.strip() for s in text.split(";")) if p]
    codes = [countries.to_alpha2(p) for p in parts]
    if not codes or any(c is None for c in codes):
        return None
    return ";".join(dict.fromkeys(c for c in codes if c))


def email_value(text: str) -> tuple[str | None, str | None]:
    try:
        return validate_email(text, check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return None, str(exc).rstrip(".")


def enum_value(field: schemas.Field, text: str) -> str | None:
    folded = text.strip().casefold()
    for v in field.values:
        if v.casefold() == folded:
            return v
    for alias, v in field.value_aliases:
        if alias.casefold() == folded:
            return v
    return None


# --- the frame -------------------------------------------------------------------------------------------


#: From how many rows the fields are typed two at a time.
POOLED_ROWS = 1_000


def normalize(raw: pd.DataFrame, out: Findings) -> Parsed:
    """Type every field of ``raw`` (text cells keyed by field, indexed by sheet row); findings go to ``out``."""
    fields = schemas.fields()
    index = raw.index
    given: dict[Hashable, Any] = {}
    blanked: dict[str, pd.Series] = {}
    typed: dict[str, pd.Series] = {}

    # Fields are typed two at a time: most of the work is in Arrow kernels, which release the GIL. Each field's
    # findings are collected apart and added in the dictionary's order, as if typed one after the other.
    def one(key: str) -> tuple[pd.Series, pd.Series, pd.Series | None, Findings]:
        column = blank_to_na(raw[key]) if key in raw else pd.Series(None, index=index, dtype="str")
        found = out.empty_like()
        bounded = _within_length(key, fields[key], column, found)
        return column, bounded, _type_column(key, fields[key], bounded, found), found

    with contextlib.ExitStack() as stack:
        # A small frame's fields cost less than starting and joining the threads.
        pool = stack.enter_context(ThreadPoolExecutor(2, thread_name_prefix="normalize")) \
            if len(index) >= POOLED_ROWS else None
        each = pool.map(one, fields) if pool is not None else map(one, fields)
        for key, (column, bounded, typed_column, found) in zip(fields, each, strict=True):
            # A cell cut for its length was typed: it is reported as too long, never as missing.
            given[key] = column.notna().to_numpy()
            blanked[key] = bounded
            out.extend(found)
            if typed_column is not None:
                typed[key] = typed_column

    typed.update(_host_and_region(blanked["host_country"], blanked["worksite_region"], out))
    frame = pd.DataFrame(typed, index=index)
    return Parsed(values=frame[[k for k in fields if k in frame] + ["agreement", "host_territory"]],
                  given=pd.DataFrame(given, index=index))


def _type_column(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series | None:
    """One field's typed column (None for the host and region, typed together); its findings go to ``out``."""
    parser = _PARSERS.get(field.type)
    if parser is None:  # pragma: no cover - the types are closed
        raise ValueError(f"unknown field type {field.type!r} for {key}")
    return parser(key, field, column, out)


def _within_length(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    """``column`` without the cells longer than the field's limit (docs/fields.md), each reported once here.

    Every field has a limit, so a pasted document (a cell may hold megabytes in a crafted workbook) reaches no
    parser, fuzzy country match or request document, and its finding says how long the cell may be.
    """
    limit = field.length_limit
    # A cell has at least as many bytes as characters: when no cell has more bytes than the limit (nearly every
    # file), no cell is too long, and the characters need not be counted.
    if _most_bytes(column) <= limit:
        return column
    too_long = (column.str.len() > limit).fillna(False).astype(bool)
    code, params = _too_long(field)
    if field.type == "initial":  # 'J.' or 'John': the fix names the letter
        out.add(code, key, column.index[too_long], column[too_long], [_initial_params(v) for v in column[too_long]])
    else:
        out.add(code, key, column.index[too_long], column[too_long], params)
    return column.where(~too_long)


def _most_bytes(column: pd.Series) -> int:
    """The longest cell's length in UTF-8 bytes (0 when all are blank), read from Arrow's string offsets: a
    tenth of the time of counting characters over a million cells."""
    longest = pc.max(pc.binary_length(pa.array(column.array))).as_py()
    return int(longest or 0)


def _too_long(field: schemas.Field) -> tuple[str, dict[str, object]]:
    """The finding of a cell over the field's limit: the code its rule uses for a bad value (a name's own code
    keeps names' messages as they were), and a limit that is always a number."""
    limit = field.length_limit
    if field.type == "initial":
        return "invalid-name", _INITIAL
    if field.type == "name":
        return "invalid-name", {**_name_params(limit), "kind": "a valid name (it is too long)"}
    if field.type == "text":
        return "invalid-value", {"allowed": f"it is too long; use 1 to {limit:,} characters"}
    return "invalid-value", {"allowed": f"it is too long; use at most {limit:,} characters"}


#: The ``invalid-name`` parameters of a middle initial: one letter, and never a period (its own wording).
_INITIAL: dict[str, object] = {
    "kind": "a middle initial", "accepted": "Enter one letter, without a period (J), or leave the cell blank"}


def _name_params(max_length: int) -> dict[str, object]:
    return {"kind": "a valid name",
            "accepted": f"Use letters, spaces, hyphens, apostrophes and periods, 1 to {max_length:,} characters "
                        "(O'Brien-Smith Jr.)"}


def _initial_params(text: str) -> dict[str, object]:
    """A middle initial's fix: its letter when the cell holds one letter with a period ('J.') or one middle name
    ('John'); never for several letters in capitals ('AB', two initials?) or several words."""
    if re.fullmatch(r"[^\W\d_]\.", text) or (text.isalpha() and not text.isupper()):
        return {**_INITIAL, "accepted": f"Enter one letter, without a period: write {text[0].upper()}"}
    return _INITIAL


# --- one parser per field type: (key, field, stripped column, findings) → typed column ----------------------


def _parse_text(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    # Its only rule, the length, was applied to every field (``_within_length``).
    return column


def _parse_name(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    max_length = field.max_length or 40
    ok = _over_unique(column, lambda v: name_ok(v, max_length))
    bad = column.notna() & (ok != True)  # noqa: E712 - object Series of bools
    out.add("invalid-name", key, column.index[bad], column[bad], _name_params(max_length))
    return column.where(~bad)


def _parse_initial(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    ok = _over_unique(column, lambda v: _LETTER.fullmatch(v) is not None)
    bad = column.notna() & (ok != True)  # noqa: E712 - object Series of bools
    out.add("invalid-name", key, column.index[bad], column[bad], list(_over_unique(column[bad], _initial_params)))
    return column.where(~bad)


def _parse_ssn(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    canonical, restored, invalid = parse_ssn(column)
    out.add("invalid-ssn", key, column.index[invalid], column[invalid])
    out.add("ssn-zeros-restored", key, column.index[restored], column[restored],
            [{"fixed": "***-**-" + v[-4:]} for v in canonical[restored]])
    return canonical


def _parse_ein(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    return _with_zeros_restored("ein", ein_value, key, column, out)


def _parse_zip(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    return _with_zeros_restored("zip", zip_value, key, column, out)


def _with_zeros_restored(kind: str, value_of: Callable[[str], tuple[str | None, str | None]], key: str,
                         column: pd.Series, out: Findings) -> pd.Series:
    """A code whose leading zeros a spreadsheet may have dropped: restored ones are reported, not rejected."""
    value, flag = _over_unique_parts(column, value_of, 2)
    bad = column.notna() & value.isna()
    out.add(f"invalid-{kind}", key, column.index[bad], column[bad])
    fixed = flag.eq("restored").fillna(False).astype(bool)
    out.add(f"{kind}-zeros-restored", key, column.index[fixed], column[fixed],
            [{"fixed": v} for v in value[fixed]])
    return value.astype("str").where(value.notna())


def _parse_state(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    upper = column.str.upper()
    bad = column.notna() & ~upper.isin(USPS_STATES)
    out.add("invalid-value", key, column.index[bad], column[bad],
            {"allowed": "use the USPS two-letter code of a state, DC, PR, VI, GU, AS or MP"})
    return upper.where(~bad)


def _parse_date(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    dates = parse_dates(column)
    bad = column.notna() & dates.isna()
    why, fix = _over_unique_parts(column[bad], date_hint, 2)
    out.add("invalid-date", key, column.index[bad], column[bad],
            [{"why": w, "fix": f} for w, f in zip(why, fix, strict=True)])
    return dates


#: What else a country field accepts, after the ISO code and the English name (the ``also`` of ``invalid-country``):
#: only a citizenship takes several countries, only the host the country's own name and the territories.
_COUNTRY_ALSO = {
    "country": "",
    "countries": "; separate several citizenships with ';' (US; IT)",
    "host": "; the country's own name (Deutschland) and the territories of the agreements (Guadeloupe) are read too",
}


def _parse_country(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    return _as_country_codes(countries.to_alpha2, countries.suggest, key, column, "country", out)


def _parse_countries(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    return _as_country_codes(countries_value, countries.suggest_many, key, column, "countries", out)


def _as_country_codes(code_of: Callable[[str], str | None], suggest: Callable[[str], str | None], key: str,
                      column: pd.Series, kind: str, out: Findings) -> pd.Series:
    iso = _over_unique(column, code_of)
    bad = column.notna() & iso.isna()
    _add_invalid_countries(key, column[bad], suggest, kind, out)
    return iso.astype("str").where(iso.notna())


def _add_invalid_countries(key: str, bad: pd.Series, suggest: Callable[[str], str | None], kind: str,
                           out: Findings) -> None:
    """``invalid-country`` for each cell of ``bad``, naming the closest country when one is clearly closest; the
    suggestion is looked for once per distinct value, and only among the values that are no country. What else
    the field accepts depends on its ``kind`` (``_COUNTRY_ALSO``)."""
    if bad.empty:
        return
    closest = _over_unique(bad, suggest)
    also = _COUNTRY_ALSO[kind]
    out.add("invalid-country", key, bad.index, bad,
            [{"suggestion": f" (did you mean {c}?)" if c else "", "also": also} for c in closest])


def _parse_enum(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    value = _over_unique(column, lambda v: enum_value(field, v))
    bad = column.notna() & value.isna()
    out.add("invalid-value", key, column.index[bad], column[bad],
            {"allowed": "use one of " + ", ".join(field.values)})
    if field.default is not None:
        value = value.where(column.notna(), field.default)
    return value.astype("str").where(value.notna())


def _parse_yesno(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    value = column.str.casefold().map(_YES)
    bad = column.notna() & value.isna()
    out.add("invalid-value", key, column.index[bad], column[bad], {"allowed": "use Y or N"})
    return value.astype("str").where(value.notna())


def _parse_email(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> pd.Series:
    value, reason = _over_unique_parts(column, email_value, 2)
    bad = column.notna() & value.isna()
    out.add("invalid-email", key, column.index[bad], column[bad], [{"reason": r} for r in reason[bad]])
    return value.astype("str").where(value.notna())


def _typed_with_the_other(key: str, field: schemas.Field, column: pd.Series, out: Findings) -> None:
    """The host and the region are typed together (``_host_and_region``): Quebec and the Canadian region pick the
    agreement."""
    return None


_Parser = Callable[[str, schemas.Field, pd.Series, Findings], pd.Series | None]
_PARSERS: dict[str, _Parser] = {
    "text": _parse_text,
    "name": _parse_name,
    "initial": _parse_initial,
    "ssn": _parse_ssn,
    "ein": _parse_ein,
    "zip": _parse_zip,
    "state": _parse_state,
    "date": _parse_date,
    "country": _parse_country,
    "countries": _parse_countries,
    "enum": _parse_enum,
    "yesno": _parse_yesno,
    "email": _parse_email,
    "host": _typed_with_the_other,
    "region": _typed_with_the_other,
}


def _host_and_region(host: pd.Series, region: pd.Series, out: Findings) -> dict[str, pd.Series]:
    def parts(text: str) -> tuple[Any, ...]:
        h = countries.resolve_host(text)
        return (True, h.alpha2, h.status, h.agreement, h.territory, h.quebec) if h else (None,) * 6

    found, alpha2, status, agreement, territory, quebec = _over_unique_parts(host, parts, 6)
    territory = territory.fillna(False).astype(bool)
    quebec = quebec.fillna(False).astype(bool)
    bad = host.notna() & found.isna()
    _add_invalid_countries("host_country", host[bad], countries.suggest, "host", out)
    for code in ("no-agreement", "not-abroad"):
        hit = status.eq(code).fillna(False).astype(bool)
        out.add(code, "host_country", host.index[hit], [countries.name_of(a) for a in alpha2[hit]])

    canonical = region.astype(object).copy()
    region_bad = pd.Series(False, index=region.index)
    gb = agreement.eq("GB").fillna(False).astype(bool) & ~territory & region.notna()
    if gb.any():
        names = {countries.fold(n): n for n in agreements.all_agreements()["GB"].worksite_regions}
        mapped = region[gb].map(lambda v: names.get(countries.fold(v)))
        canonical[gb] = mapped
        region_bad[gb] = mapped.isna()
    ca = agreement.isin(["CA", "CA-QC"]).fillna(False).astype(bool) & region.notna()
    if ca.any():
        mapped = region[ca].map(lambda v: countries.canada_regions().get(countries.fold(v)))
        canonical[ca] = mapped
        region_bad[ca] = mapped.isna()
    canonical = canonical.where(~(quebec & region.isna()), "QC")
    agreement = agreement.where(~(agreement.eq("CA") & canonical.eq("QC")).fillna(False).astype(bool), "CA-QC")
    # An explicit non-Quebec province with host 'Quebec' contradicts itself.
    clash = quebec & region.notna() & canonical.notna() & canonical.ne("QC").fillna(False).astype(bool)
    region_bad |= clash
    allowed = {
        "GB": "use England, Scotland, Wales or Northern Ireland",
        "CA": "use the province or territory code, such as ON, BC or QC",
        "CA-QC": "use QC (the host is Quebec)",
    }
    out.add("invalid-value", "worksite_region", region.index[region_bad], region[region_bad],
            [{"allowed": allowed.get(str(a), "")} for a in agreement[region_bad]])
    return {
        "host_country": alpha2.astype("str").where(alpha2.notna()),
        "worksite_region": canonical.where(~region_bad).astype("str").where(canonical.notna() & ~region_bad),
        "agreement": agreement.astype("str").where(agreement.notna()),
        "host_territory": territory,
    }
