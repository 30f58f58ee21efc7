"""Hostile workbooks and files: each is answered with a file code, fast and in bounded memory, never a traceback
(docs/reading.md#formats-and-bounds, docs/decisions.md#reading).

Every hostile workbook is built here (zipfile and hand-written XML), never stored. The far-cell and shared-string
cases run in a child process whose address space is capped at 1.5 GiB, so that a reader allocating for the cells
a file claims fails the test instead of the machine.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import string
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coc_intake import catalog, schemas
from coc_intake.engine import CheckedRows, RejectedFile, check_file
from coc_intake.limits import Limits
from coc_intake.read import column_letter
from tests.builders import AS_OF, row, validate_json
from tests.intake_helpers import run_intake

KEYS = list(schemas.fields())
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
VBA_TYPE = "application/vnd.ms-office.vbaProject"
VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
SHEET = "xl/worksheets/sheet1.xml"
#: Seconds within which every hostile file must be answered (they take well under one on an idle machine).
FAST = 20.0
#: The address space of the child process that reads the far-cell and shared-string files.
CAP = int(1.5 * 1024**3)
#: The codes a file rejected whole may carry (its file or header error, and header notices beside it).
FILE_CODES = {c for c, entry in catalog.CATALOG.items() if entry.scope in ("file", "header")}


# --- building workbooks by hand ----------------------------------------------------------------------------------


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def template_rows() -> str:
    """The header row and one valid row, as inline strings: a workbook the intake processes."""
    labels = [schemas.fields()[k].label for k in KEYS]
    base = row()
    values = [base[k].isoformat() if isinstance(base[k], dt.date) else base[k] for k in KEYS]
    header = "".join(inline(f"{column_letter(i)}1", label) for i, label in enumerate(labels))
    data = "".join(inline(f"{column_letter(i)}2", str(v)) for i, v in enumerate(values) if v is not None)
    return f'<row r="1">{header}</row><row r="2">{data}</row>'


def sheet_xml(rows: str, dimension: str | None = None) -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">{dim}'
            f"<sheetData>{rows}</sheetData></worksheet>").encode()


def strings_xml(strings: list[str]) -> bytes:
    items = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{items}</sst>').encode()


def parts(sheet: bytes, strings: bytes | None = None, overrides: Mapping[str, str] | None = None,
          relationships: Mapping[str, tuple[str, str]] | None = None,
          extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """The parts of a one-sheet workbook: ``overrides`` adds content types (part name → type), ``relationships``
    the workbook's (id → (type, target)), ``extra`` more parts."""
    types = {"/xl/workbook.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
             f"/{SHEET}": SHEET_TYPE, **({"/xl/sharedStrings.xml": STRINGS_TYPE} if strings else {}),
             **(overrides or {})}
    rels = {"rId1": (f"{RELS}/worksheet", "worksheets/sheet1.xml"),
            **({"rId2": (f"{RELS}/sharedStrings", "sharedStrings.xml")} if strings else {}), **(relationships or {})}
    out = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(f'<Override PartName="{n}" ContentType="{t}"/>' for n, t in types.items())
            + "</Types>").encode(),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>").encode(),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
            '<sheets><sheet name="Assignments" sheetId="1" r:id="rId1"/></sheets></workbook>').encode(),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PACKAGE_RELS}">'
            + "".join(f'<Relationship Id="{i}" Type="{t}" Target="{target}"/>' for i, (t, target) in rels.items())
            + "</Relationships>").encode(),
        SHEET: sheet,
    }
    if strings:
        out["xl/sharedStrings.xml"] = strings
    return {**out, **(extra or {})}


def zipped(members: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def workbook(rows: str, dimension: str | None = None, strings: list[str] | None = None, **kw: Any) -> bytes:
    return zipped(parts(sheet_xml(rows, dimension), strings_xml(strings) if strings else None, **kw))


def patched(data: bytes, name: str, crc: int | None = None, size: int | None = None) -> bytes:
    """The zip with one member's CRC or uncompressed size changed in both its local and central headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(name).header_offset
    central = out.index(b"PK\x01\x02")
    while out[central + 46:central + 46 + len(name)] != name.encode():
        central = out.index(b"PK\x01\x02", central + 4)
    if crc is not None:
        struct.pack_into("<I", out, local + 14, crc)
        struct.pack_into("<I", out, central + 16, crc)
    if size is not None:
        struct.pack_into("<I", out, local + 22, size)
        struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def check(data: bytes, name: str = "hostile.xlsx", limits: Limits | None = None) -> tuple[list[str], str]:
    """The file's finding codes and first message, checked in this process, and that it took under FAST s."""
    start = time.monotonic()
    outcome = check_file(data, name, dt.date.fromisoformat(AS_OF), limits or Limits())
    assert time.monotonic() - start < FAST
    return list(outcome.findings["code"]), str(outcome.findings["message"].iloc[0]) if len(outcome.findings) else ""


_CHILD = """
import datetime as dt, json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from coc_intake.engine import CheckedRows, RejectedFile, check_file
outcome = check_file(Path(sys.argv[1]), "hostile.xlsx", dt.date(2026, 11, 25))
print(json.dumps([list(outcome.findings["code"]), list(outcome.findings["message"])]))
"""


def check_capped(tmp_path: Path, data: bytes) -> tuple[list[str], str]:
    """The file checked by a child process that may map at most 1.5 GiB: (codes, first message)."""
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(data)
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "RAYON_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _CHILD.format(cap=CAP), str(path)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.monotonic() - start < FAST + 10  # the child's imports take a few seconds
    codes, messages = json.loads(done.stdout.strip().splitlines()[-1])
    return codes, messages[0] if messages else ""


# --- a hand-built workbook is read as any other ------------------------------------------------------------------


def test_the_hand_built_workbook_is_processed_so_that_each_hostile_variant_differs_only_by_its_attack() -> None:
    codes, _ = check(workbook(template_rows()))
    assert "unreadable-file" not in codes and "file-too-large" not in codes
    outcome = check_file(workbook(template_rows(), strings=["spare"]), "ok.xlsx", dt.date.fromisoformat(AS_OF))
    assert isinstance(outcome, CheckedRows)
    assert outcome.rows.loc[2, "status"] == "approved"


# --- 1, 12: cells far away -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ref", "bound"), [("XFD1048576", "column"), ("A2000000", "row")],
                         ids=["last-cell-of-excel", "row-2-million"])
def test_a_far_cell_is_file_too_large_naming_it_before_the_reader_allocates(tmp_path: Path, ref: str,
                                                                              bound: str) -> None:
    data = workbook(template_rows() + f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}">'
                    + inline(ref, "x") + "</row>")
    assert len(data) < 8 * 1024
    codes, message = check_capped(tmp_path, data)
    assert codes == ["file-too-large"]
    assert ref in message and bound in message


def test_a_cell_in_column_zzzz_is_file_too_large_at_once() -> None:
    codes, message = check(workbook(template_rows() + '<row r="3">' + inline("ZZZZ3", "x") + "</row>"))
    assert codes == ["file-too-large"]
    assert "ZZZZ3" in message


def test_a_cell_beyond_the_configured_columns_is_file_too_large_naming_it() -> None:
    codes, message = check(workbook(template_rows()), limits=Limits(max_columns=10))
    assert codes == ["file-too-large"]
    assert "K1" in message and "column J" in message


def test_a_dimension_beyond_the_bounds_is_file_too_large() -> None:
    codes, message = check(workbook(template_rows(), dimension="A1:XFD1048576"))
    assert codes == ["file-too-large"]
    assert "XFD1048576" in message


@pytest.mark.parametrize("ref", ["1A", "A0", "a1", "A01", "A1B2", ""])
def test_a_malformed_cell_reference_is_unreadable_file(ref: str) -> None:
    codes, message = check(workbook(template_rows() + '<row r="3">' + inline(ref, "x") + "</row>"))
    assert codes == ["unreadable-file"]
    assert "malformed cell reference" in message


@pytest.mark.parametrize("cells", [
    "".join(f'<c t="inlineStr"><is><t>{i}</t></is></c>' for i in range(250)),
    '<x:c xmlns:x="' + MAIN + '" r="XFD3"><x:v>1</x:v></x:c>',
    '<c t="n" r="XFD3"><v>1</v></c>',
], ids=["cells-without-references", "prefixed-cell", "reference-not-first"])
def test_cells_written_unusually_are_checked_exactly(cells: str) -> None:
    codes, message = check(workbook(template_rows() + f'<row r="3">{cells}</row>'))
    assert codes == ["file-too-large"]
    assert "beyond column GR" in message


# --- 3: shared strings ---------------------------------------------------------------------------------------------


def test_forty_cells_naming_one_10_mb_shared_string_are_file_too_large_in_bounded_memory(tmp_path: Path) -> None:
    # Random letters: the file is about 7 MB, within every bound, as the probe's was.
    huge = "".join(random.Random(3).choices(string.ascii_letters, k=10 * 1024 * 1024))
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>1</v></c><c r="B{r}" t="s"><v>1</v></c></row>'
                   for r in range(3, 43))
    codes, message = check_capped(tmp_path, workbook(template_rows() + rows, strings=["x", huge]))
    assert codes == ["file-too-large"]
    assert "32,767" in message


def test_many_cells_naming_a_long_shared_string_are_file_too_large_for_what_they_expand_to(tmp_path: Path) -> None:
    """Each string within Excel's cell limit, but 20,000 references to one of 32,000 characters expand to 640 MB,
    over max_uncompressed (500 MB), from a file of a few hundred KB."""
    long = "".join(chr(0x41 + (i * 31) % 26) for i in range(32_000))
    rows = "".join(f'<row r="{r}">' + "".join(f'<c r="{column_letter(c)}{r}" t="s"><v>1</v></c>' for c in range(20))
                   + "</row>" for r in range(3, 1003))
    data = workbook(template_rows() + rows, strings=["x", long])
    assert len(data) < 1024 * 1024
    codes, message = check_capped(tmp_path, data)
    assert codes == ["file-too-large"]
    assert "expand to more than 500.0 MB" in message


def test_shared_strings_written_unusually_are_counted_exactly() -> None:
    """Line breaks between the strings, and a second <si> inside one: the fast count by </si> cannot tell which
    piece is which string, so the exact count reads them, and finds the long one."""
    long = "z" * 40_000
    for items in ([f"<si><t>{v}</t></si>\n" for v in ("x", long)],
                  ["<si><t>x</t><si><t>" + long + "</t></si></si>"]):
        members = parts(sheet_xml(template_rows() + '<row r="3"><c r="A3" t="s"><v>1</v></c></row>'),
                        strings_xml(["x"]))
        members["xl/sharedStrings.xml"] = f'<sst xmlns="{MAIN}">{"".join(items)}</sst>'.encode()
        codes, message = check(zipped(members))
        assert codes == ["file-too-large"], message
        assert "40,000 characters" in message


@pytest.mark.parametrize(("references", "code"), [(3, None), (400, "file-too-large")])
def test_past_the_quick_bound_the_long_strings_references_are_counted_without_the_exact_scan(
        monkeypatch: pytest.MonkeyPatch, references: int, code: str | None) -> None:
    """400 rows could each name the 2,000-character string (800 KB, over a 300 KB bound): its references are
    counted, and only 400 of them are too many."""
    from coc_intake import read

    monkeypatch.setattr(read, "_ExactCells", None)  # the exact scan would fail the test
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>{1 if r < 3 + references else 0}</v></c></row>'
                   for r in range(3, 403))
    codes, _ = check(workbook(template_rows() + rows, strings=["x", "y" * 2000]),
                     limits=Limits(max_uncompressed=300_000))
    assert ("file-too-large" in codes) == (code is not None)
    assert "unreadable-file" not in codes


def test_a_cell_naming_a_shared_string_that_does_not_exist_is_unreadable_file() -> None:
    long = "y" * 2000  # long enough for the exact count of what the sheet expands to
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>{r}</v></c></row>' for r in range(3, 30))
    codes, _ = check(workbook(template_rows() + rows, strings=["x", long]),
                     limits=Limits(max_uncompressed=40_000))
    assert codes == ["unreadable-file"]


# --- 7: damaged zip members ----------------------------------------------------------------------------------------


def _damaged_members() -> dict[str, bytes]:
    good = workbook(template_rows())
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        real = z.getinfo(SHEET)
    return {
        "bad-crc": patched(good, SHEET, crc=real.CRC ^ 0xFFFF),
        "size-understated": patched(good, SHEET, size=real.file_size // 2),
        "size-overstated": patched(good, SHEET, size=real.file_size + 100),
        "bad-crc-in-content-types": patched(good, "[Content_Types].xml", crc=1),
    }


@pytest.mark.parametrize("case", list(_damaged_members()))
def test_a_damaged_zip_member_is_unreadable_file_in_validate(tmp_path: Path, case: str) -> None:
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(_damaged_members()[case])
    start = time.monotonic()
    exit_code, report = validate_json(path)
    assert time.monotonic() - start < FAST
    assert [f["code"] for f in report["findings"]] == ["unreadable-file"]
    assert exit_code == 1


def test_a_member_whose_header_understates_its_size_is_a_rejected_file_in_the_nightly_run(
        stores: tuple[Path, Path]) -> None:
    inbox, outbox = stores
    (inbox / "damaged.xlsx").write_bytes(_damaged_members()["size-understated"])
    [summary] = run_intake(inbox, outbox, deliver=False)
    assert summary.result == "rejected-file"
    assert list(inbox.iterdir()) == []


def test_a_deflate_stream_that_inflates_beyond_its_header_is_unreadable_file() -> None:
    """The headers say the sheet's first KB, with that KB's CRC; its stream holds 50 MB more (of spaces)."""
    members = parts(sheet_xml(template_rows()))
    head = members[SHEET]
    members[SHEET] = head + b" " * (50 * 1024 * 1024)
    data = patched(zipped(members), SHEET, crc=zlib.crc32(head), size=len(head))
    codes, message = check(data)
    assert codes == ["unreadable-file"]
    assert "more than its header says" in message


# --- 12: macros under another name --------------------------------------------------------------------------------


VBA = bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504


@pytest.mark.parametrize(("kw"), [
    {"overrides": {"/xl/macros.dat": VBA_TYPE}, "extra": {"xl/macros.dat": VBA}},
    {"relationships": {"rId9": (VBA_REL, "stuff.bin")}, "extra": {"xl/stuff.bin": VBA}},
    {"extra": {"xl/_rels/other.xml.rels": (
        f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="r" Type="{VBA_REL}" Target="p.bin"/>'
        "</Relationships>").encode(), "xl/p.bin": VBA}},
], ids=["content-type-override", "workbook-relationship", "relationship-of-another-part"])
def test_a_vba_project_under_another_name_is_unsupported_format(kw: dict[str, Any]) -> None:
    codes, message = check(workbook(template_rows(), **kw))
    assert codes == ["unsupported-format"]
    assert "macros" in message


def test_a_default_content_type_of_vba_counts_only_for_a_part_with_that_extension() -> None:
    declared = '<Default Extension="dat" ContentType="' + VBA_TYPE + '"/>'
    with_part = parts(sheet_xml(template_rows()), extra={"xl/x.dat": VBA})
    with_part["[Content_Types].xml"] = with_part["[Content_Types].xml"].replace(b"</Types>",
                                                                                declared.encode() + b"</Types>")
    assert check(zipped(with_part))[0] == ["unsupported-format"]


# --- fuzzing: an answer, fast, and never an exception ------------------------------------------------------------

FUZZ_LIMITS = Limits(max_rows=5_000, max_columns=40, max_uncompressed=20 * 1024 * 1024)
refs = st.one_of(
    st.builds(lambda c, r: f"{column_letter(c)}{r}", st.integers(0, 20_000), st.integers(0, 3_000_000)),
    st.text(alphabet="ABCXYZabc0123456789:$ -", max_size=12),
)


def _answered(data: bytes, name: str) -> None:
    start = time.monotonic()
    outcome = check_file(data, name, dt.date.fromisoformat(AS_OF), FUZZ_LIMITS)
    assert time.monotonic() - start < 10
    if isinstance(outcome, RejectedFile):
        assert set(outcome.findings["code"]) <= FILE_CODES


@st.composite
def hostile_workbooks(draw: st.DrawFn) -> bytes:
    strings = draw(st.lists(st.text(max_size=30), max_size=4))
    cells = draw(st.lists(st.tuples(refs, st.one_of(st.none(), st.integers(-2, 10), st.text(max_size=6))),
                          max_size=8))
    extra = "".join(
        f'<c r="{escape(ref, {chr(34): "&quot;"})}" t="s"><v>{escape(str(v))}</v></c>' if v is not None
        else f'<c r="{escape(ref, {chr(34): "&quot;"})}"/>' for ref, v in cells)
    dimension = draw(st.one_of(st.none(), refs))
    members = parts(sheet_xml(template_rows() + f"<row>{extra}</row>", dimension),
                    strings_xml(strings) if strings else None)
    target = draw(st.sampled_from(sorted(members)))
    damage = draw(st.sampled_from(["none", "truncate", "random", "flip-zip-byte"]))
    if damage == "truncate":
        members[target] = members[target][: draw(st.integers(0, len(members[target])))]
    elif damage == "random":
        members[target] = draw(st.binary(max_size=200))
    data = zipped(members)
    if damage == "flip-zip-byte":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data


@settings(max_examples=80, deadline=dt.timedelta(seconds=10), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_workbooks())
def test_fuzzed_workbooks_get_a_file_code_or_are_checked_never_an_exception(data: bytes) -> None:
    _answered(data, "fuzz.xlsx")


@settings(max_examples=100, deadline=dt.timedelta(seconds=10), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.lists(st.text(max_size=12), max_size=6), max_size=8).map(
                     lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"))))
def test_fuzzed_csv_files_get_a_file_code_or_are_checked_never_an_exception(data: bytes) -> None:
    _answered(data, "fuzz.csv")


def test_a_shared_strings_chunk_in_which_no_string_ends_is_counted_with_the_next() -> None:
    """Found by the fuzz test: the part is inflated in chunks, and a chunk without any ``</si>`` (a long string, or
    a cut in the root tag) made the fast count index an empty list."""
    from coc_intake.read import _string_lengths

    chunks = [b'<sst xmlns="x" count="2"><si><t>ab', b"cdef", b"</t></si><si><t>g</t></si></sst>"]
    assert list(_string_lengths(iter(chunks)) or []) == [len(b"<si><t>abcdef</t>"), len(b"<si><t>g</t>")]
    assert _string_lengths(iter([b"<sst>", b"<si><t>x</t></si></sst>"])) is not None
