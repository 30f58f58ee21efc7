"""From a file to decided rows: read → map headers → normalize → validate → decide.

This is the whole employer's pre-check (``coc validate``) and the core of the nightly intake; it writes nothing.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import ClassVar, Literal, TypeAlias

import pandas as pd

import schemas
from coc_intake import countries, headers
from coc_intake.decide import EarlierRows, decide
from coc_intake.errors import FileRejected
from coc_intake.findings import Finding, Findings, frame_of, sort_key
from coc_intake.limits import DEFAULT_LIMITS, Limits
from coc_intake.normalize import is_blank, normalize
from coc_intake.read import Grid, SheetSource, column_letter, iter_rows, open_source, source_size
from coc_intake.states import FileResult, RowStatus
from coc_intake.timing import stage


@dataclass(kw_only=True)
class _Read:
    """What every outcome has: the file's name, its findings and where its header row was found, if it was."""

    file: str
    findings: pd.DataFrame
    sheet: str | None = None
    header_row: int | None = None
    edition: str | None = None


@dataclass(kw_only=True)
class RejectedFile(_Read):
    """A file rejected whole: its findings say why, and no row was checked."""

    status: ClassVar[Literal[FileResult.REJECTED_FILE]] = FileResult.REJECTED_FILE
    rejected: ClassVar[bool] = True

    def counts(self) -> dict[str, int]:
        return dict.fromkeys(["rows", *(s.value for s in RowStatus)], 0)


@dataclass(kw_only=True)
class CheckedRows(_Read):
    """A file whose rows were checked and decided (some may be rejected)."""

    status: ClassVar[Literal[FileResult.PROCESSED]] = FileResult.PROCESSED
    rows: pd.DataFrame
    """Per sheet row: status, request_id, codes (a tuple of finding codes)."""
    values: pd.DataFrame
    """The typed rows, indexed by sheet row."""
    raw: pd.DataFrame | None = None
    """The sheet's own cells below the header, by column letter, indexed by sheet row (None in a part's outcome)."""
    letters: dict[str, str] = field(default_factory=dict)
    """Field key → column letter."""
    headers: list[str] = field(default_factory=list)
    """The employer's header texts of the columns of ``raw``, in order."""

    @property
    def rejected(self) -> bool:
        return bool(self.rows["status"].eq(RowStatus.REJECTED).any())

    def counts(self) -> dict[str, int]:
        by = self.rows["status"].value_counts()
        return {"rows": len(self.rows), **{s.value: int(by.get(s, 0)) for s in RowStatus}}


#: What intake decided about one file.
Outcome: TypeAlias = RejectedFile | CheckedRows


def _file_outcome(name: str, found: list[Finding], sheet: str | None = None, header_row: int | None = None,
                  edition: str | None = None) -> RejectedFile:
    frame = frame_of(f.record() for f in found)
    return RejectedFile(file=name, findings=sort_key(frame), sheet=sheet, header_row=header_row, edition=edition)


def _rejected(name: str, exc: FileRejected) -> RejectedFile:
    return _file_outcome(name, [Finding.of(exc.code, reason=exc.reason)])


def _locate(sources: list[SheetSource]) -> tuple[Grid, headers.HeaderMap] | None:
    """The sheet to read (loaded) and its header: ``Assignments``, else the first sheet with a header row."""
    for source in sources:
        grid = source.load(None)
        found = headers.detect(iter_rows(grid, headers.HEADER_SEARCH_ROWS))
        if found is not None:
            return grid, found
        if source.name is not None and source.name.strip().casefold() == "assignments":
            return None  # the Assignments sheet is the one to use, header or not
    return None


def _data_rows(grid: Grid, header: headers.HeaderMap) -> pd.DataFrame:
    """The cells below the header row, by column letter and sheet row, blank rows dropped."""
    start = header.row - grid.first_row + 1
    content = grid.cells.iloc[start:].drop(columns=[c for c in header.ignored if c in grid.cells.columns])
    content.index = pd.RangeIndex(header.row + 1, header.row + 1 + len(content))
    keep = ~content.apply(is_blank).all(axis=1)
    body = pd.DataFrame(content[keep])
    body.columns = [column_letter(int(c)) for c in body.columns]
    return body


def _header_texts(grid: Grid, header: headers.HeaderMap, letters: list[str]) -> list[str]:
    cells = dict(iter_rows(grid, header.row - grid.first_row + 1)[-1][1])
    by_letter = {column_letter(c): (v or "") for c, v in cells.items()}
    return [by_letter.get(letter, "") for letter in letters]


def check_file(source: bytes | Path, name: str, as_of: dt.date, limits: Limits = DEFAULT_LIMITS,
               known_requests: Mapping[str, str] | None = None,
               decided: Callable[[CheckedRows], None] | None = None) -> Outcome:
    """Read, validate and decide every row of one file, given as its content or its path (``read.open_source``).

    ``known_requests`` (request ID → batch ID of earlier batches) turns repeats into ``duplicate-request``.
    ``decided``, if given, is called with each part of the rows (``part_rows``) as soon as it is decided, in row
    order: a CheckedRows of those rows without findings, so that the caller can start writing their requests while
    the rest is checked. The findings and decisions are the same as those of the rows checked all at once.
    """
    readying = ThreadPoolExecutor(1, thread_name_prefix="ready-validator")
    try:
        validator = readying.submit(_ready, as_of) if source_size(source) < READY_BESIDE_READ_BELOW else None
        return _check(source, name, as_of, limits, known_requests, readying, validator, decided)
    finally:
        readying.shutdown(wait=False)


#: Files smaller than this (~250k rows) have the validator readied while the reader parses the sheet, which it
#: does without the GIL: ~0.8 s of imports and first-run set-up (``_ready``) then cost no time. A larger file's
#: validator is imported after the read: pandera and pydantic are ~15 MB that would otherwise add to the read's
#: memory peak (a 1M-row workbook's grid of cells), and their set-up is a small share of such a file's time.
READY_BESIDE_READ_BELOW = 32 * 1024 * 1024


#: A file is checked in parts of at least PART_ROWS rows and at most MAX_PARTS parts, when the caller takes the rows
#: as they are decided. Each pass has a fixed cost (~0.4 s: ~30 pandera schemas and pandas' set-up, measured), so
#: smaller files go in one; a million rows go in four, the requests of the first written during the other three.
PART_ROWS, MAX_PARTS = 200_000, 4


def part_rows(rows: int) -> int:
    """How many rows each part has when a file of ``rows`` rows is checked in parts (the last may have fewer)."""
    parts = max(1, min(MAX_PARTS, rows // PART_ROWS))
    return max(1, -(-rows // parts))


def _ready(as_of: dt.date) -> ModuleType:
    """The validator, with pycountry's tables and every schema built and run once."""
    countries.load_tables()
    validator = importlib.import_module("coc_intake.validate")
    validator.warm_up(as_of)
    return validator


def _check(source: bytes | Path, name: str, as_of: dt.date, limits: Limits, known_requests: Mapping[str, str] | None,
           readying: ThreadPoolExecutor, validator: Future[ModuleType] | None,
           decided: Callable[[CheckedRows], None] | None) -> Outcome:
    try:
        with stage("read"):
            sources = open_source(source, name, limits)
            located = _locate(sources)
        if located is None:
            return _file_outcome(name, [Finding.of("no-header-row")])
        grid, header = located
    except FileRejected as exc:
        return _rejected(name, exc)
    edition = grid.edition
    notices = list(header.findings)
    if edition is not None and edition != schemas.edition():
        notices.append(Finding.of("outdated-template", value=edition, edition=schemas.edition()))
    if any(f.severity == "error" for f in notices):
        return _file_outcome(name, notices, grid.sheet, header.row, edition)
    with stage("read"):
        raw = _data_rows(grid, header)
    if raw.empty:
        return _file_outcome(
            name, [*notices, Finding.of("empty-file", reason=" below the header")],
            grid.sheet, header.row, edition)

    letters = header.letters
    by_field = pd.DataFrame({key: raw[letter] for key, letter in letters.items()}, index=raw.index)
    labels = {k: f.label for k, f in schemas.fields().items()}
    out = Findings(letters, labels)
    for notice in notices:
        out.add_one(notice)
    if validator is None:
        # Imported beside normalize, which spends much of its time in Arrow kernels that release the GIL.
        validator = readying.submit(importlib.import_module, "coc_intake.validate")
    # Every check is about one row, but for duplicate rows, which look back at the rows kept so far (``earlier``):
    # so the rows can be checked a part at a time, in order, and each part's findings are its rows' own.
    step = part_rows(len(by_field)) if decided is not None else len(by_field)
    earlier = EarlierRows()
    values: list[pd.DataFrame] = []
    rows: list[pd.DataFrame] = []
    for start in range(0, len(by_field), step):
        found = out.empty_like()
        with stage("normalize"):
            parsed = normalize(by_field.iloc[start:start + step], found)
        with stage("validate"):
            validator.result().validate(parsed.values, parsed.given, as_of, found)
        with stage("decide"):
            decisions = decide(parsed.values, found, known_requests, earlier)
        out.extend(found)
        values.append(parsed.values)
        rows.append(decisions)
        if decided is not None:
            decided(CheckedRows(file=name, findings=frame_of(), rows=decisions, sheet=grid.sheet,
                                header_row=header.row, edition=edition, values=parsed.values))
    del earlier, by_field, parsed
    return CheckedRows(file=name, findings=sort_key(out.frame()), rows=_joined(rows), sheet=grid.sheet,
                       header_row=header.row, edition=edition, values=_joined(values), raw=raw, letters=letters,
                       headers=_header_texts(grid, header, list(raw.columns)))


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts as one frame; a single part as it is (concat would copy it)."""
    return parts[0] if len(parts) == 1 else pd.concat(parts)
