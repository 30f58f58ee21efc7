"""The data dictionary (docs/fields.md), loaded from ``dictionary.toml`` beside this module."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Required = Literal["yes", "employees", "self-employed", "foreign-affiliate", "agreement", "no"]
#: What the manifest and the analysts' report may keep of a rejected cell's value (docs/decisions.md#report).
InReports = Literal["typed", "masked", "counts"]
_IN_REPORTS = ("typed", "masked", "counts")

_REQUIRED_TEXT: dict[str, str] = {
    "yes": "yes",
    "employees": "for employees",
    "self-employed": "for the self-employed",
    "foreign-affiliate": "when employed by a foreign affiliate",
    "agreement": "when the host country's agreement asks for it",
    "no": "no",
}


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    required: Required
    type: str
    help: str
    aliases: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    value_aliases: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    max_length: int | None = None
    in_reports: InReports = "typed"
    """``typed``: a rejected value may be quoted (SSN-shaped numbers masked); ``masked``: only as ``***-**-NNNN``;
    ``counts``: personal data, never quoted, only counted."""

    def __post_init__(self) -> None:
        if self.in_reports not in _IN_REPORTS:
            raise ValueError(f"dictionary.toml: {self.key}: in_reports must be one of {', '.join(_IN_REPORTS)}, "
                             f"not {self.in_reports!r}")

    @property
    def required_text(self) -> str:
        return _REQUIRED_TEXT[self.required]

    @property
    def length_limit(self) -> int:
        """The most characters a cell of this field may hold: its own maximum, else the dictionary's default."""
        return self.max_length or default_max_length()

    def names(self) -> tuple[str, ...]:
        """Every header text that maps to this field exactly: key, label and aliases."""
        return (self.key, self.label, *self.aliases)


def header_token(text: str) -> str:
    """What header matching compares: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


@cache
def _raw() -> dict[str, object]:
    return tomllib.loads(resources.files(__package__).joinpath("dictionary.toml").read_text(encoding="utf-8"))


def edition() -> str:
    """The current template edition."""
    return str(_raw()["edition"])


def default_max_length() -> int:
    """The most characters a cell may hold in a field without its own ``max_length``: every cell has a bound, so
    a pasted document cannot reach the parsers, the request documents or the outputs."""
    value = _raw()["default_max_length"]
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"dictionary.toml: default_max_length must be a positive whole number, not {value!r}")
    return value


@cache
def fields() -> dict[str, Field]:
    """Every field by key, in the template's column order."""
    out: dict[str, Field] = {}
    for item in _raw()["field"]:  # type: ignore[attr-defined]
        data = dict(item)
        for name in ("aliases", "values"):
            data[name] = tuple(data.get(name, ()))
        data["value_aliases"] = tuple(dict(data.get("value_aliases", {})).items())
        out[data["key"]] = Field(**data)
    return out


def always_required() -> tuple[str, ...]:
    return tuple(k for k, f in fields().items() if f.required == "yes")


def find(name: str) -> Field | None:
    """A field by key, label or alias, matched as headers are."""
    token = header_token(name)
    for f in fields().values():
        if token in {header_token(n) for n in f.names()}:
            return f
    return None
