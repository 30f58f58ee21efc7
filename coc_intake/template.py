"""``coc template``: a blank workbook of the current edition, generated from the data dictionary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xlsxwriter.utility
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from coc_intake import agreements, countries, schemas, xlsx
from coc_intake.normalize import USPS_STATES

#: Rows below the header whose code cells (``xlsx.CODE_TYPES``) get a text format of their own, besides their
#: column's: a cell format is what a pasted value keeps (docs/decisions.md#outputs). The validations, input
#: prompts and column formats go down to the sheet's last row.
TEXT_CELL_ROWS = 5_000
_YES_NO = ["Y", "N"]
#: Field types whose dropdown refuses other values (the intake reads more spellings of a host or region).
STRICT_TYPES = frozenset({"enum", "yesno", "state"})


def dropdown_lists() -> dict[str, list[str]]:
    """Dropdown values of the enumerated fields (the template puts them on a hidden sheet)."""
    regions = list(agreements.all_agreements()["GB"].worksite_regions)
    regions += sorted(set(agreements.all_agreements()["CA"].worksite_regions) | {"QC"})
    hosts = sorted({countries.name_of(a.country) for a in agreements.all_agreements().values()} | {"Quebec"})
    return {
        "employer_state": sorted(USPS_STATES),
        "host_country": hosts,
        "worksite_region": regions,
        "health_insurance": _YES_NO,
        **{k: list(f.values) for k, f in schemas.fields().items() if f.type == "enum"},
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Formats:
    head: Format
    required: Format
    sometimes: Format
    optional: Format
    text: Format
    date: Format

    @classmethod
    def of(cls, wb: Workbook) -> _Formats:
        wrapped = {"text_wrap": True, "valign": "top"}
        return cls(head=wb.add_format({**xlsx.HEADER, **wrapped}),
                   required=wb.add_format({**xlsx.HEADER, "bg_color": "#FCE4D6", **wrapped}),
                   sometimes=wb.add_format({**xlsx.HEADER, "bg_color": "#FFF2CC", **wrapped}),
                   optional=wb.add_format({**xlsx.HEADER, "bold": False, "bg_color": "#F2F2F2", **wrapped}),
                   text=wb.add_format(xlsx.TEXT), date=wb.add_format({"num_format": "yyyy-mm-dd"}))

    def header(self, f: schemas.Field) -> Format:
        """Required in every row: bold on orange; in some cases: bold on yellow; optional: plain on grey."""
        if f.required == "yes":
            return self.required
        return self.optional if f.required == "no" else self.sometimes


def write_template(path: Path) -> Path:
    """Write the template to ``path`` (xlsx) and return it."""
    fields = list(schemas.fields().values())
    wb = xlsx.new_workbook(str(path))
    wb.set_custom_property("coc-template-edition", schemas.edition())
    wb.set_properties({"title": f"Certificate of Coverage requests — template edition {schemas.edition()}",
                       "keywords": f"coc-template-edition={schemas.edition()}"})
    formats = _Formats.of(wb)
    lists = dropdown_lists()
    _assignments_sheet(wb, fields, lists, formats)
    _data_dictionary_sheet(wb, fields, lists, formats)
    wb.close()
    return path


def _assignments_sheet(wb: Workbook, fields: list[schemas.Field], lists: dict[str, list[str]],
                       formats: _Formats) -> None:
    """The sheet employers fill in, with its hidden Lists sheet of dropdown values."""
    sheet = wb.add_worksheet("Assignments")
    lists_sheet = wb.add_worksheet("Lists")
    lists_sheet.hide()
    list_col = 0
    for col, f in enumerate(fields):
        sheet.write_string(0, col, f.label, formats.header(f))
        cell_format = formats.date if f.type == "date" else formats.text
        sheet.set_column(col, col, max(14, min(len(f.label) + 4, 32)), cell_format)
        if f.type in xlsx.CODE_TYPES:
            for row in range(1, TEXT_CELL_ROWS + 1):
                sheet.write_blank(row, col, None, formats.text)
        options: dict[str, object] = {
            "input_title": _clip(f.label, 32),
            "input_message": _clip(f"Required: {f.required_text}. {f.help}", 255),
        }
        values = lists.get(f.key)
        if values:
            options.update(_dropdown(lists_sheet, list_col, f, values))
            list_col += 1
        else:
            options["validate"] = "any"
        sheet.data_validation(1, col, xlsx.LAST_ROW, col, options)
    sheet.set_row(0, xlsx.height_of(3))
    sheet.freeze_panes(1, 0)
    xlsx.print_setup(sheet)
    sheet.activate()


def _dropdown(lists_sheet: Worksheet, list_col: int, f: schemas.Field, values: list[str]) -> dict[str, object]:
    """Write ``values`` to column ``list_col`` of the Lists sheet; the validation that offers them."""
    lists_sheet.write(0, list_col, f.key)
    for i, v in enumerate(values, start=1):
        lists_sheet.write_string(i, list_col, v)
    letter = xlsxwriter.utility.xl_col_to_name(list_col)
    return list_validation(f, f"=Lists!${letter}$2:${letter}${len(values) + 1}")


def list_validation(f: schemas.Field, source: str | list[str]) -> dict[str, object]:
    """A dropdown of ``f``'s values (a range, or the values themselves when they fit in 255 characters)."""
    return {
        "validate": "list",
        "source": source,
        # The intake reads more spellings of a host or region than the list shows (codes, other names).
        "error_type": "stop" if f.type in STRICT_TYPES else "information",
        "error_title": _clip(f.label, 32),
        "error_message": _clip(f.help, 255),
    }


_LEGEND = [
    ("required", "Required in every row: bold on orange."),
    ("sometimes", "Required in some cases (the Required column says when): bold on yellow."),
    ("optional", "Optional: plain on grey."),
]


def _data_dictionary_sheet(wb: Workbook, fields: list[schemas.Field], lists: dict[str, list[str]],
                           formats: _Formats) -> None:
    guide = wb.add_worksheet("Data dictionary")
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    line = wb.add_format({"text_wrap": False})  # a legend line runs on over the empty cells beside it
    guide.write(0, 0, f"Template edition {schemas.edition()}", formats.head)
    guide.write(1, 0, "Column headers of the Assignments sheet:", line)
    for row, (name, text) in enumerate(_LEGEND, start=2):
        guide.write_string(row, 0, "Header", getattr(formats, name))
        guide.write_string(row, 1, text, line)
    table = len(_LEGEND) + 3
    for col, title in enumerate(["Label", "Key", "Required", "Allowed values", "Help"]):
        guide.write(table, col, title, formats.head)
    widths = (26.0, 26.0, 28.0, 28.0, 100.0)
    for row, f in enumerate(fields, start=table + 1):
        allowed = ", ".join(lists.get(f.key, [])) if f.key != "host_country" else "an agreement country"
        guide.write_string(row, 0, f.label, formats.header(f))
        guide.write_row(row, 1, [f.key, f.required_text, allowed, f.help])
        lines = max(xlsx.line_count(t, w) for t, w in zip([f.required_text, allowed, f.help], widths[2:],
                                                           strict=True))
        guide.set_row(row, xlsx.height_of(lines))
    for col, width in enumerate(widths):
        guide.set_column(col, col, width, wrap)
    guide.freeze_panes(table + 1, 0)
    xlsx.print_setup(guide, header_rows=0)
    guide.repeat_rows(table)
