"""Seconds spent per stage of the pipeline, the CPU the process used meanwhile, and the peak memory when each ended,
for the benchmarks (a no-op unless asked for)."""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


def cpu_seconds() -> float:
    """User + system CPU time so far of the whole process (all its threads, the kernel's work for them included)
    and of its helper processes that have ended (counted when they end)."""
    own, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """What ``measured`` collects: per stage, its seconds, CPU seconds and the peak memory when it last ended."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        """Stage → CPU seconds of the whole process while it ran: above its seconds when threads (or the kernel,
        creating files for them) kept more than one core busy."""
        self.peak_mb: dict[str, float] = {}
        """Stage → the process's peak RSS when it last ended: the stage where it first reaches the overall peak is
        the one that sets it."""


#: The stages being measured. Held in a context, not passed down, so that the pipeline's functions need no timer
#: parameter; the threads of a pool start with an empty context, so only the calling thread's stages are timed.
_measuring: ContextVar[Stages | None] = ContextVar("coc_intake_stages", default=None)


@contextmanager
def measured() -> Iterator[Stages]:
    """Time every ``stage`` entered in this context, until the block ends, into the Stages it gives."""
    stages = Stages()
    token = _measuring.set(stages)
    try:
        yield stages
    finally:
        _measuring.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the block's time to stage ``name`` of the stages being measured (``measured``); a no-op unless some
    are, as in production."""
    stages = _measuring.get()
    if stages is None:
        yield
        return
    start, used = time.perf_counter(), cpu_seconds()
    try:
        yield
    finally:
        stages.seconds[name] += time.perf_counter() - start
        stages.cpu[name] += cpu_seconds() - used
        stages.peak_mb[name] = peak_rss_mb()
