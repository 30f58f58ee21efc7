"""Seconds spent per stage of the pipeline, and the peak memory when each ended, for the benchmarks (a no-op unless
asked for)."""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.peak_mb: dict[str, float] = {}
        """Stage → the process's peak RSS when it last ended: the stage where it first reaches the overall peak is
        the one that sets it."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.peak_mb[name] = peak_rss_mb()


class _Off(Stages):
    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        yield


OFF = _Off()
