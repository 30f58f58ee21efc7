"""The registry of earlier requests: which batch made each request ID, over every committed batch.

A row that would make a request again is ``duplicate-request``. The registry is read from the outbox once a night
and grows as each batch of the night commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from coc_intake.outbox import Outbox


class KnownRequests:
    """Request ID → batch ID.

    Deliberately neither a mapping nor iterable, and without a ``__dict__``: Prefect records a flow's parameters by
    encoding them, and a night's registry holds up to millions of IDs. Encoding fails at once for such an object, so
    Prefect records ``<KnownRequests>`` and hands the flow the object itself.
    """

    __slots__ = ("_batches",)

    def __init__(self, batches: Mapping[str, str] | None = None) -> None:
        self._batches: dict[str, str] = dict(batches or {})

    @classmethod
    def load(cls, outbox: Outbox) -> KnownRequests:
        known = cls()
        for doc in outbox.manifests():
            known.add(doc["batch_id"], doc.get("request_ids", []))
        return known

    def add(self, batch_id: str, request_ids: Iterable[str]) -> None:
        """The batch's requests; a request already known keeps its first batch."""
        for rid in request_ids:
            self._batches.setdefault(rid, batch_id)

    def any_of(self, request_ids: Iterable[str]) -> bool:
        return any(rid in self._batches for rid in request_ids)

    @property
    def lookup(self) -> Mapping[str, str]:
        """Request ID → batch ID, for the checks (a plain dict's lookups: the decide step makes one per row)."""
        return self._batches

    def copy(self) -> KnownRequests:
        return KnownRequests(self._batches)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._batches

    def __len__(self) -> int:
        return len(self._batches)

    def __repr__(self) -> str:
        return f"<KnownRequests: {len(self._batches):,}>"
