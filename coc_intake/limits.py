"""Bounds on untrusted input: the defaults, configurable through ``Settings.limits``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Each bound is set by ``COC_<NAME>`` (``COC_MAX_ROWS``), a flat ``max_rows`` key in the TOML file or a
    ``[limits]`` table there; see ``coc_intake.settings``."""

    # frozen: one instance, DEFAULT_LIMITS, is every check's default argument, so nothing may change it.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    max_bytes: Annotated[int, Field(gt=0)] = 50 * 1024 * 1024
    """File size on disk, in bytes."""
    max_uncompressed: Annotated[int, Field(gt=0)] = 500 * 1024 * 1024
    """An xlsx's uncompressed size, in bytes."""
    # At least 1: an xlsx is compressed XML, larger unpacked than packed, so a bound below 1 rejects every file.
    max_ratio: Annotated[float, Field(ge=1)] = 100.0
    """An xlsx's compression ratio (uncompressed / compressed): above it the file is taken for a zip bomb."""
    max_rows: Annotated[int, Field(gt=0)] = 1_048_576
    """Rows in a sheet or CSV."""
    max_columns: Annotated[int, Field(gt=0)] = 200
    """Columns in a sheet or CSV."""


DEFAULT_LIMITS = Limits()


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"
