"""What every workbook the pipeline writes has in common: how xlsxwriter is set up, and the shared cell formats."""

from __future__ import annotations

import io
from typing import Any

from xlsxwriter.workbook import Workbook

#: Bold text: labels beside values.
BOLD: dict[str, Any] = {"bold": True}
#: A table's header row.
HEADER: dict[str, Any] = {"bold": True, "bg_color": "#DDEBF7", "border": 1}


def new_workbook(target: io.BytesIO | str) -> Workbook:
    """A workbook written to ``target`` (a buffer or a path) that keeps every text cell text.

    The cells hold what employers typed: a value such as ``=1+1``, ``00123`` or ``http://…`` must come back as
    typed, never as a formula, a number or a link.
    """
    return Workbook(target, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                             "strings_to_urls": False})


#: The most characters an Excel cell holds; xlsxwriter silently drops the rest of a longer string.
CELL_CHARS = 32_767


def cut_note(length: int) -> str:
    """What a cut cell's marker and comment say: how long the value was, and what the workbook kept."""
    return f"[cut: the value has {length:,} characters, more than the {CELL_CHARS:,} an Excel cell holds]"


def fit(text: str) -> str:
    """``text`` as one cell can hold it: whole when it fits, else its start followed by a visible marker (never
    cut without saying so). A cut value is longer than every field's limit, so sent back it is rejected again."""
    if len(text) <= CELL_CHARS:
        return text
    marker = " … " + cut_note(len(text))
    return text[:CELL_CHARS - len(marker)] + marker
