"""Bounds on untrusted input (SPEC §3): the defaults, configurable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_uncompressed: int = 500 * 1024 * 1024
    max_ratio: float = 100.0
    max_rows: int = 1_048_576
    max_columns: int = 200


DEFAULT_LIMITS = Limits()


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"
