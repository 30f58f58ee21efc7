"""Session cookies and CSRF tokens (docs/portal.md#security).

A session is a signed, timestamped cookie (itsdangerous) holding the account's ID, the account's ``generation``
(raised by a reset or a disable, which so ends every session) and the session's CSRF token. A visitor who has not
signed in has a session too, without an account, so the sign-in form has its token. Nothing else is kept on the
server: a cookie that was tampered with or has expired is no session at all.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from coc_intake.settings import Settings

COOKIE = "coc_session"
#: The form field (and header, for scripts) that carries the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class SessionData:
    account_id: int | None
    generation: int
    csrf: str

    @classmethod
    def anonymous(cls) -> SessionData:
        return cls(None, 0, secrets.token_urlsafe(24))

    def signed_in(self, account_id: int, generation: int) -> SessionData:
        """A new session for the account, with a new CSRF token (the old one was handed out before sign-in)."""
        return SessionData(account_id, generation, secrets.token_urlsafe(24))

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf, given or "")


class Sessions:
    """Signs and reads session cookies with the portal's key."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="coc-portal-session")
        self.max_age = max_age_seconds

    def dump(self, data: SessionData) -> str:
        return self._serializer.dumps([data.account_id, data.generation, data.csrf])

    def load(self, cookie: str | None) -> SessionData | None:
        """The session in the cookie; None when there is none, or it was tampered with or has expired."""
        if not cookie:
            return None
        try:
            account_id, generation, csrf = self._serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not (account_id is None or isinstance(account_id, int)) or not isinstance(csrf, str):
            return None
        return SessionData(account_id, int(generation), csrf)


def secret_key(settings: Settings) -> str:
    """``portal_secret``, else a key made once and kept in ``state_dir`` (readable by its owner only)."""
    if settings.portal_secret:
        return settings.portal_secret
    folder = Path(settings.state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "portal-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()
