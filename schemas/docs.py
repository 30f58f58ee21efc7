"""``docs/fields.md``, generated from the data dictionary (``python -m coc_intake.docs``)."""

from __future__ import annotations

from coc_intake.schemas.dictionary import default_max_length, edition, fields

_IN_REPORTS = {"typed": "as typed", "masked": "masked", "counts": "count only"}


def fields_markdown() -> str:
    lines = [
        f"# Fields of the assignments workbook (template edition {edition()})",
        "",
        "Generated from `schemas/dictionary.toml` by `python -m coc_intake.docs`; do not edit by hand.",
        "",
        f"*Max characters* is the most a cell of the field may hold: the field's own limit, or "
        f"{default_max_length():,} for a field without one. A longer cell is rejected with `invalid-value` "
        "(`invalid-name` for names), its message giving the limit.",
        "",
        "*In reports* is what the manifest and the analysts' report keep of a rejected value: *as typed* (SSN-shaped "
        "numbers masked), *masked* (`***-**-NNNN`) or *count only* (personal data).",
        "",
        "| Label | Key | Required | Max characters | Allowed values | Also accepted as header | In reports | Help |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in fields().values():
        cells = [f.label, f"`{f.key}`", f.required_text, f"{f.length_limit:,}", ", ".join(f.values),
                 ", ".join(f.aliases), _IN_REPORTS[f.in_reports], f.help]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(fields_markdown(), end="")
