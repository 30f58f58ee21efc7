"""Decisions (docs/errors.md): each row approved, referred or rejected; duplicate rows; request IDs
(docs/outputs.md#the-outbox)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from coc_intake import agreements
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.findings import Findings
from coc_intake.states import RowStatus


def request_id(sponsor: str, ssn: str, country: str, start: str) -> str:
    """``COC-<ISO2>-<10 of A-Z2-7>``: a pure function of the sponsor (EIN, or the SSN when self-employed), SSN,
    host country and start date."""
    return _ids([f"{sponsor}|{ssn}|{country}|{start}"], [country])[0]


_B32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
#: Where each of the 10 characters' 5 bits sit in a digest's first 8 bytes read as one big-endian integer.
_SHIFTS = np.array([59 - 5 * i for i in range(10)], dtype=np.uint64)


def _ids(keys: list[str], countries: list[str]) -> list[str]:
    # The first 10 base32 characters (RFC 4648 alphabet) of each key's SHA-256: its first 50 bits, five at a time,
    # for all keys at once (base64.b32encode is pure Python).
    if not keys:
        return []
    heads = np.frombuffer(b"".join([hashlib.sha256(k.encode()).digest()[:8] for k in keys]), dtype=">u8")
    fives = (heads.astype(np.uint64)[:, None] >> _SHIFTS[None, :]) & np.uint64(31)
    codes = _B32[fives].view("S10").ravel().astype("U10").tolist()
    return [f"COC-{c}-{code}" for c, code in zip(countries, codes, strict=True)]


def _countries() -> dict[str, str]:
    """Agreement code → the ISO code of its country."""
    return {code: a.country for code, a in agreements.all_agreements().items()}


def _statuses(findings: pd.DataFrame, rows: pd.Index) -> pd.Series:
    status = pd.Series(RowStatus.APPROVED, index=rows, dtype=object)
    row_findings = findings[findings["row"].notna()]
    if row_findings.empty:
        return status
    referred = row_findings.loc[row_findings["code"].isin(REFERRAL_CODES), "row"].astype(int).unique()
    rejected = row_findings.loc[row_findings["severity"].eq("error"), "row"].astype(int).unique()
    status[status.index.isin(referred)] = RowStatus.REFERRED
    status[status.index.isin(rejected)] = RowStatus.REJECTED
    return status


class EarlierRows:
    """The rows of a file decided so far that a later row may repeat (``duplicate-row``): per SSN and host, the
    period of each row kept. A file is decided a part at a time, in row order; this is what the parts share."""

    def __init__(self) -> None:
        self._kept: dict[str, list[tuple[int, object, object]]] = {}
        """Key → (row, start, end) of each row kept with it, once the key came again."""
        self._parts: list[pd.DataFrame] = []
        self._first: dict[str, int] = {}
        """Key → where its one kept row is (part << 32 | position): most keys never repeat, so a row's period is
        looked up only when a later row brings its key again."""
        self._last: tuple[int, pd.Series, np.ndarray] | None = None
        """The last part's keys and which of them are first seen, put into ``_first`` only when another part comes:
        a file checked whole never needs them (a dict of 100k keys is ~0.05 s)."""

    def _periods(self, key: str) -> list[tuple[int, object, object]]:
        periods = self._kept.get(key)
        if periods is None:
            periods = self._kept[key] = []
            first = self._first.pop(key, None)
            if first is not None:
                frame, at = self._parts[first >> 32], first & 0xFFFFFFFF
                periods.append((int(frame.index[at]), frame["assignment_start"].iloc[at],
                                frame["assignment_end"].iloc[at]))
        return periods

    def check(self, live: pd.DataFrame, keys: pd.Series) -> list[tuple[int, int, str]]:
        """(row, earlier row, SSN) of each row of ``live`` (rows in order, not rejected, every column given) that
        repeats a kept row, given their keys (SSN and host); the others are kept."""
        if self._last is not None:
            part, last_keys, first_seen = self._last
            positions = np.flatnonzero(first_seen)
            self._first.update(zip(last_keys.iloc[positions].tolist(), (part | positions).tolist(), strict=True))
            self._last = None
        again = keys.duplicated(keep=False).to_numpy()
        if self._first or self._kept:
            again = again | np.fromiter((k in self._first or k in self._kept for k in keys.tolist()), dtype=bool,
                                         count=len(keys))
        hits: list[tuple[int, int, str]] = []
        if again.any():
            rows, ssns, listed = live.index.tolist(), live["ssn"], keys.tolist()
            starts, ends = live["assignment_start"], live["assignment_end"]
            for at in np.flatnonzero(again).tolist():
                periods = self._periods(listed[at])
                start, end = starts.iloc[at], ends.iloc[at]
                earlier = next((k for k in periods if start <= k[2] and k[1] <= end), None)
                if earlier is None:
                    periods.append((rows[at], start, end))
                else:
                    hits.append((rows[at], earlier[0], ssns.iloc[at]))
        self._last = (len(self._parts) << 32, keys, ~again)
        self._parts.append(live)
        return hits


def duplicate_rows(values: pd.DataFrame, status: pd.Series, out: Findings, earlier: EarlierRows | None = None) -> None:
    """Reject a row that repeats an earlier, not rejected row of the file: same SSN and host, overlapping period.
    ``earlier`` holds the rows of the file's parts decided before this one."""
    live = values[["ssn", "agreement", "assignment_start", "assignment_end"]]
    live = live[status.ne(RowStatus.REJECTED) & live.notna().all(axis=1)]
    keys = live["ssn"] + "|" + live["agreement"].map(_countries())
    hits = (earlier or EarlierRows()).check(live, keys)
    if hits:
        out.add("duplicate-row", "ssn", [h[0] for h in hits], [h[2] for h in hits],
                [{"other": h[1], "last4": h[2][-4:]} for h in hits])


def decide(values: pd.DataFrame, out: Findings, known: Mapping[str, str] | None = None,
           earlier: EarlierRows | None = None) -> pd.DataFrame:
    """Status, request ID and codes (a tuple, in catalog order) of every row (``values`` indexed by sheet row).

    ``known`` maps the request IDs of earlier, committed batches to their batch: a row that would make one of them
    again is ``duplicate-request``. ``earlier``: the rows of the same file decided before these (in row order).
    """
    status = _statuses(out.frame(), values.index)
    duplicate_rows(values, status, out, earlier)
    status = _statuses(out.frame(), values.index)
    countries = values["agreement"].map(_countries())
    sponsor = values["employer_ein"].where(values["worker_type"].ne("self-employed"), values["ssn"]).fillna("")
    start = values["assignment_start"].dt.strftime("%Y-%m-%d")
    accepted = status.ne(RowStatus.REJECTED)
    ids = pd.Series(None, index=values.index, dtype=object)
    keys = (sponsor[accepted] + "|" + values["ssn"][accepted] + "|" + countries[accepted] + "|"
            + start[accepted]).tolist()
    ids[accepted] = _ids(keys, countries[accepted].tolist())
    if known:
        made = np.fromiter((rid in known for rid in ids.tolist()), dtype=bool, count=len(ids))
        again = ids[accepted & made]
        if len(again):
            out.add("duplicate-request", "ssn", again.index, values.loc[again.index, "ssn"],
                    [{"request_id": rid, "batch_id": known[rid]} for rid in again])
            status = _statuses(out.frame(), values.index)
            ids[again.index] = None
    findings = out.frame()
    row_findings = findings[findings["row"].notna()].copy()
    row_findings["row"] = row_findings["row"].astype(int)
    order = {code: i for i, code in enumerate(CATALOG)}
    row_findings["_o"] = row_findings["code"].map(order)
    ordered = row_findings.sort_values(["row", "_o"]).drop_duplicates(["row", "code"])
    by_row: dict[int, list[str]] = {}
    for row, code in zip(ordered["row"].tolist(), ordered["code"].tolist(), strict=True):
        by_row.setdefault(row, []).append(code)
    # Tuples: the rows without a finding (nearly all) share the empty one. A fresh list per row made a hundred
    # thousand objects for the garbage collector, whose passes over them cost more than building them.
    codes = np.empty(len(values), dtype=object)
    codes.fill(())
    for position, row in zip(values.index.get_indexer(pd.Index(list(by_row))), by_row, strict=True):
        codes[position] = tuple(by_row[row])
    return pd.DataFrame({"status": status, "request_id": ids, "codes": codes}, index=values.index)
