"""Decisions (docs/errors.md): each row approved, referred, rejected or already requested; duplicate rows; request
IDs (docs/outputs.md#the-outbox); the rules that look at earlier requests (``coc_intake.history``)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from coc_intake import agreements, history
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.findings import Findings
from coc_intake.history import KnownRequests
from coc_intake.states import REQUESTING, RowStatus


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
    already = row_findings.loc[row_findings["code"].eq("already-requested"), "row"].astype(int).unique()
    rejected = row_findings.loc[row_findings["severity"].eq("error"), "row"].astype(int).unique()
    status[status.index.isin(referred)] = RowStatus.REFERRED
    status[status.index.isin(already)] = RowStatus.ALREADY_REQUESTED
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
        self.made: list[pd.DataFrame] = []
        """The requests the parts decided so far make (``history.COLUMNS`` and ``order``, the sheet row): earlier
        requests for the successive and concurrent assignments of later rows."""

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


def decide(values: pd.DataFrame, out: Findings, known: KnownRequests | None = None,
           earlier: EarlierRows | None = None) -> pd.DataFrame:
    """Status, request ID and codes (a tuple, in catalog order) of every row (``values`` indexed by sheet row).

    ``known``: the requests of earlier, committed batches. A row that would make one of them again is
    ``already-requested`` (same end date) or ``duplicate-request``; they and ``earlier`` (the rows of the same file
    decided before these, in row order) are the earlier requests of successive and concurrent assignments.
    """
    earlier = earlier or EarlierRows()
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
    batches = pd.Series(pd.Categorical([None] * len(values), categories=[]), index=values.index)
    if known is not None and len(known):
        duplicates, again = _repeats(values, ids, accepted, known, out)
        ids[duplicates] = None
        if len(again):
            batches = pd.Series(pd.Categorical(again.reindex(values.index)), index=values.index)
    status = _statuses(out.frame(), values.index)
    made = _requests(values, ids, countries, status.isin(REQUESTING))
    if _earlier_requests(made, known, earlier, values, out):
        status = _statuses(out.frame(), values.index)
        made = made[status.loc[made.index].isin(REQUESTING).to_numpy()]
    earlier.made.append(made)
    return pd.DataFrame({"status": status, "request_id": ids, "codes": _codes(out, values.index),
                         "earlier_batch": batches}, index=values.index)


def _codes(out: Findings, index: pd.Index) -> np.ndarray:
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
    codes = np.empty(len(index), dtype=object)
    codes.fill(())
    for position, row in zip(index.get_indexer(pd.Index(list(by_row))), by_row, strict=True):
        codes[position] = tuple(by_row[row])
    return codes


def _repeats(values: pd.DataFrame, ids: pd.Series, accepted: pd.Series, known: KnownRequests,
             out: Findings) -> tuple[pd.Index, pd.Series]:
    """Rows whose request an earlier batch made: ``already-requested`` when its end date is the same, else
    ``duplicate-request`` (but for an extension, which is a new request for the same assignment). The rows
    rejected as duplicates, and the batch of each row already requested."""
    rows = ids.index[accepted.to_numpy()]
    keys = history.rid_keys(ids[rows].tolist()) if len(rows) else np.empty(0, np.int64)
    made = known.same_ids(keys)
    if made.empty:
        return pd.Index([]), pd.Series([], dtype=object)
    mine = pd.DataFrame({"row": rows, "rid": keys,
                         "end": values.loc[rows, "assignment_end"].to_numpy(dtype="datetime64[s]"),
                         "extension": values.loc[rows, "request_type"].eq("extension").to_numpy(dtype=bool)})
    pairs = mine.merge(made[["rid", "end", "batch"]].rename(columns={"end": "earlier_end"}), on="rid")
    same = pairs["end"].eq(pairs["earlier_end"]).to_numpy()
    # A row may repeat several requests of the same ID (an extension's): the one with its end date names it, else
    # the first made.
    again = pairs[same].drop_duplicates("row")
    other = pairs[~same & ~pairs["row"].isin(again["row"]) & ~pairs["extension"]].drop_duplicates("row")
    for code, hits in (("already-requested", again), ("duplicate-request", other)):
        at = hits["row"].tolist()
        out.add(code, "ssn", at, values.loc[at, "ssn"].tolist(),
                [{"request_id": ids[r], "batch_id": str(b), "earlier_end": _day(e)}
                 for r, b, e in zip(at, hits["batch"], hits["earlier_end"], strict=True)])
    duplicates: pd.Index = pd.Index(other["row"].to_numpy(dtype=np.int64))
    return duplicates, pd.Series(again["batch"].astype(str).to_numpy(), index=again["row"].to_numpy())


def _day(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, np.datetime64) and np.isnat(value)):
        return ""
    return str(pd.Timestamp(value).date().isoformat())  # type: ignore[arg-type]


def _requests(values: pd.DataFrame, ids: pd.Series, countries: pd.Series, making: pd.Series) -> pd.DataFrame:
    """The requests the rows make (``history.COLUMNS``, indexed by sheet row) with ``order``: their sheet row."""
    rows = values.index[making.to_numpy()]
    made = history.requests_frame(ids[rows], values.loc[rows, "ssn"], countries[rows],
                                  values.loc[rows, "assignment_start"],
                                  values.loc[rows, "assignment_end"])
    made["order"] = rows.to_numpy(dtype=np.int64)
    return made


def _earlier_requests(made: pd.DataFrame, known: KnownRequests | None, earlier: EarlierRows, values: pd.DataFrame,
                      out: Findings) -> bool:
    """Successive assignments (the limit from the start of the chain) and ``concurrent-assignments``, against the
    earlier requests of the same workers: earlier batches', earlier parts', and earlier rows' of these. True when
    a finding was added."""
    if made.empty:
        return False
    ssns = made["ssn"].to_numpy()
    prior = [known.workers(ssns).assign(order=-1)] if known is not None and len(known) else []
    prior += [p[p["ssn"].isin(ssns)] for p in earlier.made]
    prior = [p for p in prior if not p.empty]
    busy = made["ssn"].duplicated(keep=False).to_numpy(copy=True)
    if prior:
        busy |= made["ssn"].isin(np.concatenate([p["ssn"].to_numpy() for p in prior])).to_numpy()
    if not busy.any():  # nearly always: no worker of these rows has another request
        return False
    mine = made[busy]
    candidates = pd.concat([*prior, mine], ignore_index=True)
    found = _chain_limits(mine, candidates, values, out)
    return _concurrent(mine, candidates, values, out) or found


def _pairs(mine: pd.DataFrame, candidates: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """Each row of ``mine`` (``row``) beside each candidate made before it (``_e``) with the same ``on``."""
    left = mine.rename_axis("row").reset_index()
    pairs = left.merge(candidates.drop(columns="batch"), on=on, suffixes=("", "_e"))
    return pairs[pairs["order_e"].lt(pairs["row"]) & pairs["rid_e"].ne(pairs["rid"])]


def _chain_limits(mine: pd.DataFrame, candidates: pd.DataFrame, values: pd.DataFrame, out: Findings) -> bool:
    """The detachment limit of rows that continue a chain of the same worker's requests under the same agreement
    (each ending less than a year before the next starts), counted from the chain's first start."""
    pairs = _pairs(mine, candidates, ["ssn", "country"])
    pairs = pairs[pairs["start_e"].le(pairs["start"])].sort_values(["row", "start_e", "rid_e"], kind="stable")
    if pairs.empty:
        return False
    # In order of start, a request links to the next when the latest end so far is less than a year before the
    # next start; the chain a row continues begins at the last candidate that did not link.
    reach = pairs.groupby("row", sort=False)["end_e"].cummax() + pd.DateOffset(years=1)
    before = reach.groupby(pairs["row"], sort=False).shift()
    heads = pairs[before.isna() | pairs["start_e"].ge(before)].groupby("row", sort=False).tail(1)
    linked = pairs.assign(reach=reach).groupby("row", sort=False).tail(1)
    linked = linked[linked["start"].lt(linked["reach"])]
    heads = heads[heads["row"].isin(linked["row"]) & heads["start_e"].lt(heads["start"])].set_index("row")
    if heads.empty:
        return False
    from coc_intake.schemas.rules import over_limit  # imported by the validation already; pandera stays lazy here

    rows = heads.index
    over = over_limit(values.loc[rows], pd.Series(heads["start_e"].to_numpy(), index=rows))
    if over.empty:
        return False
    at = over.index.tolist()
    earliest = dict(zip(rows.tolist(), history.rid_texts(heads["rid_e"].to_numpy()), strict=True))
    out.drop("exceeds-detachment-limit", at)
    out.add("exceeds-detachment-limit", "assignment_end", at, values.loc[at, "assignment_end"].tolist(),
            [{"limit": limit, "clock": clock,
              "chain": f", the start of the earlier request {earliest[r]} that this assignment continues"}
             for r, limit, clock in zip(at, over["limit"], over["clock"], strict=True)])
    return True


def _concurrent(mine: pd.DataFrame, candidates: pd.DataFrame, values: pd.DataFrame, out: Findings) -> bool:
    """``concurrent-assignments``: the worker's earlier request under another agreement overlaps the row's."""
    pairs = _pairs(mine, candidates, ["ssn"])
    pairs = pairs[pairs["country_e"].ne(pairs["country"]) & pairs["start_e"].le(pairs["end"])
                  & pairs["start"].le(pairs["end_e"])]
    if pairs.empty:
        return False
    first = pairs.sort_values(["row", "start_e", "rid_e"], kind="stable").drop_duplicates("row")
    at = first["row"].tolist()
    names = {c: a.name for c, a in agreements.all_agreements().items()}
    out.add("concurrent-assignments", "host_country", at, values.loc[at, "host_country"].tolist(),
            [{"request_id": rid, "other_country": names.get(country, country), "other_start": _day(s),
              "other_end": _day(e), "last4": str(ssn)[-4:].zfill(4)}
             for rid, country, s, e, ssn in zip(
                 history.rid_texts(first["rid_e"].to_numpy()), _country_codes(first["country_e"]),
                 first["start_e"], first["end_e"], first["ssn"], strict=True)])
    return True


def _country_codes(keys: pd.Series) -> list[str]:
    return [chr(65 + int(k) // 26) + chr(65 + int(k) % 26) for k in keys.tolist()]
