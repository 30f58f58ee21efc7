"""The portal's FastAPI application: its pages, the security every response gets, and ``serve`` (``coc portal``).

Pages are rendered on the server from the package's Jinja2 templates; the one stylesheet is served by the app, and
the Content-Security-Policy loads nothing from anywhere else (docs/portal.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from coc_intake.audit import AuditAction, record
from coc_intake.catalog import CATALOG
from coc_intake.errors import FileRejected
from coc_intake.outbox import Outbox
from coc_intake.portal import submissions
from coc_intake.portal.accounts import Account, Accounts, Role, SignIn
from coc_intake.portal.forms import FormError, read_upload_form
from coc_intake.portal.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, SessionData, Sessions, secret_key
from coc_intake.portal.uploads import Upload, Uploads, suffix_of
from coc_intake.redact import redact
from coc_intake.settings import Settings
from coc_intake.store import Store, open_store

HERE = Path(__file__).parent
CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
#: How long a verified API token is remembered, so that a client's every call does not cost an argon2 hash.
TOKEN_CACHE_SECONDS = 60.0


@dataclass
class Portal:
    """What every request handler uses: settings, accounts, sessions, uploads and the two stores."""

    settings: Settings
    accounts: Accounts
    sessions: Sessions
    uploads: Uploads
    inbox: Store
    outbox: Outbox
    _tokens: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    _tokens_lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def open(cls, settings: Settings) -> Portal:
        return cls(settings, Accounts.from_settings(settings),
                   Sessions(secret_key(settings), settings.portal_session_minutes * 60),
                   Uploads(Path(settings.state_dir) / "uploads", settings.portal_check_workers),
                   open_store(settings.inbox, settings), Outbox(open_store(settings.outbox, settings)))

    def close(self) -> None:
        self.uploads.close()
        self.accounts.close()

    def audit(self, who: str, action: AuditAction, subject: str = "", **detail: str | int | None) -> None:
        record(self.outbox, who, action, subject, **detail)

    def account_of_token(self, token: str) -> Account | None:
        """The enabled account of an API token; a verified token is remembered briefly (by its SHA-256)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._tokens_lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[2] > now:
            account = self.accounts.get(cached[0])
            if account is not None and not account.disabled and account.generation == cached[1]:
                return account
        account = self.accounts.by_token(token)
        if account is not None:
            with self._tokens_lock:
                self._tokens[key] = (account.id, account.generation, now + TOKEN_CACHE_SECONDS)
        return account

    def start_check(self, upload: Upload, account: Account) -> None:
        task = asyncio.get_running_loop().create_task(self.uploads.check(
            upload, dt.date.today(), self.settings.limits, account.eins, (account.ssn,) if account.ssn else ()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: asyncio.get_running_loop().run_in_executor(None, lambda: self.audit(
            account.email, AuditAction.PRE_CHECK, upload.upload_id, state=upload.state.value,
            status=str(upload.check.get("status", "")), rows=int(upload.check.get("counts", {}).get("rows", 0)))))


def _portal(request: Request) -> Portal:
    found: Portal = request.app.state.portal
    return found


def _session(request: Request) -> SessionData:
    found: SessionData = request.state.session
    return found


def signed_in(request: Request) -> Account | None:
    """The account of the request's session: None without one, or when the account was disabled or reset since."""
    session = _session(request)
    if session.account_id is None:
        return None
    account = _portal(request).accounts.get(session.account_id)
    if account is None or account.disabled or account.generation != session.generation:
        return None
    return account


def _page_account(request: Request, filing: bool = True) -> Account:
    account = signed_in(request)
    if account is None:
        raise HTTPException(303, headers={"Location": "/sign-in"})
    if filing and not account.role.files:
        raise HTTPException(404)
    return account


async def _csrf(request: Request) -> dict[str, str]:
    """The url-encoded form, once its CSRF token is the session's; 403 otherwise."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not _session(request).csrf_ok(fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "The form has expired or did not come from this site. Go back, reload the page "
                                 "and try again.")
    return fields


TEMPLATES = Jinja2Templates(directory=HERE / "templates")


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page of the templates (autoescaped: every value is shown as text), with the session's CSRF token and the
    signed-in account."""
    context.setdefault("account", signed_in(request))
    return TEMPLATES.TemplateResponse(request, name, {"csrf": _session(request).csrf, **context},
                                      status_code=status_code)


def create_app(settings: Settings) -> FastAPI:
    """The portal over ``settings``' stores and accounts database."""
    from coc_intake.portal import analyst, api, queue, queue_api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        portal = Portal.open(settings)
        app.state.portal = portal
        try:
            yield
        finally:
            portal.close()

    app = FastAPI(title="coc-intake portal", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Certificate of Coverage requests: upload and pre-check employers' workbooks, "
                              "submit them to the nightly intake, and follow them.")
    page = render

    @app.middleware("http")
    async def security(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        portal = _portal(request)
        loaded = portal.sessions.load(request.cookies.get(COOKIE))
        request.state.session = loaded or SessionData.anonymous()
        response = await call_next(request)
        if not request.url.path.startswith("/api/") and request.state.session != loaded:
            response.set_cookie(COOKIE, portal.sessions.dump(request.state.session), max_age=portal.sessions.max_age,
                                httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
        # A page may narrow it further or allow its own inline script by hash (the analysts' report).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (301, 302, 303, 307):
            return RedirectResponse(exc.headers["Location"] if exc.headers else "/", exc.status_code)
        if request.url.path.startswith("/api/"):
            from fastapi.exception_handlers import http_exception_handler

            return await http_exception_handler(request, exc)
        detail = {404: "There is nothing here, or it is not yours.",
                  405: f"This address does not take a {request.method} request: use the portal's own links and "
                       "buttons."}.get(exc.status_code, exc.detail)
        return page(request, "error.html", exc.status_code, title=f"Error {exc.status_code}", message=detail)

    @app.get("/static/portal.css", include_in_schema=False)
    def stylesheet() -> FileResponse:
        return FileResponse(HERE / "static" / "portal.css", media_type="text/css",
                            headers={"Cache-Control": "max-age=3600"})

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        account = signed_in(request)
        if account is None:
            return RedirectResponse("/sign-in", 303)
        if account.role is Role.SPECIALIST:
            return RedirectResponse("/referrals", 303)
        if account.role is Role.ANALYST:
            return RedirectResponse("/report", 303)
        if not account.role.files:
            return page(request, "home_staff.html", title="Welcome")
        uploads = _portal(request).uploads.of_account(account.id)[:10]
        return page(request, "home.html", title="Upload a workbook", uploads=uploads,
                    max_bytes=_portal(request).settings.limits.max_bytes)

    @app.get("/sign-in", include_in_schema=False)
    def sign_in_form(request: Request) -> Response:
        return page(request, "sign_in.html", title="Sign in", account=None)

    @app.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        fields = await _csrf(request)
        portal = _portal(request)
        email = fields.get("email", "").strip()
        settings = portal.settings
        outcome, account = await anyio.to_thread.run_sync(
            lambda: portal.accounts.sign_in(email, fields.get("password", ""), settings.portal_sign_in_attempts,
                                            dt.timedelta(minutes=settings.portal_lockout_minutes)))
        if outcome is SignIn.OK and account is not None:
            request.state.session = _session(request).signed_in(account.id, account.generation)
            await anyio.to_thread.run_sync(lambda: portal.audit(account.email, AuditAction.SIGN_IN))
            return RedirectResponse("/", 303)
        await anyio.to_thread.run_sync(lambda: portal.audit(email[:320], AuditAction.SIGN_IN_FAILED,
                                                            reason=outcome.value))
        message = {SignIn.LOCKED: f"Too many failed sign-ins: the account is locked for "
                                  f"{settings.portal_lockout_minutes} minutes. Try again later, or ask the "
                                  "administrator to reset it.",
                   SignIn.DISABLED: "This account is disabled. Ask the administrator."}.get(
            outcome, "The e-mail address or the password is wrong.")
        return page(request, "sign_in.html", 429 if outcome is SignIn.LOCKED else 401, title="Sign in",
                    account=None, error=message, email=email)

    @app.post("/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        await _csrf(request)
        account = signed_in(request)
        request.state.session = SessionData.anonymous()
        if account is not None:
            portal = _portal(request)
            await anyio.to_thread.run_sync(lambda: portal.audit(account.email, AuditAction.SIGN_OUT))
        return RedirectResponse("/sign-in", 303)

    @app.post("/uploads", include_in_schema=False)
    async def upload(request: Request) -> Response:
        account = _page_account(request)
        portal = _portal(request)
        upload_id, folder = portal.uploads.new_folder()
        target = folder / "incoming"
        try:
            form = await read_upload_form(request.headers.get("content-type", ""), request.stream(), target,
                                          portal.settings.limits.max_bytes)
        except (FileRejected, FormError) as exc:
            portal.uploads.discard(folder)
            return _upload_refused(request, exc, portal, page, account)
        if not _session(request).csrf_ok(form.fields.get(CSRF_FIELD)):
            portal.uploads.discard(folder)
            raise HTTPException(403, "The form has expired or did not come from this site. Go back, reload the "
                                     "page and try again.")
        if not form.filename or not target.exists():
            portal.uploads.discard(folder)
            return _upload_refused(request, FormError("Choose a file to upload first."), portal, page, account)
        item = accept(portal, account, upload_id, folder, target, form.filename, form.size, form.sha256)
        await anyio.to_thread.run_sync(lambda: portal.audit(account.email, AuditAction.UPLOAD, upload_id,
                                                            name=item.original_name, size_bytes=item.size))
        return RedirectResponse(f"/uploads/{upload_id}", 303)

    @app.get("/uploads/{upload_id}", include_in_schema=False)
    def upload_page(request: Request, upload_id: str) -> Response:
        account = _page_account(request)
        portal = _portal(request)
        item = portal.uploads.get(account.id, upload_id)
        if item is None:
            raise HTTPException(404)
        own, others = submissions.earlier(portal.outbox, portal.accounts, account, item)
        return page(request, "upload.html", title=f"Pre-check of {redact(item.original_name)}", upload=item,
                    catalog=CATALOG, earlier=own, by_another_account=others)

    @app.get("/uploads/{upload_id}/marked.xlsx", include_in_schema=False)
    def marked(request: Request, upload_id: str) -> Response:
        account = _page_account(request)
        portal = _portal(request)
        item = portal.uploads.get(account.id, upload_id)
        if item is None or not item.check.get("marked") or not item.marked.is_file():
            raise HTTPException(404)
        portal.audit(account.email, AuditAction.DOWNLOAD, upload_id, document="marked.xlsx")
        return FileResponse(item.marked, filename=f"{download_stem(item.original_name)}-checked.xlsx",
                            media_type=XLSX)

    @app.post("/uploads/{upload_id}/submit", include_in_schema=False)
    async def submit(request: Request, upload_id: str) -> Response:
        await _csrf(request)
        account = _page_account(request)
        portal = _portal(request)
        item = portal.uploads.get(account.id, upload_id)
        if item is None:
            raise HTTPException(404)
        try:
            row = await anyio.to_thread.run_sync(
                lambda: submissions.submit(portal.inbox, portal.accounts, account, item))
        except submissions.NotSubmittable as exc:
            return page(request, "upload.html", 422, title=f"Pre-check of {redact(item.original_name)}",
                        upload=item, catalog=CATALOG, error=str(exc), error_code=exc.code)
        await anyio.to_thread.run_sync(lambda: portal.audit(
            account.email, AuditAction.SUBMIT, row.submission_id, name=row.original_name, batch_id=row.batch_id))
        return RedirectResponse(f"/submissions/{row.submission_id}", 303)

    @app.get("/submissions", include_in_schema=False)
    def my_submissions(request: Request) -> Response:
        account = _page_account(request)
        portal = _portal(request)
        rows = [submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, r)
                for r in portal.accounts.submissions(account.id)]
        return page(request, "submissions.html", title="My submissions", standings=rows)

    @app.get("/submissions/{submission_id}", include_in_schema=False)
    def submission_page(request: Request, submission_id: str) -> Response:
        account = _page_account(request)
        portal = _portal(request)
        row = portal.accounts.submission(account.id, submission_id)
        if row is None:
            raise HTTPException(404)
        found = submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, row, with_referred=True)
        return page(request, "submission.html", title=f"Submission {redact(row.original_name)}", standing=found,
                    downloads=submissions.DOWNLOADS)

    @app.get("/submissions/{submission_id}/{document}", include_in_schema=False)
    def submission_document(request: Request, submission_id: str, document: str) -> Response:
        account = _page_account(request)
        return download(_portal(request), account, submission_id, document)

    app.include_router(api.router)
    app.include_router(queue_api.router)
    app.include_router(queue.router)
    app.include_router(analyst.router)
    return app


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MEDIA = {"results.xlsx": XLSX, "results.csv": "text/csv; charset=utf-8"}


def download_stem(original: str) -> str:
    """The original name's stem as a download's name: SSNs masked, ASCII letters, digits, ``.``, ``_``, ``-``."""
    stem = PurePosixPath(original.replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", redact(stem)).strip("._-")[:60] or "workbook"


def accept(portal: Portal, account: Account, upload_id: str, folder: Path, received: Path, original: str,
           size: int, sha256: str) -> Upload:
    """Register a file received in full, and start its pre-check."""
    source = folder / f"source{suffix_of(original)}"
    received.rename(source)
    item = Upload(upload_id, account.id, original, folder, source, size, sha256, dt.datetime.now(dt.UTC))
    portal.uploads.add(item)
    portal.start_check(item, account)
    return item


def download(portal: Portal, account: Account, submission_id: str, document: str) -> Response:
    """A results document of the account's own submission, once its batch is committed; 404 otherwise."""
    row = portal.accounts.submission(account.id, submission_id)
    if row is None or document not in submissions.DOWNLOADS:
        raise HTTPException(404)
    found = submissions.standing(portal.inbox, portal.outbox, portal.accounts, account, row)
    if not found.downloads:
        raise HTTPException(404)
    try:
        body = submissions.document(portal.outbox, row, document)
    except FileNotFoundError:
        raise HTTPException(404) from None
    portal.audit(account.email, AuditAction.DOWNLOAD, submission_id, document=document, batch_id=row.batch_id)
    name = f"{download_stem(row.original_name)}-{document}"
    return Response(body, media_type=_MEDIA[document],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _upload_refused(request: Request, exc: Exception, portal: Portal, page: Callable[..., Response],
                    account: Account) -> Response:
    """The upload form again, with why the file was refused above it and the account's recent uploads below."""
    rejected = isinstance(exc, FileRejected)
    return page(request, "home.html", 413 if rejected else 400, title="Upload a workbook",
                uploads=portal.uploads.of_account(account.id)[:10], max_bytes=portal.settings.limits.max_bytes,
                error=str(exc), error_code=exc.code if isinstance(exc, FileRejected) else None)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the portal with uvicorn until stopped; its log lines have SSN-shaped numbers masked."""
    import uvicorn

    from coc_intake.redact import install

    config = uvicorn.Config(create_app(settings), host=host, port=port, proxy_headers=True,
                            server_header=False, timeout_graceful_shutdown=5)
    install("uvicorn", "uvicorn.error", "uvicorn.access")
    uvicorn.Server(config).run()
