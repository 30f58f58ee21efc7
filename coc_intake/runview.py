"""A run's summary on the console: a table on a terminal; plain, aligned lines when standard output is not one (cron,
a pipe) or with ``--plain``; or one JSON object (``--json``). All three show the run's record (``runs.record``).

On a terminal the reasons follow the table, one line each, rather than in a column of it: folded into a column they
took dozens of lines a file, and on a terminal narrower than the table (``TABLE_WIDTH``) each file is one line
instead.

Plain lines are never wider than ``WIDTH`` characters and never wrapped, and a batch ID is never split: a long file
name is shortened in its middle, a long reason cut at the end.
"""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from coc_intake.runs import FAILED
from coc_intake.states import FileResult

#: The widest plain line.
WIDTH = 200
#: The widest file name in the plain table; longer ones keep their start and end.
NAME_WIDTH = 60
#: The narrowest terminal that shows the table; a narrower one gets one line per file.
TABLE_WIDTH = 100
_NUMBERS = (("rows", "rows"), ("approved", "approved"), ("referred", "referred"), ("rejected", "rejected"))
_RESULT_SHOWN = {FAILED: "failed (left in the inbox)"}


def fit(text: str, width: int = WIDTH) -> str:
    """One line of at most ``width`` characters, cut at the end with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def shorten_middle(text: str, width: int = NAME_WIDTH) -> str:
    """``text`` in at most ``width`` characters, its middle replaced by an ellipsis (a name keeps its extension)."""
    if len(text) <= width:
        return text
    tail = width // 3
    return text[: width - tail - 1] + "…" + text[-tail:]


def is_empty(record: dict[str, Any]) -> bool:
    """Nothing in the inbox and no confirmation to deliver: the one-line case."""
    mail = record["mail"]
    return not record["files"] and not any(mail[k] for k in ("sent", "written", "failed", "deferred"))


def show(console: Console, record: dict[str, Any], *, plain: bool, inbox: str, mail_folder: str,
         batches_folder: str, log_file: str | None = None) -> None:
    """The run's summary: one line for an empty inbox, else the files and the confirmations (and, when a file
    failed, where its details are)."""
    if is_empty(record):
        console.print(escape(fit(f"The inbox {inbox} is empty: nothing to do (as of {record['as_of']}).")),
                      soft_wrap=True)
        return
    if plain:
        lines = plain_table(record)
    elif console.width < TABLE_WIDTH:
        lines = file_list(record)
    else:
        console.print(rich_table(record))
        lines = [f"{f['name']}: {f['reason']}" for f in record["files"] if f["reason"]]
    for line in lines:
        console.print(escape(line), soft_wrap=True, highlight=False)
    m = record["mail"]
    kept = f"{m['failed']} failed" + (f" and {m['deferred']} not tried in the delivery time budget"
                                      if m["deferred"] else "")
    tail = [f"Confirmations: {m['sent']} sent, {m['written']} written to {mail_folder}, {kept} (kept for the next "
            "run)."]
    tail += [str(e) for e in m["errors"]]
    failed = sum(f["result"] == FAILED for f in record["files"])
    if failed:
        some = f"{failed} files could not be processed and stay" if failed > 1 else \
            "1 file could not be processed and stays"
        tail.append(f"{some} in the inbox for the next run, which takes {'them' if failed > 1 else 'it'} again once "
                    f"the cause is fixed; the details are in {log_file or 'the log file'}.")
    if record["files"]:
        tail.append(f"Batches are in {batches_folder} (results.xlsx for the employer).")
    for line in tail:
        console.print(escape(fit(line) if plain else line), soft_wrap=True, highlight=False)


def plain_table(record: dict[str, Any]) -> list[str]:
    """The heading and one aligned line per file: name, result, counts, batch ID, reason."""
    files = record["files"]
    names = [shorten_middle(f["name"]) for f in files]
    results = [_RESULT_SHOWN.get(f["result"], f["result"]) for f in files]
    name_w = max([len("file"), *map(len, names)])
    result_w = max([len("result"), *map(len, results)])
    header = f"{'file':<{name_w}}  {'result':<{result_w}}  " + "  ".join(
        f"{title:>8}" for _, title in _NUMBERS) + f"  {'batch':<16}  reason"
    t = record["totals"]
    lines = [fit(f"Intake as of {record['as_of']}: {record['verdict']}; {t['rows']:,} rows: {t['approved']:,} "
                 f"approved, {t['referred']:,} referred, {t['rejected']:,} rejected."), header]
    for f, name, result in zip(files, names, results, strict=True):
        counts = "  ".join(f"{f['counts'].get(k, '') if f['counts'] else '':>8}" for k, _ in _NUMBERS)
        start = f"{name:<{name_w}}  {result:<{result_w}}  {counts}  {f['batch_id'] or '-':<16}"
        room = WIDTH - len(start) - 2
        lines.append(start + (f"  {fit(f['reason'], room)}" if f["reason"] and room > 1 else ""))
    return [line.rstrip() for line in lines]


def file_list(record: dict[str, Any]) -> list[str]:
    """The heading and one line per file (a terminal too narrow for the table wraps them, whole)."""
    t = record["totals"]
    lines = [f"Intake as of {record['as_of']}: {record['verdict']}; {t['rows']:,} rows: {t['approved']:,} approved, "
             f"{t['referred']:,} referred, {t['rejected']:,} rejected."]
    for f in record["files"]:
        c = f["counts"]
        text = f"{f['name']}: {_RESULT_SHOWN.get(f['result'], f['result'])}"
        if c and f["result"] == FileResult.PROCESSED:
            text += (f", {c.get('rows', 0):,} rows: {c.get('approved', 0):,} approved, {c.get('referred', 0):,} "
                     f"referred, {c.get('rejected', 0):,} rejected")
        if f["batch_id"]:
            text += f" (batch {f['batch_id']})"
        lines.append(text + (f". {f['reason']}" if f["reason"] else "."))
    return lines


def rich_table(record: dict[str, Any]) -> Table:
    table = Table(title=f"Intake as of {record['as_of']}")
    table.add_column("File", overflow="fold")
    table.add_column("Result", overflow="fold")
    for _, title in _NUMBERS:
        table.add_column(title.capitalize(), justify="right", no_wrap=True)
    table.add_column("Batch", no_wrap=True, min_width=16)
    for f in record["files"]:
        style = "red" if f["result"] == FAILED else "yellow" if f["result"] == FileResult.REJECTED_FILE else ""
        result = Text(_RESULT_SHOWN.get(f["result"], f["result"]), style=style)
        counts = [str(f["counts"].get(k, "")) if f["counts"] else "" for k, _ in _NUMBERS]
        table.add_row(Text(f["name"]), result, *counts, f["batch_id"])
    return table


def as_json(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"
