"""The specialists' work on referred requests: the queue, one request's view, decisions, and their counts
(docs/commands.md#coc-referrals, docs/decisions.md#referrals).

The queue is the referral index (``referral_index``) with the decisions folder listed once beside it. A decision is
appended under ``decisions/<request id>/<n>.json`` (``Outbox.add_decision``: a conditional create per number) with
the batch of the referral it decides, since an extension request has the ID of the request it extends; the latest
decision counts. The command line (``referrals_cli``) and the portal call these functions.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from coc_intake import agreements, referral_index
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.errors import CocError
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.states import Decision

if TYPE_CHECKING:  # the queue's listing imports neither pandas (the registry) nor the mail
    from coc_intake.mail import MailSummary
    from coc_intake.settings import Settings


class ReferralError(CocError):
    """A request that cannot be shown or decided (unknown, or not referred); the message says what to do."""


_REQUEST_ID = re.compile(r"COC-[A-Z]{2}-[A-Z0-9]{10}")


@dataclass(frozen=True)
class Filters:
    """What the queue is narrowed to; None is any."""

    reason: str | None = None
    host: str | None = None
    employer: str | None = None
    """An EIN as ``NN-NNNNNNN``."""
    older_than: int | None = None
    """Days since the as-of date, more than this."""
    include_decided: bool = False


@dataclass(frozen=True)
class Referral:
    """One referred request as the queue shows it: no SSN but its last four digits."""

    request_id: str
    batch_id: str
    as_of: dt.date
    row: int
    host: str
    agreement: str
    employer_ein: str | None
    employer_name: str | None
    worker: str
    ssn_last4: str
    reasons: tuple[str, ...]
    decisions: int = 0
    latest: str | None = None
    """The latest decision (``approved`` or ``denied``), or None while it waits."""

    @property
    def masked_ssn(self) -> str:
        return f"***-**-{self.ssn_last4}"

    def age(self, today: dt.date) -> int:
        return (today - self.as_of).days

    def as_json(self, today: dt.date) -> dict[str, Any]:
        return {"request_id": self.request_id, "batch_id": self.batch_id, "as_of": self.as_of.isoformat(),
                "age_days": self.age(today), "row": self.row, "host": self.host, "agreement": self.agreement,
                "employer_ein": self.employer_ein, "employer_name": self.employer_name, "worker": self.worker,
                "ssn": self.masked_ssn, "reasons": list(self.reasons), "decisions": self.decisions,
                "latest_decision": self.latest}


def normalize_ein(value: str) -> str:
    """``123456789`` or ``12-3456789`` as ``12-3456789``; ValueError otherwise."""
    digits = re.sub(r"\D", "", value)
    if len(digits) != 9 or not re.fullmatch(r"\d{2}-?\d{7}", value.strip()):
        raise ValueError(f"'{value}' is not an EIN; give it as NN-NNNNNNN, e.g. 12-3456789")
    return f"{digits[:2]}-{digits[2:]}"


class Queue:
    """Every referral of the committed batches (oldest first) and which of them are decided."""

    def __init__(self, outbox: Outbox, table: pa.Table, numbers: dict[str, list[int]]) -> None:
        self.outbox, self.table, self.numbers = outbox, table, numbers
        self._decided = self._decided_keys()

    @classmethod
    def load(cls, outbox: Outbox) -> Queue:
        return cls(outbox, referral_index.load(outbox), outbox.decision_numbers())

    def _decided_keys(self) -> dict[tuple[str, str], list[int]]:
        """(request ID, batch) → its decisions' numbers. A request ID referred in one batch owns its decisions
        without reading them; one referred in several (an extension) has its decisions read for their batch."""
        if not self.numbers:
            return {}
        # Only the decided rows become Python strings: 100k of them would cost more than the rest of a listing.
        decided = self.table.filter(_bools(_among(self.table["request_id"], self.numbers)))
        ids, batches = decided["request_id"].to_pylist(), decided["batch_id"].to_pylist()
        seen: dict[str, int] = {}
        for rid in ids:
            seen[rid] = seen.get(rid, 0) + 1
        keys = {(rid, batch): self.numbers[rid] for rid, batch in zip(ids, batches, strict=True) if seen[rid] == 1}
        for rid in (r for r, count in seen.items() if count > 1):
            for n in self.numbers[rid]:
                keys.setdefault((rid, str(self.outbox.decision(rid, n).get("batch_id"))), []).append(n)
        return keys

    def _mask(self, filters: Filters, today: dt.date) -> np.ndarray:
        t = self.table
        keep = np.ones(len(t), bool)
        if filters.reason:
            hit = pc.equal(pc.list_flatten(t["reasons"]), filters.reason)
            keep &= np.isin(np.arange(len(t)), pc.list_parent_indices(t["reasons"]).filter(hit).to_numpy())
        if filters.host:
            keep &= _numpy(pc.equal(t["host"], filters.host.upper()))
        if filters.employer:
            keep &= _numpy(pc.equal(t["employer_ein"], filters.employer))
        if filters.older_than is not None:
            cutoff = pa.scalar(today - dt.timedelta(days=filters.older_than), pa.date32())
            keep &= _numpy(pc.less(t["as_of"], cutoff))
        if not filters.include_decided and self._decided:
            candidates = np.flatnonzero(_among(t["request_id"], {rid for rid, _ in self._decided}))
            ids = t["request_id"].take(_positions(candidates)).to_pylist()
            batches = t["batch_id"].take(_positions(candidates)).to_pylist()
            for i, rid, batch in zip(candidates.tolist(), ids, batches, strict=True):
                if (rid, batch) in self._decided:
                    keep[i] = False
        return keep

    def select(self, filters: Filters, today: dt.date, limit: int | None = None, offset: int = 0
               ) -> tuple[list[Referral], int]:
        """The referrals that pass the filters, oldest first, at most ``limit`` of them from the ``offset``-th (a
        page: only its rows become Python objects); and how many passed."""
        chosen = self.table.filter(_bools(self._mask(filters, today)))
        total = len(chosen)
        if limit or offset:
            chosen = chosen.slice(offset, limit)
        return [self._referral(r) for r in chosen.to_pylist()], total

    def _referral(self, r: dict[str, Any]) -> Referral:
        numbers = self._decided.get((r["request_id"], r["batch_id"]), [])
        latest = str(self.outbox.decision(r["request_id"], numbers[-1])["decision"]) if numbers else None
        return Referral(r["request_id"], r["batch_id"], r["as_of"], r["row"], r["host"] or "", r["agreement"] or "",
                        r["employer_ein"], r["employer_name"], r["worker"] or "", r["ssn_last4"] or "",
                        tuple(r["reasons"] or ()), len(numbers), latest)

    def of_request(self, request_id: str) -> list[Referral]:
        """The referrals with this request ID (more than one for an extension), oldest first."""
        chosen = self.table.filter(pc.equal(self.table["request_id"], request_id))
        return [self._referral(r) for r in chosen.to_pylist()]

    def decision_numbers(self, referral: Referral) -> list[int]:
        return self._decided.get((referral.request_id, referral.batch_id), [])


def _among(column: pa.ChunkedArray, values: Iterable[str]) -> np.ndarray:
    """Which of a text column's values are among ``values``: Arrow's hash lookup (numpy's ``isin`` compares text
    pair by pair: 25 s for 100k referrals and 10k decisions)."""
    return _numpy(pc.is_in(column, value_set=_texts(list(values))))


# Arrow arrays made from their buffers: ``pa.array`` imports pandas on its first call, 0.2-0.3 s of a listing.
def _texts(values: list[str]) -> pa.Array:
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    offsets[1:] = np.cumsum([len(d) for d in data])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _numpy(found: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow boolean column as a numpy mask, null as False (``to_numpy`` of a chunked column imports pandas)."""
    arr = found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found
    if len(arr) == 0:
        return np.zeros(0, bool)
    validity, values = arr.buffers()[0], arr.buffers()[1]
    span = slice(arr.offset, arr.offset + len(arr))
    mask = np.unpackbits(np.frombuffer(values, np.uint8), bitorder="little")[span].astype(bool)
    if validity is not None:
        mask &= np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[span].astype(bool)
    return mask


def _bools(mask: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def _positions(at: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), len(at), [None, pa.py_buffer(np.ascontiguousarray(at, np.int64))])


def batch_decisions(outbox: Outbox, batch_id: str) -> dict[str, dict[str, Any]]:
    """The latest decision on each decided referral of a committed batch, by request ID (for the employer's view
    of its submission): the batch's own index and one listing of the decisions folder."""
    table = referral_index.batch_index(outbox, batch_id)
    numbers = outbox.decision_numbers()
    latest: dict[str, dict[str, Any]] = {}
    for rid in table["request_id"].to_pylist():
        for n in reversed(numbers.get(rid, [])):
            record = outbox.decision(rid, n)
            if record.get("batch_id") in (None, batch_id):
                latest[rid] = record
                break
    return latest


def _check_id(request_id: str) -> str:
    rid = request_id.strip().upper()
    if not _REQUEST_ID.fullmatch(rid):
        raise ReferralError(f"'{request_id}' is not a request ID: they read COC-XX-XXXXXXXXXX (two letters of the "
                            "host country, ten letters and digits), as in results.csv; `coc referrals list` shows "
                            "the referred ones.")
    return rid


def _not_referred(outbox: Outbox, rid: str) -> ReferralError:
    """Why a request ID is not in the queue: an approved request, or none at all."""
    from coc_intake import history

    known = history.KnownRequests.load(outbox)
    if rid in known:
        batch = known.same_ids(history.rid_keys([rid]))["batch"].astype(str).tolist()
        return ReferralError(f"{rid} (batch {', '.join(batch)}) was approved, not referred: only referred requests "
                             "are decided by a specialist. `coc referrals list` shows the referred ones.")
    return ReferralError(f"There is no request {rid} in {outbox.describe()}. Check the ID (results.csv of the "
                         "employer's batch lists them) and the --outbox; `coc referrals list` shows the referred "
                         "ones.")


def find(outbox: Outbox, request_id: str, queue: Queue | None = None) -> tuple[Queue, Referral]:
    """The referral a request ID names: the latest, when an extension made it twice."""
    rid = _check_id(request_id)
    queue = queue or Queue.load(outbox)
    found = queue.of_request(rid)
    if not found:
        raise _not_referred(outbox, rid)
    return queue, found[-1]


@dataclass(frozen=True)
class Reason:
    code: str
    title: str
    message: str
    """The message the employer got for this row (errors.csv), or the catalog's title when it is not found."""
    rule: str
    """The agreement's rule behind the reason."""


@dataclass(frozen=True)
class EarlierRequest:
    request_id: str
    batch_id: str
    host: str
    start: dt.date | None
    end: dt.date | None
    status: str
    """``approved``, ``referred``, or the latest decision on a referral."""


@dataclass(frozen=True)
class RequestView:
    """What a specialist sees of one referred request. ``document`` is the request document as written (full
    SSN): the portal's specialist view shows it; the command line masks it."""

    referral: Referral
    document: dict[str, Any]
    reasons: list[Reason]
    earlier: list[EarlierRequest]
    decisions: list[dict[str, Any]] = field(default_factory=list)


def agreement_rule(code: str, agreement_code: str, worker_type: str | None = None) -> str:
    """The rule of the agreement that made ``code`` a referral reason, in a sentence with its sources."""
    a = agreements.all_agreements().get(agreement_code)
    if a is None:
        return ""
    sources = f" ({', '.join(a.sources)})" if a.sources else ""
    if code in ("exceeds-detachment-limit", "extension-request"):
        months = a.self_employed_max_months if worker_type == "self-employed" else a.max_months
        limit = f"at most {months} months" if months else "no time limit"
        return f"Agreement with {a.name}: a worker sent there stays U.S.-covered for {limit}{sources}."
    if code == "self-employed-review":
        return f"Agreement with {a.name}: self-employed people are covered by {a.self_employment_text}."
    if code == "italy-election-required":
        return (f"Agreement with {a.name}: an Italian citizen employed by a U.S. employer there may elect the "
                f"country of coverage{sources}.")
    if code == "concurrent-assignments":
        return (f"Agreement with {a.name}: a certificate covers work in one country at a time; overlapping "
                f"requests under two agreements need a specialist{sources}.")
    return f"Agreement with {a.name}{sources}."


def _messages(outbox: Outbox, batch_id: str, row: int) -> dict[str, str]:
    """Code → the message the batch's errors.csv has for this row."""
    try:
        text = outbox.read_document(batch_id, "errors.csv").decode("utf-8")
    except FileNotFoundError:
        return {}
    return {r["code"]: r["message"] for r in csv.DictReader(io.StringIO(text, newline="")) if r["row"] == str(row)}


def view(outbox: Outbox, request_id: str) -> RequestView:
    """A referred request with its reasons explained, the worker's earlier requests and the decisions so far."""
    queue, referral = find(outbox, request_id)
    document: dict[str, Any] = orjson.loads(outbox.read_request(referral.batch_id, referral.request_id))
    worker = document.get("worker") or {}
    messages = _messages(outbox, referral.batch_id, referral.row)
    reasons = [Reason(c, CATALOG[c].title if c in CATALOG else c, messages.get(c, CATALOG[c].title if c in CATALOG
                                                                                  else c),
                      agreement_rule(c, referral.agreement, worker.get("type"))) for c in referral.reasons]
    return RequestView(referral, document, reasons, _earlier(outbox, queue, referral, worker.get("ssn")),
                       [d for d in outbox.decisions(referral.request_id)
                        if d.get("batch_id") in (None, referral.batch_id)])


def _earlier(outbox: Outbox, queue: Queue, referral: Referral, ssn: str | None) -> list[EarlierRequest]:
    """The worker's other requests in the registry of earlier requests (docs/outputs.md#historyparquet)."""
    from coc_intake import history

    if not ssn:
        return []
    frame = history.KnownRequests.load(outbox).workers(history.ssn_keys([ssn]))
    found = []
    for rid, batch, start, end in zip(history.rid_texts(frame["rid"].to_numpy()), frame["batch"].astype(str),
                                      frame["start"], frame["end"], strict=True):
        if (rid, batch) == (referral.request_id, referral.batch_id):
            continue
        status = "approved"
        for other in queue.of_request(rid):
            if other.batch_id == batch:
                status = other.latest or "referred"
        found.append(EarlierRequest(rid, batch, rid[4:6], _day(start), _day(end), status))
    return found


def _day(value: Any) -> dt.date | None:
    return None if value is None or value != value else value.date()


@dataclass(frozen=True)
class Decided:
    """A recorded decision and what became of its e-mail."""

    n: int
    record: dict[str, Any]
    mail: MailSummary
    message_id: str | None
    """None when the request names no contact address."""


def decide(outbox: Outbox, request_id: str, decision: str, note: str, by: str, settings: Settings,
           now: dt.datetime | None = None) -> Decided:
    """Append a decision on a referred request, write its audit record, and tell the employer by e-mail: the
    message is queued, then delivered at once (sent when an SMTP server is configured, else written as a file);
    a send that fails stays queued for the next nightly run."""
    from coc_intake import audit, decision_mail, mail

    choice = Decision(decision)
    if not note.strip():
        raise ReferralError("A decision needs a note saying why (--note TEXT): the employer reads it.")
    if not by.strip():
        raise ReferralError("Say who decides (--by NAME): the decision and the audit log record it.")
    _, referral = find(outbox, request_id)
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    record = {"request_id": referral.request_id, "batch_id": referral.batch_id, "decision": str(choice),
              "note": note, "by": by, "at": at}
    n = outbox.add_decision(referral.request_id, record)
    audit.record(outbox, by, "decision", subject=referral.request_id, batch_id=referral.batch_id,
                 decision=str(choice), n=n)
    queued = decision_mail.queue_missing(outbox, settings.mail_from)
    mid = decision_mail.message_id(referral.request_id, n)
    summary = mail.deliver(outbox, settings, only=set(queued)) if queued else mail.MailSummary()
    return Decided(n, {"n": n, **record}, summary, mid if mid in queued else None)


# Counts for the analysts' report.
@dataclass(frozen=True)
class Tally:
    referred: int = 0
    decided: int = 0
    approved: int = 0
    denied: int = 0
    waiting: int = 0
    wait_median_days: float | None = None
    """Days from the as-of date to the first decision, over the decided referrals."""
    wait_p90_days: float | None = None
    waiting_age_median_days: float | None = None
    """Days from the as-of date to ``today``, over the referrals still waiting."""
    waiting_age_p90_days: float | None = None


@dataclass(frozen=True)
class ReferralCounts:
    """Referrals of the batches as of the period, decided (by their latest decision) or waiting, and how long
    they waited: in all, by reason (a referral with two reasons counts under each) and by host country."""

    since: dt.date | None
    until: dt.date | None
    total: Tally
    by_reason: dict[str, Tally]
    by_host: dict[str, Tally]


def _percentile(values: list[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _tally(items: Iterable[tuple[str | None, int]]) -> Tally:
    """(latest decision or None, days) pairs: days waited to the first decision, or waiting so far."""
    waited, waiting = [], []
    approved = denied = 0
    for latest, days in items:
        if latest is None:
            waiting.append(days)
            continue
        waited.append(days)
        approved += latest == Decision.APPROVED
        denied += latest == Decision.DENIED
    return Tally(len(waited) + len(waiting), len(waited), approved, denied, len(waiting),
                 _percentile(waited, 50), _percentile(waited, 90), _percentile(waiting, 50),
                 _percentile(waiting, 90))


def referral_counts(outbox: Outbox, since: dt.date | None = None, until: dt.date | None = None,
                    today: dt.date | None = None) -> ReferralCounts:
    """The referrals of the committed batches whose as-of date is in the period (default: all), decided or
    waiting as the decisions folder says now."""
    today = today or dt.date.today()
    queue = Queue.load(outbox)
    t = queue.table
    if since is not None:
        t = t.filter(pc.greater_equal(t["as_of"], pa.scalar(since)))
    if until is not None:
        t = t.filter(pc.less_equal(t["as_of"], pa.scalar(until)))
    rows = t.to_pylist()

    def first_and_latest(numbers: list[int], rid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return outbox.decision(rid, numbers[0]), outbox.decision(rid, numbers[-1])

    keyed = [queue._decided.get((r["request_id"], r["batch_id"]), []) for r in rows]
    with ThreadPoolExecutor(8) as pool:  # on S3 each decision read is a round trip
        read = list(pool.map(lambda p: first_and_latest(p[0], p[1]["request_id"]) if p[0] else None,
                             zip(keyed, rows, strict=True)))
    items: list[tuple[dict[str, Any], str | None, int]] = []
    for r, decided in zip(rows, read, strict=True):
        if decided is None:
            items.append((r, None, (today - r["as_of"]).days))
            continue
        first, last = decided
        day = dt.datetime.fromisoformat(str(first["at"])).astimezone(dt.UTC).date()
        items.append((r, str(last["decision"]), (day - r["as_of"]).days))
    by_reason: dict[str, list[tuple[str | None, int]]] = {}
    by_host: dict[str, list[tuple[str | None, int]]] = {}
    for row, latest, days in items:
        for code in row["reasons"] or ():
            by_reason.setdefault(code, []).append((latest, days))
        by_host.setdefault(redact(row["host"] or ""), []).append((latest, days))
    return ReferralCounts(since, until, _tally((latest, days) for _, latest, days in items),
                          {k: _tally(v) for k, v in sorted(by_reason.items())},
                          {k: _tally(v) for k, v in sorted(by_host.items())})


__all__ = ["REFERRAL_CODES", "Decided", "Decision", "EarlierRequest", "Filters", "Queue", "Reason", "Referral",
           "ReferralCounts", "ReferralError", "RequestView", "Tally", "agreement_rule", "batch_decisions", "decide",
           "find", "normalize_ein", "referral_counts", "view"]
