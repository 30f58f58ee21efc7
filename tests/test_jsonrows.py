"""Property tests of ``coc_intake.jsonrows``: every row it encodes is byte for byte what orjson gives for that row's
document, built as one dict (``orjson.dumps(doc, option=OPT_INDENT_2)``, plus ``OPT_APPEND_NEWLINE`` on demand)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coc_intake import jsonrows

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Characters that need care in a JSON string, or that a hand-made escaper gets wrong.
AWKWARD = ['"', "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "\x80", "\u2028",
           "\u2029", "\ufeff", "é", "ß", "中", "文", "😀", "🇮🇹", "#", "slot", "u0000", " ", ""]
#: Text that looks like the markers a template might use for its slots.
MARKERLIKE = ["slot#0#", "slot##1#", "slot###0#", '"slot#0#"', "slot#", "#", "##", "###", '"', "\\n", "\\", "slot##",
              "#0#", "slot#10#", "{}", "[]", "null", ""]

awkward_text = st.one_of(
    st.text(),
    st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from([c for c in AWKWARD if len(c) == 1]))),
    st.lists(st.sampled_from(AWKWARD + MARKERLIKE), max_size=6).map("".join),
)
text_or_none = st.one_of(st.none(), awkward_text)


def _doc_text(doc: Any, newline: bool) -> str:
    option = orjson.OPT_INDENT_2 | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    return orjson.dumps(doc, option=option).decode()


def _expected(shape: Any, row: int, values: dict[str, list[Any]]) -> Any:
    """The row's document as one dict: each slot replaced by its column's value at ``row``."""
    if isinstance(shape, jsonrows.Text | jsonrows.Raw):
        return values[shape.column][row]
    if isinstance(shape, dict):
        return {k: _expected(v, row, values) for k, v in shape.items()}
    if isinstance(shape, list | tuple):
        return [_expected(v, row, values) for v in shape]
    return shape


# --- Raw columns: a few distinct values, turned into JSON by a function ---------------------------------------


def _split(c: str | None) -> list[str]:
    return c.split(";") if c else []


def _nested(c: str | None) -> Any:
    if c is None:
        return None
    return {"code": c, "parts": _split(c), "deep": {"list": [c, [], {}, [[c]], None, True, 1.5],
                                                    "n": len(c), "empty": {}}}


def _scalar(c: str | None) -> Any:
    return c


def _empty(c: str | None) -> Any:
    return [] if c is None else {}


def _objects(c: str | None) -> Any:
    return [{"at": i, "part": p, "more": [{"p": p}]} for i, p in enumerate(_split(c))]


EACH_ENCODERS: list[Callable[[str | None], Any]] = [_split, _nested, _scalar, _empty, _objects]
FEW_VALUES = ["US", "US;IT", "", "a;b;c", 'q"t;\\x', "é;中文;😀", "line\nbreak;\u2028", "slot#0#;slot##1#", "x;;y"]


def _codes_list(codes: tuple[str, ...]) -> Any:
    return list(codes)


def _codes_split(codes: tuple[str, ...]) -> Any:
    return {"referral": [c for c in codes if c.startswith("r")], "other": [c for c in codes if not c.startswith("r")],
            "count": len(codes)}


def _codes_maybe(codes: tuple[str, ...]) -> Any:
    return None if not codes else {"first": codes[0], "rest": [[c] for c in codes[1:]]}


OBJECT_ENCODERS: list[Callable[[tuple[str, ...]], Any]] = [_codes_list, _codes_split, _codes_maybe]
code_tuples = st.lists(st.sampled_from(["ra", "rb", "w", 'q"', "\\", "é", "slot#0#", "\n"]), max_size=4).map(tuple)


# --- shapes ------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Hole:
    """Where a generated shape gets a slot: ``text``, ``each`` (Raw from jsonrows.each) or ``object`` (Raw from
    jsonrows.each_tuple)."""

    kind: str


constants = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), awkward_text, st.sampled_from(MARKERLIKE),
)
keys = st.one_of(st.sampled_from(MARKERLIKE), awkward_text, st.text(alphabet="slot#01", max_size=9))
holes = st.sampled_from(["text", "each", "object"]).map(Hole)
trees = st.recursive(
    st.one_of(constants, holes, holes),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=14,
)


def _holes(shape: Any) -> list[Hole]:
    if isinstance(shape, Hole):
        return [shape]
    if isinstance(shape, dict):
        return [h for v in shape.values() for h in _holes(v)]
    if isinstance(shape, list):
        return [h for v in shape for h in _holes(v)]
    return []


def _fill(shape: Any, slots: dict[int, Any]) -> Any:
    if isinstance(shape, Hole):
        return slots[id(shape)]
    if isinstance(shape, dict):
        return {k: _fill(v, slots) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_fill(v, slots) for v in shape]
    return shape


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, pa.Array], list[Any]]:
    """(shape, columns, the document of every row as one dict) for a random shape of one to a few slots."""
    tree: dict[str, Any] = draw(st.dictionaries(keys, trees, max_size=5))
    if not _holes(tree):
        tree[draw(st.sampled_from(["slot#0#", "only", ""]))] = Hole("text")
    n = draw(st.integers(min_value=0, max_value=6))
    columns: dict[str, pa.Array] = {}
    values: dict[str, list[Any]] = {}
    slots: dict[int, jsonrows.Slot] = {}
    for i, hole in enumerate(_holes(tree)):
        # Column names with '#' too: the name is no constant of the document.
        name = draw(st.sampled_from([f"c{i}", f"c{i}#", f"slot##{i}#"]))
        if hole.kind == "text":
            texts = draw(st.lists(text_or_none, min_size=n, max_size=n))
            kind = draw(st.sampled_from([pa.string(), pa.large_string()]))
            columns[name], values[name] = pa.array(texts, kind), texts
            slots[id(hole)] = jsonrows.Text(name)
        elif hole.kind == "each":
            few = draw(st.lists(st.one_of(st.none(), st.sampled_from(FEW_VALUES)), min_size=n, max_size=n))
            encode_one = draw(st.sampled_from(EACH_ENCODERS))
            columns[name], values[name] = jsonrows.each(pa.array(few, pa.string()), encode_one), [
                encode_one(v) for v in few]
            slots[id(hole)] = jsonrows.Raw(name)
        else:
            codes: list[Any] = draw(st.lists(code_tuples, min_size=n, max_size=n))
            encode_codes = draw(st.sampled_from(OBJECT_ENCODERS))
            columns[name], values[name] = jsonrows.each_tuple(codes, encode_codes), [encode_codes(c) for c in codes]
            slots[id(hole)] = jsonrows.Raw(name)
    shape = _fill(tree, slots)
    return shape, columns, [_expected(shape, r, values) for r in range(n)]


# --- encode ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(case=cases(), newline=st.booleans())
def test_every_encoded_row_is_exactly_orjsons_text_of_that_rows_document(
        case: tuple[dict[str, Any], dict[str, pa.Array], list[Any]], newline: bool) -> None:
    shape, columns, docs = case
    encoded = jsonrows.encode(shape, columns, newline=newline)
    assert encoded.type == pa.large_string()
    assert encoded.to_pylist() == [_doc_text(doc, newline) for doc in docs]


@SETTINGS
@given(texts=st.lists(text_or_none, min_size=1, max_size=8), newline=st.booleans())
@example(texts=["\u2028", "😀", 'a"b', "back\\slash", "\x00\x1f", "\x7f", None, ""], newline=False)
def test_text_slots_at_every_depth_hold_any_text_or_null_as_orjson_writes_it(
        texts: list[str | None], newline: bool) -> None:
    shape = {
        "top": jsonrows.Text("t"),
        "nested": {"one": jsonrows.Text("t"), "two": {"three": [jsonrows.Text("t"), {"four": jsonrows.Text("t")}]}},
        "list": [[jsonrows.Text("t")], jsonrows.Text("t")],
    }
    encoded = jsonrows.encode(shape, {"t": pa.array(texts, pa.string())}, newline=newline).to_pylist()
    assert encoded == [_doc_text(_expected(shape, r, {"t": texts}), newline) for r in range(len(texts))]
    assert all(orjson.loads(e)["nested"]["two"]["three"][1]["four"] == t for e, t in zip(encoded, texts, strict=True))


@SETTINGS
@given(few=st.lists(st.one_of(st.none(), st.sampled_from(FEW_VALUES)), max_size=8),
       encode_one=st.sampled_from(EACH_ENCODERS), depth=st.integers(min_value=0, max_value=4), newline=st.booleans())
def test_a_raw_slot_from_each_is_reindented_to_its_depth(
        few: list[str | None], encode_one: Callable[[str | None], Any], depth: int, newline: bool) -> None:
    column = jsonrows.each(pa.array(few, pa.string()), encode_one)
    assert column.to_pylist() == [orjson.dumps(encode_one(v), option=orjson.OPT_INDENT_2).decode() for v in few]
    slot: Any = jsonrows.Raw("r")
    for level in range(depth):
        slot = {f"level{level}": slot, "after": level} if level % 2 == 0 else ["before", slot]
    shape = {"r": slot, "same": jsonrows.Raw("r")}
    encoded = jsonrows.encode(shape, {"r": column}, newline=newline)
    values = {"r": [encode_one(v) for v in few]}
    assert encoded.to_pylist() == [_doc_text(_expected(shape, r, values), newline) for r in range(len(few))]


@SETTINGS
@given(codes=st.lists(code_tuples, max_size=8), encode_codes=st.sampled_from(OBJECT_ENCODERS),
       newline=st.booleans())
def test_a_raw_slot_from_each_tuple_holds_each_values_json(
        codes: list[tuple[str, ...]], encode_codes: Callable[[tuple[str, ...]], Any], newline: bool) -> None:
    column = jsonrows.each_tuple(codes, encode_codes)
    assert column.to_pylist() == [orjson.dumps(encode_codes(c), option=orjson.OPT_INDENT_2).decode() for c in codes]
    shape = {"codes": jsonrows.Raw("c"), "inside": {"list": [jsonrows.Raw("c"), {"again": jsonrows.Raw("c")}]}}
    encoded = jsonrows.encode(shape, {"c": column}, newline=newline)
    values = {"c": [encode_codes(c) for c in codes]}
    assert encoded.to_pylist() == [_doc_text(_expected(shape, r, values), newline) for r in range(len(codes))]


def test_each_encodes_a_missing_value_as_the_json_of_encode_one_of_none() -> None:
    column = jsonrows.each(pa.array(["US;IT", None, "US", None], pa.string()), _nested)
    assert column.to_pylist() == [orjson.dumps(_nested(v), option=orjson.OPT_INDENT_2).decode()
                                  for v in ["US;IT", None, "US", None]]
    assert column.to_pylist()[1] == "null"


def test_each_accepts_a_chunked_column() -> None:
    column = jsonrows.each(pa.chunked_array([["US", "US;IT"], [None, "US"]], pa.string()), _split)
    assert column.to_pylist() == ['[\n  "US"\n]', '[\n  "US",\n  "IT"\n]', "[]", '[\n  "US"\n]']


# --- constants and markers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["slot#0#", "slot##0#", "slot###0#", "slot##1#", "slot#1#", "#", '"',
                                      "\\n", '"slot#0#"', "slot" + "#" * 12 + "0#"])
def test_constants_that_look_like_markers_stay_as_they_are(constant: str) -> None:
    shape = {
        "before": constant,
        constant: jsonrows.Text("a"),
        "list": [constant, jsonrows.Raw("b"), {constant: [constant]}],
        "after": {"x": constant, "y": jsonrows.Text("a")},
    }
    texts = ['first "one"', None, constant]
    column = jsonrows.each(pa.array(["US;IT", None, constant], pa.string()), _split)
    for newline in (False, True):
        encoded = jsonrows.encode(shape, {"a": pa.array(texts), "b": column}, newline=newline).to_pylist()
        values: dict[str, list[Any]] = {"a": texts, "b": [_split(v) for v in ["US;IT", None, constant]]}
        assert encoded == [_doc_text(_expected(shape, r, values), newline) for r in range(3)]
        assert [orjson.loads(e)["before"] for e in encoded] == [constant] * 3


@SETTINGS
@given(shape=st.dictionaries(keys, trees, max_size=5))
def test_the_marker_is_in_no_constant_of_the_shape_so_each_slot_is_found_once(shape: dict[str, Any]) -> None:
    n_slots = len(_holes(shape))
    filled = _fill(shape, {id(h): jsonrows.Text(f"c{i}") for i, h in enumerate(_holes(shape))})
    base = jsonrows._marker_base(filled)
    constants_text = orjson.dumps(_fill(shape, {id(h): None for h in _holes(shape)})).decode()
    assert base not in constants_text
    assert re.fullmatch(r"slot#+", base)
    # Cut at its slots, the template holds one constant piece more than it has slots, in document order.
    pieces, placed = jsonrows._template(filled, orjson.OPT_INDENT_2)
    assert len(pieces) == n_slots + 1 and [s.column for s, _ in placed] == [f"c{i}" for i in range(n_slots)]
    assert all(base not in piece for piece in pieces)


# --- newline and zero rows -----------------------------------------------------------------------------------


def test_newline_appends_exactly_one_line_feed_to_every_row() -> None:
    shape = {"a": jsonrows.Text("a"), "b": [jsonrows.Raw("b")]}
    columns = {"a": pa.array(["x", None]), "b": jsonrows.each(pa.array(["US;IT", ""]), _split)}
    without = jsonrows.encode(shape, columns).to_pylist()
    with_newline = jsonrows.encode(shape, columns, newline=True).to_pylist()
    assert with_newline == [w + "\n" for w in without]
    assert with_newline[0] == orjson.dumps({"a": "x", "b": [["US", "IT"]]},
                                           option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()
    assert not without[0].endswith("\n")


@pytest.mark.parametrize("newline", [False, True])
def test_zero_rows_give_zero_documents(newline: bool) -> None:
    shape = {"a": jsonrows.Text("a"), "b": {"c": jsonrows.Raw("b"), "d": [jsonrows.Raw("o")]}, "k": "const"}
    columns = {"a": pa.array([], pa.string()), "b": jsonrows.each(pa.array([], pa.string()), _split),
               "o": jsonrows.each_tuple([], _codes_list)}
    encoded = jsonrows.encode(shape, columns, newline=newline)
    assert isinstance(encoded, pa.Array)
    assert len(encoded) == 0 and encoded.type == pa.large_string()


def test_a_column_of_only_missing_values_gives_null_in_every_row() -> None:
    shape = {"a": jsonrows.Text("a"), "b": jsonrows.Raw("b")}
    columns = {"a": pa.array([None, None], pa.string()), "b": jsonrows.each(pa.array([None, None], pa.string()),
                                                                             _split)}
    assert jsonrows.encode(shape, columns).to_pylist() == [_doc_text({"a": None, "b": []}, False)] * 2


def test_a_shape_without_slots_still_gives_one_document_per_row() -> None:
    encoded = jsonrows.encode({"a": 1}, {"unused": pa.array(["x", "y"])})
    assert isinstance(encoded, pa.Array)
    assert encoded.to_pylist() == [_doc_text({"a": 1}, False)] * 2


# --- text_literals -------------------------------------------------------------------------------------------


def test_text_literals_writes_missing_values_as_null_and_escapes_as_orjson() -> None:
    values = [None, "plain", 'say "hi"', "back\\slash", "tab\there", "new\nline", "\x00", "\x1f", "\x7f", "\u2028",
              "\u2029", "é ß 中文", "😀", "/", "", "slot#0#"]
    literals = jsonrows.text_literals(pa.array(values, pa.string()))
    assert literals.type == pa.large_string()
    assert literals.to_pylist() == ["null" if v is None else orjson.dumps(v).decode() for v in values]
    assert literals.to_pylist()[:4] == ["null", '"plain"', '"say \\"hi\\""', '"back\\\\slash"']
    assert literals.to_pylist()[6] == '"\\u0000"'


@SETTINGS
@given(values=st.lists(text_or_none, max_size=12), large=st.booleans())
def test_text_literals_of_any_text_equal_orjsons_string_literal(values: list[str | None], large: bool) -> None:
    literals = jsonrows.text_literals(pa.array(values, pa.large_string() if large else pa.string()))
    assert literals.to_pylist() == ["null" if v is None else orjson.dumps(v).decode() for v in values]
    assert [orjson.loads(lit) for lit in literals.to_pylist()] == values


# --- concat --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("end", [b"", b"\n", b"\r\n"])
def test_concat_gives_every_text_followed_by_end_as_one_bytes_object(end: bytes) -> None:
    texts = ["a", "", "bc", "é中😀"]
    assert jsonrows.concat(pa.array(texts, pa.string()), end) == b"".join(t.encode() + end for t in texts)


def test_concat_of_a_slice_and_of_a_chunked_array_holds_only_their_texts() -> None:
    whole = pa.array(["skip", "x", "yz", "skip too"], pa.large_string())
    assert jsonrows.concat(whole.slice(1, 2), b";") == b"x;yz;"
    assert jsonrows.concat(pa.chunked_array([["a"], ["b", "c"]], pa.string()), b"\n") == b"a\nb\nc\n"
    assert jsonrows.concat(pa.array([], pa.string()), b"\n") == b""


def test_concat_refuses_a_missing_text() -> None:
    with pytest.raises(ValueError, match="missing"):
        jsonrows.concat(pa.array(["a", None], pa.string()))


# --- escape_free -----------------------------------------------------------------------------------------------


@SETTINGS
@given(values=st.lists(text_or_none, max_size=10), start=st.integers(min_value=0, max_value=3))
def test_escape_free_is_true_exactly_when_orjson_writes_every_value_as_it_is_in_quotes(
        values: list[str | None], start: int) -> None:
    column = pa.array(values, pa.string()).slice(min(start, len(values)))
    shown = [v for v in values[min(start, len(values)):] if v is not None]
    assert jsonrows.escape_free(column) == all(orjson.dumps(v).decode() == f'"{v}"' for v in shown)


def test_escape_free_sees_a_quote_a_backslash_or_a_control_character_but_not_other_unicode() -> None:
    assert jsonrows.escape_free(pa.array(["é ß 中文 😀", "\x7f", "\u2028", None], pa.string()))
    for bad in ['"', "\\", "\x00", "\n", "\x1f"]:
        assert not jsonrows.escape_free(pa.array(["fine", f"a{bad}b"], pa.large_string()))
    assert not jsonrows.escape_free(pa.chunked_array([["fine"], ['say "hi"']], pa.string()))
