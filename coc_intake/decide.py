"""Decisions (SPEC §4): each row approved, referred or rejected; duplicate rows; request IDs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

import agreements
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.findings import Findings

APPROVED, REFERRED, REJECTED = "approved", "referred", "rejected"


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
    status = pd.Series(APPROVED, index=rows, dtype=object)
    row_findings = findings[findings["row"].notna()]
    if row_findings.empty:
        return status
    referred = row_findings.loc[row_findings["code"].isin(REFERRAL_CODES), "row"].astype(int).unique()
    rejected = row_findings.loc[row_findings["severity"].eq("error"), "row"].astype(int).unique()
    status[status.index.isin(referred)] = REFERRED
    status[status.index.isin(rejected)] = REJECTED
    return status


def duplicate_rows(values: pd.DataFrame, status: pd.Series, out: Findings) -> None:
    """Reject a row that repeats an earlier, not rejected row of the file: same SSN and host, overlapping period."""
    live = values[["ssn", "agreement", "assignment_start", "assignment_end"]]
    live = live[status.ne(REJECTED) & live.notna().all(axis=1)]
    keys = live["ssn"] + "|" + live["agreement"].map(_countries())
    repeated = keys[keys.duplicated(keep=False)]
    hits: list[tuple[int, int, str]] = []
    for _, group in live.loc[repeated.index].groupby(repeated, sort=False):
        kept: list[tuple[int, np.datetime64, np.datetime64]] = []
        for row, start, end, ssn in zip(group.index, group["assignment_start"], group["assignment_end"],
                                        group["ssn"], strict=True):
            earlier = next((k for k in kept if start <= k[2] and k[1] <= end), None)
            if earlier is None:
                kept.append((row, start, end))
            else:
                hits.append((row, earlier[0], ssn))
    if hits:
        out.add("duplicate-row", "ssn", [h[0] for h in hits], [h[2] for h in hits],
                [{"other": h[1], "last4": h[2][-4:]} for h in hits])


def decide(values: pd.DataFrame, out: Findings, known: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Status, request ID and codes (a tuple, in catalog order) of every row (``values`` indexed by sheet row).

    ``known`` maps the request IDs of earlier, committed batches to their batch: a row that would make one of them
    again is ``duplicate-request``.
    """
    status = _statuses(out.frame(), values.index)
    duplicate_rows(values, status, out)
    status = _statuses(out.frame(), values.index)
    countries = values["agreement"].map(_countries())
    sponsor = values["employer_ein"].where(values["worker_type"].ne("self-employed"), values["ssn"]).fillna("")
    start = values["assignment_start"].dt.strftime("%Y-%m-%d")
    accepted = status.ne(REJECTED)
    ids = pd.Series(None, index=values.index, dtype=object)
    keys = (sponsor[accepted] + "|" + values["ssn"][accepted] + "|" + countries[accepted] + "|"
            + start[accepted]).tolist()
    ids[accepted] = _ids(keys, countries[accepted].tolist())
    if known:
        again = ids[accepted & ids.isin(list(known))]
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
