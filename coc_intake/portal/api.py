"""The JSON API under ``/api/v1``: the employer pages' actions for payroll and mobility software, with the account's
bearer token (docs/portal.md#the-api). Sessions and CSRF tokens play no part here: a request carries its token."""

from __future__ import annotations

import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coc_intake.audit import AuditAction
from coc_intake.errors import FileRejected
from coc_intake.portal import submissions
from coc_intake.portal.accounts import Account
from coc_intake.portal.uploads import receive

router = APIRouter(prefix="/api/v1", tags=["api"])
_bearer = HTTPBearer(auto_error=False, description="The account's API token (coc accounts add/reset prints it).")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


def _portal(request: Request) -> Any:
    from coc_intake.portal.app import Portal

    found: Portal = request.app.state.portal
    return found


async def token_owner(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Account:
    """The enabled account of the bearer token; 401 without a valid one."""
    if credentials is None:
        raise HTTPException(401, "Send the account's API token: Authorization: Bearer coc_…",
                            headers={"WWW-Authenticate": "Bearer"})
    portal = _portal(request)
    account: Account | None = await anyio.to_thread.run_sync(portal.account_of_token, credentials.credentials)
    if account is None:
        raise HTTPException(401, "The API token is not valid (reset, disabled or mistyped).",
                            headers={"WWW-Authenticate": "Bearer"})
    return account


async def token_account(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Account:
    """The filing account of the bearer token; 401 without a valid one, 403 for a role that files nothing."""
    account = await token_owner(request, credentials)
    if not account.role.files:
        raise HTTPException(403, f"{account.role.a} account files nothing: upload and submit with the token of "
                                 "an employer or self-employed account.")
    return account


Filer = Annotated[Account, Depends(token_account)]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


@router.post("/uploads", status_code=202, summary="Upload a workbook and start its pre-check",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={413: {"description": "file-too-large: over the intake's size bound; nothing is kept"}})
async def upload(request: Request, account: Filer,
                 filename: Annotated[str, Query(description="The workbook's own name (.xlsx or .csv); shown, "
                                                            "never used as a path.")]) -> Response:
    """The request body is the file's bytes. The answer's ``upload_id`` is polled (``GET /uploads/{id}``) until
    its ``state`` is ``checked``."""
    from coc_intake.portal.app import accept

    portal = _portal(request)
    if not _NAME.fullmatch(filename):
        return _error(422, "bad-filename", "Give the file's name in ?filename= (1 to 255 characters).")
    upload_id, folder = portal.uploads.new_folder()
    target = folder / "incoming"
    try:
        size, sha = await receive(request.stream(), target, portal.settings.limits.max_bytes)
    except FileRejected as exc:
        portal.uploads.discard(folder)
        return _error(413, exc.code, str(exc))
    item = accept(portal, account, upload_id, folder, target, filename, size, sha)
    await anyio.to_thread.run_sync(lambda: portal.audit(account.email, AuditAction.UPLOAD, upload_id,
                                                        name=item.original_name, size_bytes=size))
    return JSONResponse(item.as_json(), status_code=202)


@router.get("/uploads/{upload_id}", summary="An upload's pre-check: its state, counts and findings")
def get_upload(request: Request, upload_id: str, account: Filer) -> dict[str, Any]:
    portal = _portal(request)
    item = portal.uploads.get(account.id, upload_id)
    if item is None:
        raise HTTPException(404)
    own, others = submissions.earlier(portal.outbox, portal.accounts, account, item)
    found: dict[str, Any] = item.as_json()
    found.update(earlier_submission_id=own.submission_id if own else None, submitted_by_another_account=others)
    return found


@router.get("/uploads/{upload_id}/marked.xlsx", summary="The workbook marked where the pre-check found problems",
            response_class=FileResponse)
def marked(request: Request, upload_id: str, account: Filer) -> Response:
    from coc_intake.portal.app import XLSX, download_stem

    portal = _portal(request)
    item = portal.uploads.get(account.id, upload_id)
    if item is None or not item.check.get("marked") or not item.marked.is_file():
        raise HTTPException(404)
    portal.audit(account.email, AuditAction.DOWNLOAD, upload_id, document="marked.xlsx")
    return FileResponse(item.marked, filename=f"{download_stem(item.original_name)}-checked.xlsx", media_type=XLSX)


@router.post("/uploads/{upload_id}/submit", status_code=201, summary="Submit a checked upload to the intake",
             responses={422: {"description": "not checked yet, or rejected whole by the pre-check"}})
def submit(request: Request, upload_id: str, account: Filer) -> Response:
    portal = _portal(request)
    item = portal.uploads.get(account.id, upload_id)
    if item is None:
        raise HTTPException(404)
    try:
        row = submissions.submit(portal.inbox, portal.accounts, account, item)
    except submissions.NotSubmittable as exc:
        return _error(422, exc.code, str(exc))
    portal.audit(account.email, AuditAction.SUBMIT, row.submission_id, name=row.original_name, batch_id=row.batch_id)
    found = submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, row)
    return JSONResponse(found.as_json(), status_code=201)


@router.get("/submissions", summary="The account's submissions, newest first")
def list_submissions(request: Request, account: Filer) -> list[dict[str, Any]]:
    portal = _portal(request)
    return [submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, r).as_json()
            for r in portal.accounts.submissions(account.id)]


@router.get("/submissions/{submission_id}", summary="Where one submission stands, with its referred requests and "
                                                 "the specialists' latest decision on each")
def get_submission(request: Request, submission_id: str, account: Filer) -> dict[str, Any]:
    portal = _portal(request)
    row = portal.accounts.submission(account.id, submission_id)
    if row is None:
        raise HTTPException(404)
    found: dict[str, Any] = submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, row,
                                                 with_referred=True).as_json()
    return found


@router.get("/submissions/{submission_id}/{document}", summary="A processed submission's results.xlsx or results.csv")
def get_document(request: Request, submission_id: str, document: str, account: Filer) -> Response:
    from coc_intake.portal.app import download

    return download(_portal(request), account, submission_id, document)
