"""The report's workbook as a person reads it, in Excel or printed: no value cut by its column, no zero bar in a
chart of rejections, the dashboard's labels clear of the column beside them."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from coc_intake import report
from coc_intake.batch import process_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.report_render import render_xlsx
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx

DAY = dt.date(2026, 11, 20)
#: Text longer than this wraps in its column.
WIDEST = 60
LONG_NAME = "GlobalPay International Payroll Services Incorporated"


def _files() -> dict[str, list[dict[str, Any]]]:
    """A payroll export with a long employer name and hosts typed in other languages; a French file with a row
    without health insurance; a clean file of a third employer (rows, none rejected) in Spain."""
    globalpay = [row(employer_ein="34-1234567", employer_name=LONG_NAME, ssn=f"221-45-10{i:02d}",
                     host_country=host) for i, host in enumerate(["Allemagne", "Allemagne", "Deutschland", "Germania"])]
    northwind = [row(employer_ein="45-7654321", employer_name="Northwind Traders", ssn=f"331-22-44{i:02d}",
                     host_country="FR", worksite_city="Paris", health_insurance=hi)
                 for i, hi in enumerate(["N", "Y", "N"])]
    fabrikam = [row(employer_ein="61-2223334", employer_name="Fabrikam", ssn=f"511-11-10{i:02d}", host_country="ES",
                    worksite_city="Madrid") for i in range(3)]
    return {"globalpay.xlsx": globalpay, "northwind.xlsx": northwind, "fabrikam.xlsx": fabrikam}


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layout")
    inbox, outbox = LocalStore(root / "in"), Outbox(LocalStore(root / "out"))
    for name, rows in _files().items():
        inbox.write(name, write_xlsx(root / name, rows).read_bytes())
        process_file(inbox, outbox, name, DAY, Settings(), KnownRequests.load(outbox))
    path = root / "report.xlsx"
    path.write_bytes(render_xlsx(report.build(report.load_manifests(outbox), DAY, DAY)))
    return path


def _shown(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def test_no_value_of_a_table_sheet_is_cut_by_its_column(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    for ws in wb.worksheets:
        if ws.title in ("Dashboard", "Summary"):
            continue
        for column in ws.iter_cols(min_row=2):  # the first row may be the note above the table
            if not column:
                continue
            letter = column[0].column_letter
            width = ws.column_dimensions[letter].width
            longest = max((len(_shown(c.value)) for c in column if c.value is not None), default=0)
            # The widest columns wrap their text: a sentence there may be longer.
            assert width >= min(longest, WIDEST), (ws.title, letter, width, longest)
    hosts = wb["Rejections by host country"]
    assert any(c.value == "not recognised, as typed" for c in hosts["B"])


def _chart_ranges(workbook: Path) -> dict[str, str]:
    """Each chart's title → the range of its categories."""
    with zipfile.ZipFile(workbook) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    found = {}
    for xml in charts:
        title = "".join(re.findall(r"<a:t>([^<]*)</a:t>", xml.split("</c:title>")[0]))
        cat = re.search(r"<c:cat>.*?<c:f>([^<]*)</c:f>", xml, re.S)
        assert cat is not None
        found[title] = cat.group(1)
    return found


def _rows_in(cell_range: str) -> int:
    first, last = (int(n) for n in re.findall(r"\$(\d+)", cell_range))
    return last - first + 1


def test_the_charts_of_rejected_rows_leave_out_employers_and_hosts_without_any(workbook: Path) -> None:
    ranges = _chart_ranges(workbook)
    # GlobalPay (4 hosts not recognised) and Northwind (2 rows without health insurance); Fabrikam has none.
    assert _rows_in(ranges["Rejected rows by employer"]) == 2
    # "Allemagne", "Germania" and FR; DE (typed "Deutschland", accepted) and ES have rows but none rejected.
    assert _rows_in(ranges["Rejected rows by host country"]) == 3


def test_the_dashboards_top_problems_fit_their_column(workbook: Path) -> None:
    dash = openpyxl.load_workbook(workbook)["Dashboard"]
    start = next(c.row for c in dash["A"] if c.value == "Top five problems")
    labels = [str(c.value) for c in dash["A"][start:start + 5] if c.value]
    assert "health-insurance-required (2)" in labels
    assert dash.column_dimensions["A"].width >= max(map(len, labels))
