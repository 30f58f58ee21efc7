"""Finding the header row and mapping its columns to fields (docs/reading.md#sheet-header-row-columns)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from rapidfuzz import fuzz, process

from coc_intake import schemas
from coc_intake.findings import Finding
from coc_intake.read import column_letter

HEADER_SEARCH_ROWS = 20
#: Headers of the columns results.xlsx adds to its sheets of rows (``workbook.ROW_COLUMN``, ``MESSAGES_COLUMN``),
#: as compared (trimmed, any case): a header exactly one of these is skipped, unless it names a field.
ADDED_COLUMNS = frozenset({"row", "messages"})
#: A fuzzy match is taken only when it scores this well and clearly better than any other field.
FUZZY_MIN_SCORE = 85.0
FUZZY_MIN_MARGIN = 8.0
FUZZY_MIN_LENGTH = 4
#: Small words a header may add or drop: "Date of the assignment start" is "Assignment start date" reordered.
STOP_WORDS = frozenset({"a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "with", "from", "and", "per",
                        "as", "is"})
_WORD_BREAK = re.compile(r"[\s/_,;:()\[\]]+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


@dataclass
class HeaderMap:
    row: int
    """Sheet row number of the header."""
    columns: dict[str, int] = field(default_factory=dict)
    """Field key → 0-based column index."""
    ignored: list[int] = field(default_factory=list)
    """Columns skipped on purpose (the results workbook's added Row and Messages columns)."""
    findings: list[Finding] = field(default_factory=list)

    def required_found(self) -> int:
        return sum(1 for k in schemas.always_required() if k in self.columns)

    @property
    def letters(self) -> dict[str, str]:
        return {k: column_letter(i) for k, i in self.columns.items()}


@cache
def _exact() -> dict[str, str]:
    return {schemas.header_token(n): f.key for f in schemas.fields().values() for n in f.names()}


def _fuzzy(token: str) -> tuple[str, float] | None:
    if len(token) < FUZZY_MIN_LENGTH:
        return None
    exact = _exact()
    found = process.extract(token, list(exact), scorer=fuzz.ratio, limit=10)
    return _confident((exact[candidate], score) for candidate, score, _ in found)


def _confident(scores: Iterable[tuple[str, float]]) -> tuple[str, float] | None:
    """The field of the best (field, score), when it scores FUZZY_MIN_SCORE and leads every other field by
    FUZZY_MIN_MARGIN."""
    best_per_field: dict[str, float] = {}
    for key, score in scores:
        best_per_field[key] = max(best_per_field.get(key, 0.0), score)
    ranked = sorted(best_per_field.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < FUZZY_MIN_SCORE:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < FUZZY_MIN_MARGIN:
        return None
    return ranked[0]


def header_words(text: str) -> str:
    """A header's words in order of the alphabet, small words left out, each of its letters and digits only:
    "E-mail for confirmation" → "confirmation email"."""
    words = (_NOT_ALNUM.sub("", w) for w in _WORD_BREAK.split(text.casefold()))
    return " ".join(sorted(w for w in words if w and w not in STOP_WORDS))


@cache
def _by_words() -> tuple[list[str], list[str]]:
    """Every field name (key, label, aliases) as ``header_words``, and its field's key."""
    pairs = [(header_words(n), f.key) for f in schemas.fields().values() for n in f.names()]
    return [w for w, _ in pairs if w], [k for w, k in pairs if w]


def _reordered(text: str) -> tuple[str, float] | None:
    """A field name with its words in another order or with small words added or dropped; a typo within the words
    is allowed as in ``_fuzzy`` (the same score and margin, on the sorted words)."""
    words = header_words(text)
    if len(words.replace(" ", "")) < FUZZY_MIN_LENGTH:
        return None
    forms, keys = _by_words()
    found = process.extract(words, forms, scorer=fuzz.ratio, limit=10,
                            score_cutoff=FUZZY_MIN_SCORE - FUZZY_MIN_MARGIN)
    return _confident((keys[index], score) for _, score, index in found)


def map_header(row_number: int, cells: Sequence[tuple[int, str | None]]) -> HeaderMap:
    """Map one candidate header row: exact key/label/alias first, then a confident, unambiguous fuzzy match."""
    result = HeaderMap(row=row_number)
    labels = {k: f.label for k, f in schemas.fields().items()}
    exact: dict[str, list[int]] = {}
    fuzzy: list[tuple[int, str, str]] = []
    unknown: list[tuple[int, str]] = []
    for index, text in cells:
        if text is None or not text.strip():
            continue
        token = schemas.header_token(text)
        if token in _exact():
            exact.setdefault(_exact()[token], []).append(index)
        elif text.strip().casefold() in ADDED_COLUMNS:
            result.ignored.append(index)
        elif (match := _fuzzy(token) or _reordered(text)) is not None:
            fuzzy.append((index, match[0], text))
        else:
            unknown.append((index, text))
    for index, key, text in fuzzy:
        if key in exact:  # an exact header for the field wins over a guess
            unknown.append((index, text))
        else:
            exact.setdefault(key, []).append(index)
            letter = column_letter(index)
            result.findings.append(
                Finding.of("assumed-column", row=row_number, column=letter, field=key, value=text, label=labels[key])
            )
    for key, indexes in exact.items():
        result.columns[key] = indexes[0]
        if len(indexes) > 1:
            letters = ", ".join(column_letter(i) for i in indexes)
            result.findings.append(
                Finding.of("duplicate-column", row=row_number, column=column_letter(indexes[1]), field=key,
                           value=letters, columns=letters, label=labels[key])
            )
    for index, text in sorted(unknown):
        letter = column_letter(index)
        result.findings.append(
            Finding.of("unknown-column", row=row_number, column=letter, value=text)
        )
    return result


def finish(header: HeaderMap) -> HeaderMap:
    """Add a ``missing-column`` finding for every always-required field the header lacks."""
    labels = {k: f.label for k, f in schemas.fields().items()}
    for key in schemas.always_required():
        if key not in header.columns:
            header.findings.append(
                Finding.of("missing-column", row=header.row, field=key, label=labels[key])
            )
    return header


def detect(rows: Sequence[tuple[int, list[tuple[int, str | None]]]]) -> HeaderMap | None:
    """The first of the first 20 rows that maps at least half of the always-required fields."""
    needed = math.ceil(len(schemas.always_required()) / 2)
    for row_number, cells in rows[:HEADER_SEARCH_ROWS]:
        candidate = map_header(row_number, cells)
        if candidate.required_found() >= needed:
            return finish(candidate)
    return None
