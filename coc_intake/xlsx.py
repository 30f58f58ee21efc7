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
