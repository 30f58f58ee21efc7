"""Reading an employer's file into a grid of text cells (docs/reading.md#formats-and-bounds).

Everything is read as text and typed later (``normalize``): the fast readers infer a column's type from its first
rows and turn later cells that do not fit into silent nulls. Structural problems raise ``FileRejected`` with a
file code (docs/errors.md#file-and-header-errors) before any row is looked at.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

import fastexcel
import pandas as pd
from defusedxml import ElementTree as SafeET

from coc_intake.errors import FileRejected
from coc_intake.limits import DEFAULT_LIMITS, Limits, human

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


def _check_zip(source: bytes | Path, size: int, limits: Limits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
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
    content_types = archive.read("[Content_Types].xml")
    if b"macroEnabled" in content_types:
        raise FileRejected("unsupported-format", reason="The workbook is macro-enabled")
    for info in infos:
        if info.filename.endswith((".xml", ".rels")) and _declares_entities(archive, info):
            raise FileRejected(
                "unreadable-file", reason=f"part {info.filename} declares XML entities, which Excel never writes"
            )
    return archive


_ROOT_START = re.compile(rb"<[A-Za-z_]")


def _declares_entities(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether the part's prolog (everything before its root element) has a DOCTYPE or ENTITY declaration."""
    prolog = b""
    with archive.open(info) as part:
        while chunk := part.read(65536):
            prolog += chunk
            root = _ROOT_START.search(prolog)
            if root is not None:
                prolog = prolog[: root.start()]
                break
            if len(prolog) > 4 * 1024 * 1024:  # megabytes of prolog: no workbook looks like that
                return True
    return b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog


def _parse(archive: zipfile.ZipFile, name: str) -> object:
    try:
        return SafeET.fromstring(archive.read(name))
    except Exception as exc:  # defusedxml and expat raise several unrelated types
        raise FileRejected("unreadable-file", reason=f"part {name} is damaged") from exc


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its XML part, in workbook order."""
    workbook = _parse(archive, "xl/workbook.xml")
    rels_name = "xl/_rels/workbook.xml.rels"
    targets: dict[str, str] = {}
    if rels_name in archive.namelist():
        for rel in _parse(archive, rels_name).iter():  # type: ignore[attr-defined]
            if _local(rel.tag) == "Relationship":
                target = rel.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                targets[rel.get("Id")] = target
    parts: dict[str, str] = {}
    for el in workbook.iter():  # type: ignore[attr-defined]
        if _local(el.tag) == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            parts[el.get("name")] = targets.get(rid or "", "")
    return parts


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
    except Exception as exc:
        raise FileRejected("unreadable-file", reason=f"part {part} is damaged") from exc
    return 1


def _edition(archive: zipfile.ZipFile) -> str | None:
    name = "docProps/custom.xml"
    if name not in archive.namelist():
        return None
    for el in _parse(archive, name).iter():  # type: ignore[attr-defined]
        if _local(el.tag) == "property" and el.get("name") == "coc-template-edition":
            return "".join(el.itertext()).strip() or None
    return None


def _xlsx_sources(workbook: bytes | Path, size: int, limits: Limits) -> list[SheetSource]:
    archive = _check_zip(workbook, size, limits)
    parts = _sheet_parts(archive)
    edition = _edition(archive)
    try:
        reader = fastexcel.read_excel(str(workbook) if isinstance(workbook, Path) else workbook)
    except Exception as exc:  # fastexcel raises its own error classes for damaged workbooks
        raise FileRejected("unreadable-file", reason=f"the workbook is damaged ({type(exc).__name__})") from exc

    def source(name: str) -> SheetSource:
        def load(n_rows: int | None) -> Grid:
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
            except Exception as exc:
                raise FileRejected("unreadable-file", reason=f"sheet '{name}' is damaged ({exc})") from exc
            cells = pd.DataFrame(
                {info.absolute_index: pd.Series(_STR.__from_arrow__(batch.column(i)))  # type: ignore[attr-defined]
                 for i, info in enumerate(columns)}
            )
            return Grid(sheet=name, cells=cells, first_row=_first_row(archive, parts.get(name, "")), edition=edition)

        return SheetSource(name=name, load=load)

    names = list(reader.sheet_names)
    names.sort(key=lambda n: n.strip().casefold() != "assignments")
    return [source(n) for n in names]


def iter_rows(grid: Grid, limit: int | None = None) -> list[tuple[int, list[tuple[int, str | None]]]]:
    """(sheet row number, [(column index, text)]) for the grid's first rows; for header detection."""
    head = grid.cells if limit is None else grid.cells.head(limit)
    columns = [int(c) for c in head.columns]
    return [
        (grid.first_row + i, [(c, None if pd.isna(v) else str(v)) for c, v in zip(columns, row, strict=True)])
        for i, row in enumerate(head.itertuples(index=False, name=None))
    ]
