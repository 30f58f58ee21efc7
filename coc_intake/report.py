"""The analysts' rejection report (``coc report``): what goes wrong, where, for whom, and whether it is getting better.

It reads the committed batches' manifests only (counts, error counts, the breakdown by employer, host country and
rejecting field), so a thousand batches take a moment. It never reads a request, a source or a results workbook, and
no SSN reaches it: what it takes from a manifest as text (file names, employer names, messages) is masked again, for
manifests written before the manifest masked them (docs/outputs.md#confidentiality).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.states import FileResult, RowStatus

#: The counts a manifest and each line of its breakdown have.
COUNTS = ("rows", *(s.value for s in (RowStatus.APPROVED, RowStatus.REFERRED, RowStatus.REJECTED)))
#: The counts of a manifest's totals: those, and the rows already requested (a manifest's own, since 2026.2).
TOTALS = (*COUNTS, RowStatus.ALREADY_REQUESTED.key)


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
    by_country: dict[str, dict[str, int]] = field(default_factory=dict)
    by_employer: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    by_week: dict[dt.date, dict[str, int]] = field(default_factory=dict)
    rejected_files: list[dict[str, Any]] = field(default_factory=list)

    def top_problems(self, n: int = 5) -> list[tuple[str, int, str]]:
        """(code, findings, what it means) for the n most frequent rejecting codes."""
        return [(code, count, describe(code)) for code, count in self.by_code.most_common(n)]


def describe(code: str) -> str:
    entry = CATALOG.get(code)
    return entry.title if entry else code


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _bump(table: dict[Any, dict[str, int]], key: Any, entry: dict[str, Any]) -> None:
    slot = table.setdefault(key, dict.fromkeys(COUNTS, 0))
    for k in slot:
        slot[k] += int(entry.get(k) or 0)


def load_manifests(outbox: Outbox) -> list[dict[str, Any]]:
    return list(outbox.manifests())


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
    for doc, day in zip(manifests, days, strict=True):
        if report.previous is not None and report.previous_since <= day <= report.previous_until:  # type: ignore[operator]
            report.previous.add(doc)
        if (lo is not None and day < lo) or (hi is not None and day > hi):
            continue
        report.totals.add(doc)
        _bump(report.by_week, _week(day), doc)
        for code, n in doc.get("error_counts", {}).items():
            if code in REFERRAL_CODES:
                report.referrals[code] += n
            elif CATALOG[code].severity == "error":
                report.by_code[code] += n
            else:
                report.warnings[code] += n
        breakdown = doc.get("breakdown") or {}
        for e in breakdown.get("employers", []):
            _bump(report.by_employer, (redact(e["ein"]), redact(e["name"])), e)
        for c in breakdown.get("host_countries", []):
            _bump(report.by_country, redact(c["country"]), c)
        report.fields.update(breakdown.get("rejecting_fields", {}))
        if doc["status"] == FileResult.REJECTED_FILE:
            first = (doc.get("file_errors") or [{}])[0]
            report.rejected_files.append({"file": redact(doc["source_name"]), "batch_id": doc["batch_id"],
                                          "as_of": doc["as_of"], "code": first.get("code", ""),
                                          "message": redact(first.get("message") or "")})
    return report


def _change(now: int | float, before: int | float) -> str:
    if not before:
        return "new" if now else "—"
    pct = (now - before) / before * 100
    return f"{pct:+.0f} %"


def headline_markdown(report: Report) -> str:
    """The headline numbers, as the nightly Prefect artifact shows them."""
    t = report.totals
    period = f"{report.since} to {report.until}" if report.since else "no batches"
    lines = [f"# Rejections, {period}", "",
             f"**{t.rows:,} rows** in {t.batches} batches: {t.approved:,} approved, {t.referred:,} referred, "
             f"**{t.rejected:,} rejected** ({t.rejection_rate:.1%}); {t.files_rejected} files rejected whole."]
    if report.previous is not None:
        p = report.previous
        lines.append(f"Previous period ({report.previous_since} to {report.previous_until}): {p.rows:,} rows, "
                     f"{p.rejected:,} rejected ({p.rejection_rate:.1%}); "
                     f"rejected rows {_change(t.rejected, p.rejected)}.")
    lines += ["", "| top problems | findings | what it means |", "|---|---|---|"]
    lines += [f"| {code} | {n:,} | {text} |" for code, n, text in report.top_problems()]
    if report.referrals:
        lines += ["", "Referrals: " + ", ".join(f"{c} {n:,}" for c, n in report.referrals.most_common())]
    return "\n".join(lines) + "\n"
