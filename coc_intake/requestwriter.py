"""Writing a batch's request documents beside the rest of its work.

A batch can make a million requests, each a small JSON file. The documents are templated a chunk of rows at a time
in Arrow (``outputs.RequestDocuments``), and the chunks are written by threads: creating small files is system calls,
which release the GIL, so building one chunk overlaps writing others and memory stays bounded. Into a folder, from
``HELPER_FROM`` requests on, a helper process (``filewriter``) does the writing, because threads of this process
wait for the GIL after every system call while the other outputs are built. All of that is behind ``RequestWriter``.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from coc_intake import outputs
from coc_intake.engine import CheckedRows
from coc_intake.filewriter import FileWriter
from coc_intake.outbox import Outbox
from coc_intake.states import RowStatus

#: Rows per unit of request writing, and how many units run at once.
REQUEST_CHUNK, REQUEST_THREADS = 2000, 4
#: From this many requests in a part, a folder outbox has them written by a helper process (``filewriter``).
HELPER_FROM = 10_000
_JSON, _NOTHING = pa.scalar(".json", pa.large_string()), pa.scalar("", pa.large_string())


class RequestWriter:
    """Writes the request documents of a batch's decided rows, a part at a time (``add``), while the caller goes
    on; ``finish`` waits for them and says which request IDs were written, in order. Used as a context manager:
    leaving it with an exception stops the writing (an uncommitted batch needs none of its files)."""

    def __init__(self, outbox: Outbox, batch_id: str, as_of: dt.date) -> None:
        self._outbox, self._batch_id, self._as_of = outbox, batch_id, as_of
        self._pool = ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="requests")
        self._chunks: list[Future[list[str]]] = []
        self._helper: FileWriter | None = None

    def __enter__(self) -> RequestWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self.abort()
        self._pool.shutdown(wait=True)

    def add(self, part: CheckedRows) -> None:
        """Start writing the requests of a part of the rows (or of all of them)."""
        helper = self._helper_for(part)
        documents = outputs.RequestDocuments(part, self._batch_id, self._as_of)

        def unit(positions: np.ndarray) -> list[str]:
            ids, docs = documents.columns_at(positions)
            written: list[str] = ids.to_pylist()
            if helper is not None:
                helper.write(pc.binary_join_element_wise(ids, _JSON, _NOTHING), docs)
            else:
                self._outbox.write_requests(self._batch_id, list(zip(written, docs.to_pylist(), strict=True)))
            return written

        self._chunks += [self._pool.submit(unit, chunk) for chunk in outputs.request_chunks(part, REQUEST_CHUNK)]

    def _helper_for(self, part: CheckedRows) -> FileWriter | None:
        """The helper process: started for the first part with many requests when the outbox is a folder, then kept
        for the parts after."""
        if self._helper is None and len(part.rows) - part.counts()[RowStatus.REJECTED] >= HELPER_FROM:
            # Below that, starting the process (~50 ms) would cost more than it saves.
            self._helper = self._outbox.request_file_writer(self._batch_id)
        return self._helper

    def finish(self) -> list[str]:
        """Wait until every document is written; their request IDs, in the order of ``outputs.request_ids``."""
        written = [rid for chunk in self._chunks for rid in chunk.result()]
        if self._helper is not None:
            self._helper.close()
        return written

    def abort(self) -> None:
        for chunk in self._chunks:
            chunk.cancel()
        if self._helper is not None:
            self._helper.abort()
