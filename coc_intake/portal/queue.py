"""The specialists' pages (docs/portal.md#the-specialists-queue): the queue of referred requests, one request, and
the decision form. Thin: the queue, the request's view and the decision are ``coc_intake.referrals``'s.

A list page reads the referral index only (never a request document), and turns only its page of rows into Python
objects, so it stays fast over 100k referrals. The request page is the one page that shows a full SSN.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from coc_intake import referrals
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.countries import name_of
from coc_intake.portal.accounts import Account, Role
from coc_intake.states import Decision

router = APIRouter(include_in_schema=False)

#: Referrals on one page of the queue, and at most on one answer of the API.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: A decision's note is at most this long (it goes into an e-mail).
NOTE_CHARS = 4000


class FilterError(ValueError):
    """A filter of the queue that cannot be understood; the message says how to give it."""


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters and page, as given in a query string."""

    filters: referrals.Filters
    page: int = 1

    def query(self, page: int | None = None) -> str:
        """The query string of this view (another page of it with ``page``)."""
        f = self.filters
        params = {"reason": f.reason, "host": f.host, "employer": f.employer, "older_than": f.older_than,
                  "decided": "1" if f.include_decided else None, "page": page or self.page}
        if params["page"] == 1:
            params["page"] = None
        return urlencode({k: v for k, v in params.items() if v is not None})


def parse_filters(reason: str | None, host: str | None, employer: str | None, older_than: str | int | None,
                  include_decided: bool) -> referrals.Filters:
    """The queue's filters from a form or a query; FilterError saying how to give one that is wrong. An empty
    value is no filter."""
    reason, host, employer = (v.strip() if isinstance(v, str) and v.strip() else None
                              for v in (reason, host, employer))
    if reason is not None and reason not in REFERRAL_CODES:
        raise FilterError(f"'{reason}' is not a referral reason. Give one of: {', '.join(sorted(REFERRAL_CODES))}.")
    if host is not None and not (len(host) == 2 and host.isascii() and host.isalpha()):
        raise FilterError(f"'{host}' is not a country code. Give the host's two-letter ISO code, e.g. DE.")
    try:
        ein = referrals.normalize_ein(employer) if employer is not None else None
    except ValueError as exc:
        raise FilterError(str(exc) + ".") from None
    days: int | None = None
    if older_than not in (None, ""):
        try:
            days = int(str(older_than).strip())
        except ValueError:
            days = -1
        if days < 0:
            raise FilterError(f"'{older_than}' is not a number of days. Give a whole number, e.g. 30.")
    return referrals.Filters(reason, host.upper() if host else None, ein, days, include_decided)


def specialist(request: Request) -> Account:
    """The signed-in specialist; a redirect to sign in without a session, 403 for any other role."""
    from coc_intake.portal.app import signed_in

    account = signed_in(request)
    if account is None:
        raise HTTPException(303, headers={"Location": "/sign-in"})
    if account.role is not Role.SPECIALIST:
        raise HTTPException(403, f"The referral queue is for specialists; a {account.role} account cannot open it.")
    return account


def load_page(outbox: Any, filters: referrals.Filters, offset: int, limit: int, today: dt.date
              ) -> tuple[list[referrals.Referral], int]:
    """One page of the queue: the index and the decisions folder's listing, nothing else."""
    return referrals.Queue.load(outbox).select(filters, today, limit, offset)


@router.get("/referrals")
async def queue_page(request: Request, reason: str | None = None, host: str | None = None,
                     employer: str | None = None, older_than: str | None = None, decided: str | None = None,
                     page: str | None = None) -> Response:
    from coc_intake.portal.app import _portal, render

    specialist(request)
    portal = _portal(request)
    today = dt.date.today()
    form = {"reason": reason or "", "host": host or "", "employer": employer or "", "older_than": older_than or "",
            "decided": bool(decided)}
    context: dict[str, Any] = {"title": "Referral queue", "form": form, "reasons": sorted(REFERRAL_CODES),
                               "catalog": CATALOG, "today": today, "name_of": name_of}
    try:
        query = QueueQuery(parse_filters(reason, host, employer, older_than, bool(decided)),
                           max(1, int(page)) if page and page.isdigit() else 1)
    except FilterError as exc:
        return render(request, "queue.html", 400, error=str(exc), shown=[], total=0, pages=0, query=None,
                      **context)
    rows, total = await anyio.to_thread.run_sync(lambda: load_page(
        portal.outbox, query.filters, (query.page - 1) * PAGE_SIZE, PAGE_SIZE, today))
    return render(request, "queue.html", shown=rows, total=total, pages=max(1, math.ceil(total / PAGE_SIZE)),
                  query=query, first=(query.page - 1) * PAGE_SIZE + 1, **context)


def _view(outbox: Any, request_id: str) -> referrals.RequestView:
    try:
        return referrals.view(outbox, request_id)
    except referrals.ReferralError:
        raise HTTPException(404) from None


@router.get("/referrals/{request_id}")
async def request_page(request: Request, request_id: str, decided: str | None = None) -> Response:
    from coc_intake.portal.app import _portal

    specialist(request)
    outbox = _portal(request).outbox
    shown = await anyio.to_thread.run_sync(_view, outbox, request_id)
    return _request_page(request, shown, notice=_notice(shown, decided))


def _notice(shown: referrals.RequestView, decided: str | None) -> str | None:
    if not decided or not decided.isdigit():
        return None
    found = next((d for d in shown.decisions if str(d.get("n")) == decided), None)
    if found is None:
        return None
    told = ("The employer is told by e-mail." if shown.document.get("contact_email")
            else "The request names no contact e-mail: the employer sees it on its submission page only.")
    return f"Decision {decided} recorded: {found.get('decision')}. {told}"


def _request_page(request: Request, shown: referrals.RequestView, status_code: int = 200, **context: Any
                  ) -> Response:
    from coc_intake.portal.app import render

    return render(request, "referral.html", status_code, title=f"Referred request {shown.referral.request_id}",
                  view=shown, d=shown.document, today=dt.date.today(), name_of=name_of, catalog=CATALOG,
                  note_chars=NOTE_CHARS, **context)


@router.post("/referrals/{request_id}/decision")
async def decide(request: Request, request_id: str) -> Response:
    from coc_intake.portal.app import _csrf, _portal

    fields = await _csrf(request)
    account = specialist(request)
    portal = _portal(request)
    shown = await anyio.to_thread.run_sync(_view, portal.outbox, request_id)
    choice, note = fields.get("decision", ""), fields.get("note", "")
    problem = decision_problem(choice, note)
    if problem:
        return _request_page(request, shown, 400, error=problem, note=note, choice=choice)
    done = await anyio.to_thread.run_sync(lambda: referrals.decide(
        portal.outbox, shown.referral.request_id, choice, note, account.email, portal.settings))
    return RedirectResponse(f"/referrals/{shown.referral.request_id}?decided={done.n}", 303)


def decision_problem(choice: str, note: str) -> str | None:
    """Why a decision cannot be recorded as given, or None."""
    if choice not in set(Decision):
        return "Choose approved or denied."
    if not note.strip():
        return "Write a note saying why: the employer reads it."
    if len(note) > NOTE_CHARS:
        return f"The note is {len(note):,} characters long; keep it to {NOTE_CHARS:,}."
    return None
