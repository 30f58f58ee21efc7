"""The registry of earlier requests: every request of every committed batch, with its worker, agreement and period
(docs/outputs.md#historyparquet-the-registry-of-earlier-requests, docs/decisions.md#rules).

A row is checked against it for three rules (docs/errors.md): the same request again is ``already-requested`` (same
end date) or ``duplicate-request`` (another end date); the detachment limit of successive assignments runs from the
start of their chain; and another agreement's overlapping request is ``concurrent-assignments``.

Each batch writes its requests to ``history.parquet`` (``Outbox.write_history``) before its manifest commits; the
registry is read from the outbox once a run and grows as each batch of the run commits. In memory it is one frame of
integer columns, about 40 bytes a request (40 MB at a million): the request ID and the SSN are packed into integers
that give them back exactly, so that every lookup is a merge or ``isin`` over integers, never a loop over rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from coc_intake import agreements
from coc_intake.outbox import Outbox
from coc_intake.states import REQUESTING

if TYPE_CHECKING:
    from coc_intake.engine import Outcome

#: The columns of the registry's frame: the request ID and SSN packed (``rid_keys``, ``ssn_keys``), the agreement's
#: country packed (``country_keys``), the period, and the batch that made the request.
COLUMNS = ("rid", "ssn", "country", "start", "end", "batch")
#: The SSN of a request whose worker is not known (a batch committed before 2026.2 recorded only its request IDs).
UNKNOWN_SSN = -1

_B32 = np.full(256, 255, dtype=np.uint8)
_B32[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)] = np.arange(32, dtype=np.uint8)
_B32_TEXT = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
_RID_WIDTH, _SSN_WIDTH = 17, 11
_FILE_SCHEMA = pa.schema([("request_id", pa.string()), ("ssn", pa.string()), ("country", pa.string()),
                          ("start", pa.date32()), ("end", pa.date32())])


def _fixed(texts: Iterable[str] | np.ndarray | pd.Series, width: int) -> np.ndarray:
    """Texts of ``width`` ASCII characters as an (n, width) array of bytes. A column of Arrow text whose values all
    have ``width`` bytes is taken from its buffer, without a Python string per value: a million-row batch's
    registry is built from three such columns (measured: +500 MB at the peak as Python strings)."""
    if isinstance(texts, pd.Series):
        try:
            fixed = pa.array(texts.array).cast(pa.binary(width))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            fixed = None
        if fixed is not None and not fixed.null_count:
            whole = np.frombuffer(fixed.buffers()[1], dtype=np.uint8)
            return whole[fixed.offset * width:(fixed.offset + len(fixed)) * width].reshape(-1, width)
        texts = texts.to_numpy()
    data = np.asarray(list(texts) if not isinstance(texts, np.ndarray) else texts, dtype=f"S{width}")
    return data.view(np.uint8).reshape(-1, width)


def rid_keys(request_ids: Iterable[str] | np.ndarray | pd.Series) -> np.ndarray:
    """``COC-XX-<10 of A-Z2-7>`` as one int64: the country's two letters (10 bits) above the 50 bits of the ten
    characters. Exact both ways (``rid_texts``)."""
    chars = _fixed(request_ids, _RID_WIDTH)
    keys = ((chars[:, 4].astype(np.int64) - 65) * 26 + (chars[:, 5].astype(np.int64) - 65)) << 50
    for i in range(10):
        keys |= _B32[chars[:, 7 + i]].astype(np.int64) << (45 - 5 * i)
    return keys


def _rid_bytes(keys: np.ndarray) -> np.ndarray:
    """The request IDs of ``rid_keys`` as fixed-width bytes (``S17``), built by numpy for a whole column."""
    keys = np.asarray(keys, dtype=np.int64)
    chars = np.empty((len(keys), _RID_WIDTH), dtype=np.uint8)
    chars[:, :4] = np.frombuffer(b"COC-", dtype=np.uint8)
    chars[:, 6] = ord("-")
    chars[:, 4:6] = _letters(keys >> 50)
    shifts = np.array([45 - 5 * i for i in range(10)], dtype=np.int64)
    chars[:, 7:] = _B32_TEXT[(keys[:, None] >> shifts[None, :]) & 31]
    return chars.view(f"S{_RID_WIDTH}").ravel()


def _letters(country: np.ndarray) -> np.ndarray:
    """A packed country (``country_keys``) as its two letters, (n, 2) bytes."""
    country = np.asarray(country, dtype=np.int64)
    return np.stack([65 + country // 26, 65 + country % 26], axis=1).astype(np.uint8)


def rid_texts(keys: np.ndarray) -> list[str]:
    """The request IDs of ``rid_keys``."""
    texts: list[str] = _rid_bytes(keys).astype(f"U{_RID_WIDTH}").tolist()
    return texts


def ssn_keys(ssns: Iterable[str] | np.ndarray | pd.Series) -> np.ndarray:
    """``NNN-NN-NNNN`` as the int64 of its nine digits."""
    chars = _fixed(ssns, _SSN_WIDTH)[:, [0, 1, 2, 4, 5, 7, 8, 9, 10]].astype(np.int64) - 48
    return chars @ (10 ** np.arange(8, -1, -1, dtype=np.int64))


def _ssn_bytes(keys: np.ndarray) -> np.ndarray:
    """SSN keys as ``NNN-NN-NNNN`` (``S11``)."""
    keys = np.asarray(keys, dtype=np.int64)
    digits = (keys[:, None] // (10 ** np.arange(8, -1, -1, dtype=np.int64))[None, :]) % 10 + 48
    chars = np.full((len(keys), _SSN_WIDTH), ord("-"), dtype=np.uint8)
    chars[:, [0, 1, 2, 4, 5, 7, 8, 9, 10]] = digits
    return chars.view(f"S{_SSN_WIDTH}").ravel()


def country_keys(countries: Iterable[str] | np.ndarray | pd.Series) -> np.ndarray:
    """An ISO alpha-2 code as a small integer."""
    chars = _fixed(countries, 2).astype(np.int16) - 65
    return chars[:, 0] * 26 + chars[:, 1]


def _batch_column(batch: str | None, n: int) -> pd.Categorical:
    """The batch of ``n`` requests: one category (text), so that frames of several batches join as categoricals."""
    if batch is None:
        return pd.Categorical.from_codes(np.full(n, -1, np.int8), categories=pd.Index([], dtype="str"))
    return pd.Categorical.from_codes(np.zeros(n, np.int8), categories=pd.Index([batch], dtype="str"))


Texts = list[str] | np.ndarray | pd.Series
"""A column of texts as a list, an array or a Series (an Arrow-backed one is read without Python strings)."""


def requests_frame(request_ids: Texts, ssns: Texts, countries: Texts, start: pd.Series, end: pd.Series,
                   batch: str | None = None) -> pd.DataFrame:
    """Requests as the registry holds them (``COLUMNS``), indexed as ``start``."""
    n = len(request_ids)
    return pd.DataFrame({
        "rid": rid_keys(request_ids) if n else np.empty(0, np.int64),
        "ssn": ssn_keys(ssns) if n else np.empty(0, np.int64),
        "country": country_keys(countries) if n else np.empty(0, np.int16),
        "start": start.to_numpy(dtype="datetime64[s]"), "end": end.to_numpy(dtype="datetime64[s]"),
        "batch": _batch_column(batch, n),
    }, index=start.index)


def of_outcome(outcome: Outcome) -> pd.DataFrame:
    """The requests an outcome makes (its approved and referred rows), in sheet order."""
    from coc_intake.engine import CheckedRows  # the engine looks requests up here: imported when first used

    if not isinstance(outcome, CheckedRows):
        return requests_frame([], [], [], pd.Series([], dtype="datetime64[s]"), pd.Series([], dtype="datetime64[s]"))
    making = outcome.rows["status"].isin(REQUESTING).to_numpy()
    # Only the four columns it needs, and no Python string per value: a million rows' every column copied (and
    # three columns as lists of strings) set the peak memory of a million-row intake.
    values = outcome.values.loc[making, ["ssn", "agreement", "assignment_start", "assignment_end"]]
    countries = {code: a.country for code, a in agreements.all_agreements().items()}
    return requests_frame(outcome.rows.loc[making, "request_id"], values["ssn"],
                          values["agreement"].map(countries), values["assignment_start"],
                          values["assignment_end"])


def to_parquet(frame: pd.DataFrame) -> bytes:
    """A batch's requests as its ``history.parquet``: the request ID, SSN (``NNN-NN-NNNN``, as in the request
    documents) and agreement country as text, the period as dates; in the order given."""
    table = pa.table({
        "request_id": _text_column(_rid_bytes(frame["rid"].to_numpy())),
        "ssn": _text_column(_ssn_bytes(frame["ssn"].to_numpy())),
        "country": _text_column(_letters(frame["country"].to_numpy()).view("S2").ravel()),
        "start": pa.array(frame["start"].to_numpy(dtype="datetime64[D]"), pa.date32()),
        "end": pa.array(frame["end"].to_numpy(dtype="datetime64[D]"), pa.date32()),
    }, schema=_FILE_SCHEMA)
    sink = io.BytesIO()
    # No statistics or creation time beyond pyarrow's version: the same requests give the same bytes.
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def _text_column(fixed: np.ndarray) -> pa.Array:
    """Fixed-width ASCII bytes as an Arrow text column, without a Python string per value."""
    return pa.array(fixed, pa.binary(fixed.dtype.itemsize)).cast(pa.binary()).cast(pa.string())


def _column_bytes(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """A text column whose every value has ``width`` characters, as (n, width) bytes, without Python strings."""
    array = column.combine_chunks().cast(pa.large_string())
    if len(array) == 0:
        return np.empty((0, width), dtype=np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    if array.null_count or not np.all(np.diff(offsets) == width):
        raise ValueError(f"history: a column's values are not all {width} characters")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(-1, width)


def from_parquet(data: bytes, batch: str) -> pd.DataFrame:
    """A batch's ``history.parquet`` as the registry holds it; no bytes, no requests."""
    if not data:
        return _ids_only([], batch)
    table = pq.read_table(io.BytesIO(data))
    return pd.DataFrame({
        "rid": rid_keys(_column_bytes(table["request_id"], _RID_WIDTH).view(f"S{_RID_WIDTH}").ravel()),
        "ssn": ssn_keys(_column_bytes(table["ssn"], _SSN_WIDTH).view(f"S{_SSN_WIDTH}").ravel()),
        "country": country_keys(_column_bytes(table["country"], 2).view("S2").ravel()),
        "start": table["start"].to_numpy().astype("datetime64[s]"),
        "end": table["end"].to_numpy().astype("datetime64[s]"),
        "batch": _batch_column(batch, table.num_rows),
    })


def _ids_only(request_ids: list[str], batch: str) -> pd.DataFrame:
    """A batch committed before 2026.2: its request IDs, without worker or period."""
    n = len(request_ids)
    return pd.DataFrame({"rid": rid_keys(request_ids) if n else np.empty(0, np.int64),
                         "ssn": np.full(n, UNKNOWN_SSN, np.int64), "country": np.zeros(n, np.int16),
                         "start": np.full(n, np.datetime64("NaT"), "datetime64[s]"),
                         "end": np.full(n, np.datetime64("NaT"), "datetime64[s]"),
                         "batch": _batch_column(batch, n)})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return _ids_only([], "")
    # union_categoricals keeps the batch column a categorical of the batches (concat would make it object text).
    batches = pd.api.types.union_categoricals([f["batch"] for f in frames])
    joined = pd.concat([f.drop(columns="batch") for f in frames], ignore_index=True)
    joined["batch"] = batches
    return joined


class KnownRequests:
    """Every earlier request: its ID, worker (SSN), agreement country, period and batch, in the order made.

    Deliberately neither a mapping nor iterable, and without a ``__dict__``: Prefect records a flow's parameters by
    encoding them, and a night's registry holds up to millions of requests. Encoding fails at once for such an
    object, so Prefect records ``<KnownRequests>`` and hands the flow the object itself.
    """

    __slots__ = ("_frame", "_parts", "_sizes")

    def __init__(self, frame: pd.DataFrame | None = None) -> None:
        self._parts: list[pd.DataFrame] = [] if frame is None else [frame]
        self._frame: pd.DataFrame | None = None
        self._sizes: list[int] = []
        """The number of requests of each batch added since the registry was made, in order."""

    @classmethod
    def load(cls, outbox: Outbox) -> KnownRequests:
        """Every committed batch's requests, read once: its ``history.parquet``, or its manifest's request IDs for a
        batch committed before there were history files."""
        frames = []
        for batch_id in outbox.committed():
            data = outbox.read_history(batch_id)
            if data is None:
                frames.append(_ids_only(list(outbox.manifest(batch_id).get("request_ids", [])), batch_id))
            else:
                frames.append(from_parquet(data, batch_id))
        return cls(_concat(frames))

    def add(self, batch_id: str, requests: pd.DataFrame) -> None:
        """A batch's requests (``requests_frame``), once it committed."""
        self._parts.append(requests.assign(batch=_batch_column(batch_id, len(requests))))
        self._frame = None
        self._sizes.append(len(requests))

    @property
    def version(self) -> int:
        """How many batches were added: a batch prepared now saw the registry at this version (``since``)."""
        return len(self._sizes)

    @property
    def frame(self) -> pd.DataFrame:
        """Every request (``COLUMNS``), in the order made; joined once per batch added, not per lookup."""
        if self._frame is None:
            self._frame = _concat(self._parts)
            self._parts = [self._frame]
        return self._frame

    def since(self, version: int) -> pd.DataFrame:
        """The requests of the batches added after the registry was at ``version``."""
        frame = self.frame
        return frame.iloc[len(frame) - sum(self._sizes[version:]):]

    def copy(self) -> KnownRequests:
        """The registry as it is now, for a file prepared beside others; the frame is shared, never changed."""
        copied = KnownRequests(self.frame)
        copied._sizes = list(self._sizes)
        return copied

    def workers(self, ssns: np.ndarray) -> pd.DataFrame:
        """The requests of these workers (SSN keys): an ``isin`` over the registry, for a part of a file."""
        frame = self.frame
        return frame[frame["ssn"].isin(ssns)]

    def same_ids(self, rids: np.ndarray) -> pd.DataFrame:
        """The requests with these IDs (keys)."""
        frame = self.frame
        return frame[frame["rid"].isin(rids)]

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def __contains__(self, request_id: object) -> bool:
        if not isinstance(request_id, str):
            return False
        return bool(self.frame["rid"].eq(rid_keys([request_id])[0]).any())

    def __repr__(self) -> str:
        return f"<KnownRequests: {len(self):,}>"
