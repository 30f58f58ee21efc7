"""From a file to decided rows: read → map headers → normalize → validate → decide.

This is the whole employer's pre-check (``coc validate``) and the core of the nightly intake; it writes nothing.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType, TracebackType
from typing import ClassVar, Literal, TypeAlias

import numpy as np
import pandas as pd

from coc_intake import countries, headers, schemas
from coc_intake.decide import EarlierRows, decide
from coc_intake.errors import FileRejected
from coc_intake.findings import Finding, Findings, frame_of, sort_key
from coc_intake.history import KnownRequests
from coc_intake.limits import DEFAULT_LIMITS, Limits
from coc_intake.normalize import blank_mask, normalize
from coc_intake.read import Grid, SheetSource, column_letter, is_assignments, iter_rows, open_source, source_size
from coc_intake.sidecar import Authorization
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
        return dict.fromkeys(["rows", *(s.key for s in RowStatus)], 0)

    def without_cells(self) -> RejectedFile:
        return self


@dataclass(kw_only=True)
class CheckedRows(_Read):
    """A file whose rows were checked and decided (some may be rejected)."""

    status: ClassVar[Literal[FileResult.PROCESSED]] = FileResult.PROCESSED
    rows: pd.DataFrame
    """Per sheet row: status, request_id, codes (a tuple of finding codes), earlier_batch (the batch that made the
    request of an already requested row, else missing)."""
    values: pd.DataFrame
    """The typed rows, indexed by sheet row."""
    raw: pd.DataFrame | None = None
    """The sheet's own cells below the header, by column letter, indexed by sheet row (None in a part's outcome, and
    in ``without_cells``)."""
    letters: dict[str, str] = field(default_factory=dict)
    """Field key → column letter."""
    headers: list[str] = field(default_factory=list)
    """The employer's header texts of the columns of ``raw``, in order."""

    @property
    def rejected(self) -> bool:
        return bool(self.rows["status"].eq(RowStatus.REJECTED).any())

    def counts(self) -> dict[str, int]:
        by = self.rows["status"].value_counts()
        return {"rows": len(self.rows), **{s.key: int(by.get(s, 0)) for s in RowStatus}}

    def without_cells(self) -> CheckedRows:
        """The same outcome without the sheet's own cells (``raw``), for outputs that do not quote them."""
        return replace(self, raw=None)


#: What intake decided about one file.
Outcome: TypeAlias = RejectedFile | CheckedRows


def _file_outcome(name: str, found: list[Finding], sheet: str | None = None, header_row: int | None = None,
                  edition: str | None = None) -> RejectedFile:
    frame = frame_of(f.record() for f in found)
    return RejectedFile(file=name, findings=sort_key(frame), sheet=sheet, header_row=header_row, edition=edition)


def _rejected(name: str, exc: FileRejected) -> RejectedFile:
    return _file_outcome(name, [Finding.of(exc.code, reason=exc.reason)])


def rejected_file(name: str, code: str, reason: str = "") -> RejectedFile:
    """The outcome of a file rejected whole without being read (a file that kept killing its reader)."""
    return _rejected(name, FileRejected(code, reason))


#: The sheet ``coc validate --annotate`` puts first in the employer's workbook: looked at after every other sheet
#: and not counted in the empty-sheet check, so that an annotated workbook reads as the employer's own
#: (docs/decisions.md#reading).
SUMMARY_SHEET = "Summary"


def _is_summary(source: SheetSource) -> bool:
    return source.name is not None and source.name.strip().casefold() == SUMMARY_SHEET.casefold()


def _locate(sources: list[SheetSource]) -> tuple[Grid, headers.HeaderMap] | Finding:
    """The sheet to read (loaded) and its header: ``Assignments``, else the first sheet with a header row (a sheet
    named ``Summary`` last). Without one, why: ``empty-file`` when that sheet (the ``Assignments`` sheet, else
    every sheet but a ``Summary`` one) has no filled cell at all, else ``no-header-row``."""
    others = [s for s in sources if not _is_summary(s)]
    if others and len(others) < len(sources):
        sources = [*others, *(s for s in sources if _is_summary(s))]
    every_sheet_empty = True
    for source in sources:
        grid = source.load(None)
        found = headers.detect(iter_rows(grid, headers.HEADER_SEARCH_ROWS))
        if found is not None:
            return grid, found
        if others and _is_summary(source):
            continue  # the annotated workbook's Summary: neither the data nor a sign that the file holds any
        empty = _no_filled_cell(grid)
        if source.name is not None and is_assignments(source.name):
            # The Assignments sheet is the one to use, header or not.
            return Finding.of("empty-file", reason=f" (the sheet '{source.name}' is empty)") if empty \
                else Finding.of("no-header-row")
        every_sheet_empty &= empty
    if every_sheet_empty:
        return Finding.of("empty-file", reason=" (no cell is filled in)")
    return Finding.of("no-header-row")


def _no_filled_cell(grid: Grid) -> bool:
    """Whether every cell of the sheet is blank (empty or spaces only); looked at only when no header was found."""
    return bool(grid.cells.empty or all(blank_mask(grid.cells[c]).all() for c in grid.cells.columns))


def _data_rows(grid: Grid, header: headers.HeaderMap) -> pd.DataFrame:
    """The cells below the header row, by column letter and sheet row, blank rows dropped."""
    start = header.row - grid.first_row + 1
    content = grid.cells.iloc[start:].drop(columns=[c for c in header.ignored if c in grid.cells.columns])
    content.index = pd.RangeIndex(header.row + 1, header.row + 1 + len(content))
    blank = np.ones(len(content), dtype=bool)
    for column in content.columns:
        blank &= blank_mask(content[column])
    body = pd.DataFrame(content[~blank])
    body.columns = [column_letter(int(c)) for c in body.columns]
    return body


def _header_texts(grid: Grid, header: headers.HeaderMap, letters: list[str]) -> list[str]:
    cells = dict(iter_rows(grid, header.row - grid.first_row + 1)[-1][1])
    by_letter = {column_letter(c): (v or "") for c, v in cells.items()}
    return [by_letter.get(letter, "") for letter in letters]


def check_file(source: bytes | Path, name: str, as_of: dt.date, limits: Limits = DEFAULT_LIMITS,
               known_requests: KnownRequests | None = None, authorization: Authorization | None = None) -> Outcome:
    """Read, validate and decide every row of one file, given as its content or its path (``read.open_source``).

    ``known_requests``: the requests of earlier batches (``history.KnownRequests``): a row that repeats one is
    ``already-requested`` or ``duplicate-request``; they also count for successive and concurrent assignments.
    ``authorization``: the employers the submitting account may submit for (a portal submission): a row for any
    other is rejected, ``not-authorized-for-employer``. None checks no account (a file dropped into the inbox).
    """
    with FileCheck(source, name, as_of, limits, known_requests, authorization=authorization) as check:
        return check.outcome()


class FileCheck:
    """The check of one file (``check_file``), for a caller that also takes its rows a part at a time (``parts``)
    to write their requests while the rest is checked. Used as a context manager: leaving it stops a check left
    before its end."""

    def __init__(self, source: bytes | Path, name: str, as_of: dt.date, limits: Limits = DEFAULT_LIMITS,
                 known_requests: KnownRequests | None = None, authorization: Authorization | None = None) -> None:
        self._source, self._name, self._as_of, self._limits = source, name, as_of, limits
        self._known_requests, self._authorization = known_requests, authorization
        self._run: Generator[CheckedRows, None, Outcome] | None = None
        self._outcome: Outcome | None = None

    def __enter__(self) -> FileCheck:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def parts(self) -> Iterator[CheckedRows]:
        """Each part of the rows (``part_rows``) as soon as it is decided, in row order: a CheckedRows of those rows
        without findings. Taken before ``outcome``; the findings and decisions are those of the rows checked whole."""
        while (part := self._next(in_parts=True)) is not None:
            yield part

    def outcome(self) -> Outcome:
        """The whole file's outcome. The parts not taken are checked first; with none taken, the file is checked
        whole, since each part has a fixed cost."""
        while self._next(in_parts=False) is not None:
            pass
        if self._outcome is None:
            raise RuntimeError(f"the check of {self._name} was closed before its end")
        return self._outcome

    def close(self) -> None:
        if self._run is not None:
            self._run.close()

    def _next(self, in_parts: bool) -> CheckedRows | None:
        """The next part decided, or None once the outcome is known. The run holds no reference back to this
        object, so that dropping an unfinished check also ends its run (and its thread)."""
        if self._outcome is not None:
            return None
        if self._run is None:
            self._run = _checked(self._source, self._name, self._as_of, self._limits, self._known_requests,
                                 self._authorization, in_parts)
        try:
            return next(self._run)
        except StopIteration as done:
            self._outcome = done.value
            return None


def _checked(source: bytes | Path, name: str, as_of: dt.date, limits: Limits, known_requests: KnownRequests | None,
             authorization: Authorization | None, in_parts: bool) -> Generator[CheckedRows, None, Outcome]:
    """read → map headers → normalize → validate → decide, with the validator readied meanwhile."""
    readying = _Readying(source, as_of)
    try:
        sheet = _read(source, name, limits)
        if isinstance(sheet, RejectedFile):
            return sheet
        readying.after_read()
        return (yield from _decided(sheet, as_of, known_requests, authorization, readying.validator, in_parts))
    finally:
        readying.close()


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


class _Readying:
    """The validator, readied on a thread of its own: beside the read for a small file, after it for a large one."""

    def __init__(self, source: bytes | Path, as_of: dt.date) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ready-validator")
        self._module: Future[ModuleType] | None = None
        if source_size(source) < READY_BESIDE_READ_BELOW:
            self._module = self._pool.submit(_ready, as_of)

    def after_read(self) -> None:
        if self._module is None:
            # Imported beside normalize, which spends much of its time in Arrow kernels that release the GIL.
            self._module = self._pool.submit(importlib.import_module, "coc_intake.validate")

    def validator(self) -> ModuleType:
        if self._module is None:
            raise RuntimeError("the validator is readied after the read")
        return self._module.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False)


@dataclass(frozen=True)
class _Sheet:
    """The sheet of a file whose rows are to be checked: its header row, mapped, and the cells below it."""

    file: str
    grid: Grid
    header: headers.HeaderMap
    raw: pd.DataFrame
    notices: list[Finding]

    def part(self, rows: pd.DataFrame, values: pd.DataFrame) -> CheckedRows:
        """The outcome of a part of the rows: their decisions and values, without findings."""
        return CheckedRows(file=self.file, findings=frame_of(), rows=rows, sheet=self.grid.sheet,
                           header_row=self.header.row, edition=self.grid.edition, values=values)

    def whole(self, rows: pd.DataFrame, values: pd.DataFrame, findings: pd.DataFrame) -> CheckedRows:
        """The file's outcome, with the sheet's own cells that its outputs quote."""
        return CheckedRows(file=self.file, findings=findings, rows=rows, sheet=self.grid.sheet,
                           header_row=self.header.row, edition=self.grid.edition, values=values, raw=self.raw,
                           letters=self.header.letters,
                           headers=_header_texts(self.grid, self.header, list(self.raw.columns)))


def _read(source: bytes | Path, name: str, limits: Limits) -> _Sheet | RejectedFile:
    """The sheet to check, its header row mapped; or why the whole file is rejected."""
    try:
        with stage("read"):
            located = _locate(open_source(source, name, limits))
    except FileRejected as exc:
        return _rejected(name, exc)
    if isinstance(located, Finding):
        return _file_outcome(name, [located])
    grid, header = located
    notices = _notices(grid, header)
    if any(f.severity == "error" for f in notices):
        return _file_outcome(name, notices, grid.sheet, header.row, grid.edition)
    with stage("read"):
        raw = _data_rows(grid, header)
    if raw.empty:
        return _file_outcome(
            name, [*notices, Finding.of("empty-file", reason=" below the header")], grid.sheet, header.row,
            grid.edition)
    return _Sheet(name, grid, header, raw, notices)


def _notices(grid: Grid, header: headers.HeaderMap) -> list[Finding]:
    notices = list(header.findings)
    if grid.edition is not None and grid.edition != schemas.edition():
        notices.append(Finding.of("outdated-template", value=grid.edition, edition=schemas.edition()))
    return notices


def _decided(sheet: _Sheet, as_of: dt.date, known_requests: KnownRequests | None,
             authorization: Authorization | None, validator: Callable[[], ModuleType],
             in_parts: bool) -> Generator[CheckedRows, None, CheckedRows]:
    """Every row of the sheet normalized, validated and decided; with ``in_parts``, a part at a time, each part
    yielded once decided."""
    letters = sheet.header.letters
    by_field = pd.DataFrame({key: sheet.raw[letter] for key, letter in letters.items()}, index=sheet.raw.index)
    out = Findings(letters, {k: f.label for k, f in schemas.fields().items()})
    for notice in sheet.notices:
        out.add_one(notice)
    # Every check is about one row, but for duplicate rows, which look back at the rows kept so far (``earlier``):
    # so the rows can be checked a part at a time, in order, and each part's findings are its rows' own.
    step = part_rows(len(by_field)) if in_parts else len(by_field)
    earlier = EarlierRows()
    values: list[pd.DataFrame] = []
    rows: list[pd.DataFrame] = []
    for start in range(0, len(by_field), step):
        found = out.empty_like()
        part_values, decisions = _decide_part(by_field.iloc[start:start + step], found, as_of, known_requests,
                                              authorization, earlier, validator)
        out.extend(found)
        values.append(part_values)
        rows.append(decisions)
        if in_parts:
            yield sheet.part(decisions, part_values)
    del earlier, by_field
    return sheet.whole(_joined(rows), _joined(values), sort_key(out.frame()))


def _decide_part(by_field: pd.DataFrame, found: Findings, as_of: dt.date, known_requests: KnownRequests | None,
                 authorization: Authorization | None, earlier: EarlierRows,
                 validator: Callable[[], ModuleType]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Some rows' typed values and decisions; their findings go into ``found``."""
    with stage("normalize"):
        parsed = normalize(by_field, found)
    with stage("validate"):
        validator().validate(parsed.values, parsed.given, as_of, found)
        if authorization is not None:
            authorize(parsed.values, authorization, found)
    with stage("decide"):
        decisions = decide(parsed.values, found, known_requests, earlier)
    return parsed.values, decisions


def authorize(values: pd.DataFrame, authorization: Authorization, out: Findings) -> None:
    """Reject each row the submitting account may not submit for: an employee's row whose employer EIN is not one
    of the account's EINs, a self-employed row whose SSN is not the account's (the SSN is the sponsor of a
    self-employed request, as in ``decide.request_id``). A value that could not be read is already rejected for
    that, and is not looked at. Whole columns at once: a file may have a million rows."""
    self_employed = values["worker_type"].eq("self-employed").fillna(False).to_numpy(dtype=bool)
    ein, ssn = values["employer_ein"], values["ssn"]
    other_ein = ein.notna().to_numpy(dtype=bool) & ~self_employed & ~ein.isin(list(authorization.eins)).to_numpy()
    other_ssn = ssn.notna().to_numpy(dtype=bool) & self_employed
    if other_ssn.any():  # most files have no self-employed row: their SSNs are not looked at
        digits = ssn[other_ssn].str.replace("-", "", regex=False)
        other_ssn[other_ssn] = ~digits.isin(list(authorization.ssns)).to_numpy()
    out.add("not-authorized-for-employer", "employer_ein", values.index[other_ein], ein[other_ein],
            {"holder": "EIN", "holders": "EINs"})
    out.add("not-authorized-for-employer", "ssn", values.index[other_ssn], ssn[other_ssn],
            {"holder": "SSN", "holders": "SSNs"})


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts as one frame; a single part as it is (concat would copy it)."""
    return parts[0] if len(parts) == 1 else pd.concat(parts)
