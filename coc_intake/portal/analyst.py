"""The analysts' pages (docs/portal.md#the-analysts-report): the rejection report of ``coc report``, rendered by the
same ``report_render``, with the period, an employer or a host country as filters, and its workbook to download.
Built from the manifests (and, unfiltered, the referral index and decisions): never a request.

The page is the report's own HTML, which runs one inline script (sorting and filtering its tables): its response's
Content-Security-Policy allows exactly that script by its hash, as the report's file does, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from coc_intake import report as reports
from coc_intake.outbox import Outbox
from coc_intake.portal.accounts import Account, Role
from coc_intake.report_render import render_html, render_xlsx, script_hash

router = APIRouter(include_in_schema=False)

CSP = (f"default-src 'self'; script-src {script_hash()}; style-src 'self' 'unsafe-inline'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

_STYLE = """
.portal{display:flex;justify-content:space-between;align-items:center;background:#12355b;color:#fff;
padding:8px 16px;margin:-24px -12px 16px;border-radius:0 0 6px 6px}.portal a{color:#fff;text-decoration:none}
.portal .who{color:#c9d6e3;font-size:13px;margin-right:12px}.portal button{background:none;border:0;color:#fff;
text-decoration:underline;cursor:pointer;font:inherit}
form.report-filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-end;background:#f3f6fa;
border:1px solid #dde3ea;border-radius:8px;padding:10px 14px;margin:0 0 16px}
form.report-filters label{font-size:13px;display:block}form.report-filters input{display:block;margin-top:2px;
padding:4px 6px;border:1px solid #aab4be;border-radius:4px;font:inherit}
form.report-filters button{background:#1f5fa8;color:#fff;border:0;border-radius:4px;padding:6px 14px;
font:inherit;cursor:pointer}.scope{background:#fff4ce;border:1px solid #e8d38a;border-radius:6px;padding:8px 12px}
.error{background:#fde7e9;border:1px solid #f1b0b7;color:#a4262c;padding:8px 12px;border-radius:6px}
"""


@dataclass(frozen=True)
class ReportQuery:
    since: dt.date | None = None
    until: dt.date | None = None
    employer: str | None = None
    host: str | None = None

    def query(self) -> str:
        params = {"since": self.since, "until": self.until, "employer": self.employer, "host": self.host}
        return urlencode({k: v for k, v in params.items() if v})


def analyst(request: Request) -> Account:
    from coc_intake.portal.app import signed_in

    account = signed_in(request)
    if account is None:
        raise HTTPException(303, headers={"Location": "/sign-in"})
    if account.role is not Role.ANALYST:
        raise HTTPException(403, f"The report is for analysts; a {account.role} account cannot open it.")
    return account


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} '{value}' is not a date: give it as YYYY-MM-DD.") from None


def parse(since: str | None, until: str | None, employer: str | None, host: str | None) -> ReportQuery:
    """The filters of a query string; ValueError saying how to give one that is wrong."""
    first, last = _date(since, "From"), _date(until, "To")
    if first and last and first > last:
        raise ValueError(f"From {first} is after To {last}; swap them.")
    employer, host = (employer or "").strip() or None, (host or "").strip().upper() or None
    if employer is not None and sum(c.isdigit() for c in employer) != 9:
        raise ValueError(f"Employer '{employer}' is not an EIN: give it as NN-NNNNNNN, e.g. 12-3456789.")
    if host is not None and not (len(host) == 2 and host.isascii() and host.isalpha()):
        raise ValueError(f"Host '{host}' is not a country code: give its two letters, e.g. DE.")
    return ReportQuery(first, last, employer, host)


def build(outbox: Outbox, q: ReportQuery) -> reports.Report:
    """The report of the query: the manifests, cut to the employer or host when one is given; the decisions counted
    when neither is (they are counted by reason and host, not by employer)."""
    found = reports.build(reports.narrow(reports.load_manifests(outbox), q.employer, q.host), q.since, q.until)
    return found if q.employer or q.host else reports.add_decisions(found, outbox)


def _top(account: Account, csrf: str, q: ReportQuery, form: dict[str, str], error: str | None) -> str:
    e = html.escape
    scope = ""
    if q.employer:
        scope = (f"<p class='scope'>Only the rows of employer {e(q.employer)}. The batches do not count an "
                 "employer's rows by host country, nor its rejected values: those tables are empty here. The "
                 "specialists' decisions are counted without this filter only.</p>")
    elif q.host:
        scope = (f"<p class='scope'>Only the rows sent to {e(q.host)}. The batches count a host country's rows and "
                 "referral reasons, not its rejections by code, employer or field: those tables are empty here. "
                 "The specialists' decisions are counted without this filter only.</p>")
    fields = "".join(
        f"<label>{label} <input type='{kind}' name='{name}' value='{e(form.get(name, ''))}'{extra}></label>"
        for label, kind, name, extra in (("From (as-of date)", "date", "since", ""), ("To", "date", "until", ""),
                                         ("Employer EIN", "text", "employer", " size='11' placeholder='12-3456789'"),
                                         ("Host country", "text", "host", " size='3' maxlength='2' placeholder='DE'")))
    download = f"/report.xlsx?{q.query()}" if q.query() else "/report.xlsx"
    return (f"<header class='portal'><a href='/'><b>Certificate of Coverage portal</b></a><span>"
            f"<span class='who'>{e(account.email)} (analyst)</span>"
            f"<form method='post' action='/sign-out' style='display:inline'><input type='hidden' name='csrf_token' "
            f"value='{e(csrf)}'><button type='submit'>Sign out</button></form></span></header>"
            f"<form method='get' action='/report' class='report-filters'>{fields}<button type='submit'>Show</button>"
            f"<a href='/report'>all batches</a> <a href='{e(download)}'>Download the workbook</a></form>"
            + (f"<p class='error' role='alert'>{e(error)}</p>" if error else "") + scope)


@router.get("/report")
async def report_page(request: Request, since: str | None = None, until: str | None = None,
                      employer: str | None = None, host: str | None = None) -> Response:
    from coc_intake.portal.app import _portal, _session

    account = analyst(request)
    form = {"since": since or "", "until": until or "", "employer": employer or "", "host": host or ""}
    status, error = 200, None
    try:
        q = parse(since, until, employer, host)
        found = await anyio.to_thread.run_sync(build, _portal(request).outbox, q)
    except ValueError as exc:  # NarrowError too
        status, error, q = 400, str(exc), ReportQuery()
        found = reports.build([])
    page = render_html(found, _top(account, _session(request).csrf, q, form, error), _STYLE)
    return HTMLResponse(page, status, headers={"Content-Security-Policy": CSP})


@router.get("/report.xlsx")
async def report_workbook(request: Request, since: str | None = None, until: str | None = None,
                          employer: str | None = None, host: str | None = None) -> Response:
    from coc_intake.portal.app import _portal

    analyst(request)
    try:
        q = parse(since, until, employer, host)
        found = await anyio.to_thread.run_sync(build, _portal(request).outbox, q)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    name = f"rejections-{found.since or 'none'}-to-{found.until or 'none'}.xlsx"
    from coc_intake.portal.app import XLSX

    return Response(render_xlsx(found), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
