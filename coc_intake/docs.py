"""The generated parts of ``docs/``: ``errors.md`` from the catalog, the option tables of ``commands.md`` from the
``coc`` command line, and ``fields.md`` from the data dictionary.

``python -m coc_intake.docs`` rewrites them; ``python -m coc_intake.docs --check`` only says which are out of date
(exit 1). ``tests/test_docs.py`` fails when a file differs from what this module makes of the code now, so the
reference a maintainer reads cannot drift from what the product does.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "python -m coc_intake.docs"


@dataclass(frozen=True)
class CodeDoc:
    code: str
    severity: str
    kind: str
    title: str
    template: str


def catalog_entries() -> Iterator[CodeDoc]:
    """Every code of the catalog, in the catalog's order. The one place that knows the catalog's shape: when an
    entry carries its own title (or ``kind`` becomes ``scope``), only this function changes."""
    from coc_intake.catalog import CATALOG

    for entry in CATALOG.values():
        yield CodeDoc(entry.code, entry.severity, _kind(entry.scope, entry.severity, entry.referral), entry.title,
                      entry.template)


def _kind(scope: str, severity: str, referral: bool) -> str:
    """The reader's kind of a code: a referral reason, a notice about the file or its columns (not an error), or
    its scope."""
    if referral:
        return "referral"
    if scope in ("file", "header") and severity != "error":
        return "notice"
    return scope


#: The catalog's groups, in its order: (heading, what a finding of the group does to the row or file).
_GROUPS = {
    "file": ("File and header errors", "The whole file is rejected before any row is looked at."),
    "notice": ("Header notices", "The file is still processed; the employer sees what was assumed or ignored."),
    "cell": ("Cell and row errors", "The row is rejected."),
    "referral": ("Referral reasons", "The row is valid and its request is `referred`: a specialist reviews it."),
    "warning": ("Warnings", "The row is still accepted; the employer should check what the message says."),
}


def _group(entry: CodeDoc) -> str:
    if entry.kind in ("file", "header"):
        return "file"
    if entry.kind == "cell" and entry.severity != "error":
        return "warning"
    return entry.kind


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def errors_markdown() -> str:
    lines = [
        "# Error catalog",
        "",
        f"Generated from `coc_intake/catalog.py` by `{REGENERATE}`; do not edit by hand.",
        "",
        "Every finding is a record with `code`, `severity`, `scope`, `row`, `column` (letter), `field` (key), "
        "`message` and `value` (as read; SSNs masked as `***-**-NNNN`; over 100 characters, the first 100 and "
        "`… (N characters)`). Codes are stable; each message is its "
        "code's template below, filled with `{label}` (the field's label), `{column}` (its letter), `{value}` and "
        "the parameters the rule passes; a parameter the rule does not know is left blank. `{fill_in}` is \"Fill in "
        "column C\", or \"Add a column headed '<label>' and fill it in\" when the file has no column for the field. "
        "Every message says what was read, what is accepted and how to fix it.",
        "",
        "`severity`: `error` rejects the row (or, for file and header codes, the whole file); `warning` and `info` "
        "do not. The *kind* column is the catalog's: `file` and `header` codes concern the whole file, `notice` "
        "codes a column, `cell` codes a row's cell, `referral` codes send a valid row to a specialist. A row's "
        "status: any `error` → `rejected`; else `already-requested` → `already-requested` (the same request was "
        "made by an earlier file or run: nothing new is made); else any referral reason → `referred`; else "
        "`approved`.",
    ]
    by_group: dict[str, list[CodeDoc]] = {}
    for entry in catalog_entries():
        by_group.setdefault(_group(entry), []).append(entry)
    unknown = set(by_group) - set(_GROUPS)
    if unknown:
        raise ValueError(f"catalog kinds without a heading in coc_intake/docs.py: {sorted(unknown)}")
    for key, (heading, effect) in _GROUPS.items():
        entries = by_group.get(key, [])
        if not entries:
            continue
        lines += ["", f"## {heading}", "", effect, "",
                  "| Code | Severity | Kind | Title | Message template |", "|---|---|---|---|---|"]
        for e in entries:
            lines.append(f"| `{e.code}` | {e.severity} | {e.kind} | {_cell(e.title)} | {_cell(e.template)} |")
    return "\n".join(lines) + "\n"


_BLOCK = re.compile(r"(<!-- generated: coc (?P<name>[a-z-]+(?: [a-z-]+)*) -->\n)(?P<body>.*?)(<!-- end generated -->)",
                    re.S)


def _commands(group: typer.core.TyperGroup, parent: typer.Context) -> Iterator[tuple[str, Any, typer.Context]]:
    """(name, command, context) of every command, a group's (``coc referrals …``) as ``group sub``."""
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        if command is None:  # pragma: no cover - names come from the group itself
            raise ValueError(name)
        ctx = typer.Context(command, info_name=name, parent=parent)
        if isinstance(command, typer.core.TyperGroup):
            yield from ((f"{name} {sub}", cmd, sub_ctx) for sub, cmd, sub_ctx in _commands(command, ctx))
        else:
            yield name, command, ctx


def _root() -> tuple[typer.core.TyperGroup, typer.Context]:
    from coc_intake.cli import app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return group, typer.Context(group, info_name="coc")


def _command_block(command: Any, ctx: typer.Context) -> str:
    usage = command.get_usage(ctx).removeprefix("Usage: ")
    lines = ["```", usage, "```", "", "| Argument or option | Meaning |", "|---|---|"]
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.name == "help":
            continue
        term, text = record
        lines.append(f"| `{term}` | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def command_names() -> list[str]:
    """The ``coc`` commands, as the command line registers them (a group's as ``group sub``)."""
    return [name for name, _, _ in _commands(*_root())]


def commands_markdown(current: str) -> str:
    """``current`` (the hand-written ``docs/commands.md``) with each command's generated block made anew: the usage
    line and the options as ``coc <command> --help`` shows them. Every command needs its block, and no block may
    name a command that does not exist."""
    commands = {name: (command, ctx) for name, command, ctx in _commands(*_root())}
    blocks = [m.group("name") for m in _BLOCK.finditer(current)]
    if sorted(blocks) != sorted(commands):
        raise ValueError(f"docs/commands.md has generated blocks for {sorted(blocks)}; the commands are "
                         f"{sorted(commands)}. Add a section with '<!-- generated: coc NAME -->' and "
                         "'<!-- end generated -->' for each command, and remove those of commands that are gone.")
    return _BLOCK.sub(lambda m: m.group(1) + _command_block(*commands[m.group("name")]) + m.group(4), current)


def generated() -> dict[str, Callable[[str], str]]:
    """Each generated file (relative to the project) → its text made from the code, given its current text."""
    from coc_intake.schemas.docs import fields_markdown

    return {
        "docs/fields.md": lambda _: fields_markdown(),
        "docs/errors.md": lambda _: errors_markdown(),
        "docs/commands.md": commands_markdown,
    }


def stale(root: Path = ROOT) -> dict[str, str]:
    """The generated files whose text differs from what the code makes now → that text."""
    out: dict[str, str] = {}
    for rel, make in generated().items():
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        wanted = make(current)
        if wanted != current:
            out[rel] = wanted
    return out


def main(argv: list[str]) -> int:
    changed = stale()
    if "--check" in argv:
        for rel in changed:
            print(f"{rel} is out of date; run `{REGENERATE}`.")
        return 1 if changed else 0
    for rel, text in changed.items():
        (ROOT / rel).write_text(text, encoding="utf-8")
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
