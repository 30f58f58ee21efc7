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

TEMPLATE_ROWS = 1000
_YES_NO = ["Y", "N"]


def _lists() -> dict[str, list[str]]:
    """Dropdown values of the enumerated fields (long ones go to a hidden sheet)."""
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
    text: Format
    date: Format

    @classmethod
    def of(cls, wb: Workbook) -> _Formats:
        wrapped = {"text_wrap": True, "valign": "top"}
        return cls(head=wb.add_format({**xlsx.HEADER, **wrapped}),
                   required=wb.add_format({**xlsx.HEADER, "bg_color": "#FCE4D6", **wrapped}),
                   text=wb.add_format({"num_format": "@"}), date=wb.add_format({"num_format": "yyyy-mm-dd"}))


def write_template(path: Path) -> Path:
    """Write the template to ``path`` (xlsx) and return it."""
    fields = list(schemas.fields().values())
    wb = xlsx.new_workbook(str(path))
    wb.set_custom_property("coc-template-edition", schemas.edition())
    wb.set_properties({"title": f"Certificate of Coverage requests — template edition {schemas.edition()}",
                       "keywords": f"coc-template-edition={schemas.edition()}"})
    formats = _Formats.of(wb)
    lists = _lists()
    _assignments_sheet(wb, fields, lists, formats)
    _data_dictionary_sheet(wb, fields, lists, formats.head)
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
        sheet.write(0, col, f.label, formats.required if f.required == "yes" else formats.head)
        cell_format = formats.date if f.type == "date" else formats.text
        sheet.set_column(col, col, max(14, min(len(f.label) + 4, 32)), cell_format)
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
        sheet.data_validation(1, col, TEMPLATE_ROWS, col, options)
    sheet.freeze_panes(1, 0)
    sheet.activate()


def _dropdown(lists_sheet: Worksheet, list_col: int, f: schemas.Field, values: list[str]) -> dict[str, object]:
    """Write ``values`` to column ``list_col`` of the Lists sheet; the validation that offers them."""
    lists_sheet.write(0, list_col, f.key)
    for i, v in enumerate(values, start=1):
        lists_sheet.write_string(i, list_col, v)
    letter = xlsxwriter.utility.xl_col_to_name(list_col)
    # The intake reads more spellings of a host or region than the list shows (codes, other names).
    strict = f.type in ("enum", "yesno", "state")
    return {
        "validate": "list",
        "source": f"=Lists!${letter}$2:${letter}${len(values) + 1}",
        "error_type": "stop" if strict else "information",
        "error_title": _clip(f.label, 32),
        "error_message": _clip(f.help, 255),
    }


def _data_dictionary_sheet(wb: Workbook, fields: list[schemas.Field], lists: dict[str, list[str]],
                           head: Format) -> None:
    guide = wb.add_worksheet("Data dictionary")
    guide.write(0, 0, f"Template edition {schemas.edition()}", head)
    for col, title in enumerate(["Label", "Key", "Required", "Allowed values", "Help"]):
        guide.write(2, col, title, head)
    for row, f in enumerate(fields, start=3):
        allowed = ", ".join(lists.get(f.key, [])) if f.key != "host_country" else "an agreement country"
        guide.write_row(row, 0, [f.label, f.key, f.required_text, allowed, f.help])
    guide.set_column(0, 1, 26)
    guide.set_column(2, 3, 28)
    guide.set_column(4, 4, 100)
