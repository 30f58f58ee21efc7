"""Render what the employer sees: ``results.xlsx`` of each example workbook and the template, as PDF pages and PNGs.

    .venv/bin/python -m benchmarks.render [OUT]      (default OUT: ./render)

Needs LibreOffice (``soffice``) and poppler (``pdftoppm``):
``apt-get install -y --no-install-recommends libreoffice-calc-nogui poppler-utils``. LibreOffice prints each
sheet with the workbook's own print setup (landscape, fitted to the page width, the header row repeated), so the
PNGs show the printout; open them to look at column widths, wrapped messages and row heights.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from coc_intake.engine import check_file
from coc_intake.template import write_template
from coc_intake.workbook import build_results_workbook

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AS_OF = dt.date(2026, 12, 1)


def missing_tools() -> list[str]:
    """The programs rendering needs that are not on the PATH."""
    return [tool for tool in ("soffice", "pdftoppm") if shutil.which(tool) is None]


def workbooks(out: Path) -> list[Path]:
    """results.xlsx of every example workbook, and the template, written into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(EXAMPLES.glob("*.xlsx")):
        outcome = check_file(source, source.name, AS_OF)
        target = out / f"{source.stem}-results.xlsx"
        target.write_bytes(build_results_workbook(outcome, AS_OF))
        written.append(target)
    written.append(write_template(out / "template.xlsx"))
    return written


def render(out: Path, dpi: int = 60) -> list[Path]:
    """Every page of every workbook of ``workbooks`` as ``<name>-<page>.png`` in ``out``."""
    books = workbooks(out)
    with tempfile.TemporaryDirectory() as profile:  # a private profile: no clash with a running LibreOffice
        subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(out), *map(str, books)], check=True, capture_output=True, timeout=300)
    pages = []
    for book in books:
        pdf = book.with_suffix(".pdf")
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(out / book.stem)], check=True,
                       timeout=120)
        pages += sorted(out.glob(f"{book.stem}-*.png"))
    return pages


def main() -> int:
    missing = missing_tools()
    if missing:
        print(f"cannot render: {', '.join(missing)} not installed (see this module's docstring)", file=sys.stderr)
        return 2
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "render").resolve()
    for page in render(out):
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
