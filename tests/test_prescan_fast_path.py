"""The xlsx prescan's fast checks against the exact ones they stand in for (docs/reading.md#formats-and-bounds).

The vectorised reference check may clear a chunk only when the one-by-one check would find nothing wrong in it,
and the colon walk must see every namespace-prefixed cell, value, row or dimension the pattern sees. Both are
compared on generated sheet XML (cells near and beyond the bounds, written usually and unusually, cut anywhere),
and real workbooks with a far or prefixed cell injected are rejected as the exact checks alone reject them.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from coc_intake import read
from coc_intake.errors import FileRejected
from coc_intake.limits import Limits
from coc_intake.read import (
    EXCEL_COLUMNS,
    EXCEL_ROWS,
    _Bounds,
    _cells_in_bounds,
    _has_prefixed_cells,
    _refs_in_bounds,
    _refs_one_by_one,
    _refs_plainly_in_bounds,
    _RowOrder,
    column_letter,
)
from tests.builders import row, write_xlsx
from tests.test_hostile_reading import MAIN, check, check_capped, template_rows, workbook

WHERE = "sheet 'Assignments'"
SETTINGS = settings(deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
Outcome = tuple[str, str]


def old_has_prefixed_cells(buf: bytes) -> bool:
    """The prefix test before the colon walk: the oracle."""
    return any(name in buf for name in (b":c", b":v", b":row", b":dimension")) and bool(
        read._PREFIXED_CELL.search(buf))


def outcome(check_refs: Callable[[], bool]) -> Outcome:
    """What a check said: cleared, sent on to the exact scan, or the file rejected (code and reason)."""
    try:
        return ("cleared" if check_refs() else "unusual", "")
    except FileRejected as exc:
        return (exc.code, exc.reason)


# --- generated sheet XML -----------------------------------------------------------------------------------------


@st.composite
def bounds(draw: st.DrawFn) -> _Bounds:
    columns = draw(st.one_of(st.sampled_from([1, 2, 25, 26, 27, 40, 200, 701, 702, 703, EXCEL_COLUMNS]),
                             st.integers(1, EXCEL_COLUMNS)))
    rows = draw(st.one_of(st.sampled_from([1, 9, 10, 11, 99, 100, 5_000, 999_999, 1_000_000, EXCEL_ROWS]),
                          st.integers(1, EXCEL_ROWS)))
    return _Bounds.of(Limits(max_rows=rows, max_columns=columns))


@st.composite
def references(draw: st.DrawFn, within: _Bounds) -> str:
    """A cell reference near the bounds, beyond them, or anywhere, written rightly or in one of the wrong ways."""
    column = draw(st.one_of(st.integers(max(1, within.columns - 2), within.columns + 2), st.integers(1, 20_000),
                            st.sampled_from([1, 26, 27, 702, 703, EXCEL_COLUMNS, EXCEL_COLUMNS + 1, 18_278,
                                             18_279])))
    line = draw(st.one_of(st.integers(max(0, within.rows - 2), within.rows + 2), st.integers(0, 99_999_999),
                          st.sampled_from([0, 1, 9, 10, EXCEL_ROWS, EXCEL_ROWS + 1, 9_999_999, 10_000_000])))
    letters, digits = column_letter(column - 1), str(line)
    way = draw(st.sampled_from(["usual"] * 8 + ["lower", "zeros", "letters", "digits", "empty", "swapped",
                                                "space", "dollar", "long", "mixed", "other"]))
    if way == "lower":
        at = draw(st.integers(0, len(letters) - 1))
        return letters[:at] + letters[at].lower() + letters[at + 1:] + digits
    if way == "zeros":
        return letters + "0" * draw(st.integers(1, 3)) + digits
    if way == "letters":
        return letters
    if way == "long":
        return letters + digits + "0" * draw(st.integers(1, 8))
    if way == "mixed":
        return letters + digits + draw(st.sampled_from(["A", "Z", "AB"])) + draw(st.sampled_from(["", "1", "10"]))
    if way == "digits":
        return digits
    if way == "empty":
        return ""
    if way == "swapped":
        return digits + letters
    if way == "space":
        return f"{letters} {digits}" if draw(st.booleans()) else f"{letters}{digits} "
    if way == "dollar":
        return f"${letters}${digits}"
    if way == "other":
        return draw(st.text(alphabet="ABXZabz0159:$ -\"'", max_size=12))
    return letters + digits


def plain_cell(ref: str) -> str:
    return f'<c r="{ref}" t="s"><v>3</v></c>'


#: Cell tags written as no spreadsheet program writes them, other tags starting `<c`, prefixed names, colons and
#: escaped tags in text: each a format for a reference.
ODD = [
    '<c r="{}"/>', '<c r="{}">', "<c r='{}' t=\"s\"><v>1</v></c>", '<c r={} t="s">', '<c r="{}', '<c  r="{}">',
    '<c r = "{}">', "<c r='{}\">", "<c r=\"{}'>", '<c r= "{}">', '<c t="s" r="{}">', '<c\tr="{}">',
    '<c\nr="{}">', '<c\rr="{}">', '<c/r="{}">',
    '<c>r="{}"', '<c r="{}"x">', "<c>", "<c/>", '<c t="n"><v>{}</v></c>', '<col min="1" max="3"/>{}',
    '<cfRule type="expression" priority="1"/>{}', "<cols>{}", '<x:c r="{}">', '<ns:row r="7">{}', "<x:v>{}</x:v>",
    '<a:dimension ref="{}"/>', '&lt;c r="{}"', '<is><t>&lt;c r="{}"&gt;</t></is>', "<v>12:30:{}</v>",
    "<is><t>http://example.com:8080/{}</t></is>", '<row r="5" spans="1:3">{}', "</row>{}", "{}", "<{}", "<c{}",
    '<é:c r="{}">', '<x·y:c r="{}">', '<_1:row>{}', "<a.b-c:v>{}", "<x:cfRule>{}", "<x:col>{}",
    '<c r="A1" r="{}">', '<c r="{}" r="A1"/>', '<c r="{}"r="B1">', '<c r="{}" t="s"\nr="B1">', '<c r="{}" x:r="B1">',
    '<c r="{}" xr="B1">', '<c r="{}" t="inlineStr"><is><t>x</t></is></c>', '<c r="{}" s="12345678901234567890">',
    '<c r="{}" t="s"<v>', '<c r="{}" s="123456789012345678901234567890" r="B1">',
    '<c>r="{}"<v>1</v></c>', '<c/>r="{}"', '<c\tr="{}" r="ZZZ1">',
]


@st.composite
def within_bounds(draw: st.DrawFn, within: _Bounds) -> str:
    """A reference the bounds allow, often one at their edge."""
    column = draw(st.one_of(st.just(within.columns), st.integers(1, within.columns)))
    line = draw(st.one_of(st.just(within.rows), st.integers(1, within.rows)))
    return f"{column_letter(column - 1)}{line}"


@st.composite
def sheet_text(draw: st.DrawFn, within: _Bounds) -> str:
    """Rows of usual cells within the bounds, with a few odd fragments (or usual cells anywhere) among them."""
    pieces = [plain_cell(ref) for ref in draw(st.lists(within_bounds(within), max_size=12))]
    for _ in range(draw(st.integers(0, 3))):
        ref = draw(st.one_of(within_bounds(within), references(within)))
        kind = draw(st.sampled_from(["usual", "odd", "noise"]))
        fragment = (plain_cell(ref) if kind == "usual" else draw(st.sampled_from(ODD)).format(ref)
                    if kind == "odd" else draw(st.text(alphabet='<c r="AZaz09:/> \t\n\'x', max_size=20)))
        pieces.insert(draw(st.integers(0, len(pieces))), fragment)
    if draw(st.booleans()):
        pieces.insert(0, '<row r="1">')
        pieces.append("</row>")
    return "".join(pieces)


@st.composite
def chunk_cases(draw: st.DrawFn) -> tuple[bytes, int, _Bounds]:
    """A buffer as the scan holds one (cut from a sheet at any byte, mid-tag too) and the ``end`` before which
    cells are checked: anywhere, the scan's own, and so near the buffer's end that a reference would run past it."""
    within = draw(bounds())
    whole = draw(sheet_text(within)).encode()
    buf = whole[draw(st.integers(0, len(whole))):]
    end = draw(st.one_of(st.integers(0, len(buf)), st.just(max(0, len(buf) - read._LOOKAHEAD)),
                         st.integers(max(0, len(buf) - 20), len(buf))))
    return buf, end, within


def alone(cell: str, limits: Limits | None = None) -> tuple[bytes, int, _Bounds]:
    """One cell at a buffer's start, with room after it for every byte the vectorised check reads."""
    return cell.encode() + b" " * read._LOOKAHEAD, 1, _Bounds.of(limits or Limits())


# --- the vectorised reference check ------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=800)
@given(chunk_cases())
@example((b'<c r="A1" t="s"><v>3</v></c>' * 2, 1, _Bounds.of(Limits())))
@example(alone('<c r="ZZZ1" t="s"><v>3</v></c>', Limits(max_columns=EXCEL_COLUMNS)))
@example(alone('<c r="A1048577"/>'))
@example(alone('<c r="A01"/>'))
@example(alone('<c r="A1"x"/>'))
@example(alone('<c r="1" t="s">'))
@example(alone('<c r="A1000000000" t="s">'))
@example(alone('<c r="A1B2">'))
@example(alone('<c r="A1" t="s"<v>'))
@example(alone('<c r="A1" r="XFD1">'))
@example(alone('<c r="A1" s="123456789012345678901234567890" r="B1">'))
@example(alone('<c>r="A1"<v>1</v></c><c r="A2">'))
def test_a_chunk_the_vectorised_check_clears_is_one_the_exact_check_finds_nothing_wrong_in(
        case: tuple[bytes, int, _Bounds]) -> None:
    buf, end, within = case
    exact = outcome(lambda: _refs_one_by_one(buf, end, within, WHERE))
    cleared = _refs_plainly_in_bounds(buf, end, within)
    event(f"vectorised check: {'cleared' if cleared else 'not cleared'}; exact check: {exact[0]}")
    if cleared:
        found = within.suspect.search(buf)
        assert found is None or found.start() >= end
        assert exact == ("cleared", "")
    assert outcome(lambda: _refs_in_bounds(buf, end, within, WHERE)) == exact


def test_usual_cells_within_the_bounds_are_cleared_at_once_so_the_fast_path_is_taken() -> None:
    within = _Bounds.of(Limits(max_columns=EXCEL_COLUMNS))
    cells = "".join(plain_cell(f"{column_letter(c)}{r}") for r in (1, 99, 1_048_576) for c in (0, 25, 701, 16_383))
    buf = f'<row r="1">{cells}</row>'.encode() + b" " * read._LOOKAHEAD
    assert _refs_plainly_in_bounds(buf, len(buf) - read._LOOKAHEAD, within)


@pytest.mark.parametrize(("ref", "code", "shown"), [
    ("XFE1", "file-too-large", "beyond column XFD"), ("A1048577", "file-too-large", "beyond row 1,048,576"),
    ("AAAA1", "file-too-large", "beyond column XFD"), ("A10000000", "file-too-large", "beyond row 1,048,576"),
    ("a1", "unreadable-file", "malformed"), ("A01", "unreadable-file", "malformed"),
])
def test_one_wrong_reference_among_many_usual_ones_is_not_cleared_and_named(ref: str, code: str,
                                                                            shown: str) -> None:
    within = _Bounds.of(Limits(max_columns=EXCEL_COLUMNS))
    cells = [plain_cell(f"B{r}") for r in range(1, 200)]
    cells.insert(123, plain_cell(ref))
    buf = "".join(cells).encode() + b" " * read._LOOKAHEAD
    end = len(buf) - read._LOOKAHEAD
    assert not _refs_plainly_in_bounds(buf, end, within)
    said = outcome(lambda: _refs_in_bounds(buf, end, within, WHERE))
    assert said == outcome(lambda: _refs_one_by_one(buf, end, within, WHERE))
    assert said[0] == code and shown in said[1]


# --- the colon walk ----------------------------------------------------------------------------------------------


def starts_inside_a_tag(buf: bytes) -> bool:
    """Whether the buffer's first colon comes before any ``<`` or ``>``: it may be in a name cut at the chunk's
    start, which the colon walk sends to the exact scan."""
    colon = buf.find(b":")
    return colon >= 0 and b"<" not in buf[:colon] and b">" not in buf[:colon]


PREFIXED_PIECES = st.one_of(
    st.builds("<{}{}:{}{}".format, st.sampled_from(["", "/"]), st.text(alphabet="abxXé·_.-19", max_size=4),
              st.sampled_from(["c", "v", "row", "dimension", "col", "cfRule", "is", "t", "r", ""]),
              st.sampled_from([" ", ">", "/", "\t", "\n", "", "x", ":", '="1"'])),
    st.sampled_from(['<c r="A1" t="s"><v>3</v></c>', "<v>12:30</v>", "<t>http://example.com:80/a:c</t>", "a:c ",
                     '<row r="2">', "</row>", "<x:is>", 'xmlns:x="a:b"', "<!-- <x:c> -->", "&lt;x:c ", ">", "<"]),
)


@st.composite
def prefixed_buffers(draw: st.DrawFn) -> bytes:
    """Sheet text with prefixed names of every kind (cells' and others', ASCII and not), colons in text, cut
    anywhere."""
    whole = "".join(draw(st.lists(PREFIXED_PIECES, max_size=12))).encode()
    return whole[draw(st.integers(0, len(whole))):]


@settings(SETTINGS, max_examples=600)
@given(st.one_of(prefixed_buffers(), chunk_cases().map(lambda case: case[0])))
@example(b'aaaaaaaaaaaa:c r="XFD1"/>')
@example('<é:c r="XFD1"/>'.encode())
def test_the_colon_walk_finds_every_prefixed_cell_the_pattern_finds(buf: bytes) -> None:
    new, old = _has_prefixed_cells(buf), old_has_prefixed_cells(buf)
    event(f"colon walk: {new}; pattern: {old}")
    assert new == old or (new and starts_inside_a_tag(buf))


@pytest.mark.parametrize("prefixed", ['<x:c r="A1">', "<ns:row>", "<x:v>", '<a.b:dimension ref="A1"/>',
                                      '<é:c r="A1">', "<x·y:row>", None])
@pytest.mark.parametrize("at", [0, 2_500, 5_000])
def test_among_thousands_of_times_in_the_text_a_prefixed_cell_is_still_found(prefixed: str | None,
                                                                             at: int) -> None:
    """Over 4,096 colons in a chunk the pattern searches instead of the walk: the verdict is the same."""
    values = [f'<c r="A{r}" t="inlineStr"><is><t>12:30</t></is></c>' for r in range(1, 5_001)]
    if prefixed is not None:
        values.insert(at, prefixed)
    buf = "".join(values).encode()
    assert _has_prefixed_cells(buf) == (prefixed is not None) == old_has_prefixed_cells(buf)


@pytest.mark.parametrize("colons", [10, 5_000])
def test_a_long_prefix_cut_at_the_chunk_start_is_sent_to_the_exact_scan(colons: int) -> None:
    """A prefix longer than the overlap between chunks leaves the next chunk starting inside the name, its ``<``
    in the chunk before: neither chunk shows the pattern whole, however many colons the text has."""
    buf = b"x" * 20 + b':c r="XFD1048576"><v>1</v></x' + b"x" * 100 + b":c>" + b"<v>1:2</v>" * colons
    assert _has_prefixed_cells(buf)


@pytest.mark.parametrize("inside", [1, 4, 10, 17], ids=["after <", "in the name", "in r", "in spans"])
def test_a_chunk_starting_inside_a_row_tag_before_its_spans_colon_keeps_the_fast_scan(inside: int) -> None:
    """Spreadsheet programs write spans="1:28" in every row's start tag. A chunk whose overlap with the one before
    starts inside such a tag, before its colon, is not a prefixed name cut at the chunk's start: taken for one, it
    sent a 100,000-row workbook of shared strings to the exact scan, ten seconds instead of one."""
    rows = b"".join(b'<row r="%d" spans="1:3"><c r="A%d" t="s"><v>1</v></c></row>' % (r, r) for r in range(1, 300))
    sheet = b"<worksheet><sheetData>" + rows + b"</sheetData></worksheet>"
    at = sheet.index(b'<row r="150"') + inside
    chunks = [sheet[:at + read._LOOKAHEAD], sheet[at + read._LOOKAHEAD:]]  # the second's overlap starts at ``at``
    assert sheet[at:].split(b":")[0].count(b"<") == 0 and sheet[at - 1:at] != b">"
    within = _Bounds.of(Limits(max_columns=EXCEL_COLUMNS))
    assert _cells_in_bounds(iter(chunks), within, WHERE) == len(sheet)


# --- the chunk loop: the fast checks against the exact ones alone ------------------------------------------------


@contextlib.contextmanager
def exact_checks_only() -> Iterator[None]:
    """The prescan as it was before the fast checks: every chunk's references one by one, prefixes by pattern."""
    with mock.patch.object(read, "_refs_plainly_in_bounds", lambda *_: False), \
            mock.patch.object(read, "_has_prefixed_cells", old_has_prefixed_cells):
        yield


def scanned(chunks: list[bytes], within: _Bounds) -> tuple[str, Any]:
    try:
        size = _cells_in_bounds(iter(chunks), within, WHERE)
    except FileRejected as exc:
        return (exc.code, exc.reason)
    return ("size" if size is not None else "exact scan", size)


@settings(SETTINGS, max_examples=400)
@given(st.data())
def test_a_sheet_cut_into_chunks_anywhere_gets_the_verdict_the_exact_checks_give(data: st.DataObject) -> None:
    within = data.draw(bounds())
    rows = data.draw(st.lists(sheet_text(within), min_size=1, max_size=4))
    sheet = (f'<?xml version="1.0"?>\n<worksheet xmlns="{MAIN}"><sheetData>'
             + "".join(rows) + "</sheetData></worksheet>").encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sheet)), max_size=6)))
    chunks = [sheet[a:b] for a, b in zip([0, *cuts], [*cuts, len(sheet)], strict=True)]
    fast = scanned(chunks, within)
    event(f"verdict: {fast[0]}")
    with exact_checks_only():
        exact = scanned(chunks, within)
    # The colon walk may send a sheet to the exact scan that the pattern passed (a name cut at a chunk's start):
    # then the exact scan gives the verdict, which the end-to-end tests below compare.
    assert fast == exact or (fast[0] == "exact scan" and any(starts_inside_a_tag(
        (b"" if i == 0 else sheet[max(0, cuts[i - 1] - read._LOOKAHEAD):cuts[i - 1]]) + chunk)
        for i, chunk in enumerate(chunks)))


@settings(SETTINGS, max_examples=300)
@given(st.data())
def test_the_row_order_the_scan_records_is_the_cells_order_however_the_sheet_is_cut(data: st.DataObject) -> None:
    """Windows need every cell to name a row no higher than the cell before it's (read.py, ``_RowOrder``): the
    record must be the cells' own order whichever check (all at once, or one by one) read each chunk."""
    within = _Bounds.of(Limits(max_columns=EXCEL_COLUMNS))
    numbers = data.draw(st.lists(st.integers(1, 60), min_size=1, max_size=40))
    # Every tag plain, or some too long for the vectorised check (the one-by-one check reads those chunks).
    long_tag = data.draw(st.booleans())
    cells = "".join(f'<c r="{column_letter(n % 30)}{n}" t="s"'
                    + (' cm="1234567890123456789012"' if long_tag and n % 3 == 0 else "") + "><v>3</v></c>"
                    + " " * data.draw(st.integers(0, 90))
                    for n in numbers)
    # No namespace: a cut near its URL's colon sends the sheet to the exact scan (which records no order).
    sheet = f'<?xml version="1.0"?>\n<worksheet><sheetData><row r="1">{cells}</row></sheetData></worksheet>'.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sheet)), max_size=6)))
    chunks = [sheet[a:b] for a, b in zip([0, *cuts], [*cuts, len(sheet)], strict=True)]
    ordered = all(a <= b for a, b in itertools.pairwise(numbers))
    for checks in (contextlib.nullcontext(), exact_checks_only()):
        order = _RowOrder()
        with checks:
            assert _cells_in_bounds(iter(chunks), within, WHERE, order) == len(sheet)
        event(f"ordered: {ordered}")
        assert order.ordered == ordered


# --- end to end: real workbooks with a far or prefixed cell injected ---------------------------------------------


@pytest.fixture(scope="module")
def sheet_of_real_workbook(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    path = write_xlsx(tmp_path_factory.mktemp("prescan") / "real.xlsx",
                      [row(last_name=f"Smith{i}", worksite_address=f"Gate 12:{i:02d}, http://example.com:80/")
                       for i in range(120)])
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def injected(members: dict[str, bytes], cells: str, into_row: int = 60) -> bytes:
    """The workbook with ``cells`` added at the end of one row of its sheet (row 60: the 59th assignment)."""
    sheet = members["xl/worksheets/sheet1.xml"]
    at = sheet.index(f'</row><row r="{into_row + 1}"'.encode())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, sheet[:at] + cells.encode() + sheet[at:] if name == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


INJECTED = {
    "far-column": ('<c r="XFD60" t="inlineStr"><is><t>x</t></is></c>', "file-too-large", "XFD60"),
    "far-row": ('<c r="A2000000" t="inlineStr"><is><t>x</t></is></c>', "file-too-large", "A2000000"),
    "past-the-columns": ('<c r="GS60"><v>1</v></c>', "file-too-large", "beyond column GR"),
    "lowercase": ('<c r="ad60"><v>1</v></c>', "unreadable-file", "malformed cell reference 'ad60'"),
    "leading-zero": ('<c r="AD060"><v>1</v></c>', "unreadable-file", "malformed cell reference 'AD060'"),
    "prefixed-cell": (f'<x:c xmlns:x="{MAIN}" r="XFD60"><x:v>1</x:v></x:c>', "file-too-large", "XFD60"),
    "non-ascii-prefix": (f'<é:c xmlns:é="{MAIN}" r="ZZ60"><é:v>1</é:v></é:c>', "file-too-large", "ZZ60"),
    "long-prefix": (f'<{"p" * 100}:c xmlns:{"p" * 100}="{MAIN}" r="ZZ60"><v>1</v></{"p" * 100}:c>',
                    "file-too-large", "ZZ60"),
    "reference-not-first": ('<c t="n" r="XFD60"><v>1</v></c>', "file-too-large", "XFD60"),
    # Main let these two through to the reader, which took the second reference, or placed the cells.
    "second-reference": ('<c r="AD60" r="XFD60"><v>1</v></c>', "unreadable-file", "is damaged"),
    "reference-as-text": ('<c>r="AD60"<v>1</v></c>' * 200, "file-too-large", "GS60"),
}


@pytest.mark.parametrize("step", [read._INFLATED_STEP, 4096, 1000, 333])
@pytest.mark.parametrize("case", list(INJECTED))
def test_a_real_workbook_with_a_far_or_prefixed_cell_is_rejected_as_by_the_exact_checks(
        sheet_of_real_workbook: dict[str, bytes], case: str, step: int) -> None:
    """At several chunk sizes, so that the cell lands at many places in a chunk and at its cuts."""
    cells, code, shown = INJECTED[case]
    data = injected(sheet_of_real_workbook, cells)
    with mock.patch.object(read, "_INFLATED_STEP", step):
        codes, message = check(data)
        with exact_checks_only():
            assert check(data) == (codes, message)
    assert codes == [code]
    assert shown in message


def test_the_real_workbook_without_an_injected_cell_passes_the_prescan(
        sheet_of_real_workbook: dict[str, bytes]) -> None:
    data = injected(sheet_of_real_workbook, "")
    for step in (read._INFLATED_STEP, 1000):
        with mock.patch.object(read, "_INFLATED_STEP", step):
            read._check_zip(data, len(data), Limits())


def test_cells_whose_reference_is_text_after_the_tag_are_rejected_before_the_reader_allocates(
        tmp_path: Path) -> None:
    """`<c>r="A1"` is a cell without a reference: 2,000 of them in row 1,048,576 made the reader allocate for
    two billion cells (the process aborted) once the prescan took the text for their references."""
    data = workbook(template_rows() + '<row r="1048576">' + '<c>r="A1"<v>1</v></c>' * 2000 + "</row>")
    codes, message = check_capped(tmp_path, data)
    assert codes == ["file-too-large"]
    assert "beyond column GR" in message


def test_shared_strings_under_a_non_ascii_prefix_are_counted_exactly_not_as_none() -> None:
    """The reader takes `<é:si>` for a string: the fast count, blind to it, found no strings at all, and the
    sheets' references to them were never bounded."""
    from coc_intake.read import _string_lengths

    part = f'<sst xmlns="{MAIN}" xmlns:é="{MAIN}"><é:si><é:t>hello</é:t></é:si></sst>'.encode()
    assert _string_lengths(iter([part])) is None


def test_a_long_prefixed_cell_name_cut_by_a_chunk_boundary_is_still_rejected(
        sheet_of_real_workbook: dict[str, bytes]) -> None:
    """A name longer than the chunks' overlap, cut ten bytes before its colon: neither chunk holds it whole, and
    the pattern alone let the cell through to the reader."""
    prefix = "p" * 100
    data = injected(sheet_of_real_workbook, f'<{prefix}:c xmlns:{prefix}="{MAIN}" r="ZZ60"><v>1</v></{prefix}:c>')
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        colon = z.read("xl/worksheets/sheet1.xml").index(f"<{prefix}:c ".encode()) + 1 + len(prefix)
    with mock.patch.object(read, "_INFLATED_STEP", colon - 10):
        codes, message = check(data)
    assert codes == ["file-too-large"]
    assert "ZZ60" in message
