"""The reference in docs/ and the README stay in step with the code they describe."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from coc_intake import docs
from coc_intake.outputs import ERROR_COLUMNS
from coc_intake.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rel", list(docs.generated()))
def test_generated_doc_is_current(rel: str) -> None:
    current = (ROOT / rel).read_bytes()
    wanted = docs.generated()[rel](current.decode("utf-8")).encode("utf-8")
    assert current == wanted, f"{rel} is out of date: run `{docs.REGENERATE}` and commit the result."


def test_errors_doc_lists_every_code() -> None:
    text = (ROOT / "docs/errors.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M)
    assert listed and sorted(listed) == sorted(e.code for e in docs.catalog_entries())


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_readme_command_table_matches_the_cli() -> None:
    table = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## Commands")
    listed = re.findall(r"^\| `coc ([a-z-]+(?: [a-z-]+)*)", table, re.M)
    assert sorted(listed) == sorted(docs.command_names()), (
        "README.md's command table must list every `coc` command once, and no other")


def _fields(cls: type) -> list[tuple[str, Any]]:
    """(name, type) of a settings class, a dataclass today, a pydantic model tomorrow."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]
    model_fields: dict[str, Any] = cls.model_fields  # type: ignore[attr-defined]
    return [(name, f.annotation) for name, f in model_fields.items()]


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and (dataclasses.is_dataclass(annotation)
                                             or hasattr(annotation, "model_fields"))


def setting_variables(cls: type = Settings) -> dict[str, str]:
    """Every leaf setting → its environment variable. A nested group (the file limits) is flattened to its own
    names unless the model asks for a nested delimiter."""
    config: dict[str, Any] = dict(getattr(cls, "model_config", {}) or {})
    prefix = str(config.get("env_prefix") or "COC_")
    nested = config.get("env_nested_delimiter")
    out: dict[str, str] = {}
    for name, annotation in _fields(cls):
        if _is_group(annotation):
            for leaf, _ in _fields(annotation):
                out[leaf] = f"{prefix}{name}{nested}{leaf}".upper() if nested else f"{prefix}{leaf}".upper()
        else:
            out[name] = f"{prefix}{name}".upper()
    return out


def test_production_doc_lists_every_setting() -> None:
    table = _section((ROOT / "docs/production.md").read_text(encoding="utf-8"), "## Settings")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9_]+)` \| `(COC_[A-Z0-9_]+)` \|", table, re.M)}
    variables = setting_variables()
    assert variables, "no settings found"
    missing = {name: var for name, var in variables.items() if rows.get(name) != var}
    assert not missing, f"docs/production.md's settings table lacks (setting → variable): {missing}"
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "coc_intake").glob("*.py"))
    unknown = [var for name, var in rows.items() if name not in variables and var not in source]
    assert not unknown, f"docs/production.md documents variables the code never reads: {unknown}"


def test_outputs_doc_names_the_csv_columns() -> None:
    text = (ROOT / "docs/outputs.md").read_text(encoding="utf-8")
    assert "`" + ",".join(ERROR_COLUMNS) + "`" in text
    assert "`row,status,request_id,codes`" in text


def test_docs_cite_no_outside_spec() -> None:
    """The product's reference is docs/: a maintainer cannot follow a citation of the outside contract."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "SPEC §" not in path.read_text(encoding="utf-8"), f"{path.name} cites SPEC §n; cite docs/ instead"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_docs_resolve() -> None:
    """A renamed heading or file must not leave a dead link in the reference."""
    pages = [ROOT / "README.md", ROOT / "benchmarks/RESULTS.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md)?(?:#([^)\s]+))?\)", page.read_text(encoding="utf-8")):
            linked = (page.parent / target).resolve() if target else page
            assert linked.is_file(), f"{page.name} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                slugs = {_slug(h) for h in headings}
                assert anchor in slugs, f"{page.name} links to {target}#{anchor}: no such heading"
