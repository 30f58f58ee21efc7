"""The pandera schemas: a common schema for every row plus one per agreement, built from ``agreements/``.

Every check is named ``<code>@<field>`` (optionally ``#<variant>``) so that a failure maps straight to a finding
(docs/errors.md) at the field's cell. Checks run on the typed frame that ``coc_intake.normalize`` produced, plus the
``given__<field>`` flags (was the cell typed at all?) and a few derived columns (``prepare``). Cells that did not
parse are null and reported already, so every rule passes where its inputs are null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from coc_intake import agreements
from coc_intake.agreements import Agreement
from coc_intake.schemas.dictionary import fields

Frame = pd.DataFrame
Params = Callable[[Frame], list[dict[str, object]]]

US_NAME = "the United States"


@dataclass(frozen=True)
class Rule:
    code: str
    field: str
    check: Callable[[Frame], pd.Series]
    """True where the row passes."""
    params: Params | None = None
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.code}@{self.field}" + (f"#{self.variant}" if self.variant else "")


def given(field: str) -> str:
    return f"given__{field}"


#: The derived column of each row's agreement as a number, its place in ``_agreement_codes()`` (-1 for none): the
#: rules of ``agreements_schema`` find their rows by it. Comparing a million texts to each of 30 codes in each
#: check cost more than the checks themselves.
AGREEMENT_NO = "_agreement_no"


@cache
def _agreement_codes() -> tuple[str, ...]:
    return tuple(sorted(agreements.all_agreements()))


def prepare(values: Frame, given_mask: Frame) -> Frame:
    """The frame the schemas validate: typed values, ``given__`` flags and derived columns."""
    frame = values.copy()
    for key in given_mask.columns:
        frame[given(key)] = given_mask[key].to_numpy()
    cit = values["citizenship"].fillna("")
    us_codes = "|".join(sorted(agreements.US_TERRITORIES))
    frame["_emp"] = values["worker_type"].eq("employee").fillna(False).astype(bool)
    frame["_se"] = values["worker_type"].eq("self-employed").fillna(False).astype(bool)
    frame["_us_citizen"] = cit.str.contains(rf"(?:^|;)(?:{us_codes})(?:;|$)", regex=True).astype(bool)
    frame["_it_citizen"] = cit.str.contains(r"(?:^|;)IT(?:;|$)", regex=True).astype(bool)
    frame["_us_resident"] = values["residence_country"].isin(agreements.US_TERRITORIES).astype(bool)
    frame["_cit_known"] = values["citizenship"].notna() & values["residence_country"].notna()
    frame[AGREEMENT_NO] = pd.Categorical(values["agreement"], categories=_agreement_codes()).codes
    _residence(frame)
    _detachment(frame)
    return frame


def _residence(frame: Frame) -> None:
    """Where a self-employed person lives, as the self-employment rules ask: in the host (``_res_host``: the
    country of the row's agreement, its territories included, so Jersey counts for the United Kingdom) or in a
    third country (``_res_third``: neither the host nor U.S. soil). Both False where the residence is unknown."""
    table = agreements.all_agreements()
    owner = {t: table[code].country for t, code in agreements.territory_owner().items()}
    residence = frame["residence_country"]
    # Each distinct country looked up once, not each row.
    lives_in = residence.map({c: owner.get(c, c) for c in residence.dropna().unique()})
    host = _per_agreement(frame, [table[code].country for code in _agreement_codes()], None, object)
    known = residence.notna() & host.notna()
    frame["_res_host"] = (known & lives_in.eq(host)).fillna(False).astype(bool)
    frame["_res_third"] = (known & ~frame["_res_host"] & ~frame["_us_resident"]).fillna(False).astype(bool)


def _detachment(frame: Frame) -> None:
    """Each row's detachment limit under its agreement (``_limit``, months), the start of its clock (``_clock``:
    the later of the start and the entry into force) and the last day it allows (``_deadline``), computed for all
    rows at once: the agreements' schemas then compare columns, which stays cheap for a file of 50 rows spread over
    25 agreements."""
    table = [agreements.all_agreements()[code] for code in _agreement_codes()]
    since = _per_agreement(frame, [a.in_force_since for a in table], None, "datetime64[s]")
    employee = _per_agreement(frame, [a.max_months for a in table], None, float).astype("Float64")
    self_employed = _per_agreement(frame, [a.self_employed_max_months for a in table], None, float).astype("Float64")
    months = employee.where(~frame["_se"], self_employed).where(frame["_emp"] | frame["_se"])
    start = frame["assignment_start"]
    clock = start.where(start >= since, since)
    deadline = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[s]")
    for m in months.dropna().unique():
        hit = months.eq(m).fillna(False).astype(bool)
        deadline[hit] = _last_day(clock[hit], int(m)).astype("datetime64[s]")
    frame["_limit"], frame["_clock"], frame["_deadline"] = months, clock, deadline


def _per_agreement(frame: Frame, values: list[Any], missing: Any, dtype: Any) -> pd.Series:
    """Each row's value of its agreement (``values`` in the order of ``_agreement_codes()``), ``missing`` for a row
    without one: taken by the rows' agreement numbers, as mapping the codes' texts costs ~15 ms per 100k rows."""
    by_number = np.array([*values, missing], dtype=dtype)
    return pd.Series(by_number[frame[AGREEMENT_NO].to_numpy()], index=frame.index)


def _last_day(clock: pd.Series, months: int) -> pd.Series:
    """The last day of a limit of ``months`` from ``clock`` (docs/errors.md, referral reasons): the day before the
    same calendar day ``months`` later; where that day does not exist (a 29 February start in a common year, a 31st
    in a 30-day month), the last day of that month. pandas clips a missing day to the month's last day, so a
    clipped date is already the answer and must not lose another day."""
    later = _add_months(clock, months)
    clipped = later.dt.day < clock.dt.day
    return later.where(clipped, later - pd.Timedelta(days=1))


def _na_or(mask: pd.Series, *cols: pd.Series) -> pd.Series:
    missing = pd.Series(False, index=mask.index)
    for c in cols:
        missing |= c.isna()
    return (missing | mask.fillna(True)).astype(bool)


def _age(birth: pd.Series, on: pd.Series) -> pd.Series:
    """Age in whole years on ``on``. A birthday not reached yet this year takes a year off: comparing (month, day)
    makes a 29 February birthday fall on 1 March in a common year (on 28 February the year is not complete yet),
    as docs/errors.md says for the age bounds."""
    years = on.dt.year - birth.dt.year
    before = (on.dt.month < birth.dt.month) | ((on.dt.month == birth.dt.month) & (on.dt.day < birth.dt.day))
    age: pd.Series = years - before.astype("Int64")
    return age


def _add_months(dates: pd.Series, months: int) -> pd.Series:
    return dates + pd.DateOffset(months=months)


def _iso(d: pd.Timestamp | None) -> str:
    return "" if d is None or pd.isna(d) else pd.Timestamp(d).date().isoformat()


# --- the common rules ----------------------------------------------------------------------------------------


def _required(key: str, when: Callable[[Frame], pd.Series] | None, when_text: str) -> Rule:
    def check(df: Frame) -> pd.Series:
        ok = df[given(key)].astype(bool)
        return ok if when is None else (ok | ~when(df))

    return Rule("missing-value", key, check, lambda df: [{"when": when_text}] * len(df))


def _is_affiliate(df: Frame) -> pd.Series:
    return df["_emp"] & df["employed_by"].eq("foreign affiliate").fillna(False).astype(bool)


def common_rules(as_of: dt.date) -> list[Rule]:
    today = pd.Timestamp(as_of)
    horizon = today + pd.DateOffset(months=12)
    rules: list[Rule] = []
    for key, f in fields().items():
        if f.required == "yes":
            rules.append(_required(key, None, ""))
        elif f.required == "employees":
            rules.append(_required(key, lambda df: df["_emp"], " for employees"))
        elif f.required == "self-employed":
            rules.append(_required(key, lambda df: df["_se"], " for the self-employed"))
    rules += [
        Rule("missing-3121l-agreement", "section_3121l_date",
             lambda df: df[given("section_3121l_date")].astype(bool) | ~_is_affiliate(df)),
        Rule("end-before-start", "assignment_end",
             lambda df: _na_or(df["assignment_end"] >= df["assignment_start"], df["assignment_end"],
                               df["assignment_start"])),
        Rule("start-before-hire", "hire_date",
             lambda df: _na_or(df["hire_date"] <= df["assignment_start"], df["hire_date"], df["assignment_start"])),
        # The §3121(l) date is read for foreign affiliates only and ignored on other rows (docs/fields.md).
        Rule("3121l-after-start", "section_3121l_date",
             lambda df: _na_or(df["section_3121l_date"] <= df["assignment_start"], df["section_3121l_date"],
                               df["assignment_start"]) | ~_is_affiliate(df)),
        Rule("implausible-birth-date", "date_of_birth",
             lambda df: _na_or(
                 (df["date_of_birth"] <= today)
                 & _na_or(_age(df["date_of_birth"], df["assignment_start"]).between(14, 100),
                          df["assignment_start"]),
                 df["date_of_birth"]),
             lambda df: [{"age": "" if pd.isna(a) else int(a)}
                         for a in _age(df["date_of_birth"], df["assignment_start"])]),
        Rule("not-us-covered", "citizenship",
             lambda df: ~df["_cit_known"] | df["_us_citizen"] | df["_us_resident"],
             lambda df: [{"reason": "The worker is neither a U.S. citizen nor a U.S. resident, so the work abroad "
                          "is not covered by U.S. Social Security and no certificate can be issued. Check the "
                          "citizenship and residence columns."}] * len(df)),
        Rule("retroactive-request", "assignment_start",
             lambda df: _na_or(df["assignment_start"] >= today, df["assignment_start"]),
             lambda df: [{"as_of": as_of.isoformat()}] * len(df)),
        Rule("far-future-start", "assignment_start",
             lambda df: _na_or(df["assignment_start"] <= horizon, df["assignment_start"]),
             lambda df: [{"as_of": as_of.isoformat()}] * len(df)),
        Rule("extension-request", "request_type",
             lambda df: ~df["request_type"].eq("extension").fillna(False).astype(bool)),
    ]
    return rules


# --- the rules of one agreement ------------------------------------------------------------------------------


def _limit_rule(a: Agreement) -> Rule | None:
    if a.max_months is None and a.self_employed_max_months is None:
        return None

    def check(df: Frame) -> pd.Series:
        return _na_or(df["assignment_end"] <= df["_deadline"], df["assignment_end"], df["assignment_start"],
                      df["_limit"])

    def params(df: Frame) -> list[dict[str, object]]:
        return [{"limit": int(m), "clock": _iso(c)} for m, c in zip(df["_limit"], df["_clock"], strict=True)]

    return Rule("exceeds-detachment-limit", "assignment_end", check, params)


def _self_employment_rules(a: Agreement) -> list[Rule]:
    """The agreement's self-employment rule (docs/errors.md, self-employment rules; the POMS section is in the
    agreement's file). Only self-employed rows can fail these checks; the transfer limits are ``_deadline``'s."""
    if a.self_employment == "not-covered":
        return [Rule("not-covered-by-agreement", "worker_type", lambda df: ~df["_se"],
                     lambda df: [{"country": a.name, "who": "self-employed people"}] * len(df))]
    if a.self_employment == "residence":
        return [
            Rule("not-us-covered", "residence_country", lambda df: ~(df["_se"] & df["_res_host"]),
                 _reason(f"A self-employed person who lives in {a.name} is covered there under the agreement's "
                         "residence rule, not by the United States: no U.S. certificate can be issued. Check the "
                         "country of residence."),
                 variant="residence"),
            # POMS (e.g. RS 02001.730, Finland): the rule places only U.S. and host residents; anyone else needs a
            # special exception, which both countries must grant.
            Rule("self-employed-review", "residence_country", lambda df: ~(df["_se"] & df["_res_third"]),
                 _reason(f"The agreement with {a.name} places a self-employed person by residence, in the United "
                         f"States or in {a.name}; someone living in a third country stays U.S.-covered only by a "
                         "special exception that both countries must grant."),
                 variant="third-country"),
        ]
    if a.self_employment == "place-of-work":
        months = a.self_employed_max_months
        return [Rule(
            "self-employed-review", "residence_country", lambda df: ~(df["_se"] & df["_res_host"]),
            _reason(f"A self-employed person who lives in {a.name} is covered there under the agreement's "
                    "place-of-work rule, unless the business was moved there from the United States only for a "
                    f"while (at most {months} months): a specialist checks that the transfer is temporary."),
            variant="host")]
    return []  # nationality (Italy): the rules above apply to every worker


def _reason(text: str) -> Params:
    return lambda df: [{"reason": text}] * len(df)
def over_limit(values: Frame, clock_start: pd.Series) -> Frame:
    """The rows of ``values`` that end after their detachment limit when its clock starts at ``clock_start`` (the
    start of a chain of successive assignments) rather than at their own start: each one's ``limit`` and ``clock``.
    The agreements' ``exceeds-detachment-limit`` check, on the same derived columns."""
    frame = prepare(values.assign(assignment_start=clock_start), pd.DataFrame(index=values.index))
    ok = _na_or(frame["assignment_end"] <= frame["_deadline"], frame["assignment_end"], frame["assignment_start"],
                frame["_limit"])
    over = frame[~ok]
    return pd.DataFrame({"limit": over["_limit"].astype(int).tolist(), "clock": [_iso(c) for c in over["_clock"]]},
                        index=over.index)


def agreement_rules(a: Agreement) -> list[Rule]:
    since = pd.Timestamp(a.in_force_since)
    rules: list[Rule] = [
        Rule("before-agreement-in-force", "assignment_start",
             lambda df: _na_or(df["assignment_start"] >= since, df["assignment_start"]),
             lambda df: [{"country": a.name, "since": a.in_force_since.isoformat()}] * len(df)),
    ]
    if (limit := _limit_rule(a)) is not None:
        rules.append(limit)
    if a.self_employment == "nationality":
        rules += [
            Rule("italy-election-required", "citizenship", lambda df: ~df["_it_citizen"]),
            Rule("not-us-covered", "citizenship",
                 lambda df: df["citizenship"].isna() | df["_us_citizen"] | df["_it_citizen"],
                 lambda df: [{"reason": "Under the agreement with Italy, a worker who is neither a U.S. nor an "
                              "Italian citizen is covered where the work is done, in Italy: no U.S. certificate "
                              "can be issued. Check the citizenship column."}] * len(df),
                 variant="italy"),
        ]
    else:
        rules += _self_employment_rules(a)
    if "health_insurance" in a.requires:
        rules.append(_required("health_insurance", None, f" for {a.name}"))
        if a.health_insurance_must_be:
            must = a.health_insurance_must_be
            rules.append(Rule("health-insurance-required", "health_insurance",
                              lambda df: df["health_insurance"].isna() | df["health_insurance"].eq(must)))
    if "worksite_region" in a.requires:
        rules.append(Rule(
            "missing-value", "worksite_region",
            lambda df: df[given("worksite_region")] | df["worksite_region"].notna() | df["host_territory"],
            lambda df: [{"when": f" for {a.name}"}] * len(df)))
    return rules


# --- the schemas ---------------------------------------------------------------------------------------------


def _schema(name: str, rules: list[Rule], columns_too: bool) -> pa.DataFrameSchema:
    # The common schema, which sees every row, holds the dictionary's columns; the agreements' schema only its
    # checks: every declared column costs each validation its own pass.
    columns = {key: pa.Column(nullable=True, required=True) for key in fields()} if columns_too else {}
    # ignore_na=False: every rule handles nulls itself, and pandera's null scan of the whole frame per check
    # would cost more than the checks.
    checks = [pa.Check(rule.check, name=rule.name, ignore_na=False) for rule in rules]
    return pa.DataFrameSchema(columns=columns, checks=checks, name=name, strict=False)


@cache
def rules_for(code: str | None, as_of: dt.date) -> dict[str, Rule]:
    """By check name: the common rules (``code`` None), or the rules of the agreement ``code``."""
    rules = common_rules(as_of) if code is None else agreement_rules(agreements.all_agreements()[code])
    return {r.name: r for r in rules}


@cache
def schema_for(code: str | None, as_of: dt.date) -> pa.DataFrameSchema:
    """The common schema (every row) when ``code`` is None, else the schema of that agreement's rows."""
    return _schema(f"coc-{code or 'common'}", list(rules_for(code, as_of).values()), columns_too=code is None)


@cache
def agreements_schema(as_of: dt.date) -> pa.DataFrameSchema:
    """Every agreement's rules in one schema, for rows of any agreements: one check per check name, which runs
    each agreement's rule of that name on that agreement's rows (rows without an agreement pass). A file of 50 rows
    spread over 25 agreements then costs one validation rather than 25, each with pandera's own fixed cost."""
    by_name: dict[str, dict[str, Rule]] = {}
    for code in sorted(agreements.all_agreements()):
        for name, rule in rules_for(code, as_of).items():
            by_name.setdefault(name, {})[code] = rule
    checks = [pa.Check(_across(rules), name=name, ignore_na=False) for name, rules in by_name.items()]
    return pa.DataFrameSchema(checks=checks, name="coc-agreements", strict=False)


def _across(rules: dict[str, Rule]) -> Callable[[Frame], pd.Series]:
    # Each rule runs on the whole frame and counts on its own agreement's rows only: the rules are row by row, and
    # taking each agreement's rows out of a frame this wide would cost more than the rule.
    place = {code: n for n, code in enumerate(_agreement_codes())}

    def check(df: Frame) -> pd.Series:
        ok = np.ones(len(df), dtype=bool)
        numbers = df[AGREEMENT_NO].to_numpy()
        # How many rows each agreement has (the first count, of the rows without one, dropped).
        rows_of = np.bincount(numbers.astype(np.intp) + 1, minlength=len(place) + 1)[1:]
        # Agreements whose rule is the same code over the same captured values (the detachment limit, which
        # reads the derived columns) give the same answer: it is computed once.
        done: dict[tuple[object, ...], np.ndarray] = {}
        for code, rule in rules.items():
            if rows_of[place[code]]:
                mine = numbers == place[code]
                key = (rule.check.__code__, *(id(c.cell_contents) for c in rule.check.__closure__ or ()))
                if key not in done:
                    done[key] = rule.check(df).to_numpy()
                ok[mine] = np.asarray(done[key][mine], dtype=bool)
        return pd.Series(ok, index=df.index)

    return check
