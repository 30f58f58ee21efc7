"""The run's summary on a terminal: readable at 80 columns, reasons whole on their own lines, and a failed file
pointing to the log file (``runview.show``)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from coc_intake import runview

_REASON = ("unsupported-format: Macro-enabled workbooks (.xlsm) are not accepted. Save the workbook as an Excel "
           "Workbook (.xlsx, no macros) or as CSV (UTF-8), and resubmit it.")


def _record() -> dict[str, Any]:
    counts = {"rows": 10, "approved": 6, "referred": 0, "rejected": 4, "already_requested": 0}
    zero = dict.fromkeys(counts, 0)
    return {
        "at": "2026-11-20T02:00:00Z", "as_of": "2026-11-20", "failed": True,
        "verdict": "3 files: 1 processed, 1 rejected-file, 1 failed",
        "totals": counts,
        "files": [
            {"name": "globalpay-export-Q4.xlsx", "result": "processed", "batch_id": "933705dc30e85b96",
             "counts": counts, "reason": ""},
            {"name": "umbrella-macro.xlsm", "result": "rejected-file", "batch_id": "b0c9671a439b1f84",
             "counts": zero, "reason": _REASON},
            {"name": "portal-upload-7f3a.xlsx", "result": "failed", "batch_id": "", "counts": {},
             "reason": "NotADirectoryError: [Errno 20] Not a directory: '/srv/outbox/batches/9960f8ac193a42d8'"},
        ],
        "mail": {"sent": 0, "written": 1, "failed": 0, "already": 0, "deferred": 0, "errors": []},
    }


def _shown(width: int) -> list[str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    runview.show(console, _record(), plain=False, inbox="/srv/inbox", mail_folder="/srv/outbox/mail",
                 batches_folder="/srv/outbox/batches", log_file="/srv/.prefect/logs/coc-run.log")
    return buffer.getvalue().splitlines()


def test_an_80_column_terminal_shows_one_line_per_file_with_its_batch_and_reason_whole() -> None:
    text = _shown(80)
    assert not any(set(line) & set("┃│┏┗") for line in text)
    macro = next(line for line in text if line.startswith("umbrella-macro.xlsm:"))
    assert "b0c9671a439b1f84" in macro
    assert macro.endswith(_REASON)
    assert any(line.startswith("globalpay-export-Q4.xlsx: processed, 10 rows: 6 approved") for line in text)


def test_a_wide_terminal_shows_the_table_and_each_reason_whole_below_it() -> None:
    text = _shown(140)
    table = [line for line in text if line.startswith("│")]
    assert any("b0c9671a439b1f84" in line for line in table)
    # A reason folded into a column of the table took a line for every few words.
    assert len(table) == 3
    assert f"umbrella-macro.xlsm: {_REASON}" in text


def test_a_failed_file_points_to_the_log_file_on_every_console() -> None:
    for width in (80, 140):
        assert any("1 file could not be processed and stays in the inbox" in line
                   and line.endswith("/srv/.prefect/logs/coc-run.log.") for line in _shown(width))
    buffer = io.StringIO()
    runview.show(Console(file=buffer, width=200), _record(), plain=True, inbox="/srv/inbox",
                 mail_folder="/srv/outbox/mail", batches_folder="/srv/outbox/batches",
                 log_file="/srv/.prefect/logs/coc-run.log")
    assert "the details are in /srv/.prefect/logs/coc-run.log." in buffer.getvalue()
