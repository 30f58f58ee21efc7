"""Findings as data (docs/errors.md): one record per problem, built in bulk for whole columns of rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from coc_intake.catalog import CATALOG, Scope, Severity
from coc_intake.redact import redact, redact_optional

COLUMNS = ["row", "column", "field", "code", "severity", "scope", "message", "value"]
#: The most characters of a value a finding echoes (its ``value`` and the ``{value}`` in its message).
ECHO_CHARS = 100
_DIGITS = re.compile(r"\d")


def mask_ssn(value: object) -> str | None:
    """``***-**-NNNN`` from whatever was typed; never more than the last four digits."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    digits = _DIGITS.findall(str(value))
    return "***-**-" + "".join(digits[-4:]) if len(digits) >= 4 else "***-**-****"


@dataclass(frozen=True)
class Finding:
    """One problem; made with ``Finding.of``, which takes its severity, scope and message from the catalog."""

    code: str
    severity: Severity
    scope: Scope
    message: str
    row: int | None = None
    column: str | None = None
    field: str | None = None
    value: str | None = None

    @classmethod
    def of(cls, code: str, *, row: int | None = None, column: str | None = None, field: str | None = None,
           value: str | None = None, **params: object) -> Finding:
        """The finding of ``code``; its message is filled with ``params``, ``column`` and ``value``."""
        entry = CATALOG[code]
        # Masked first, then shortened: a header cell or a notice may quote an SSN typed in the file.
        value = echo(redact_optional(value))
        shown = {k: v for k, v in (("column", column), ("value", value)) if v is not None}
        return cls(code, entry.severity, entry.scope, entry.message(**shown, **_masked_params(params)), row, column,
                   field, value)

    def record(self) -> dict[str, Any]:
        return asdict(self)


class Findings:
    """Collects findings; row findings are added a column of rows at a time."""

    def __init__(self, letters: Mapping[str, str], labels: Mapping[str, str]) -> None:
        self._letters = letters
        self._labels = labels
        self._records: list[dict[str, Any]] = []

    def add(
        self,
        code: str,
        field: str | None,
        rows: Iterable[int],
        values: Iterable[object] | None = None,
        params: Sequence[Mapping[str, object]] | Mapping[str, object] | None = None,
    ) -> None:
        rows = list(rows)
        if not rows:
            return
        vals: list[object] = list(values) if values is not None else [None] * len(rows)
        per_row: Sequence[Mapping[str, object]]
        if isinstance(params, Sequence):
            per_row = [_masked_params(p) for p in params]
        else:
            per_row = [_masked_params(params or {})] * len(rows)  # masked once for the whole column
        entry = CATALOG[code]
        column = self._letters.get(field) if field else None
        label = self._labels.get(field, field) if field else None
        for row, value, extra in zip(rows, vals, per_row, strict=True):
            shown = _echoed(field, value)
            self._records.append(
                {
                    "row": int(row),
                    "column": column,
                    "field": field,
                    "code": code,
                    "severity": entry.severity,
                    "scope": entry.scope,
                    "message": entry.message(label=label, column=column, value=shown, **extra),
                    "value": shown,
                }
            )

    def drop(self, code: str, rows: Iterable[int]) -> None:
        """Remove the findings of ``code`` on these rows (a check run again with more to go on replaces them)."""
        gone = {int(r) for r in rows}
        if gone:
            self._records = [r for r in self._records if r["code"] != code or r["row"] not in gone]

    def empty_like(self) -> Findings:
        """A new, empty collection for the same sheet (to be ``extend``-ed into this one)."""
        return Findings(self._letters, self._labels)

    def extend(self, other: Findings) -> None:
        self._records.extend(other._records)

    def add_one(self, finding: Finding) -> None:
        self._records.append(finding.record())

    def frame(self) -> pd.DataFrame:
        return frame_of(self._records)

    def __len__(self) -> int:
        return len(self._records)


def _shown(field: str | None, value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if field == "ssn":
        return mask_ssn(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return echo(str(value))


def echo(value: str | None) -> str | None:
    """The value as a finding shows it: whole up to ``ECHO_CHARS`` characters, else its start and its length.

    Every output repeats a finding's value, most twice (the column and the message): a cell of megabytes would
    make errors.csv, the manifest, ``--json`` and the workbook megabytes per finding. Apply it last, to a value
    already masked, so that a cut can never leave part of a number that masking would have recognized.
    """
    if value is None or len(value) <= ECHO_CHARS:
        return value
    return f"{value[:ECHO_CHARS]}… ({len(value):,} characters)"


#: Parameters that are the product's own identifiers (hashes), never typed text: masking could only corrupt them.
_OWN_IDS = frozenset({"request_id", "batch_id"})


def _echoed(field: str | None, value: object) -> str | None:
    """The value a finding quotes, with every SSN-shaped number masked (docs/outputs.md#confidentiality): an SSN
    typed in another column (a name, a city) or inside a longer text. A separate step around ``_shown``: text is
    masked before it is shown (so shortening it can never cut a full SSN into digits the mask no longer sees), and
    what is not text (a number typed in the cell) once shown. The ``ssn`` field is shown as ``***-**-NNNN``."""
    if field == "ssn":
        return _shown(field, value)
    if isinstance(value, str):
        return _shown(field, redact(value))
    return redact_optional(_shown(field, value))


def _masked_params(params: Mapping[str, object]) -> dict[str, object]:
    """A message's other parameters, their text masked as the value is (a reason may quote the file)."""
    return {k: redact(v) if isinstance(v, str) and k not in _OWN_IDS else v for k, v in params.items()}


def frame_of(found: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """Findings as a frame of ``COLUMNS``; rows are whole numbers, missing (<NA>) for file findings."""
    out = pd.DataFrame.from_records(list(found), columns=COLUMNS)
    out["row"] = out["row"].astype("Int64")
    return out


def records(found: pd.DataFrame, columns: Sequence[str] = COLUMNS) -> list[dict[str, Any]]:
    """The findings as plain records, the one form every output writes them in: ``columns`` in order, None where
    missing (pandas has NaN or <NA> there) and rows as int."""
    lists = [found[c].astype(object).where(found[c].notna(), None).tolist() for c in columns]
    return [dict(zip(columns, values)) for values in zip(*lists)]  # noqa: B905 - columns of one frame


def sort_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Findings in a stable order: file and header first, then by row, column, code."""
    order = frame.assign(_r=frame["row"].fillna(-1), _c=frame["column"].fillna(""))
    order = order.sort_values(["_r", "_c", "code"], kind="stable")
    return order.drop(columns=["_r", "_c"]).reset_index(drop=True)
