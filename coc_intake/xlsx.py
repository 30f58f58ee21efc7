"""What every workbook the pipeline writes has in common: how xlsxwriter is set up, and the shared cell formats."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

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


# --- Layout shared by the workbooks (docs/decisions.md#outputs) ---------------------------------------------

#: The sheet's last row (0-based), for validations and formats that cover a whole column.
LAST_ROW = 1_048_575
#: Column widths are computed from at most about this many rows, spread over the sheet.
WIDTH_SAMPLE_ROWS = 1_000
#: Bounds of a computed column width (in Excel's character units).
MIN_WIDTH = 6.0
MAX_WIDTH = 30.0
#: A header wraps (its row is made taller): it widens its column up to this, or to its longest word.
HEADER_WIDTH = 12.0
#: Points per line of 11-point text, and the tallest row Excel allows.
LINE_HEIGHT = 15.0
MAX_ROW_HEIGHT = 409.0
#: A text cell format: what is typed stays text (leading zeros, dates as typed).
TEXT: dict[str, Any] = {"num_format": "@"}
#: Field types whose values are codes a spreadsheet damages when it takes them for numbers or dates.
CODE_TYPES = frozenset({"ssn", "ein", "zip"})


def sample_positions(count: int) -> range:
    """Positions of at most about ``WIDTH_SAMPLE_ROWS`` rows spread evenly over ``count`` rows."""
    return range(0, count, max(1, count // WIDTH_SAMPLE_ROWS))


def width_of(header: str, texts: Iterable[str], low: float = MIN_WIDTH, high: float = MAX_WIDTH) -> float:
    """A column's width: its longest sampled text, within bounds; the header (bold, so counted a little wider)
    wraps, and widens the column only to ``HEADER_WIDTH`` or its longest word."""
    longest = max((len(t) for t in texts), default=0)
    word = max((len(w) for w in header.split()), default=0)
    head = max(min(len(header), HEADER_WIDTH), word) * 1.1 + 2.0
    return min(high, max(low, longest + 2.0, head))


def line_count(text: str, width: float) -> int:
    """How many lines ``text`` takes wrapped in a column ``width`` units wide: an estimate from characters, not
    pixels. A unit is the width of a digit; prose averages about 0.9 of it, less the words carried over whole."""
    per_line = max(1, int(width * 1.1) - 2)
    return sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))


def height_of(lines: int) -> float:
    """The row height (points) that shows ``lines`` lines."""
    return min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT)


def print_setup(sheet: Worksheet, header_rows: int = 1) -> None:
    """Landscape, U.S. Letter, fitted to the page width, the header row(s) printed on every page."""
    sheet.set_landscape()
    sheet.set_paper(1)
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    if header_rows:
        sheet.repeat_rows(0, header_rows - 1)
