"""Seconds spent per stage of the pipeline, the CPU the process used meanwhile, and the peak memory when each ended,
for the benchmarks (a no-op unless asked for)."""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


def cpu_seconds() -> float:
    """User + system CPU time so far of the whole process (all its threads, the kernel's work for them included)
    and of its helper processes that have ended (counted when they end)."""
    own, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        """Stage → CPU seconds of the whole process while it ran: above its seconds when threads (or the kernel,
        creating files for them) kept more than one core busy."""
        self.peak_mb: dict[str, float] = {}
        """Stage → the process's peak RSS when it last ended: the stage where it first reaches the overall peak is
        the one that sets it."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start, used = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.cpu[name] += cpu_seconds() - used
            self.peak_mb[name] = peak_rss_mb()


class _Off(Stages):
    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        yield


OFF = _Off()
