"""The index of referred requests behind the specialists' queue (docs/outputs.md#the-referral-index,
docs/decisions.md#referrals).

Each batch writes its referred requests to ``referrals.parquet`` before its manifest commits (``of_outcome``); a
batch committed before there were such files has its index derived once from its request documents
(``of_documents``) and written beside them. The queue reads ``referrals/index.parquet``, every committed batch's
index joined: a cache, checked against the committed batches on every read and brought up to date from the batches'
own files, so it is never more than the batches say. The index holds no SSN, only its last four digits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from coc_intake.catalog import REFERRAL_CODES
from coc_intake.errors import ConfigError
from coc_intake.outbox import Outbox
from coc_intake.redact import redact
from coc_intake.states import RowStatus

if TYPE_CHECKING:
    from coc_intake.engine import Outcome

SCHEMA = pa.schema([
    ("request_id", pa.string()), ("batch_id", pa.string()), ("as_of", pa.date32()), ("row", pa.int64()),
    ("host", pa.string()), ("agreement", pa.string()), ("employer_ein", pa.string()),
    ("employer_name", pa.string()), ("worker", pa.string()), ("ssn_last4", pa.string()),
    ("reasons", pa.list_(pa.string())),
])
_COVERED = b"coc-batches"
"""The cache's metadata key: the batches it joins (those without referrals too)."""


def of_columns(columns: dict[str, list[Any]], batch_id: str, as_of: dt.date) -> pa.Table:
    n = len(columns["request_id"])
    full = {**columns, "batch_id": [batch_id] * n, "as_of": [as_of] * n}
    return pa.table({f.name: pa.array(full[f.name], f.type) for f in SCHEMA}, schema=SCHEMA)


def _text(value: object) -> str | None:
    return None if value is None or value != value else str(value)  # NaN and NA are not equal to themselves


def _worker(last: object, first: object) -> str:
    return ", ".join(t for t in (_text(last), _text(first)) if t)


def of_outcome(outcome: Outcome, batch_id: str, as_of: dt.date) -> pa.Table:
    """The referred requests of a checked file, in sheet order."""
    from coc_intake.engine import CheckedRows  # the intake has it loaded; the queue's listing does not need it

    if not isinstance(outcome, CheckedRows):
        return of_columns({f.name: [] for f in SCHEMA}, batch_id, as_of)
    rows = outcome.rows
    referred = rows["status"].eq(RowStatus.REFERRED).to_numpy()
    v = outcome.values[referred]
    columns: dict[str, list[Any]] = {
        "request_id": [str(r) for r in rows["request_id"][referred]],
        "row": [int(r) for r in rows.index[referred]],
        "host": [_text(c) for c in v["host_country"]],
        "agreement": [_text(c) for c in v["agreement"]],
        "employer_ein": [_text(e) for e in v["employer_ein"]],
        # masked as in the manifest: a sole proprietor's business name may be their SSN
        "employer_name": [None if _text(e) is None else redact(str(e)) for e in v["employer_name"]],
        "worker": [_worker(last, first) for last, first in zip(v["last_name"], v["first_name"], strict=True)],
        "ssn_last4": [str(s)[-4:] for s in v["ssn"]],
        "reasons": [[c for c in codes if c in REFERRAL_CODES] for codes in rows["codes"][referred]],
    }
    return of_columns(columns, batch_id, as_of)


def of_documents(documents: Iterable[dict[str, Any]], batch_id: str, as_of: dt.date) -> pa.Table:
    """The referred requests among a batch's request documents (a batch committed before there were index
    files)."""
    referred = sorted((d for d in documents if d.get("status") == RowStatus.REFERRED),
                      key=lambda d: int(d["source"]["row"]))
    employers = [d.get("employer") or {} for d in referred]
    columns = {
        "request_id": [d["request_id"] for d in referred],
        "row": [int(d["source"]["row"]) for d in referred],
        "host": [d["assignment"]["host_country"] for d in referred],
        "agreement": [(d.get("agreement") or {}).get("code") or (d.get("agreement") or {}).get("country")
                      for d in referred],
        "employer_ein": [e.get("ein") for e in employers],
        "employer_name": [None if e.get("name") is None else redact(str(e["name"])) for e in employers],
        "worker": [_worker(d["worker"].get("last_name"), d["worker"].get("first_name")) for d in referred],
        "ssn_last4": [str(d["worker"].get("ssn") or "")[-4:] for d in referred],
        "reasons": [list(d.get("referral_reasons") or []) for d in referred],
    }
    return of_columns(columns, batch_id, as_of)


def to_parquet(table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> bytes:
    sink = io.BytesIO()
    if metadata:
        table = table.replace_schema_metadata(metadata)
    # No statistics: the same referrals give the same bytes.
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def _read(data: bytes) -> pa.Table:
    # ParquetFile, not read_table: read_table imports pandas (0.3 s of the listing's 2 s) to build a dataset.
    return pq.ParquetFile(io.BytesIO(data)).read()


def from_parquet(data: bytes) -> pa.Table:
    return _read(data).cast(SCHEMA)


def _empty() -> pa.Table:
    return SCHEMA.empty_table()


def batch_index(outbox: Outbox, batch_id: str) -> pa.Table:
    """A committed batch's referrals: its ``referrals.parquet``, or, for a batch committed before there were such
    files, derived from its request documents and written, so that it is derived once."""
    data = outbox.read_referrals(batch_id)
    if data is not None:
        return from_parquet(data)
    manifest = outbox.manifest(batch_id)
    as_of = dt.date.fromisoformat(manifest["as_of"])
    documents: list[dict[str, Any]] = []
    if manifest.get("referred"):
        ids = list(manifest.get("request_ids", []))
        documents = [orjson.loads(outbox.read_request(batch_id, rid)) for rid in ids]
    table = of_documents(documents, batch_id, as_of)
    outbox.write_referrals(batch_id, to_parquet(table))
    return table


def _covered(table: pa.Table) -> set[str]:
    meta = table.schema.metadata or {}
    return set(orjson.loads(meta[_COVERED])) if _COVERED in meta else set()


def load(outbox: Outbox, rebuild: bool = False) -> pa.Table:
    """Every referred request of the committed batches, oldest first (as-of date, batch, row). The cache is read,
    batches committed since it was written are added from their own files, and it is written again when it
    changed; ``rebuild`` ignores it and joins every batch's file anew."""
    committed = outbox.committed()
    cached = None if rebuild else outbox.read_referral_index()
    table = _empty() if cached is None else _read(cached)
    covered = set() if cached is None else _covered(table)
    wanted = set(committed)
    if covered == wanted and cached is not None:
        return table.cast(SCHEMA)
    table = table.cast(SCHEMA)
    if covered - wanted:  # a batch removed by hand: the cache must not list more than the batches do
        table = table.filter(pc.is_in(table["batch_id"], pa.array(sorted(wanted), pa.string())))
    missing = [b for b in committed if b not in covered]
    with ThreadPoolExecutor(8) as pool:  # on S3 each batch is a round trip
        parts = list(pool.map(lambda b: batch_index(outbox, b), missing))
    table = pa.concat_tables([table, *parts]).sort_by([("as_of", "ascending"), ("batch_id", "ascending"),
                                                       ("row", "ascending")])
    if not committed:
        return table  # nothing to keep: an outbox with no batch (or a mistyped one) is left as it is
    # A read-only outbox: the answer is whole without the cache, and the next reader tries again.
    with contextlib.suppress(OSError, ConfigError):
        outbox.write_referral_index(to_parquet(table, {_COVERED: orjson.dumps(sorted(wanted))}))
    return table
