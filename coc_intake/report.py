"""The analysts' rejection report (``coc report``): what goes wrong, where, for whom, and whether it is getting better.

It reads the committed batches' manifests only (counts, error counts, the breakdown by employer, host country,
rejecting field and rejected value), so a thousand batches take a moment. It never reads a request, a source or a
results workbook, and no SSN reaches it: what it takes from a manifest as text (file names, employer names,
values, messages) is masked again, for manifests written before the manifest masked them
(docs/outputs.md#confidentiality). A manifest written before the breakdown had a part contributes what it has
(docs/report.md#older-batches).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.countries import name_of
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.states import FileResult, RowStatus

if TYPE_CHECKING:
    from coc_intake.referrals import ReferralCounts

#: The counts a manifest and each line of its breakdown have.
COUNTS = ("rows", *(s.value for s in (RowStatus.APPROVED, RowStatus.REFERRED, RowStatus.REJECTED)))
#: The counts of a manifest's totals: those, and the rows already requested (a manifest's own, since 2026.2).
TOTALS = (*COUNTS, RowStatus.ALREADY_REQUESTED.key)
#: How many employers the matrices and the employer trends show (those with most rejected rows).
TOP_EMPLOYERS = 15
#: How many of a field's most frequent rejected values the report shows (each manifest keeps its own top 20).
TOP_VALUES = 20
#: The referral worklist's age groups, in days since the batch's as-of date: (label, first day, last day).
AGE_GROUPS = (("0-7 days", 0, 7), ("8-30 days", 8, 30), ("over 30 days", 31, None))

Counts = dict[str, int]


@dataclass
class Totals:
    batches: int = 0
    files_rejected: int = 0
    rows: int = 0
    approved: int = 0
    referred: int = 0
    rejected: int = 0
    already_requested: int = 0
    """Rows an earlier file or run had already requested (counted apart, never as rejected)."""

    def add(self, doc: dict[str, Any]) -> None:
        self.batches += 1
        self.files_rejected += doc["status"] == FileResult.REJECTED_FILE
        for k in TOTALS:
            setattr(self, k, getattr(self, k) + int(doc.get(k) or 0))

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0


class Employer(NamedTuple):
    """An employer as the report names it: the EIN as typed (masked), and the name typed most often with it."""

    ein: str
    name: str

    @property
    def label(self) -> str:
        if self.ein:
            return f"{self.name} ({self.ein})" if self.name else f"(no name) ({self.ein})"
        return f"{self.name} (no EIN)" if self.name else "(no employer given: self-employed or left blank)"


class Host(NamedTuple):
    """A host country: its code where intake recognised it, else what was typed ("" for both: left blank)."""

    code: str
    typed: str = ""

    @property
    def label(self) -> str:
        if self.code:
            return self.code
        return f'"{self.typed}"' if self.typed else "(not given)"

    @property
    def name(self) -> str:
        if self.code:
            return name_of(self.code)
        return "not recognised, as typed" if self.typed else "(not given)"


@dataclass
class WorkItem:
    """Referred rows of one reason and host country, by age."""

    rows: int = 0
    oldest_days: int = 0
    by_age: Counter[str] = field(default_factory=Counter)


@dataclass
class Report:
    since: dt.date | None
    until: dt.date | None
    totals: Totals = field(default_factory=Totals)
    previous: Totals | None = None
    previous_since: dt.date | None = None
    previous_until: dt.date | None = None
    by_code: Counter[str] = field(default_factory=Counter)
    """Findings of severity error per code (a row can have several)."""
    referrals: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)
    by_country: dict[Host, Counts] = field(default_factory=dict)
    by_employer: dict[Employer, Counts] = field(default_factory=dict)
    by_week: dict[dt.date, Counts] = field(default_factory=dict)
    rejected_files: list[dict[str, Any]] = field(default_factory=list)
    employer_codes: dict[Employer, Counter[str]] = field(default_factory=dict)
    """Rejecting findings per employer and code (the employer × error-code matrix)."""
    employer_fields: dict[Employer, Counter[str]] = field(default_factory=dict)
    """Rejecting findings per employer and field (the employer × field matrix)."""
    employer_weeks: dict[Employer, dict[dt.date, Counts]] = field(default_factory=dict)
    rejected_values: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    """Per field, (value as the manifest keeps it, code) → findings; "" is a blank cell."""
    worklist: dict[tuple[str, Host], WorkItem] = field(default_factory=dict)
    """Referred rows per (reason, host country); a batch without referral reasons by host under Host("?")."""
    detailed_batches: int = 0
    """Batches in the period whose manifest has the employer, field and value breakdown (docs/report.md)."""
    decisions: ReferralCounts | None = None
    """The specialists' decisions on the period's referrals (``add_decisions``); None when not counted."""

    def top_problems(self, n: int = 5) -> list[tuple[str, int, str]]:
        """(code, findings, what it means) for the n most frequent rejecting codes."""
        return [(code, count, describe(code)) for code, count in self.by_code.most_common(n)]

    def top_employers(self, n: int = TOP_EMPLOYERS) -> list[Employer]:
        """The n employers with most rejected rows (then most rows, then by EIN)."""
        ranked = sorted(self.by_employer.items(),
                        key=lambda kv: (-kv[1][RowStatus.REJECTED], -kv[1]["rows"], kv[0]))
        return [e for e, counts in ranked[:n] if counts[RowStatus.REJECTED]]

    def top_values(self, field_key: str, n: int = TOP_VALUES) -> list[tuple[str, str, int]]:
        """(value, code, findings) of the n most frequent rejected values of a field."""
        ranked = sorted(self.rejected_values.get(field_key, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
        return [(value, code, count) for (value, code), count in ranked[:n]]


def describe(code: str) -> str:
    entry = CATALOG.get(code)
    return entry.title if entry else code


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _bump(table: dict[Any, Counts], key: Any, entry: dict[str, Any]) -> None:
    slot = table.setdefault(key, dict.fromkeys(COUNTS, 0))
    for k in slot:
        slot[k] += int(entry.get(k) or 0)


def load_manifests(outbox: Outbox) -> list[dict[str, Any]]:
    return list(outbox.manifests())


def _age_group(days: int) -> str:
    for label, first, last in AGE_GROUPS:
        if days >= first and (last is None or days <= last):
            return label
    return AGE_GROUPS[0][0]  # a batch dated after the period's end (none are: the period bounds them)


class _Employers:
    """Rows per employer as the manifests list them (EIN and name as typed), named once every batch is read."""

    def __init__(self) -> None:
        self.names: dict[str, Counter[str]] = defaultdict(Counter)
        self.counts: dict[str, Counts] = {}
        self.codes: dict[str, Counter[str]] = defaultdict(Counter)
        self.fields: dict[str, Counter[str]] = defaultdict(Counter)
        self.weeks: dict[str, dict[dt.date, Counts]] = defaultdict(dict)

    def add(self, entry: dict[str, Any], week: dt.date) -> None:
        ein, name = redact(str(entry["ein"])), redact(str(entry["name"]))
        self.names[ein][name] += int(entry.get("rows") or 0)
        _bump(self.counts, ein, entry)
        _bump(self.weeks[ein], week, entry)
        for code, n in (entry.get("codes") or {}).items():
            if code in CATALOG and CATALOG[code].severity == "error" and code not in REFERRAL_CODES:
                self.codes[ein][code] += int(n)
        self.fields[ein].update({str(k): int(n) for k, n in (entry.get("fields") or {}).items()})

    def into(self, report: Report) -> None:
        for ein, names in self.names.items():
            # The name typed most often; on a tie the first in alphabetical order, so that the report is stable.
            name = min(names.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            who = Employer(ein, name)
            report.by_employer[who] = self.counts[ein]
            report.employer_weeks[who] = self.weeks[ein]
            if ein in self.codes:
                report.employer_codes[who] = self.codes[ein]
            if ein in self.fields:
                report.employer_fields[who] = self.fields[ein]


def build(manifests: list[dict[str, Any]], since: dt.date | None = None, until: dt.date | None = None) -> Report:
    """The report over the batches whose as-of date is in [since, until] (open ends: everything)."""
    days = [dt.date.fromisoformat(m["as_of"]) for m in manifests]
    lo = since or (min(days) if days else None)
    hi = until or (max(days) if days else None)
    report = Report(since=lo, until=hi)
    if lo is not None and hi is not None:
        length = (hi - lo).days + 1
        report.previous_since, report.previous_until = lo - dt.timedelta(days=length), lo - dt.timedelta(days=1)
        report.previous = Totals()
    employers = _Employers()
    for doc, day in zip(manifests, days, strict=True):
        if report.previous is not None and report.previous_since <= day <= report.previous_until:  # type: ignore[operator]
            report.previous.add(doc)
        if (lo is not None and day < lo) or (hi is not None and day > hi):
            continue
        _add(report, doc, day, employers)
    employers.into(report)
    return report


class NarrowError(ValueError):
    """Filters the manifests cannot answer together; the message says what to do."""


def _digits(text: object) -> str:
    return "".join(c for c in str(text or "") if c.isdigit())


def narrow(manifests: list[dict[str, Any]], employer: str | None = None, host: str | None = None
           ) -> list[dict[str, Any]]:
    """The manifests cut down to one employer (an EIN, any punctuation) or one host country (its ISO code): each
    batch with rows of it becomes a manifest of those rows alone, from its breakdown, and the others are left out.
    A manifest counts an employer's rows and codes but not by host, and a host's rows and referral reasons but not
    by employer or code: what a cut manifest does not know, it does not claim (docs/report.md#filters)."""
    if employer and host:
        raise NarrowError("Filter by employer or by host country, not both: the batches count an employer's rows, "
                          "and a host country's, but not an employer's rows by host country.")
    if not employer and not host:
        return manifests
    cut = []
    for doc in manifests:
        breakdown = doc.get("breakdown") or {}
        if employer:
            parts = [e for e in breakdown.get("employers", []) if _digits(e.get("ein")) == _digits(employer)]
            # "rejected_values" empty: the cut knows the employer's codes and fields, but not its values.
            extra = {"error_counts": _summed(p.get("codes", {}) for p in parts), "cut": "employer",
                     "breakdown": {"employers": parts, "rejected_values": {},
                                   "rejecting_fields": _summed(p.get("fields", {}) for p in parts)}}
        else:
            parts = [c for c in breakdown.get("host_countries", []) if str(c.get("country")) == str(host).upper()]
            extra = {"error_counts": _summed(p.get("referrals", {}) for p in parts),
                     "breakdown": {"host_countries": parts, "rejected_values": {}}}
        if parts:
            cut.append({"batch_id": doc["batch_id"], "as_of": doc["as_of"], "source_name": doc.get("source_name"),
                        "status": doc["status"], **{k: sum(int(p.get(k) or 0) for p in parts) for k in COUNTS},
                        **extra})
    return cut


def _summed(counters: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counters:
        total.update({k: int(v) for k, v in c.items()})
    return dict(total)


def add_decisions(report: Report, outbox: Outbox, today: dt.date | None = None) -> Report:
    """The report with the specialists' decisions on the referrals of its period counted: decided, approved,
    denied, waiting, and how long they waited, by reason and host (``referrals.referral_counts``: the referral
    index and the decisions, not the requests)."""
    from coc_intake.referrals import referral_counts

    report.decisions = referral_counts(outbox, report.since, report.until, today)
    return report


def _add(report: Report, doc: dict[str, Any], day: dt.date, employers: _Employers) -> None:
    """One batch of the period into the report."""
    week = _week(day)
    age = (report.until - day).days if report.until else 0
    report.totals.add(doc)
    _bump(report.by_week, week, doc)
    referrals: Counter[str] = Counter()
    for code, n in doc.get("error_counts", {}).items():
        if code in REFERRAL_CODES:
            referrals[code] += n
        elif CATALOG[code].severity == "error":
            report.by_code[code] += n
        else:
            report.warnings[code] += n
    report.referrals.update(referrals)
    breakdown = doc.get("breakdown") or {}
    for e in breakdown.get("employers", []):
        employers.add(e, week)
    by_host = False
    for c in breakdown.get("host_countries", []):
        host = Host(redact(str(c["country"])), redact(str(c.get("typed") or "")))
        _bump(report.by_country, host, c)
        if "referrals" in c:
            by_host = True
            for code, n in c["referrals"].items():
                _work(report, code, host, int(n), age)
    if not by_host and doc.get("cut") != "employer":  # an older manifest: its referral reasons without hosts
        for code, n in referrals.items():
            _work(report, code, Host("", "?"), n, age)
    report.fields.update(breakdown.get("rejecting_fields", {}))
    if "rejected_values" in breakdown:
        report.detailed_batches += 1
        for field_key, values in breakdown["rejected_values"].items():
            counter = report.rejected_values.setdefault(field_key, Counter())
            for v in values:
                counter[(redact(str(v["value"])), str(v["code"]))] += int(v["count"])
    if doc["status"] == FileResult.REJECTED_FILE:
        first = (doc.get("file_errors") or [{}])[0]
        report.rejected_files.append({"file": redact(doc["source_name"]), "batch_id": doc["batch_id"],
                                      "as_of": doc["as_of"], "code": first.get("code", ""),
                                      "message": redact(first.get("message") or "")})


def _work(report: Report, reason: str, host: Host, rows: int, age: int) -> None:
    if not rows:
        return
    item = report.worklist.setdefault((reason, host), WorkItem())
    item.rows += rows
    item.oldest_days = max(item.oldest_days, age)
    item.by_age[_age_group(age)] += rows


# --- the trend in words --------------------------------------------------------------------------------------


def _moved(what: str, now: int, before: int) -> str:
    """'Rejected rows rose from 1 to 4 (+300 %).' and its other forms."""
    if now == before:
        return f"{what} stayed at {now:,}."
    verb = "rose" if now > before else "fell"
    share = f" ({(now - before) / before:+.0%})" if before else ""
    return f"{what} {verb} from {before:,} to {now:,}{share}."


def _rate_moved(now: float, before: float) -> str:
    points = (now - before) * 100
    if abs(points) < 0.05:
        return f"The rejection rate stayed at {now:.1%}."
    verb = "rose" if points > 0 else "fell"
    return f"The rejection rate {verb} from {before:.1%} to {now:.1%} ({abs(points):.1f} percentage points)."


def counted(n: int, noun: str, plural: str = "") -> str:
    """'1 row', '2 rows', '1,204 findings': a count with its noun in the number it takes."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def trend_sentences(report: Report) -> list[str]:
    """The period against the previous one of the same length, in plain sentences."""
    if report.previous is None:
        return []
    p, t = report.previous, report.totals
    before = f"the previous period ({report.previous_since} to {report.previous_until})"
    if not p.batches:
        return [f"No batches in {before} to compare with."]
    if not t.batches:
        return [f"No batches in this period; {before} had {counted(p.rows, 'row')}, {p.rejected:,} rejected."]
    return [f"Against {before}:", _moved("Rows", t.rows, p.rows), _moved("Rejected rows", t.rejected, p.rejected),
            _rate_moved(t.rejection_rate, p.rejection_rate)]


def employer_trend(report: Report, who: Employer) -> str:
    """How an employer's rejection rate moved from its first to its last week with rows in the period."""
    weeks = [(w, c) for w, c in sorted(report.employer_weeks.get(who, {}).items()) if c["rows"]]
    if not weeks:
        return "No rows in this period."
    (first, a), (last, b) = weeks[0], weeks[-1]
    rate_a, rate_b = a[RowStatus.REJECTED] / a["rows"], b[RowStatus.REJECTED] / b["rows"]
    if first == last:
        return f"Only the week of {first}: {counted(a['rows'], 'row')}, {rate_a:.1%} rejected."
    if abs(rate_b - rate_a) < 0.0005:
        return f"Steady at {rate_b:.1%} rejected from the week of {first} to the week of {last}."
    verb = "Improved" if rate_b < rate_a else "Worsened"
    return (f"{verb}: {rate_a:.1%} rejected in the week of {first}, {rate_b:.1%} in the week of {last} "
            f"({len(weeks)} weeks with rows).")


def headline_markdown(report: Report) -> str:
    """The headline numbers, as the nightly Prefect artifact shows them."""
    t = report.totals
    period = f"{report.since} to {report.until}" if report.since else "no batches"
    lines = [f"# Rejections, {period}", "",
             f"**{counted(t.rows, 'row')}** in {counted(t.batches, 'batch', 'batches')}: {t.approved:,} approved, "
             f"{t.referred:,} referred, **{t.rejected:,} rejected** ({t.rejection_rate:.1%}); "
             f"{counted(t.files_rejected, 'file')} rejected whole."]
    trend = trend_sentences(report)
    if trend:
        lines += ["", " ".join(trend)]
    lines += ["", "| top problems | findings | what it means |", "|---|---|---|"]
    lines += [f"| {code} | {n:,} | {text} |" for code, n, text in report.top_problems()]
    if report.referrals:
        lines += ["", "Referrals: " + ", ".join(f"{c} {n:,}" for c, n in report.referrals.most_common())]
    return "\n".join(lines) + "\n"
