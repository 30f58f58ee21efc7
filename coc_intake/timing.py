"""Seconds spent per stage of the pipeline, for the benchmarks (a no-op unless asked for)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Stages:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


class _Off(Stages):
    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        yield


OFF = _Off()
