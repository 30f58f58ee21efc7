"""The two renderings of a ``Report``: an xlsx with native charts and a self-contained HTML page (docs/report.md).

Both lead with the headline numbers, the trend in words, the charts and the top five problems, then the tables.
Every cell is written as text or a number (never a formula); the HTML escapes every value, loads nothing from the
network and runs one inline script (sorting and filtering the tables), allowed by its hash in the page's CSP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
from dataclasses import dataclass
from typing import Any

from xlsxwriter.chart import Chart
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from coc_intake import schemas, xlsx
from coc_intake.referrals import Tally
from coc_intake.report import AGE_GROUPS, Employer, Report, counted, describe, employer_trend, trend_sentences
from coc_intake.states import RowStatus

_BLUE, _RED, _AMBER, _GREEN = "#2F6DB5", "#C0392B", "#E0A030", "#3C9A5F"


@dataclass
class Table:
    header: list[str]
    rows: list[list[Any]]
    note: str = ""
    """A sentence under the title: what the table leaves out, and why."""
    matrix: bool = False
    """A grid of counts (rows × columns): shaded by value."""


_Tables = dict[str, Table]


class Days(float):
    """A number of days (a median or a percentile), not a rate."""


def _days(value: float | None) -> Days | str:
    return "" if value is None else Days(round(value, 1))


_DECISION_HEADER = ["referred", "decided", "approved", "denied", "waiting", "wait (median)", "wait (p90)",
                    "age (median)", "age (p90)"]


def _decision_cells(t: Tally) -> list[Any]:
    return [t.referred, t.decided, t.approved, t.denied, t.waiting, _days(t.wait_median_days),
            _days(t.wait_p90_days), _days(t.waiting_age_median_days), _days(t.waiting_age_p90_days)]


def _decision_tables(report: Report) -> _Tables:
    """The specialists' decisions on the period's referrals, by reason and by host country (when counted)."""
    counts = report.decisions
    if counts is None:
        return {}
    note = ("Referred requests of the period's batches by their latest decision. Wait: days from the batch's "
            "as-of date to the first decision, over the decided ones; age: days from the as-of date to today, over "
            "those still waiting; median and 90th percentile (p90). A referral with two reasons counts under each.")
    return {
        "Referral decisions by reason": Table(
            ["reason", *_DECISION_HEADER],
            [["all referrals", *_decision_cells(counts.total)],
             *([code, *_decision_cells(t)] for code, t in counts.by_reason.items())], note=note),
        "Referral decisions by host": Table(
            ["host country", *_DECISION_HEADER],
            [[host or "(not given)", *_decision_cells(t)] for host, t in counts.by_host.items()], note=note),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _weeks(report: Report) -> list[tuple[dt.date, dict[str, int]]]:
    """Every week from the first with batches to the last, a week without any counted as nothing: skipped, it
    made two weeks apart look adjacent on the line chart."""
    weeks = sorted(report.by_week.items())
    if not weeks:
        return []
    found, filled = dict(weeks), []
    week, last = weeks[0][0], weeks[-1][0]
    while week <= last:
        filled.append((week, found.get(week) or dict.fromkeys(("rows", RowStatus.REJECTED, RowStatus.REFERRED), 0)))
        week += dt.timedelta(days=7)
    return filled


def _blank(value: str) -> str:
    return value if value else "(blank)"


def _matrix(report: Report, cells: dict[Employer, Any], first: str) -> Table:
    """Top employers (by rejected rows) × the codes or fields they have findings of, most frequent first."""
    employers = [e for e in report.top_employers() if cells.get(e)]
    totals: dict[str, int] = {}
    for e in employers:
        for k, n in cells[e].items():
            totals[k] = totals.get(k, 0) + n
    columns = sorted(totals, key=lambda k: (-totals[k], k))
    rows = [[e.label, report.by_employer[e][RowStatus.REJECTED], *(int(cells[e].get(k, 0)) for k in columns)]
            for e in employers]
    return Table(["employer", "rejected rows", *columns], rows, matrix=True,
                 note=(f"The {len(employers)} employers with most rejected rows" if len(employers) != 1 else
                       "The employer with rejected rows") + f"; each cell counts the {first} findings. "
                      + _coverage(report))


def _coverage(report: Report) -> str:
    older = report.totals.batches - report.detailed_batches
    if not older:
        return ""
    return (f"{older:,} of the {report.totals.batches:,} batches were processed before the manifest recorded "
            "this; they are not counted here.")


def _values_note(report: Report) -> str:
    counted = [f.key for f in schemas.fields().values() if f.in_reports == "counts" and report.fields.get(f.key)]
    note = "Social Security numbers are shown masked. "
    if counted:
        note += ("These fields hold personal data and are counted, never quoted (see 'Fields that cause most "
                 f"rejections'): {', '.join(counted)}. ")
    return note + _coverage(report)


def _tables(report: Report) -> _Tables:
    """Every table of the report: title → table."""
    t = report.totals
    countries = sorted(report.by_country.items(), key=lambda kv: (-kv[1][RowStatus.REJECTED], kv[0]))
    employers = sorted(report.by_employer.items(), key=lambda kv: (-kv[1][RowStatus.REJECTED], kv[0]))
    top = report.top_employers()
    ranked = sorted(((f, v, code, n) for f in report.rejected_values for v, code, n in report.top_values(f)),
                    key=lambda r: (-r[3], r[0], r[1], r[2]))
    values: list[list[Any]] = [[f, _blank(v), code, n] for f, v, code, n in ranked]
    work = sorted(report.worklist.items(), key=lambda kv: (-kv[1].rows, kv[0]))
    return {
        "Rows by status": Table(["status", "rows"], [
            [RowStatus.APPROVED, t.approved], [RowStatus.REFERRED, t.referred], [RowStatus.REJECTED, t.rejected],
            *([[RowStatus.ALREADY_REQUESTED, t.already_requested]] if t.already_requested else [])]),
        "Rejections by error code": Table(["code", "findings", "what it means"],
                                          [[c, n, describe(c)] for c, n in report.by_code.most_common()]),
        "Rejections by employer": Table(
            ["EIN", "employer", "rows", "rejected", "rejection rate", "trend over the period"],
            [[who.ein or "(none)", who.name or "(no name given)", v["rows"], v[RowStatus.REJECTED],
              _rate(v[RowStatus.REJECTED], v["rows"]), employer_trend(report, who)] for who, v in employers],
            note="An employer is its EIN as typed, named as it was typed most often."),
        "Employers × error codes": _matrix(report, dict(report.employer_codes), "rejecting"),
        "Employers × fields": _matrix(report, dict(report.employer_fields), "rejecting"),
        "Most frequent rejected values": Table(["field", "value as typed", "code", "findings"], values,
                                               note=_values_note(report)),
        "Rejections by host country": Table(
            ["country", "name", "rows", "rejected", "rejection rate"],
            [[h.label, h.name, v["rows"], v[RowStatus.REJECTED], _rate(v[RowStatus.REJECTED], v["rows"])]
             for h, v in countries],
            note="A host country that was not recognised is shown as typed, in quotes."),
        "Referral worklist": Table(
            ["reason", "host country", "referred rows", "oldest (days)", *(g[0] for g in AGE_GROUPS),
             "what it means"],
            [[reason, host.label, item.rows, item.oldest_days, *(item.by_age.get(g[0], 0) for g in AGE_GROUPS),
              describe(reason)] for (reason, host), item in work],
            note=f"Rows referred to a specialist, by reason and host country; age in days from the batch's as-of "
                 f"date to {report.until or 'the end of the period'}. "
                 + ('"?": a batch processed before the manifest recorded referrals by host country.'
                    if any(host.typed == "?" for _, host in report.worklist) else "")),
        "Employer trends by week": Table(
            ["employer", "week of", "rows", "rejected", "rejection rate"],
            [[who.label, w.isoformat(), c["rows"], c[RowStatus.REJECTED], _rate(c[RowStatus.REJECTED], c["rows"])]
             for who in top for w, c in sorted(report.employer_weeks.get(who, {}).items())],
            note="The employers with most rejected rows, week by week."),
        "Rejections by week": Table(["week of", "rows", "rejected", "referred"],
                                    [[w.isoformat(), v["rows"], v[RowStatus.REJECTED], v[RowStatus.REFERRED]]
                                     for w, v in _weeks(report)]),
        "Fields that cause most rejections": Table(["field", "findings"],
                                                   [[f, n] for f, n in report.fields.most_common()]),
        "Referral reasons": Table(["reason", "rows", "what it means"],
                                  [[c, n, describe(c)] for c, n in report.referrals.most_common()]),
        "Files rejected whole": Table(["file", "batch", "as of", "code", "message"],
                                      [[f["file"], f["batch_id"], f["as_of"], f["code"], f["message"]]
                                       for f in report.rejected_files]),
        **_decision_tables(report),
    }


def _headline(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    lines = [("Period", f"{report.since} to {report.until}" if report.since else "no batches"),
             ("Batches", f"{t.batches:,} ({counted(t.files_rejected, 'file')} rejected whole)" if t.batches
              else "none: no committed batch has an as-of date in this period"),
             ("Rows", f"{t.rows:,}"),
             ("Approved", f"{t.approved:,}"), ("Referred", f"{t.referred:,}"),
             ("Rejected", f"{t.rejected:,} ({t.rejection_rate:.1%} of rows)")]
    if t.already_requested:  # re-sent rows: neither new requests nor rejections
        lines.append(("Already requested", f"{t.already_requested:,}"))
    if report.decisions is not None and report.decisions.total.referred:
        lines.append(("Referral decisions", _decided_sentence(report.decisions.total)))
    trend = trend_sentences(report)
    if trend:
        lines.append(("Trend", " ".join(trend)))
    return lines


def _decided_sentence(t: Tally) -> str:
    waited = (f"; a decision took {t.wait_median_days:g} days (median), {t.wait_p90_days:g} at the 90th percentile"
              if t.wait_median_days is not None and t.wait_p90_days is not None else "")
    return f"{t.decided:,} decided ({t.approved:,} approved, {t.denied:,} denied), {t.waiting:,} waiting{waited}"


# --- xlsx ----------------------------------------------------------------------------------------------------

#: The charts of the dashboard: (table, title, category column, value column, most bars, colour, kind).
_CHARTS = (("Rejections by error code", "Findings by error code", 0, 1, 15, _RED, "bar"),
           ("Rejections by host country", "Rejected rows by host country", 0, 3, 15, _AMBER, "bar"),
           ("Rejections by employer", "Rejected rows by employer", 1, 3, 15, _RED, "bar"),
           ("Rejections by week", "Rejected rows by week", 0, 2, 200, _BLUE, "line"))
#: A chart's width, and the height of each bar of a bar chart beyond its frame (pixels): every label fits.
_CHART_WIDTH, _BAR_HEIGHT, _FRAME_HEIGHT = 620, 22, 70


def render_xlsx(report: Report) -> bytes:
    buffer = io.BytesIO()
    wb = xlsx.new_workbook(buffer)
    formats = {"bold": wb.add_format(xlsx.BOLD), "title": wb.add_format({"bold": True, "font_size": 16}),
               "head": wb.add_format({**xlsx.HEADER, "text_wrap": True, "valign": "top"}),
               "pct": wb.add_format({"num_format": "0.0%"}), "note": wb.add_format({"italic": True}),
               "wrap": wb.add_format({"text_wrap": True, "valign": "top"})}
    # Added first so that it is the first tab; it is filled last, its charts pointing into the table sheets.
    dash = wb.add_worksheet("Dashboard")
    tables = _tables(report)
    for name, table in tables.items():
        _table_sheet(wb, name, table, formats)
    _summary_sheet(wb, report, formats["head"])
    _dashboard(wb, dash, report, tables, formats)
    wb.close()
    return buffer.getvalue()


def _sheet_name(title: str) -> str:
    return title[:31]


def _table_sheet(wb: Workbook, name: str, table: Table, formats: dict[str, Format]) -> None:
    """One table of ``_tables``: a float is a rate, shown as a percentage; the note, if any, above the table."""
    sheet = wb.add_worksheet(_sheet_name(name))
    top = 0
    if table.note:
        sheet.write_string(0, 0, table.note, formats["note"])
        top = 1
    for c, h in enumerate(table.header):
        sheet.write_string(top, c, h, formats["head"])
    for r, values in enumerate(table.rows, start=top + 1):
        for c, v in enumerate(values):
            if isinstance(v, Days):
                sheet.write_number(r, c, v)
            elif isinstance(v, float):
                sheet.write_number(r, c, v, formats["pct"])
            elif isinstance(v, int):
                sheet.write_number(r, c, v)
            elif v != "":  # an empty cell, not an empty text, so that a column of numbers sorts as numbers
                sheet.write_string(r, c, str(v))
    last = top + max(len(table.rows), 1)
    sheet.autofilter(top, 0, last, len(table.header) - 1)
    for c, width in enumerate(_widths(table)):
        sheet.set_column(c, c, width, formats["wrap"] if width == _WIDEST else None)
    if table.matrix and table.rows and len(table.header) > 2:
        sheet.conditional_format(top + 1, 2, last, len(table.header) - 1,
                                 {"type": "2_color_scale", "min_color": "#FFFFFF", "max_color": "#F4A09A"})
    sheet.freeze_panes(top + 1, 1 if table.matrix else 0)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)


#: The narrowest and widest columns of a table sheet (characters); text longer than the widest wraps.
_NARROWEST, _WIDEST = 8, 60


def _widths(table: Table) -> list[int]:
    """Each column as wide as its header and its longest value (a rate as its percentage), within bounds: a
    fixed width cut host names, employers and codes short, and a fixed 60 left a short column's text cut."""
    widths = []
    for c, head in enumerate(table.header):
        cells = [f"{v:.1%}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                 for v in (r[c] for r in table.rows if c < len(r))]
        widths.append(min(_WIDEST, max(_NARROWEST, len(head), *map(len, cells)) + 2))
    return widths


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
        *(["host country", h.label, v["rows"], v[RowStatus.REJECTED], ""] for h, v in report.by_country.items()),
        *(["employer", who.label, v["rows"], v[RowStatus.REJECTED], ""] for who, v in report.by_employer.items()),
        *(["week", w.isoformat(), v["rows"], v[RowStatus.REJECTED], ""] for w, v in sorted(report.by_week.items())),
        *(["field", f, "", "", n] for f, n in report.fields.most_common()),
    ]


def _dashboard(wb: Workbook, dash: Worksheet, report: Report, tables: _Tables, formats: dict[str, Format]) -> None:
    """The headline, the trend, the top five problems and, below them, the charts."""
    problems = [(f"{code} ({n:,})", text) for code, n, text in report.top_problems()]
    # Column A as wide as its longest label: a longer one ran under column B's text ("health-insurance-required
    # (1)France without ...").
    first_width = max([22, *(len(label) + 2 for label, _ in problems)])
    dash.set_column(0, 0, first_width)
    dash.set_column(1, 1, 90)
    dash.write_string(0, 0, "Rejections report", formats["title"])
    row = 2
    for label, value in _headline(report):
        dash.write_string(row, 0, label, formats["bold"])
        dash.write_string(row, 1, value, formats["wrap"] if label == "Trend" else None)
        row += 1
    row += 1
    dash.write_string(row, 0, "Top five problems", formats["bold"])
    for label, text in problems:
        row += 1
        dash.write_string(row, 0, label)
        dash.write_string(row, 1, text)
    at_row = row + 2
    for pair in (_CHARTS[:2], _CHARTS[2:]):
        tallest = 0
        for i, (table, name, cat_col, value_col, limit, colour, kind) in enumerate(pair):
            rows = tables[table].rows
            # The second of a pair beside the first: in column B (wide for the headline), past the first's width.
            at_col, offset = (0, 0) if i == 0 else (1, _CHART_WIDTH + 20 - _pixels(first_width))
            if not rows or (kind == "bar" and not any(r[value_col] for r in rows)):
                # xlsxwriter refuses to save a chart without a series (EmptyChartSeries), and an empty chart would
                # say nothing anyway: the chart's place says so in words.
                dash.write_string(at_row, at_col, f"{name}: nothing in this period.")
                continue
            # A bar chart of rejections leaves out the rows with none (a host or employer with accepted rows
            # only), as the page's charts do: its table lists them, most rejected first.
            charted = rows if kind != "bar" else [r for r in rows if r[value_col]]
            n = min(len(charted), limit)
            chart = _chart(wb, kind, (table, 1 if tables[table].note else 0, n), name, (cat_col, value_col), colour)
            dash.insert_chart(at_row, at_col, chart, {"x_offset": offset})
            tallest = max(tallest, _chart_height(kind, n))
        at_row += tallest // 20 + 2  # rows of 20 pixels
    dash.set_landscape()
    dash.fit_to_pages(1, 0)  # printed (and rendered) one page wide: the charts beside each other stay whole
    dash.activate()


def _pixels(width: float) -> int:
    """A column's width in pixels, as Excel draws a width in characters of the default font."""
    return int(width * 7 + 5)


def _chart_height(kind: str, bars: int) -> int:
    return max(300, _FRAME_HEIGHT + _BAR_HEIGHT * bars) if kind == "bar" else 340


def _chart(wb: Workbook, kind: str, source: tuple[str, int, int], name: str, columns: tuple[int, int],
           colour: str) -> Chart:
    """A chart of one table sheet: ``source`` is (table, the row of its header, how many rows to chart),
    ``columns`` the category and value columns. Every category gets its label: left to itself, a chart skips
    every other label once they crowd, so the label interval is 1, the font small and a bar chart as tall as its
    bars need."""
    table, top, n = source
    cat_col, value_col = columns
    ch = wb.add_chart({"type": kind})
    sheet_name = _sheet_name(table)
    ch.add_series({"name": name, "categories": [sheet_name, top + 1, cat_col, top + n, cat_col],
                   "values": [sheet_name, top + 1, value_col, top + n, value_col],
                   "fill": {"color": colour}, "line": {"color": colour}, "gap": 60})
    ch.set_title({"name": name, "name_font": {"size": 12}})
    ch.set_legend({"none": True})
    labels = {"interval_unit": 1, "num_font": {"size": 8}}
    if kind == "bar":
        # A bar chart's categories run up its vertical axis (xlsxwriter's y axis for a bar chart): reversed, the
        # largest (first) bar is on top.
        ch.set_y_axis({**labels, "reverse": True})
    else:
        ch.set_x_axis({**labels, "num_font": {"size": 8, "rotation": -45}})
    ch.set_size({"width": _CHART_WIDTH, "height": _chart_height(kind, n)})
    return ch


# --- HTML ----------------------------------------------------------------------------------------------------


def _empty(title: str) -> str:
    return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='none'>Nothing in this period.</p></figure>"


def _bars(title: str, items: list[tuple[str, int]], colour: str) -> str:
    """A horizontal bar chart as inline SVG (the first 12 bars)."""
    items = items[:12]
    if not items:
        return _empty(title)
    top = max(v for _, v in items) or 1
    height = 26 * len(items) + 10
    rows = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * 26
        width = 280 * value / top
        # Cut in the middle: an employer's label ends with its EIN and a typed host with its quote, the parts
        # that tell two labels apart.
        shown = label if len(label) <= 30 else label[:17] + "…" + label[-12:]
        rows.append(
            f"<text x='0' y='{y + 15}' class='lbl'><title>{html.escape(label)}</title>{html.escape(shown)}</text>"
            f"<rect x='210' y='{y}' width='{width:.1f}' height='18' fill='{colour}' rx='2'/>"
            f"<text x='{216 + width:.1f}' y='{y + 14}' class='val'>{value:,}</text>"
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
    # Every label when they fit (about one per 40 px), else every n-th counted back from the last, which always
    # shows (the latest week is the one an analyst looks for) without crowding the one before it.
    every = max(1, -(-len(points) * 40 // (w - 2 * pad)))
    shown = [i for i in range(len(points)) if (len(points) - 1 - i) % every == 0]
    labels = "".join(f"<text x='{xy[i][0]:.1f}' y='{h - 15}' class='tick' text-anchor='middle'>"
                     f"{html.escape(points[i][0][5:])}</text>" for i in shown)
    # Each labelled week's value above its dot: without them only the highest could be read off the chart.
    labels += "".join(f"<text x='{xy[i][0]:.1f}' y='{xy[i][1] - 8:.1f}' class='val' text-anchor='middle'>"
                      f"{points[i][1]:,}</text>" for i in shown)
    # The scale's top only when some week goes without its value (the highest may be one of them).
    scale = f"<text x='4' y='{pad - 8}' class='tick'>{top:,}</text>" if len(shown) < len(points) else ""
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg viewBox='0 0 {w} {h}' width='{w}' "
            f"height='{h}' role='img' aria-label='{html.escape(title)}'>"
            f"<line x1='{pad}' y1='{h - pad}' x2='{w - pad}' y2='{h - pad}' stroke='#999'/>"
            f"{scale}<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>{dots}{labels}"
            "</svg></figure>")


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.casefold()).strip("-")


def _table(title: str, table: Table) -> str:
    peak = max((v for r in table.rows for v in r[2:] if isinstance(v, int)), default=0) if table.matrix else 0

    def cell(v: Any, col: int) -> str:
        if isinstance(v, Days):
            return f"<td class='num' data-v='{v}'>{v:g}</td>"
        if isinstance(v, float):
            return f"<td class='num' data-v='{v}'>{v:.1%}</td>"
        if isinstance(v, int):
            shade = ""
            if peak and col >= 2 and v:
                # White to red with the count: the matrix's hot spots stand out.
                shade = f" style='background:rgba(192,57,43,{0.08 + 0.5 * v / peak:.2f})'"
            return f"<td class='num' data-v='{v}'{shade}>{v:,}</td>"
        text = str(v)
        # A short value (a code, an EIN, a date) stays on one line; long ones (messages, sentences) wrap.
        return f"<td{' class=nw' if len(text) <= 24 else ''}>{html.escape(text)}</td>"

    body = "".join("<tr>" + "".join(cell(v, c) for c, v in enumerate(r)) + "</tr>" for r in table.rows) or (
        f"<tr><td colspan='{len(table.header)}' class='none'>None in this period.</td></tr>")
    head = "".join(f"<th title='Sort'>{html.escape(h)}</th>" for h in table.header)
    note = f"<p class='note'>{html.escape(table.note)}</p>" if table.note else ""
    tools = ("<input type='search' class='filter' placeholder='Filter rows…' "
             f"aria-label='Filter the rows of {html.escape(title)}'>") if len(table.rows) > 5 else ""
    return (f"<section id='{_slug(title)}'><h2>{html.escape(title)}</h2>{note}{tools}<div class='scroll'>"
            f"<table class='{'matrix' if table.matrix else 'plain'}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div></section>")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1240px;color:#222;
padding:0 12px}
h1{margin:0 0 4px}.sub{color:#555;margin:0 0 16px}.trend{margin:0 0 12px;font-size:15px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 20px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:140px}
.card b{display:block;font-size:26px}.card.bad b{color:#C0392B}.card.ok b{color:#3C9A5F}.card.ref b{color:#E0A030}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure{margin:0;border:1px solid #eee;border-radius:8px;padding:8px}figcaption{font-weight:600;margin-bottom:6px}
.lbl,.val,.tick{font-size:12px;fill:#333}.none{color:#777}.note{color:#555;font-size:13px;margin:0 0 6px}
nav{margin:16px 0;font-size:13px;line-height:1.8}nav a{margin-right:12px;color:#2F6DB5}
ol.top li{margin:4px 0}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;margin-bottom:16px}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left}td.num{text-align:right}td.nw{white-space:nowrap}
th{background:#f3f6fa;cursor:pointer;user-select:none;white-space:nowrap}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
table.matrix{width:auto}
table.matrix th:nth-child(n+2){writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom;height:auto}
.filter{margin:0 0 6px;padding:4px 8px;width:260px;border:1px solid #ccc;border-radius:4px}
"""

#: Sorting (click a header; again to reverse) and filtering (the box above a table) of every table.
_SCRIPT = """
document.querySelectorAll("section table").forEach(function (table) {
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var key = function (row) {
        var cell = row.cells[col];
        if (!cell) { return ""; }
        var v = cell.getAttribute("data-v");
        return v === null ? cell.textContent.toLowerCase() : parseFloat(v);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var box = table.closest("section").querySelector("input.filter");
  if (box) {
    box.addEventListener("input", function () {
      var q = box.value.toLowerCase();
      rows.forEach(function (row) {
        row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
});
document.documentElement.setAttribute("data-tables", "ready");
"""


def script_hash(script: str = _SCRIPT) -> str:
    """The CSP source that allows exactly this inline script: ``'sha256-<base64 of its SHA-256>'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def render_html(report: Report, top: str = "", style: str = "") -> str:
    """The page; ``top`` is HTML (already escaped) put first in its body and ``style`` CSS added to its own: the
    portal's bar and filters around the same page."""
    period = f"{report.since} to {report.until}" if report.since else "no batches"
    if report.since and not report.totals.batches:
        period += " (no batches in this period)"
    tables = _tables(report)
    sections = "".join(_table(name, table) for name, table in tables.items())
    nav = "".join(f"<a href='#{_slug(name)}'>{html.escape(name)}</a>" for name in tables)
    trend = " ".join(trend_sentences(report))
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src {script_hash()}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        f"<title>Rejections report, {html.escape(period)}</title><style>{_CSS}{style}</style></head><body>{top}"
        f"<h1>Rejections report</h1><p class='sub'>{html.escape(period)}</p>"
        f"{f'<p class=trend>{html.escape(trend)}</p>' if trend else ''}{_cards(report)}"
        f"<h2>Top five problems</h2><ol class='top'>{_top_items(report) or '<li>No rejections.</li>'}</ol>"
        f"<div class='charts'>{_charts(report)}</div><nav>{nav}</nav>{sections}"
        f"<script>{_SCRIPT}</script></body></html>"
    )


def _cards(report: Report) -> str:
    t = report.totals
    return (f"<div class='cards'><div class='card'><b>{t.rows:,}</b>{'row' if t.rows == 1 else 'rows'} in "
            f"{counted(t.batches, 'batch', 'batches')}</div>"
            f"<div class='card ok'><b>{t.approved:,}</b>approved</div>"
            f"<div class='card ref'><b>{t.referred:,}</b>referred</div>"
            f"<div class='card bad'><b>{t.rejected:,}</b>rejected ({t.rejection_rate:.1%})</div>"
            f"<div class='card bad'><b>{t.files_rejected:,}</b>{'file' if t.files_rejected == 1 else 'files'} rejected "
            "whole</div>"
            f"{_decision_card(report)}</div>")


def _decision_card(report: Report) -> str:
    if report.decisions is None or not report.decisions.total.referred:
        return ""
    t = report.decisions.total
    return (f"<div class='card' title='{html.escape(_decided_sentence(t))}'><b>{t.decided:,} / {t.referred:,}</b>"
            f"referrals decided ({t.approved:,} approved, {t.denied:,} denied)</div>")


def _top_items(report: Report) -> str:
    return "".join(f"<li><b>{html.escape(code)}</b> — {counted(n, 'finding')}: {html.escape(text)}</li>"
                   for code, n, text in report.top_problems())


def _charts(report: Report) -> str:
    return "".join([
        _bars("Findings by error code", [(c, n) for c, n in report.by_code.most_common()], _RED),
        _bars("Rejected rows by host country",
              sorted(((h.label, v[RowStatus.REJECTED]) for h, v in report.by_country.items()
                      if v[RowStatus.REJECTED]), key=lambda kv: (-kv[1], kv[0])), _AMBER),
        _bars("Rejected rows by employer",
              [(who.label, report.by_employer[who][RowStatus.REJECTED]) for who in report.top_employers()], _RED),
        _line("Rejected rows by week",
              [(w.isoformat(), v.get(RowStatus.REJECTED, 0)) for w, v in _weeks(report)], _BLUE),
        _bars("Referral reasons", report.referrals.most_common(), _GREEN),
    ])
