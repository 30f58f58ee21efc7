"""The two renderings of a ``Report``: an xlsx with native charts and a self-contained HTML page.

Both lead with the headline numbers, the charts and the top five problems, then the tables. Every cell is written as
text or a number (never a formula); the HTML escapes every value and loads nothing from the network.
"""

from __future__ import annotations

import html
import io
from typing import Any

from xlsxwriter.chart import Chart
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from coc_intake import xlsx
from coc_intake.countries import name_of
from coc_intake.report import Report, _change, describe
from coc_intake.states import RowStatus

_BLUE, _RED, _AMBER, _GREEN = "#2F6DB5", "#C0392B", "#E0A030", "#3C9A5F"
_Tables = dict[str, tuple[list[str], list[list[Any]]]]


def _tables(report: Report) -> _Tables:
    """Every table of the report: title → (header, rows)."""
    t = report.totals
    codes = [[c, n, describe(c)] for c, n in report.by_code.most_common()]
    countries = sorted(report.by_country.items(), key=lambda kv: (-kv[1][RowStatus.REJECTED], kv[0]))
    employers = sorted(report.by_employer.items(), key=lambda kv: (-kv[1][RowStatus.REJECTED], kv[0]))
    weeks = sorted(report.by_week.items())
    return {
        "Rows by status": (["status", "rows"], [[RowStatus.APPROVED, t.approved], [RowStatus.REFERRED, t.referred],
                                                  [RowStatus.REJECTED, t.rejected],
                                                  *([[RowStatus.ALREADY_REQUESTED, t.already_requested]]
                                                    if t.already_requested else [])]),
        "Rejections by error code": (["code", "findings", "what it means"], codes),
        "Rejections by host country": (
            ["country", "name", "rows", "rejected", "rejection rate"],
            [[c, name_of(c) if c else "(not given)", v["rows"], v[RowStatus.REJECTED],
              round(v[RowStatus.REJECTED] / v["rows"], 4) if v["rows"] else 0] for c, v in countries]),
        "Rejections by employer": (
            ["EIN", "employer", "rows", "rejected", "rejection rate"],
            [[ein or "(none: self-employed)", name, v["rows"], v[RowStatus.REJECTED],
              round(v[RowStatus.REJECTED] / v["rows"], 4) if v["rows"] else 0] for (ein, name), v in employers]),
        "Rejections by week": (["week of", "rows", "rejected", "referred"],
                               [[w.isoformat(), v["rows"], v[RowStatus.REJECTED], v[RowStatus.REFERRED]]
                                for w, v in weeks]),
        "Fields that cause most rejections": (["field", "findings"], [[f, n] for f, n in report.fields.most_common()]),
        "Referral reasons": (["reason", "rows", "what it means"],
                             [[c, n, describe(c)] for c, n in report.referrals.most_common()]),
        "Files rejected whole": (["file", "batch", "as of", "code", "message"],
                                 [[f["file"], f["batch_id"], f["as_of"], f["code"], f["message"]]
                                  for f in report.rejected_files]),
    }


def _headline(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    lines = [("Period", f"{report.since} to {report.until}" if report.since else "no batches"),
             ("Batches", f"{t.batches:,} ({t.files_rejected} files rejected whole)" if t.batches
              else "none: no committed batch has an as-of date in this period"),
             ("Rows", f"{t.rows:,}"),
             ("Approved", f"{t.approved:,}"), ("Referred", f"{t.referred:,}"),
             ("Rejected", f"{t.rejected:,} ({t.rejection_rate:.1%} of rows)")]
    if t.already_requested:  # re-sent rows: neither new requests nor rejections
        lines.append(("Already requested", f"{t.already_requested:,}"))
    if report.previous is not None:
        p = report.previous
        lines.append(("Previous period", f"{report.previous_since} to {report.previous_until}: {p.rows:,} rows, "
                                         f"{p.rejected:,} rejected ({p.rejection_rate:.1%})"))
        lines.append(("Trend", f"rejected rows {_change(t.rejected, p.rejected)}, rows {_change(t.rows, p.rows)}, "
                               f"rejection rate {t.rejection_rate - p.rejection_rate:+.1%} points"))
    return lines


# --- xlsx ----------------------------------------------------------------------------------------------------


def render_xlsx(report: Report) -> bytes:
    buffer = io.BytesIO()
    wb = xlsx.new_workbook(buffer)
    bold = wb.add_format(xlsx.BOLD)
    title = wb.add_format({"bold": True, "font_size": 16})
    head = wb.add_format(xlsx.HEADER)
    pct = wb.add_format({"num_format": "0.0%"})
    # Added first so that it is the first tab; it is filled last, its charts pointing into the table sheets.
    dash = wb.add_worksheet("Dashboard")
    tables = _tables(report)
    for name, (header, rows) in tables.items():
        _table_sheet(wb, name, header, rows, head, pct)
    _summary_sheet(wb, report, head)
    _dashboard(wb, dash, report, tables, bold, title)
    wb.close()
    return buffer.getvalue()


def _table_sheet(wb: Workbook, name: str, header: list[str], rows: list[list[Any]], head: Format,
                 pct: Format) -> None:
    """One table of ``_tables``: a float is a rate, shown as a percentage."""
    sheet = wb.add_worksheet(name[:31])
    for c, h in enumerate(header):
        sheet.write_string(0, c, h, head)
    for r, values in enumerate(rows, start=1):
        for c, v in enumerate(values):
            if isinstance(v, float):
                sheet.write_number(r, c, v, pct)
            elif isinstance(v, int):
                sheet.write_number(r, c, v)
            else:
                sheet.write_string(r, c, str(v))
    sheet.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
    sheet.set_column(0, len(header) - 1, 18)
    sheet.freeze_panes(1, 0)


def _summary_sheet(wb: Workbook, report: Report, head: Format) -> None:
    """Every dimension in one long table an analyst can filter."""
    summary = wb.add_worksheet("Summary")
    for c, h in enumerate(["dimension", "key", "rows", "rejected", "findings"]):
        summary.write_string(0, c, h, head)
    lines = _summary_lines(report)
    for line, values in enumerate(lines, start=1):
        summary.write_row(line, 0, values)
    summary.autofilter(0, 0, max(len(lines), 1), 4)
    summary.set_column(0, 1, 28)


def _summary_lines(report: Report) -> list[list[Any]]:
    return [
        *(["error code", code, "", "", n] for code, n in report.by_code.most_common()),
        *(["host country", country, v["rows"], v[RowStatus.REJECTED], ""] for country, v in report.by_country.items()),
        *(["employer", f"{ein} {name}".strip(), v["rows"], v[RowStatus.REJECTED], ""]
          for (ein, name), v in report.by_employer.items()),
        *(["week", w.isoformat(), v["rows"], v[RowStatus.REJECTED], ""] for w, v in sorted(report.by_week.items())),
        *(["field", f, "", "", n] for f, n in report.fields.most_common()),
    ]


def _dashboard(wb: Workbook, dash: Worksheet, report: Report, tables: _Tables, bold: Format, title: Format) -> None:
    """The headline, the top five problems and, below them, the charts."""
    dash.set_column(0, 0, 22)
    dash.set_column(1, 1, 70)
    dash.write_string(0, 0, "Rejections report", title)
    row = 2
    for label, value in _headline(report):
        dash.write_string(row, 0, label, bold)
        dash.write_string(row, 1, value)
        row += 1
    row += 1
    dash.write_string(row, 0, "Top five problems", bold)
    for code, n, text in report.top_problems():
        row += 1
        dash.write_string(row, 0, f"{code} ({n:,})")
        dash.write_string(row, 1, text)
    anchor = row + 2
    charts = [(anchor, 0, "bar", "Rejections by error code", "Findings by error code", 1, 15, _RED),
              (anchor, 2, "bar", "Rejections by host country", "Rejected rows by host country", 3, 15, _AMBER),
              (anchor + 16, 0, "line", "Rejections by week", "Rejected rows by week", 2, 200, _BLUE)]
    for at_row, at_col, kind, table, name, value_col, limit, colour in charts:
        if tables[table][1]:
            dash.insert_chart(at_row, at_col, _chart(wb, kind, table, name, value_col,
                                                     min(len(tables[table][1]), limit), colour))
        else:
            # xlsxwriter refuses to save a chart without a series (EmptyChartSeries), and an empty chart would
            # say nothing anyway: the chart's place says so in words.
            dash.write_string(at_row, at_col, f"{name}: nothing in this period.")
    dash.activate()


def _chart(wb: Workbook, kind: str, table: str, name: str, value_col: int, n: int, colour: str) -> Chart:
    """A chart of the first ``n`` (at least one) rows of one table sheet: its first column against ``value_col``."""
    ch = wb.add_chart({"type": kind})
    sheet_name = table[:31]
    ch.add_series({"name": name, "categories": [sheet_name, 1, 0, n, 0],
                   "values": [sheet_name, 1, value_col, n, value_col],
                   "fill": {"color": colour}, "line": {"color": colour}})
    ch.set_title({"name": name})
    ch.set_legend({"none": True})
    ch.set_size({"width": 620, "height": 300})
    return ch


# --- HTML ----------------------------------------------------------------------------------------------------


def _empty(title: str) -> str:
    return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='none'>Nothing in this period.</p></figure>"


def _bars(title: str, items: list[tuple[str, int]], colour: str) -> str:
    """A horizontal bar chart as inline SVG."""
    items = items[:12]
    if not items:
        return _empty(title)
    top = max(v for _, v in items) or 1
    height = 26 * len(items) + 10
    rows = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * 26
        width = 300 * value / top
        rows.append(
            f"<text x='0' y='{y + 15}' class='lbl'>{html.escape(label)}</text>"
            f"<rect x='190' y='{y}' width='{width:.1f}' height='18' fill='{colour}' rx='2'/>"
            f"<text x='{196 + width:.1f}' y='{y + 14}' class='val'>{value:,}</text>"
        )
    return (f"<figure><figcaption>{html.escape(title)}</figcaption>"
            f"<svg viewBox='0 0 560 {height}' width='560' height='{height}' role='img' "
            f"aria-label='{html.escape(title)}'>{''.join(rows)}</svg></figure>")


def _line(title: str, points: list[tuple[str, int]], colour: str) -> str:
    if not points:
        return _empty(title)
    w, h, pad = 560, 220, 40
    top = max(v for _, v in points) or 1
    step = (w - 2 * pad) / max(len(points) - 1, 1)
    xy = [(pad + i * step, h - pad - (h - 2 * pad) * v / top) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{colour}'><title>{html.escape(k)}: {v:,}"
                   f"</title></circle>" for (x, y), (k, v) in zip(xy, points, strict=True))
    labels = "".join(f"<text x='{x:.1f}' y='{h - 15}' class='tick'>{html.escape(k[5:])}</text>"
                     for (x, _), (k, _) in zip(xy, points, strict=True) if len(points) <= 16)
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg viewBox='0 0 {w} {h}' width='{w}' "
            f"height='{h}' role='img' aria-label='{html.escape(title)}'>"
            f"<line x1='{pad}' y1='{h - pad}' x2='{w - pad}' y2='{h - pad}' stroke='#999'/>"
            f"<text x='4' y='{pad - 8}' class='tick'>{top:,}</text>"
            f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>{dots}{labels}</svg></figure>")


def _table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"<td class='num'>{v:.1%}</td>"
        if isinstance(v, int):
            return f"<td class='num'>{v:,}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows) or (
        f"<tr><td colspan='{len(header)}' class='none'>None in this period.</td></tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return (f"<section><h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></section>")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{margin:0 0 4px}.sub{color:#555;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 20px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:140px}
.card b{display:block;font-size:26px}.card.bad b{color:#C0392B}.card.ok b{color:#3C9A5F}.card.ref b{color:#E0A030}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure{margin:0;border:1px solid #eee;border-radius:8px;padding:8px}figcaption{font-weight:600;margin-bottom:6px}
.lbl,.val,.tick{font-size:12px;fill:#333}.none{color:#777}
ol.top li{margin:4px 0}table{border-collapse:collapse;width:100%;margin-bottom:16px}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left}th{background:#f3f6fa}td.num{text-align:right}
"""


def render_html(report: Report) -> str:
    trend = dict(_headline(report)).get("Trend", "")
    period = f"{report.since} to {report.until}" if report.since else "no batches"
    if report.since and not report.totals.batches:
        period += " (no batches in this period)"
    sections = "".join(_table(name, header, rows) for name, (header, rows) in _tables(report).items())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Rejections report, {html.escape(period)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Rejections report</h1><p class='sub'>{html.escape(period)}. {html.escape(trend)}</p>{_cards(report)}"
        f"<h2>Top five problems</h2><ol class='top'>{_top_items(report) or '<li>No rejections.</li>'}</ol>"
        f"<div class='charts'>{_charts(report)}</div>{sections}</body></html>"
    )


def _cards(report: Report) -> str:
    t = report.totals
    return (f"<div class='cards'><div class='card'><b>{t.rows:,}</b>rows in {t.batches:,} batches</div>"
            f"<div class='card ok'><b>{t.approved:,}</b>approved</div>"
            f"<div class='card ref'><b>{t.referred:,}</b>referred</div>"
            f"<div class='card bad'><b>{t.rejected:,}</b>rejected ({t.rejection_rate:.1%})</div>"
            f"<div class='card bad'><b>{t.files_rejected:,}</b>files rejected whole</div></div>")


def _top_items(report: Report) -> str:
    return "".join(f"<li><b>{html.escape(code)}</b> — {n:,} findings: {html.escape(text)}</li>"
                   for code, n, text in report.top_problems())


def _charts(report: Report) -> str:
    return "".join([
        _bars("Findings by error code", [(c, n) for c, n in report.by_code.most_common()], _RED),
        _bars("Rejected rows by host country",
              sorted(((k or "?", v[RowStatus.REJECTED]) for k, v in report.by_country.items()
                      if v[RowStatus.REJECTED]),
                     key=lambda kv: -kv[1]), _AMBER),
        _line("Rejected rows by week",
              [(w.isoformat(), v[RowStatus.REJECTED]) for w, v in sorted(report.by_week.items())], _BLUE),
        _bars("Referral reasons", report.referrals.most_common(), _GREEN),
    ])
