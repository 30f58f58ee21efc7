"""``coc template``: a blank workbook of the current edition, generated from the data dictionary."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

import agreements
import schemas
from coc_intake import countries
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


def write_template(path: Path) -> Path:
    """Write the template to ``path`` (xlsx) and return it."""
    fields = list(schemas.fields().values())
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    wb.set_custom_property("coc-template-edition", schemas.edition())
    wb.set_properties({"title": f"Certificate of Coverage requests — template edition {schemas.edition()}",
                       "keywords": f"coc-template-edition={schemas.edition()}"})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    required = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1, "text_wrap": True, "valign": "top"})
    text = wb.add_format({"num_format": "@"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    sheet = wb.add_worksheet("Assignments")
    lists_sheet = wb.add_worksheet("Lists")
    lists_sheet.hide()
    lists = _lists()
    list_col = 0
    for col, f in enumerate(fields):
        sheet.write(0, col, f.label, required if f.required == "yes" else head)
        cell_format = date if f.type == "date" else text
        sheet.set_column(col, col, max(14, min(len(f.label) + 4, 32)), cell_format)
        options: dict[str, object] = {
            "input_title": _clip(f.label, 32),
            "input_message": _clip(f"Required: {f.required_text}. {f.help}", 255),
        }
        values = lists.get(f.key)
        if values:
            lists_sheet.write(0, list_col, f.key)
            for i, v in enumerate(values, start=1):
                lists_sheet.write_string(i, list_col, v)
            letter = xlsxwriter.utility.xl_col_to_name(list_col)
            strict = f.type in ("enum", "yesno", "state")
            options.update({
                "validate": "list",
                "source": f"=Lists!${letter}$2:${letter}${len(values) + 1}",
                "error_type": "stop" if strict else "information",
                "error_title": _clip(f.label, 32),
                "error_message": _clip(f.help, 255),
            })
            list_col += 1
        else:
            options["validate"] = "any"
        sheet.data_validation(1, col, TEMPLATE_ROWS, col, options)
    sheet.freeze_panes(1, 0)
    sheet.activate()

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
    wb.close()
    return path
