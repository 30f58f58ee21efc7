"""Reading an employer's file into a grid of text cells (docs/reading.md#formats-and-bounds).

Everything is read as text and typed later (``normalize``): the fast readers infer a column's type from its first
rows and turn later cells that do not fit into silent nulls. Structural problems raise ``FileRejected`` with a
file code (docs/errors.md#file-and-header-errors) before any row is looked at.
"""

from __future__ import annotations

import contextlib
import csv
import io
import posixpath
import re
import struct
import xml.sax
import xml.sax.handler
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, BinaryIO

import fastexcel
import numpy as np
import pandas as pd
from defusedxml import ElementTree as SafeET
from defusedxml import expatreader as defused_expat
from defusedxml.common import DefusedXmlException

from coc_intake import sheet_windows
from coc_intake.errors import FileRejected
from coc_intake.limits import DEFAULT_LIMITS, Limits, human
from coc_intake.window_reading import WindowReading, is_reader_failure

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP_MAGIC = b"PK\x03\x04"
_MACRO_EXTENSIONS = {".xlsm", ".xltm", ".xlam"}
_BINARY_EXTENSIONS = {".xls", ".xlsb", ".xlt"}
_XLSX_EXTENSIONS = {".xlsx", ".xltx"}
_CSV_DELIMITERS = (",", ";", "\t")
#: pandas' default string dtype ("str": Arrow storage, NaN for missing); wrapping the reader's Arrow column in it
#: costs nothing, where pd.Series(arrow_array) copies every string.
_STR = pd.StringDtype("pyarrow", na_value=float("nan"))


@dataclass
class Grid:
    """One sheet's cells as text: ``cells`` has a RangeIndex and integer column labels (0 = column A)."""

    sheet: str | None
    cells: pd.DataFrame
    first_row: int
    """The sheet row number (1-based) of ``cells`` row 0."""
    edition: str | None = None
    """The template edition stamped in the workbook, if any."""


@dataclass
class SheetSource:
    name: str | None
    load: Callable[[int | None], Grid]
    """Loads the first N rows (None: all of them)."""


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def source_size(source: bytes | Path) -> int:
    return source.stat().st_size if isinstance(source, Path) else len(source)


def open_source(source: bytes | Path, filename: str, limits: Limits = DEFAULT_LIMITS) -> list[SheetSource]:
    """The sheets of a file, ``Assignments`` first; raises ``FileRejected`` for structural problems.

    ``source`` is the file's content, or its path: the reader then maps a workbook itself, and the process never
    holds the file's bytes (a 1M-row workbook is 125 MB, copied once more by the reader when given bytes).
    """
    size = source_size(source)
    if size > limits.max_bytes:
        raise FileRejected("file-too-large", reason=f"{human(size)} on disk, over {human(limits.max_bytes)}")
    suffix = PurePath(filename).suffix.casefold()
    if isinstance(source, Path):
        with source.open("rb") as fh:
            magic = fh.read(len(_ZIP_MAGIC))
        if magic == _ZIP_MAGIC and suffix in _XLSX_EXTENSIONS:
            return _xlsx_sources(source, size, limits)
        source = source.read_bytes()  # anything else is bounded by max_bytes and checked whole
    data = source
    if not data.strip():
        raise FileRejected("empty-file", reason=" (the file is empty)")
    if suffix in _MACRO_EXTENSIONS:
        raise FileRejected("unsupported-format", reason=f"Macro-enabled workbooks ({suffix}) are not accepted")
    if suffix in _BINARY_EXTENSIONS:
        raise FileRejected("unsupported-format", reason=f"Binary Excel files ({suffix}) are not accepted")
    if data.startswith(OLE_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise FileRejected("unreadable-file", reason="it is encrypted or protected with a password")
        raise FileRejected("unsupported-format", reason="This is an old binary Excel file (.xls) under another name")
    if suffix == ".csv":
        return [_csv_source(data, limits)]
    if suffix in _XLSX_EXTENSIONS:
        return _xlsx_sources(data, size, limits)
    raise FileRejected("unsupported-format", reason=f"Files of type '{suffix or filename}' are not accepted")


# --- CSV -----------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise FileRejected("unreadable-file", reason="it is not a text file (UTF-16 or binary content)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FileRejected("unreadable-file", reason="its text is neither UTF-8 nor Windows-1252") from exc


def _delimiter(text: str) -> str:
    head = [line for line in text.splitlines()[:20] if line.strip()]
    counts = {d: sum(line.count(d) for line in head) for d in _CSV_DELIMITERS}
    return max(_CSV_DELIMITERS, key=lambda d: counts[d])


def _csv_source(data: bytes, limits: Limits) -> SheetSource:
    text = _decode(data)
    delimiter = _delimiter(text)

    def load(n_rows: int | None) -> Grid:
        rows: list[list[str]] = []
        width = 0
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            for record in reader:
                if len(rows) >= limits.max_rows:
                    raise FileRejected("file-too-large", reason=f"more than {limits.max_rows:,} rows")
                rows.append(record)
                width = max(width, len(record))
                if n_rows is not None and len(rows) >= n_rows:
                    break
        except csv.Error as exc:
            raise FileRejected("unreadable-file", reason=f"line {reader.line_num}: {exc}") from exc
        if width > limits.max_columns:
            raise FileRejected("file-too-large", reason=f"{width} columns, over {limits.max_columns}")
        rows = [r if len(r) == width else r + [""] * (width - len(r)) for r in rows]
        frame = pd.DataFrame.from_records(rows, columns=range(width)) if rows else pd.DataFrame()
        frame = frame.replace("", None) if len(frame) else frame
        return Grid(sheet=None, cells=frame.astype("str") if len(frame) else frame, first_row=1)

    return SheetSource(name=None, load=load)


# --- xlsx ----------------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_zip(source: bytes | Path, size: int, limits: Limits) -> tuple[zipfile.ZipFile, _Package]:
    try:
        archive = zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FileRejected("unreadable-file", reason="it is not a valid .xlsx workbook (damaged or another format)"
                           ) from exc
    names = {i.filename for i in infos}
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed:
        raise FileRejected(
            "file-too-large", reason=f"{human(total)} uncompressed, over {human(limits.max_uncompressed)}"
        )
    if total / max(size, 1) > limits.max_ratio:
        raise FileRejected(
            "file-too-large", reason=f"compression ratio {total / size:,.0f}, over {limits.max_ratio:,.0f}"
        )
    if any(n.casefold().endswith("vbaproject.bin") for n in names):
        raise FileRejected("unsupported-format", reason="The workbook contains macros (a VBA project)")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise FileRejected("unreadable-file", reason="it is not a valid .xlsx workbook (parts are missing)")
    if len(names) != len(infos):
        # The reader and zipfile need not pick the same one of two parts of one name: one would go unchecked.
        raise FileRejected("unreadable-file", reason="two of its parts have the same name")
    with _raw(source) as raw:
        return archive, _prescan(archive, raw, limits)


# --- xlsx: the prescan ------------------------------------------------------------------------------------------
#
# fastexcel (calamine) builds a sheet's whole grid of cells, from its first cell to its last, before it returns
# anything, and trusts the sizes in the zip's headers: one cell at XFD1048576 makes it allocate 512 GiB, a column
# ZZZZ keeps it busy for ever, and one long shared string named by many cells is copied for each of them. So every
# part is inflated here first, counting the bytes it really holds, and each sheet's cell references, and the text
# its shared strings expand to, are checked against the bounds before the reader is given the file
# (docs/reading.md#formats-and-bounds).

_COMPRESSED_STEP = 1 << 20
#: Most bytes inflated at a time: one compressed megabyte can inflate to a gigabyte.
_INFLATED_STEP = 1 << 22
EXCEL_COLUMNS, EXCEL_ROWS = 16_384, 1_048_576
#: Characters an Excel cell holds: a longer string was not written by a spreadsheet program.
EXCEL_CELL_TEXT = 32_767
#: Bytes of the shortest cell with a value, <c r="A1" t="s"><v>0</v></c>: a sheet of N bytes names at most N/28
#: shared strings, which bounds what they expand to without reading each reference.
_SMALLEST_VALUE_CELL = 28
#: Parts parsed whole ([Content_Types].xml, the workbook and its relationships, its properties) are this small.
_WHOLE_PART_BYTES = 16 * 1024 * 1024
_PROLOG_BYTES = 4 * 1024 * 1024
_CONTROL_PARTS = ("[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels")
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_MACRO_TYPES = frozenset({
    "application/vnd.ms-office.vbaproject", "application/vnd.ms-office.vbaprojectsignature",
    "application/vnd.ms-excel.macrosheet+xml", "application/vnd.ms-excel.intlmacrosheet+xml",
})
_MACRO_RELATIONSHIPS = ("/vbaproject", "/vbaprojectsignature", "/xlmacrosheet", "/xlintlmacrosheet")
_SHEET_RELATIONSHIPS = ("/worksheet", "/chartsheet", "/dialogsheet")
#: An element name with a namespace prefix: the reader matches local names, the fast scans whole ones. A prefix
#: may hold any non-ASCII letter (its UTF-8 bytes are all above 0x7F): `<é:c` is a cell to the reader.
_PREFIXED = re.compile(rb"</?[A-Za-z_\x80-\xff][\w.\x80-\xff-]*:")
#: What the fast scans cannot read exactly: comments, CDATA and processing instructions can hide tags.
_HIDING = re.compile(rb"<[!?]")
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_\x80-\xff][\w.\x80-\xff-]*:(?:c|v|row|dimension)[\s/>]")
#: What ends an element's name: after one of these a colon is not in the name of the tag it is in.
_AFTER_A_NAME = re.compile(rb"[\s\"'=/]")
_REF = re.compile(rb"([A-Z]{1,8})([0-9]{1,12})")
#: The rest of a cell's start tag after its reference, without a second ``r`` attribute (the reader takes the
#: last one): each ``r`` in it is inside a word, as in ``t="inlineStr"``. Stops at a ``<``, so it is linear.
_REST_OF_TAG = rb"(?:[^<>r]|(?<=[A-Za-z])r)*>"
_CELL_TAG_REST = re.compile(_REST_OF_TAG)
_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"')
#: The row of a cell written ``<c r="REF"`` (the one-by-one check sees every other cell start tag).
_PLAIN_CELL_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')


class _Budget:
    """The bytes inflated so far against max_uncompressed: the headers' sizes are what the file says, these are
    what it holds."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise FileRejected("file-too-large", reason=f"more than {human(self.limit)} uncompressed")


@dataclass(frozen=True)
class _Bounds:
    """The last column and row a cell may have: the settings', within Excel's (XFD, 1,048,576)."""

    columns: int
    rows: int
    suspect: re.Pattern[bytes]
    """Finds a cell start tag that is not `<c r="REF"` with REF within the bounds and no other ``r`` after it: the
    rare ones to look at. ``<c>`` and ``<c/`` are always among them, whatever text follows (`<c>r="A1"` is a cell
    without a reference)."""

    @classmethod
    def of(cls, limits: Limits) -> _Bounds:
        columns, rows = min(limits.max_columns, EXCEL_COLUMNS), min(limits.max_rows, EXCEL_ROWS)
        ok = _at_most(column_letter(columns - 1), "A") + _at_most(str(rows), "1", "0")
        return cls(columns, rows, re.compile(rb'<c(?:[/>]|\s(?!r="' + ok.encode() + rb'"' + _REST_OF_TAG + rb'))'))

    def check(self, ref: bytes, where: str) -> None:
        """Rejects the file for a reference that is malformed or beyond the bounds."""
        found = _REF.fullmatch(ref)
        if found is None or found[2].startswith(b"0"):
            shown = ref[:20].decode("ascii", "replace")
            raise FileRejected("unreadable-file", reason=f"{where} has a malformed cell reference '{shown}'")
        column, row = _column_number(found[1].decode()), int(found[2])
        if column > self.columns:
            raise FileRejected("file-too-large", reason=f"{where} has a cell at {ref.decode()}, beyond column "
                               f"{column_letter(self.columns - 1)} ({self.columns:,} columns)")
        if row > self.rows:
            raise FileRejected("file-too-large",
                               reason=f"{where} has a cell at {ref.decode()}, beyond row {self.rows:,}")


def _at_most(top: str, first: str, rest: str | None = None) -> str:
    """A regex for the numerals of ``top``'s kind (letters A-Z, or digits without a leading zero) up to ``top``:
    the shorter ones, and those as long that are smaller at the first place they differ."""
    rest = rest or first
    lowest = [first, *[rest] * (len(top) - 1)]
    anything = f"[{rest}-{'Z' if rest == 'A' else '9'}]"
    alternatives = [f"[{first}-{'Z' if first == 'A' else '9'}]{anything}{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for i, ch in enumerate(top):
        if ch > lowest[i]:
            alternatives.append(f"{top[:i]}[{lowest[i]}-{chr(ord(ch) - 1)}]{anything}{{{len(top) - i - 1}}}")
    alternatives.append(top)
    return "(?:" + "|".join(alternatives) + ")"


def _column_number(letters: str) -> int:
    """A → 1, Z → 26, AA → 27."""
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


@contextlib.contextmanager
def _raw(source: bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(source, Path):
        with source.open("rb") as fh:
            yield fh
    else:
        yield io.BytesIO(source)


def _damaged(name: str, why: str) -> FileRejected:
    return FileRejected("unreadable-file", reason=f"part {name} is damaged: {why}")


def _inflated(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    """The part's bytes as stored, whatever its headers say; its size, CRC and the end of its stream checked."""
    try:
        yield from _inflate(raw, info, budget)
    except (zlib.error, OSError, EOFError, struct.error) as exc:
        raise _damaged(info.filename, str(exc)) from exc


def _inflate(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    raw.seek(info.header_offset)
    local = raw.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise _damaged(info.filename, "its header is missing")
    if info.flag_bits & 0x1:
        raise FileRejected("unreadable-file", reason=f"part {info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _damaged(info.filename, f"compression method {info.compress_type}, which Excel never uses")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    raw.seek(info.header_offset + 30 + name_length + extra_length)
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left, size, crc = info.compress_size, 0, 0
    while True:
        if inflater is not None and inflater.unconsumed_tail:
            out = inflater.decompress(inflater.unconsumed_tail, _INFLATED_STEP)
        elif left > 0:
            data = raw.read(min(left, _COMPRESSED_STEP))
            if not data:
                raise _damaged(info.filename, "it is cut short")
            left -= len(data)
            out = data if inflater is None else inflater.decompress(data, _INFLATED_STEP)
        elif inflater is not None and not inflater.eof:
            out = inflater.decompress(b"", _INFLATED_STEP)  # output held back by the step's limit
            if not out:
                break
        else:
            break
        if out:
            size += len(out)
            if size > info.file_size:
                raise _damaged(info.filename, "it holds more than its header says")
            budget.take(len(out))
            crc = zlib.crc32(out, crc)
            yield out
    if (inflater is not None and not inflater.eof) or size != info.file_size or crc != info.CRC:
        raise _damaged(info.filename, "its content does not match its header (size or CRC)")


def _without_entities(name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, once the part's prolog (all before its root element) is known to declare no entity: Excel
    never writes one, and the reader would return blank cells for an entity bomb."""
    prolog: bytes | None = b""
    for chunk in chunks:
        if prolog is not None:
            prolog += chunk[:_PROLOG_BYTES]
            root = _ROOT_START.search(prolog)
            if root is not None or len(prolog) > _PROLOG_BYTES:
                _check_prolog(name, prolog[: root.start()] if root is not None else prolog, root is None)
                prolog = None
        yield chunk
    if prolog is not None:
        _check_prolog(name, prolog, False)


def _check_prolog(name: str, prolog: bytes, endless: bool) -> None:
    if endless or b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise FileRejected("unreadable-file", reason=f"part {name} declares XML entities, which Excel never writes")


def _whole(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    if info.file_size > _WHOLE_PART_BYTES:
        raise FileRejected("unreadable-file", reason=f"part {info.filename} is {human(info.file_size)}, far more "
                           "than Excel writes")
    return b"".join(_without_entities(info.filename, _inflated(raw, info, budget)))


def _parse_bytes(name: str, data: bytes) -> Any:
    try:
        return SafeET.fromstring(data)
    except Exception as exc:  # defusedxml and expat raise several unrelated types
        raise FileRejected("unreadable-file", reason=f"part {name} is damaged") from exc


@dataclass
class _Package:
    """What the prescan learnt of the workbook's parts."""

    sheets: dict[str, str]
    """Sheet name → its XML part, in workbook order."""
    sheet_parts: set[str]
    strings_parts: set[str]
    windowable: set[str] = field(default_factory=set)
    """Large sheet parts that may be read in windows (``sheet_windows``): the fast scan read them, so every cell
    has its reference, no cell names a row above the cell before it, and no comment, CDATA or processing
    instruction could hide a row's end or fake one."""
    strings_bytes: int = 0
    """The largest shared strings part's size, which each window's reader parses again."""
    reading: dict[str, WindowReading] = field(default_factory=dict)
    """A windowable sheet part whose windows were read while the prescan cleared them (``_read_while_scanned``'s)."""


def _prescan(archive: zipfile.ZipFile, raw: BinaryIO, limits: Limits) -> _Package:
    """Every part inflated once and checked: macros, entities, the sheets' cell references and shared strings."""
    budget, bounds = _Budget(limits.max_uncompressed), _Bounds.of(limits)
    infos = {i.filename: i for i in archive.infolist()}
    control: dict[str, bytes] = {n: _whole(raw, infos[n], budget) for n in _CONTROL_PARTS if n in infos}
    types = _content_types(control["[Content_Types].xml"])
    _refuse_macro_types(types, infos, control["[Content_Types].xml"])
    package = _package(control, types, infos)
    lengths = array("q")
    for name in sorted(package.strings_parts):
        found = _shared_strings(raw, infos[name], budget)
        lengths = found if len(found) > len(lengths) else lengths  # two tables: the reader may use either
    package.strings_bytes = max((infos[n].file_size for n in package.strings_parts), default=0)
    # The sheets last, the one read while it is scanned at the very end: its windows' workbooks hold every other
    # part, which the reader must not see before it is checked.
    ahead = _read_while_scanned(package, infos, lengths, budget)
    for name, info in sorted(infos.items(), key=lambda item: (item[0] in package.sheet_parts, item[0] == ahead)):
        if name in control or name in package.strings_parts:
            continue
        if name in package.sheet_parts:
            sheet = next((s for s, p in package.sheets.items() if p == name), None)
            where = f"sheet '{sheet}'" if sheet is not None else f"part {name}"
            reading = WindowReading(archive, name, sheet, package.strings_bytes) \
                if name == ahead and sheet is not None else None
            if _scan_sheet(raw, info, budget, bounds, lengths, where, reading):
                package.windowable.add(name)
                if reading is not None:
                    package.reading[name] = reading
        elif name.casefold().endswith(".rels"):
            _refuse_macro_relationships(name, _without_entities(name, _inflated(raw, info, budget)))
        elif name.casefold().endswith(".xml"):
            for _ in _without_entities(name, _inflated(raw, info, budget)):
                pass
        else:
            for _ in _inflated(raw, info, budget):
                pass
    return package


def _content_types(data: bytes) -> dict[str, str]:
    """'/part name' or 'extension' (casefolded) → content type (casefolded)."""
    types: dict[str, str] = {}
    for el in _parse_bytes("[Content_Types].xml", data).iter():
        kind = (el.get("ContentType") or "").casefold()
        if _local(el.tag) == "Override":
            types[(el.get("PartName") or "").casefold()] = kind
        elif _local(el.tag) == "Default":
            types[(el.get("Extension") or "").casefold()] = kind
    return types


def _refuse_macro_types(types: dict[str, str], infos: dict[str, zipfile.ZipInfo], data: bytes) -> None:
    """A VBA project or a macro sheet, whatever its part's name (the extension's default type counts only for a
    part that has it)."""
    extensions = {PurePath(n).suffix[1:].casefold() for n in infos}
    declared = {k for k, v in types.items() if v in _MACRO_TYPES and (k.startswith("/") or k in extensions)}
    if declared or b"macroEnabled" in data:
        raise FileRejected("unsupported-format", reason="The workbook contains macros (a VBA project)")


class _MacroRelationships(xml.sax.handler.ContentHandler):
    def startElement(self, name: str, attrs: Any) -> None:
        if name.rpartition(":")[2] == "Relationship" and (attrs.get("Type") or "").casefold().endswith(
                _MACRO_RELATIONSHIPS):
            raise FileRejected("unsupported-format", reason="The workbook contains macros (a VBA project)")


def _refuse_macro_relationships(name: str, chunks: Iterable[bytes]) -> None:
    _sax(name, chunks, _MacroRelationships())


def _sax(name: str, chunks: Iterable[bytes], handler: xml.sax.handler.ContentHandler) -> None:
    """Streams the part through a SAX handler (expat, with defusedxml's guards and no DTD)."""
    parser = defused_expat.create_parser(forbid_dtd=True)
    parser.setContentHandler(handler)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    except (xml.sax.SAXException, DefusedXmlException, ValueError) as exc:
        raise FileRejected("unreadable-file", reason=f"part {name} is damaged") from exc


def _target(base: str, target: str) -> str:
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"{base}/{target}")


def _package(control: dict[str, bytes], types: dict[str, str], infos: dict[str, zipfile.ZipInfo]) -> _Package:
    """The sheets and shared strings, as the workbook's relationships, the content types or the usual names
    declare them: the reader may find one by any of these."""
    targets: dict[str, tuple[str, str]] = {}
    if "xl/_rels/workbook.xml.rels" in control:
        for rel in _parse_bytes("xl/_rels/workbook.xml.rels", control["xl/_rels/workbook.xml.rels"]).iter():
            if _local(rel.tag) == "Relationship" and (rel.get("TargetMode") or "").casefold() != "external":
                kind = (rel.get("Type") or "").casefold()
                if kind.endswith(_MACRO_RELATIONSHIPS):
                    raise FileRejected("unsupported-format", reason="The workbook contains macros (a VBA project)")
                targets[rel.get("Id") or ""] = (kind, _target("xl", rel.get("Target") or ""))
    sheets: dict[str, str] = {}
    for el in _parse_bytes("xl/workbook.xml", control["xl/workbook.xml"]).iter():
        if _local(el.tag) == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            sheets[el.get("name") or ""] = targets.get(rid or "", ("", ""))[1]
    sheet_parts = {p for k, p in targets.values() if k.endswith(_SHEET_RELATIONSHIPS)} | set(sheets.values())
    sheet_parts |= {n for n in infos if n.startswith("xl/worksheets/") and n.endswith(".xml")}
    sheet_parts |= {n for n in infos if types.get("/" + n.casefold(), "").endswith("sheet.main+xml")
                    or types.get("/" + n.casefold(), "").endswith("worksheet+xml")}
    strings = {p for k, p in targets.values() if k.endswith("/sharedstrings")}
    strings |= {n for n in infos if n.casefold() == "xl/sharedstrings.xml"
                or types.get("/" + n.casefold(), "").endswith("sharedstrings+xml")}
    return _Package(sheets, sheet_parts & infos.keys(), strings & infos.keys())


# Shared strings: each one's length, in bytes of its XML (at least its text's length, in characters).


def _shared_strings(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget) -> array[int]:
    name, before = info.filename, budget.used
    fast = _string_lengths(_without_entities(name, _inflated(raw, info, budget)))
    if fast is not None:
        return fast
    budget.used = before  # the same bytes again
    handler = _StringLengths()
    _sax(name, _inflated(raw, info, budget), handler)
    return handler.lengths


def _string_lengths(chunks: Iterable[bytes]) -> array[int] | None:
    """The fast count, by splitting at each </si>; None when the part is not written as spreadsheet programs write
    it (prefixed names, comments, CDATA, whitespace between strings, empty or attributed <si>) or has a string too
    long to count by its bytes. Each string must start right after the one before ends, so that the n-th piece is
    the reader's n-th string."""
    lengths = array("q")
    pending = b""
    for number, chunk in enumerate(chunks):
        if number == 0 and chunk.startswith(b"<?"):
            chunk = chunk[chunk.find(b"?>") + 2:] if b"?>" in chunk else chunk
        buf = pending + chunk
        if _PREFIXED.search(buf) or _HIDING.search(buf):
            return None
        pieces = buf.split(b"</si>")
        pending = pieces.pop()
        if len(pending) > EXCEL_CELL_TEXT:
            return None
        if not pieces:  # no string ends in this chunk: it is all pending
            continue
        whole = len(buf) - len(pending)
        strings = buf.count(b"<si>", 0, whole)
        first_ok = pieces[0].count(b"<si>") == 1 if not lengths else pieces[0].startswith(b"<si>")
        if pieces and not (first_ok and strings == len(pieces) == buf.count(b"<si", 0, whole)
                           and buf.count(b"</si><si>", 0, whole) == len(pieces) - 1):
            return None
        if pieces and not lengths:  # the first piece has the part's root tag before its <si>
            pieces[0] = pieces[0][pieces[0].find(b"<si>"):]
        lengths.extend(map(len, pieces))
    if b"<si" in pending or (lengths and max(lengths) > EXCEL_CELL_TEXT):
        return None
    return lengths


class _StringLengths(xml.sax.handler.ContentHandler):
    """The exact count: characters of each <si>'s text (its runs' <t>, not its phonetic guide)."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths = array("q")
        self._text = 0
        self._in_phonetic = 0
        self._counting = False

    def startElement(self, name: str, attrs: Any) -> None:
        local = name.rpartition(":")[2]
        if local == "si":
            self._text = 0
        elif local == "rPh":
            self._in_phonetic += 1
        self._counting = local == "t" and not self._in_phonetic

    def endElement(self, name: str) -> None:
        local = name.rpartition(":")[2]
        self._counting = False
        if local == "rPh":
            self._in_phonetic -= 1
        elif local == "si":
            if self._text > EXCEL_CELL_TEXT:
                raise FileRejected("file-too-large", reason=f"a text of {self._text:,} characters (shared string "
                                   f"{len(self.lengths):,}), more than the {EXCEL_CELL_TEXT:,} an Excel cell holds")
            self.lengths.append(self._text)

    def characters(self, content: str) -> None:
        if self._counting:
            self._text += len(content)


# Sheets: every cell reference within the bounds, and the text the sheet's shared strings expand to.


def _read_while_scanned(package: _Package, infos: dict[str, zipfile.ZipInfo], lengths: array[int],
                        budget: _Budget) -> str | None:
    """The sheet part whose windows are read as the scan clears them: of the large ones, the Assignments sheet's if
    the workbook has that sheet, else the largest; none when even every cell naming the longest shared string could
    exceed the bound (the scan must then count first)."""
    large = [n for n in package.sheet_parts if infos[n].file_size > sheet_windows.WINDOW_THRESHOLD]
    # A workbook's Assignments sheet is loaded first, and the others only if it has no header.
    first = next((p for s, p in package.sheets.items() if is_assignments(s)), None)
    if first is not None:
        large = [n for n in large if n == first]
    if not large:
        return None
    part = max(large, key=lambda n: (infos[n].file_size, n))
    cells = infos[part].file_size // _SMALLEST_VALUE_CELL
    return part if cells * max(lengths, default=0) <= budget.limit else None


def is_assignments(sheet: str) -> bool:
    """The Assignments sheet: loaded first, whatever its place in the workbook, and the one used, header or not."""
    return sheet.strip().casefold() == "assignments"


def _scan_sheet(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget, bounds: _Bounds, lengths: array[int],
                where: str, reading: WindowReading | None = None) -> bool:
    """Cell references, then what the sheet's shared strings expand to: bounded by the longest string if that is
    enough, else by counting the references to the long strings, else exactly. True for a large sheet that may be
    read in windows; ``reading`` is then handed each chunk once the scan has cleared it, and ends read or given
    up."""
    try:
        windowable = _scanned_sheet(raw, info, budget, bounds, lengths, where, reading)
    except BaseException:
        if reading is not None:
            reading.give_up()
        raise
    if reading is not None:
        reading.finish(windowable)
    return windowable


def _scanned_sheet(raw: BinaryIO, info: zipfile.ZipInfo, budget: _Budget, bounds: _Bounds, lengths: array[int],
                   where: str, reading: WindowReading | None) -> bool:
    name, before = info.filename, budget.used
    hiding, order = _Hiding(watch=info.file_size > sheet_windows.WINDOW_THRESHOLD), _RowOrder()
    chunks = hiding.of(_without_entities(name, _inflated(raw, info, budget)))

    def regular() -> bool:  # nothing seen so far keeps the sheet from being read in windows
        return hiding.watch and not hiding.found and order.ordered

    if reading is not None:
        chunks = reading.cleared(chunks, regular)
    size = _cells_in_bounds(chunks, bounds, where, order)
    windowable = size is not None and regular()
    if size is not None:
        cells = size // _SMALLEST_VALUE_CELL
        if cells * max(lengths, default=0) <= budget.limit:
            return windowable  # even every cell naming the longest string stays within the bound
        budget.used = before  # the same bytes again
        if _long_strings_within(_inflated(raw, info, budget), lengths, cells, budget.limit, where):
            return windowable
    budget.used = before
    handler = _ExactCells(bounds, lengths, budget.limit, where)
    _sax(name, _inflated(raw, info, budget), handler)
    return windowable


class _Hiding:
    """Watches a part's chunks for a comment, CDATA or processing instruction after its XML declaration: in one, a
    tag is text (calamine skips it), so cutting the XML at what looks like a row's end could cut a value."""

    def __init__(self, watch: bool) -> None:
        self.watch, self.found = watch, False

    def of(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        last = b""
        for number, chunk in enumerate(chunks):
            if self.watch and not self.found:
                start = chunk.find(b"?>") + 2 if number == 0 and chunk.startswith(b"<?xml") else 0
                self.found = (last == b"<" and chunk[:1] in (b"!", b"?")) or _hides(chunk, start)
                last = chunk[-1:]
            yield chunk


class _RowOrder:
    """Whether no cell names a row above the cell before it, as spreadsheet programs write them. A sheet read in
    windows needs it: a cell naming a row above its window's first cell would be left out by the window's reader."""

    def __init__(self) -> None:
        self.ordered, self.last = True, 0

    def add(self, rows: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        if self.ordered and rows.size:
            self.ordered = bool(rows[0] >= self.last) and bool(np.all(rows[1:] >= rows[:-1]))
            self.last = int(rows[-1])


def _hides(chunk: bytes, start: int) -> bool:
    """A "<!" or "<?" from ``start`` on, found by its rare second character ("<" is everywhere in XML)."""
    for mark in (b"!", b"?"):
        at = chunk.find(mark, start)
        while at >= 0:
            if at > 0 and chunk[at - 1] == ord("<"):
                return True
            at = chunk.find(mark, at + 1)
    return False


#: At most this many long shared strings are looked for by their index; more go to the exact scan.
_COUNTED_STRINGS = 256
#: What could make a <v> hold an index the count by pattern would miss: character references, CDATA, comments,
#: processing instructions, attributes or whitespace in the tag.
_VALUE_DISGUISES = (b"&#", b"<![CDATA[", b"<!--", b"<v ", b"<v\t", b"<v\n", b"<v\r", b"<v/")


def _long_strings_within(chunks: Iterable[bytes], lengths: array[int], cells: int, limit: int, where: str) -> bool:
    """Bounds the expansion by the short strings' most (every cell naming one: at most half the bound) plus the
    long strings' references counted by their index in every <v> (a number that happens to equal one counts too,
    which only overestimates). False when there are too many long strings, or values written unusually."""
    short = limit // 2 // max(cells, 1)
    long = {i: n for i, n in enumerate(lengths) if n > short}
    if not long:
        return True
    if len(long) > _COUNTED_STRINGS:
        return False
    names = b"|".join(str(i).encode() for i in long)
    # The reader parses the index as Rust's usize does: a sign and leading zeros are taken.
    pattern = re.compile(rb"<v>\+?0*(" + names + rb")</v>")
    expanded, tail, edge = 0, b"", b""
    for number, chunk in enumerate(chunks):
        buf = tail + chunk
        if any(d in edge + chunk for d in _VALUE_DISGUISES) or buf.find(b"<?", 0 if number else 1) >= 0:
            return False
        # A value still open at the chunk's end is counted with the next chunk; none is counted twice.
        open_at = buf.rfind(b"<v>")
        cut = open_at if open_at >= 0 and buf.find(b"</v>", open_at) < 0 else max(0, len(buf) - 2)
        expanded += sum(long[int(found[1])] for found in pattern.finditer(buf, 0, cut))
        if expanded > limit - short * cells:
            raise FileRejected("file-too-large", reason=f"the shared strings that {where} names expand to more "
                               f"than {human(limit)} of text")
        tail, edge = buf[cut:], buf[-16:]
        if len(tail) > _INFLATED_STEP:
            return False
    return True


_LOOKAHEAD = 64
#: Above this many colons in a chunk, they are not looked at one by one.
_COLONS_LOOKED_AT = 4096


def _cells_in_bounds(chunks: Iterable[bytes], bounds: _Bounds, where: str, order: _RowOrder | None = None
                     ) -> int | None:
    """The fast scan: the sheet's size in bytes once each cell reference is known to be within the bounds, or None
    when the sheet is not written as spreadsheet programs write it (cells without a reference first, prefixed
    names), for the exact scan to read. ``order`` is given the rows the cells name, in order."""
    size, tail = 0, b""
    for chunk in chunks:
        size += len(chunk)
        buf = tail + chunk
        end = max(0, len(buf) - _LOOKAHEAD)
        if _has_prefixed_cells(buf) or not _dimensions_in_bounds(buf, end, bounds, where):
            return None
        if not _refs_in_bounds(buf, end, bounds, where, order):
            return None
        tail = buf[end:]
    return size if _dimensions_in_bounds(tail, len(tail), bounds, where) and _refs_in_bounds(
        tail, len(tail), bounds, where, order) else None


def _has_prefixed_cells(buf: bytes) -> bool:
    """Whether a cell, value, row or dimension element has a namespace prefix (which the reader ignores, and the
    fast scan would not see). Each colon is looked at (memchr finds them at memory speed): one in an element's
    name has that element's ``<`` as the nearest before it and no ``>`` between. A buffer with many colons (times,
    addresses in the text) is searched by the pattern instead, as looking at each would cost more."""
    at = buf.find(b":")
    if at < 0:
        return False
    if buf.rfind(b"<", 0, at) < 0 and buf.rfind(b">", 0, at) < 0 and _AFTER_A_NAME.search(buf, 0, at) is None:
        # A name longer than the chunks' overlap, cut at this chunk's start: neither chunk shows it whole. Not when
        # something a name cannot hold comes first: the chunk then starts after the name, inside the tag, as at a
        # colon in an attribute's value (spreadsheet programs write spans="1:28" in every row's tag).
        return True
    if buf.count(b":") > _COLONS_LOOKED_AT:
        return bool(_PREFIXED_CELL.search(buf))
    while at >= 0:
        start = buf.rfind(b"<", 0, at)
        if start > buf.rfind(b">", 0, at) and _PREFIXED_CELL.match(buf, start):
            return True
        at = buf.find(b":", at + 1)
    return False


def _dimensions_in_bounds(buf: bytes, end: int, bounds: _Bounds, where: str) -> bool:
    """Checks each <dimension> that starts before ``end`` (the reader may size its grid by one); False for one
    written unusually."""
    at = buf.find(b"<dimension", 0, end)
    while at >= 0:
        found = _DIMENSION.match(buf, at)
        if found is None:
            return False
        for ref in found[1].split(b":"):
            bounds.check(ref, where)
        at = buf.find(b"<dimension", at + 1, end)
    return True


def _refs_in_bounds(buf: bytes, end: int, bounds: _Bounds, where: str, order: _RowOrder | None = None) -> bool:
    """Checks the cells that start before ``end`` (a cell after it may be cut at the chunk's end): all of them at
    once when they are all written the usual way and within the bounds, else one by one."""
    return _refs_plainly_in_bounds(buf, end, bounds, order) or _refs_one_by_one(buf, end, bounds, where, order)


def _refs_one_by_one(buf: bytes, end: int, bounds: _Bounds, where: str, order: _RowOrder | None = None) -> bool:
    """Each cell start tag before ``end`` that ``bounds.suspect`` finds checked (rejecting the file for a wrong
    reference); False for one not written ``<c r="REF"`` or naming a second ``r``, for the exact scan. ``order``
    is given every cell's row (a cell the suspect search passes over has a usual reference)."""
    if order is not None:
        # A cell starting before ``end`` may end after it: `<c`, then the widest `` r="REF"``.
        rows = (int(found[1]) for found in _PLAIN_CELL_ROW.finditer(buf, 0, end + 2 + len(_CELL_START) + _REF_WIDTH)
                if found.start() < end)
        order.add(np.fromiter(rows, dtype=np.int64))
    found = bounds.suspect.search(buf)
    while found is not None and found.start() < end:
        start = found.start()
        if not buf.startswith(b'<c r="', start):
            return False
        close = buf.find(b'"', start + 6, start + 6 + 40)
        if close < 0:
            return False
        bounds.check(buf[start + 6:close], where)
        if _CELL_TAG_REST.match(buf, close + 1) is None:
            return False
        found = bounds.suspect.search(buf, start + 1)
    return True


#: The widest reference the vectorised check reads: three letters and seven digits, and the closing quote.
_REF_WIDTH = 11
#: Bytes after a reference in which its tag must end (`` s="123" t="inlineStr">``, ``/>``), else not plain.
_TAG_REST_WIDTH = 24
_FOLLOWS_CELL = np.zeros(256, dtype=bool)
_FOLLOWS_CELL[list(b" \t\n\r\f\v/>")] = True
_CELL_START = b' r="'


def _refs_plainly_in_bounds(buf: bytes, end: int, bounds: _Bounds, order: _RowOrder | None = None) -> bool:
    """Whether every cell start tag before ``end`` (``<c`` and a space, tab, newline, ``/`` or ``>``, as
    ``bounds.suspect`` finds them) is ``<c r="REF"`` with REF within the bounds and no other ``r`` in the rest of
    the tag, checked for all cells at once with numpy: the regex search costs ~100 ns a cell in a 100k-row sheet,
    this a twentieth of that. True only when the suspect search would find nothing before ``end``; False sends
    the buffer to that search, which says which cell is wrong. ``order`` is given the cells' rows when True."""
    width = len(_CELL_START) + _REF_WIDTH + _TAG_REST_WIDTH
    if end + 2 + width > len(buf):
        return False
    data = np.frombuffer(buf, dtype=np.uint8)
    pairs = np.flatnonzero((data[:end] == ord("<")) & (data[1:end + 1] == ord("c")))
    starts = pairs[_FOLLOWS_CELL[data[pairs + 2]]]
    if starts.size == 0:
        return True
    windows = np.lib.stride_tricks.as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1),
                                              writeable=False)
    # One row per place of the tag after `<c`, one column per cell: each place's bytes are contiguous, and the
    # checks below go place by place, stopping once every cell's reference (or tag) has ended.
    places = windows[starts + 2].T.copy()
    if any(np.any(places[at] != byte) for at, byte in enumerate(_CELL_START)):
        return False
    rows = _references_within(places[len(_CELL_START):], bounds)
    if rows is None or not _tags_end_plainly(places[len(_CELL_START):]):
        return False
    if order is not None:
        order.add(rows)
    return True


def _references_within(places: np.ndarray[Any, np.dtype[np.uint8]], bounds: _Bounds
                       ) -> np.ndarray[Any, np.dtype[np.int64]] | None:
    """The rows of the references when each column of ``places`` starts with letters, then digits (the first not
    0), then a quote, and the column and row they name are within the bounds (four letters or eight digits are
    beyond them); else None."""
    count = places.shape[1]
    column, row = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    in_ref, in_digits = np.ones(count, dtype=bool), np.zeros(count, dtype=bool)
    for place in range(_REF_WIDTH):
        byte = places[place]
        letter_here = in_ref & ~in_digits & ((byte - np.uint8(ord("A"))) < 26)
        digit = (byte - np.uint8(ord("0"))) < 10
        digit_here = in_ref & digit & ((in_digits | (byte != ord("0"))) if place else in_digits)
        closes = in_ref & in_digits & (byte == ord('"'))
        if np.any(in_ref & ~(letter_here | digit_here | closes)):
            return None
        value = byte.astype(np.int64)
        if letter_here.any():
            column = np.where(letter_here, column * 26 + value - 64, column)
        if digit_here.any():
            row = np.where(digit_here, row * 10 + value - 48, row)
        in_digits |= digit_here
        in_ref &= ~closes
        if not in_ref.any():
            return row if column.max() <= bounds.columns and row.max() <= bounds.rows else None
    return None  # a reference without its quote within the width


def _tags_end_plainly(places: np.ndarray[Any, np.dtype[np.uint8]]) -> bool:
    """Whether each column's tag ends (``>``) within the width, with no ``<`` and no ``r`` that does not follow a
    letter before (the reader takes a second ``r`` attribute's reference). The reference itself, checked first,
    holds none of these."""
    open_tag = np.ones(places.shape[1], dtype=bool)
    follows_letter = np.zeros(places.shape[1], dtype=bool)
    for byte in places:
        if np.any(open_tag & ((byte == ord("<")) | ((byte == ord("r")) & ~follows_letter))):
            return False
        open_tag &= byte != ord(">")
        if not open_tag.any():
            return True
        follows_letter = ((byte | np.uint8(0x20)) - np.uint8(ord("a"))) < 26
    return False


class _ExactCells(xml.sax.handler.ContentHandler):
    """The exact scan, for a sheet the fast one cannot read: each cell's position as the reader takes it (its
    reference, else the one after the cell before it), and the shared strings it names, added up."""

    def __init__(self, bounds: _Bounds, lengths: array[int], limit: int, where: str) -> None:
        super().__init__()
        self.bounds, self.lengths, self.limit, self.where = bounds, lengths, limit, where
        self.row = self.column = 0
        self.expanded = 0
        self._shared = False
        self._value: list[str] | None = None

    def startElement(self, name: str, attrs: Any) -> None:
        local = name.rpartition(":")[2]
        if local == "row":
            self._row(attrs.get("r"))
        elif local == "c":
            self._cell(attrs.get("r"))
            self._shared = attrs.get("t") == "s"
        elif local == "v" and self._shared:
            self._value = []
        elif local == "dimension":
            for ref in (attrs.get("ref") or "").split(":"):
                self.bounds.check(ref.encode(), self.where)

    def characters(self, content: str) -> None:
        if self._value is not None:
            self._value.append(content)

    def endElement(self, name: str) -> None:
        if self._value is not None and name.rpartition(":")[2] == "v":
            self._add("".join(self._value).strip())
            self._value = None

    def _row(self, ref: str | None) -> None:
        self.row = int(ref) if ref is not None and ref.isdigit() else self.row + 1
        self.column = 0
        if self.row > self.bounds.rows:
            raise FileRejected("file-too-large", reason=f"{self.where} has a row {self.row:,}, beyond row "
                               f"{self.bounds.rows:,}")

    def _cell(self, ref: str | None) -> None:
        if ref is None:
            self.column += 1
            ref = f"{column_letter(self.column - 1)}{max(self.row, 1)}"
        self.bounds.check(ref.encode(), self.where)
        found = _REF.fullmatch(ref.encode())
        if found is not None:
            self.column = _column_number(found[1].decode())

    def _add(self, index: str) -> None:
        if not index.isdigit() or int(index) >= len(self.lengths):
            raise FileRejected("unreadable-file", reason=f"{self.where} names shared string '{index[:20]}', which "
                               f"does not exist ({len(self.lengths):,} strings)")
        self.expanded += self.lengths[int(index)]
        if self.expanded > self.limit:
            raise FileRejected("file-too-large", reason=f"the shared strings that {self.where} names expand to "
                               f"more than {human(self.limit)} of text")


def _parse(archive: zipfile.ZipFile, name: str) -> Any:
    info = archive.getinfo(name)
    if info.file_size > _WHOLE_PART_BYTES:
        raise FileRejected("unreadable-file", reason=f"part {name} is {human(info.file_size)}, far more than Excel "
                           "writes")
    return _parse_bytes(name, archive.read(name))


def _first_row(archive: zipfile.ZipFile, part: str) -> int:
    """The row number of the first cell with a value: the fast reader drops the empty rows above it."""
    if part not in archive.namelist():
        return 1
    try:
        with archive.open(part) as stream:
            for _event, el in SafeET.iterparse(stream, events=("end",)):
                if _local(el.tag) == "c" and any(_local(child.tag) in ("v", "is") for child in el):
                    ref = el.get("r", "")
                    digits = "".join(ch for ch in ref if ch.isdigit())
                    return int(digits) if digits else 1
                if _local(el.tag) == "row":
                    el.clear()  # rows of empty cells above the first value are not kept
    except Exception as exc:
        raise FileRejected("unreadable-file", reason=f"part {part} is damaged") from exc
    return 1


def _edition(archive: zipfile.ZipFile) -> str | None:
    name = "docProps/custom.xml"
    if name not in archive.namelist():
        return None
    for el in _parse(archive, name).iter():
        if _local(el.tag) == "property" and el.get("name") == "coc-template-edition":
            return "".join(el.itertext()).strip() or None
    return None


def _xlsx_sources(workbook: bytes | Path, size: int, limits: Limits) -> list[SheetSource]:
    archive, package = _check_zip(workbook, size, limits)
    parts = package.sheets
    edition = _edition(archive)
    try:
        reader = fastexcel.read_excel(str(workbook) if isinstance(workbook, Path) else workbook)
    except BaseException as exc:  # fastexcel raises its own error classes for damaged workbooks
        if not is_reader_failure(exc):
            raise
        raise FileRejected("unreadable-file", reason=f"the workbook is damaged ({type(exc).__name__})") from exc

    def source(name: str) -> SheetSource:
        def load(n_rows: int | None) -> Grid:
            part = parts.get(name, "")
            if n_rows is None and part in package.windowable:
                try:
                    cells = _windowed(archive, part, name, limits, package.strings_bytes,
                                      package.reading.pop(part, None))
                except sheet_windows.Irregular:
                    pass  # read whole, as any other sheet (and rejected as the whole sheet's reading rejects it)
                else:
                    return Grid(sheet=name, cells=cells, first_row=_first_row(archive, part), edition=edition)
            try:
                sheet = reader.load_sheet(name, header_row=None, dtypes="string", n_rows=n_rows)
                if sheet.total_height > limits.max_rows:
                    raise FileRejected("file-too-large", reason=f"more than {limits.max_rows:,} rows")
                columns = sheet.available_columns()
                if len(columns) > limits.max_columns:
                    raise FileRejected("file-too-large", reason=f"{len(columns)} columns, over {limits.max_columns}")
                batch = sheet.to_arrow()
            except FileRejected:
                raise
            except BaseException as exc:
                if not is_reader_failure(exc):
                    raise
                raise FileRejected("unreadable-file", reason=f"sheet '{name}' is damaged ({exc})") from exc
            cells = pd.DataFrame(
                {info.absolute_index: pd.Series(_STR.__from_arrow__(batch.column(i)))  # type: ignore[attr-defined]
                 for i, info in enumerate(columns)}
            )
            return Grid(sheet=name, cells=cells, first_row=_first_row(archive, part), edition=edition)

        return SheetSource(name=name, load=load)

    names = list(reader.sheet_names)
    names.sort(key=lambda n: not is_assignments(n))
    return [source(n) for n in names]


# --- xlsx: a large sheet in windows (sheet_windows) -------------------------------------------------------------


def _windowed(archive: zipfile.ZipFile, part: str, name: str, limits: Limits, strings_bytes: int,
              reading: WindowReading | None) -> pd.DataFrame:
    """The sheet's cells as the whole sheet's reading returns them, read a window of rows at a time (``reading``,
    when the prescan read them); raises ``sheet_windows.Irregular`` when the windows could read otherwise (or the
    reader fails: the whole sheet's reading then says why)."""
    if reading is None:
        reading = WindowReading(archive, part, name, strings_bytes)
        try:
            with archive.open(part) as stream:
                for chunk in sheet_windows.chunks_of(stream):
                    reading.feed(chunk)
        except BaseException:
            reading.give_up()
            raise
        reading.finish(True)
    done = reading.result()
    pieces = [piece for piece, _ in done if piece is not None]
    first = next((top for piece, top in done if piece is not None), 1)
    assembled = sheet_windows.assemble(pieces, first)
    if assembled.height > limits.max_rows:
        raise FileRejected("file-too-large", reason=f"more than {limits.max_rows:,} rows")
    if len(assembled.columns) > limits.max_columns:
        raise FileRejected("file-too-large", reason=f"{len(assembled.columns)} columns, over {limits.max_columns}")
    return sheet_windows.frame(assembled, _STR)


def iter_rows(grid: Grid, limit: int | None = None) -> list[tuple[int, list[tuple[int, str | None]]]]:
    """(sheet row number, [(column index, text)]) for the grid's first rows; for header detection."""
    head = grid.cells if limit is None else grid.cells.head(limit)
    columns = [int(c) for c in head.columns]
    return [
        (grid.first_row + i, [(c, None if pd.isna(v) else str(v)) for c, v in zip(columns, row, strict=True)])
        for i, row in enumerate(head.itertuples(index=False, name=None))
    ]
