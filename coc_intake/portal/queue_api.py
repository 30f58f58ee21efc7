"""The specialists' queue as JSON under ``/api/v1/referrals`` (docs/portal.md#the-api), with a specialist account's
bearer token: the same filters, paging, request view and decisions as the pages (``portal.queue``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from coc_intake import referrals
from coc_intake.portal.accounts import Account, Role
from coc_intake.portal.api import _bearer, _error, _portal, token_owner
from coc_intake.portal.queue import MAX_PAGE_SIZE, NOTE_CHARS, PAGE_SIZE, FilterError, decision_problem, load_page
from coc_intake.portal.queue import parse_filters as _filters

router = APIRouter(prefix="/api/v1/referrals", tags=["referrals"])


async def specialist_account(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                                      Depends(_bearer)]) -> Account:
    """The specialist account of the bearer token; 401 without a valid one, 403 for any other role."""
    account = await token_owner(request, credentials)
    if account.role is not Role.SPECIALIST:
        raise HTTPException(403, f"The referral queue is for specialist accounts, not {account.role} ones.")
    return account


Specialist = Annotated[Account, Depends(specialist_account)]


class DecisionIn(BaseModel):
    """A specialist's decision on a referred request."""

    decision: Literal["approved", "denied"]
    note: Annotated[str, Field(min_length=1, max_length=NOTE_CHARS, description="Why: the employer reads it "
                                                                                  "(by e-mail, SSNs masked).")]


@router.get("", summary="The queue of referred requests, oldest first (masked SSNs)",
            responses={400: {"description": "a filter that cannot be understood (code bad-filter)"}})
async def list_referrals(
    request: Request, account: Specialist,
    reason: Annotated[str | None, Query(description="A referral reason's code (docs/errors.md).")] = None,
    host: Annotated[str | None, Query(description="The host country's two-letter ISO code.")] = None,
    employer: Annotated[str | None, Query(description="An EIN, NN-NNNNNNN.")] = None,
    older_than: Annotated[int | None, Query(ge=0, description="Waiting more than this many days since the "
                                                              "batch's as-of date.")] = None,
    include_decided: Annotated[bool, Query(description="Also the referrals already decided.")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> Response:
    """``total`` is how many pass the filters; ``referrals`` the ``limit`` of them from ``offset``."""
    try:
        filters = _filters(reason, host, employer, older_than, include_decided)
    except FilterError as exc:
        return _error(400, "bad-filter", str(exc))
    today = dt.date.today()
    outbox = _portal(request).outbox
    shown, total = await anyio.to_thread.run_sync(lambda: load_page(outbox, filters, offset, limit, today))
    return JSONResponse({"total": total, "offset": offset, "limit": limit,
                         "referrals": [r.as_json(today) for r in shown]})


def _view(request: Request, request_id: str) -> referrals.RequestView:
    try:
        return referrals.view(_portal(request).outbox, request_id)
    except referrals.ReferralError:
        raise HTTPException(404, "No referred request has this ID.") from None


@router.get("/{request_id}", summary="One referred request: its document (the full SSN), reasons with the "
                                     "agreement's rule, the worker's other requests, the decisions so far")
async def get_referral(request: Request, request_id: str, account: Specialist) -> dict[str, Any]:
    shown = await anyio.to_thread.run_sync(_view, request, request_id)
    today = dt.date.today()
    return {"referral": shown.referral.as_json(today), "document": shown.document,
            "reasons": [{"code": r.code, "title": r.title, "message": r.message, "rule": r.rule}
                        for r in shown.reasons],
            "earlier": [{"request_id": e.request_id, "batch_id": e.batch_id, "host": e.host,
                         "start": e.start.isoformat() if e.start else None,
                         "end": e.end.isoformat() if e.end else None, "status": e.status} for e in shown.earlier],
            "decisions": shown.decisions}


@router.post("/{request_id}/decisions", status_code=201, summary="Record a decision and e-mail the employer",
             responses={404: {"description": "no referred request has this ID"}})
async def post_decision(request: Request, request_id: str, body: DecisionIn, account: Specialist) -> Response:
    """Appended as the request's next decision (the latest counts); the employer's e-mail is sent at once, or
    written to the mail folder without an SMTP server, or stays queued for the next run when sending fails."""
    portal = _portal(request)
    shown = await anyio.to_thread.run_sync(_view, request, request_id)
    if problem := decision_problem(body.decision, body.note):
        return _error(422, "bad-decision", problem)
    done = await anyio.to_thread.run_sync(lambda: referrals.decide(
        portal.outbox, shown.referral.request_id, body.decision, body.note, account.email, portal.settings))
    mail = ("none" if done.message_id is None else "sent" if done.mail.sent else
            "written" if done.mail.written else "queued")
    return JSONResponse({**done.record, "mail": mail}, status_code=201)
