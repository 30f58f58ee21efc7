"""Many JSON documents of one shape, encoded a column at a time.

For every row, :func:`encode` gives exactly the text that ``orjson.dumps(doc, option=OPT_INDENT_2)`` gives for that
row's document. A million request documents built as one dict each cost seconds of Python time, under the GIL, that
the threads writing the files spend waiting; here the shape is encoded once by orjson, with a marker in each slot,
and the slots are filled from whole columns of JSON literals joined by Arrow compute.

A shape is a dict whose leaves are constants (encoded by orjson as they are), :class:`Text` slots (a string
column: each value becomes a JSON string, a missing one ``null``) or :class:`Raw` slots (a column that already holds
JSON text as orjson writes it at the top level, e.g. from :func:`each`). Nested dicts and lists may hold slots.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

INDENT = orjson.OPT_INDENT_2

# Characters orjson escapes in a string (control characters, the quote, the backslash); a value holding one is
# encoded by orjson itself, so the escaping is orjson's by construction.
_ESCAPED = r'["\\\x00-\x1f]'


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


@dataclass(frozen=True)
class Text:
    """A slot filled from a column of strings (missing: ``null``)."""

    column: str


@dataclass(frozen=True)
class Raw:
    """A slot filled from a column of JSON texts, as orjson writes them at depth 0."""

    column: str


Slot = Text | Raw


def text_literals(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal, each missing value as ``null``."""
    values = _large(values)
    quote = _text('"')
    quoted = pc.binary_join_element_wise(quote, values, quote, _text(""))
    special = pc.fill_null(pc.match_substring_regex(values, _ESCAPED), False)
    if pc.any(special).as_py():
        escaped = [orjson.dumps(v).decode() for v in pc.filter(values, special).to_pylist()]
        quoted = pc.replace_with_mask(quoted, special, pa.array(escaped, pa.large_string()))
    return pc.fill_null(quoted, _text("null"))


def _large(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_string())


def escape_free(values: pa.Array | pa.ChunkedArray) -> bool:
    """No value holds a character that JSON escapes. The column's UTF-8 bytes are scanned at once: the characters
    to escape are ASCII, and no byte of a multi-byte character is below 0x80 (a null's bytes, if it has any, can
    only make the answer False, which is never wrong)."""
    values = _large(values)
    data = values.buffers()[2]
    if len(values) == 0 or data is None:
        return True
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    return not bool(((raw < 0x20) | (raw == 0x22) | (raw == 0x5C)).any())


def _plain(values: pa.Array) -> bool:
    """Every value is there and needs no escaping: its literal is the value in quotes (``encode`` then puts the
    quotes in its constant pieces)."""
    return not values.null_count and escape_free(values)


def each(values: pa.Array, encode_one: Callable[[Any], Any]) -> pa.Array:
    """JSON text of ``encode_one(value)`` for every value, computed once per distinct value (for columns of few
    distinct values: codes, countries)."""
    encoded = pc.dictionary_encode(_large(values))
    texts = [orjson.dumps(encode_one(v), option=INDENT).decode() for v in encoded.dictionary.to_pylist()]
    taken = pc.take(pa.array(texts, pa.large_string()), encoded.indices)
    if not taken.null_count:
        return taken
    return pc.fill_null(taken, _text(orjson.dumps(encode_one(None), option=INDENT).decode()))


def each_tuple(values: Sequence[tuple[str, ...]], encode_one: Callable[[tuple[str, ...]], Any]) -> pa.Array:
    """As :func:`each`, for a list of tuples of strings (such as each row's finding codes)."""
    cache: dict[tuple[str, ...], str] = {}
    texts = []
    for value in values:
        text = cache.get(value)
        if text is None:
            text = cache[value] = orjson.dumps(encode_one(value), option=INDENT).decode()
        texts.append(text)
    return pa.array(texts, pa.large_string())


def _marker_base(shape: Mapping[str, Any]) -> str:
    """A marker prefix that no constant of the shape contains, so that each marker is found exactly once."""
    constants = orjson.dumps(shape, default=lambda _: None).decode()
    longest = max((len(run) for run in re.findall(r"#+", constants)), default=0)
    return "slot" + "#" * (longest + 1)


def _template(shape: Mapping[str, Any], option: int) -> tuple[list[str], list[tuple[Slot, str]]]:
    """The shape's text cut at its slots: constant pieces, and each slot with the indentation of its line."""
    slots: list[Slot] = []
    base = _marker_base(shape)

    def mark(value: Any) -> Any:
        if isinstance(value, Text | Raw):
            slots.append(value)
            return f"{base}{len(slots) - 1}#"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mark(v) for v in value]
        return value

    text = orjson.dumps(mark(shape), option=option).decode()
    pieces, placed, at = [], [], 0
    for i, slot in enumerate(slots):
        marker = f'"{base}{i}#"'
        where = text.index(marker, at)
        line_start = text.rfind("\n", 0, where) + 1
        indent = len(text[line_start:where]) - len(text[line_start:where].lstrip(" "))
        pieces.append(text[at:where])
        placed.append((slot, " " * indent))
        at = where + len(marker)
    pieces.append(text[at:])
    return pieces, placed


def encode(shape: Mapping[str, Any], columns: Mapping[str, pa.Array], *, newline: bool = False) -> pa.Array:
    """One JSON document per row (``orjson.OPT_INDENT_2``, and ``OPT_APPEND_NEWLINE`` with ``newline``), as a
    large_string array. Every column has one value per row."""
    option = INDENT | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    pieces, placed = _template(shape, option)
    if not placed:  # nothing varies: the one text, once per row
        if not columns:
            raise ValueError("a shape without slots needs a column to tell how many rows there are")
        return pa.array([pieces[0]] * len(next(iter(columns.values()))), pa.large_string())
    parts: list[Any] = []
    for piece, (slot, indent) in zip(pieces, placed, strict=False):
        parts.append(piece)
        values = columns[slot.column]
        if isinstance(slot, Text):
            values = _large(values)
            # A column with nothing to escape or null goes in as it is, its quotes joined to the constant pieces.
            parts += ['"', values, '"'] if _plain(values) else [text_literals(values)]
        else:
            # orjson writes no raw line break inside a value, so every one is indentation to deepen.
            values = _large(values)
            parts.append(pc.replace_substring(values, "\n", "\n" + indent) if indent else values)
    parts.append(pieces[-1])
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    joined: pa.Array = pc.binary_join_element_wise(
        *[_text(p) if isinstance(p, str) else p for p in merged if not isinstance(p, str) or p], _text(""))
    return joined


def concat(texts: pa.Array, end: bytes = b"") -> bytes:
    """Every text followed by ``end``, as one bytes object (no text may be missing)."""
    if texts.null_count:
        raise ValueError("concat: a text is missing")
    texts = _large(texts)
    if end:  # each text, the separator, then nothing: the text followed by ``end``
        texts = pc.binary_join_element_wise(texts, _text(""), _text(end.decode()))
    if len(texts) == 0:
        return b""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset:texts.offset + len(texts) + 1]
    data = texts.buffers()[2]
    joined: bytes = data[int(offsets[0]):int(offsets[-1])].to_pybytes()
    return joined
