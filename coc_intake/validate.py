"""Running the pandera schemas (``schemas.rules``) over the typed rows and turning failures into findings."""

from __future__ import annotations

import datetime as dt
import os
from functools import cache

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from coc_intake.findings import Findings
from coc_intake.normalize import normalize
from coc_intake.schemas.rules import Rule, agreements_schema, prepare, rules_for, schema_for

# pandera's first validation imports hypothesis where it is installed (the development tools, in the README's
# environment), and hypothesis then loads every installed plugin: trio's imports pytest. That was ~0.25 s of each
# process's first file, under the GIL, for tools an intake never uses; a value already set wins.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")


def _failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> list[tuple[str, list[int]]]:
    """(check name, failing row labels), by check name."""
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna() & cases["schema_context"].eq("DataFrameSchema")]
        pairs = cases[["check", "index"]].drop_duplicates()
        unexpected = exc.failure_cases[exc.failure_cases["index"].isna()]
        if not unexpected.empty:  # a check that crashed would hide its rows: never let that pass silently
            raise RuntimeError(f"schema {schema.name!r} failed as a whole: {unexpected.to_dict('records')}") from exc
        return [(str(name), sorted(int(i) for i in group["index"])) for name, group in pairs.groupby("check")]
    return []


def validate(values: pd.DataFrame, given: pd.DataFrame, as_of: dt.date, out: Findings) -> None:
    """Validate every row against the common schema and its agreement's schema; findings go to ``out``."""
    frame = prepare(values, given)
    seen: set[tuple[int, str, str]] = set()
    common = rules_for(None, as_of)
    for name, failing in _failures(frame, schema_for(None, as_of)):
        _add(out, seen, frame, common[name], failing)
    codes = frame["agreement"]
    for name, failing in _failures(frame, agreements_schema(as_of)):
        # A failing row's rule is its own agreement's; in the order of the agreements, as each rule's parameters
        # (the country's name …) are its agreement's.
        of = codes.loc[failing]
        for code in sorted(of.unique()):
            _add(out, seen, frame, rules_for(str(code), as_of)[name], of.index[of.eq(code)].tolist())


def _add(out: Findings, seen: set[tuple[int, str, str]], frame: pd.DataFrame, rule: Rule, failing: list[int]) -> None:
    # Two variants of a rule (e.g. not-us-covered) on one cell make one finding.
    fresh = [r for r in failing if (r, rule.code, rule.field) not in seen]
    seen.update((r, rule.code, rule.field) for r in fresh)
    if not fresh:
        return
    subset = frame.loc[fresh]
    params = rule.params(subset) if rule.params else None
    out.add(rule.code, rule.field, fresh, subset[rule.field].tolist(), params)


@cache
def warm_up(as_of: dt.date) -> None:
    """Build every schema and run each over no rows, once per process: pandera registers its backends on the
    first validation and readies each schema's checks on its first run (~0.4 s in all, whatever the rows)."""
    parsed = normalize(pd.DataFrame(index=pd.RangeIndex(0)), Findings({}, {}))
    frame = prepare(parsed.values, parsed.given)
    for schema in (schema_for(None, as_of), agreements_schema(as_of)):
        if _failures(frame, schema):  # pragma: no cover - no rows, no failures
            raise RuntimeError(f"schema {schema.name!r} failed on no rows")
