"""Bounds on untrusted input (SPEC §3): the defaults, configurable."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_uncompressed: int = 500 * 1024 * 1024
    max_ratio: float = 100.0
    max_rows: int = 1_048_576
    max_columns: int = 200


    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """The defaults, overridden by ``COC_MAX_BYTES``, ``COC_MAX_UNCOMPRESSED``, ``COC_MAX_RATIO``,
        ``COC_MAX_ROWS`` and ``COC_MAX_COLUMNS``."""
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for f in fields(cls):
            name = f"COC_{f.name.upper()}"
            if name in env:
                try:
                    values[f.name] = float(env[name]) if f.name == "max_ratio" else int(env[name])
                except ValueError:
                    from coc_intake.errors import ConfigError

                    raise ConfigError(f"{name}={env[name]!r} is not a number; set it to a whole number.") from None
        return cls(**values)  # type: ignore[arg-type]


DEFAULT_LIMITS = Limits()


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"
