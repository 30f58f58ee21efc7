"""The page's charts as a person reads them: a long employer's label keeps its EIN, and each week of the line
chart shows its value."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from coc_intake import report
from coc_intake.batch import process_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.report_render import render_html
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx

WEEK1, WEEK2 = dt.date(2026, 11, 2), dt.date(2026, 11, 16)
LONG = "GlobalPay International Payroll Services"


def _page(tmp_path: Path) -> str:
    """A long-named employer: 3 rows rejected in the first week, 1 in the third."""
    inbox, outbox = LocalStore(tmp_path / "in"), Outbox(LocalStore(tmp_path / "out"))
    files = {("week1.xlsx", WEEK1): [row(employer_name=LONG, employer_ein="34-1234567", ssn=f"221-45-100{i}",
                                         host_country="Allemagne") for i in range(3)],
             ("week3.xlsx", WEEK2): [row(employer_name=LONG, employer_ein="34-1234567", ssn="221-45-1009",
                                         host_country="Allemagne")]}
    for (name, day), rows in files.items():
        inbox.write(name, write_xlsx(tmp_path / name, rows).read_bytes())
        process_file(inbox, outbox, name, day, Settings(), KnownRequests.load(outbox))
    return render_html(report.build(report.load_manifests(outbox), WEEK1, WEEK2))


def _figure(page: str, title: str) -> str:
    found = re.search(rf"<figure><figcaption>{title}</figcaption>.*?</figure>", page, re.S)
    assert found is not None
    return found.group(0)


def test_a_long_employer_label_keeps_its_ein_in_the_chart(tmp_path: Path) -> None:
    chart = _figure(_page(tmp_path), "Rejected rows by employer")
    shown = re.sub(r"<title>.*?</title>", "", chart)  # the tooltip has the whole label; the text must too
    assert "(34-1234567)" in shown


def test_each_week_of_the_line_chart_shows_its_value(tmp_path: Path) -> None:
    chart = _figure(_page(tmp_path), "Rejected rows by week")
    values = re.findall(r"class='val'[^>]*>([\d,]+)</text>", chart)
    assert values == ["3", "0", "1"]


def test_a_week_without_batches_is_a_zero_between_its_neighbours_not_skipped(tmp_path: Path) -> None:
    page = _page(tmp_path)
    chart = _figure(page, "Rejected rows by week")
    weeks = re.findall(r"class='tick' text-anchor='middle'>([\d-]+)</text>", chart)
    assert weeks == ["11-02", "11-09", "11-16"]
    table = page[page.index("id='rejections-by-week'"):]
    assert re.search(r"<td[^>]*>2026-11-09</td><td[^>]*>0</td>", table[:table.index("</table>")])
