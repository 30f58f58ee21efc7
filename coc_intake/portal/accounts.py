"""The accounts database: accounts and their roles, EINs and hashed secrets, sign-in attempts, and the portal's
submissions (docs/portal.md#accounts).

SQLAlchemy 2 over an SQLite file by default (``Settings.state_dir``/accounts.db) or any URL in
``Settings.accounts_url`` (PostgreSQL through psycopg for several portal hosts). Passwords and API tokens are kept
only as argon2 hashes; an API token is ``coc_<token id>_<secret>``, its ID stored as it is so that one hash is
verified per request, not every account's.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from stdnum.exceptions import ValidationError as NumberError
from stdnum.us import ein as us_ein
from stdnum.us import ssn as us_ssn

from coc_intake.errors import CocError
from coc_intake.redact import redact
from coc_intake.settings import Settings

_HASHER = PasswordHasher()
_TOKEN = re.compile(r"coc_([0-9a-f]{16})_([A-Za-z0-9_-]{20,64})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Role(StrEnum):
    EMPLOYER = "employer"
    SELF_EMPLOYED = "self-employed"
    SPECIALIST = "specialist"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def files(self) -> bool:
        """Whether the role uploads and submits workbooks."""
        return self in (Role.EMPLOYER, Role.SELF_EMPLOYED)

    @property
    def a(self) -> str:
        """The role with its article, as a sentence starts: "An admin", "A specialist"."""
        return f"{'An' if self.value[0] in 'aeiou' else 'A'} {self.value}"


class AccountError(CocError):
    """An account that cannot be added or changed as asked; the message says what to do."""


class _Base(DeclarativeBase):
    pass


class _Account(_Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    eins: Mapped[str] = mapped_column(String(2000), default="")
    """Space-separated, NN-NNNNNNN."""
    ssn: Mapped[str | None] = mapped_column(String(9), nullable=True)
    """A self-employed account's SSN, 9 digits: it goes into the sidecar of its submissions, never to a page."""
    password_hash: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    """Raised by a reset or a disable: sessions signed for an earlier generation are refused."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class _Submission(_Base):
    __tablename__ = "submissions"

    submission_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(1000))
    inbox_name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str] = mapped_column(String(16), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Account:
    """An account as the portal sees it (no hashes)."""

    id: int
    email: str
    role: Role
    eins: tuple[str, ...]
    ssn: str | None
    disabled: bool
    generation: int
    locked_until: dt.datetime | None = None

    @property
    def masked_ssn(self) -> str:
        return redact(f"{self.ssn[:3]}-{self.ssn[3:5]}-{self.ssn[5:]}") if self.ssn else ""


@dataclass(frozen=True)
class Credentials:
    """A new password and API token, to be shown once: only their hashes are kept."""

    email: str
    password: str
    token: str


@dataclass(frozen=True)
class SubmissionRow:
    submission_id: str
    account_id: int
    original_name: str
    inbox_name: str
    sha256: str
    batch_id: str
    size_bytes: int
    submitted_at: dt.datetime


class SignIn(StrEnum):
    """How a sign-in attempt ended."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    DISABLED = "disabled"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the accounts database; PostgreSQL URLs are given psycopg (3) as their driver."""
    url = settings.accounts_url or f"sqlite:///{Path(settings.state_dir) / 'accounts.db'}"
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", url)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes: they were written in UTC."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def normalize_ein(value: str) -> str:
    try:
        return str(us_ein.format(us_ein.validate(value)))
    except NumberError:
        raise AccountError(f"--ein {value!r} is not a valid EIN. Give it as NN-NNNNNNN, e.g. --ein 12-3456789."
                           ) from None


def normalize_ssn(value: str) -> str:
    try:
        return str(us_ssn.validate(value))
    except NumberError:
        raise AccountError(f"--ssn {redact(value)} is not a valid SSN. Give it as NNN-NN-NNNN.") from None


class Accounts:
    """The accounts database. Each method is one transaction."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            _private_folder(Path(url.removeprefix("sqlite:///")).parent)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        _Base.metadata.create_all(self.engine)
        if url.startswith("sqlite:///"):
            os.chmod(url.removeprefix("sqlite:///"), 0o600)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Accounts:
        return cls(database_url(settings))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # Administration (coc accounts).
    def add(self, email: str, role: Role | str, eins: list[str] | tuple[str, ...] = (), ssn: str | None = None
            ) -> Credentials:
        email = _email(email)
        role = Role(role)
        found = tuple(dict.fromkeys(normalize_ein(e) for e in eins))
        digits = normalize_ssn(ssn) if ssn else None
        if role is Role.EMPLOYER and not found:
            raise AccountError("An employer account needs its EINs: add --ein NN-NNNNNNN (once per EIN).")
        if role is Role.SELF_EMPLOYED and digits is None:
            raise AccountError("A self-employed account needs the person's SSN: add --ssn NNN-NN-NNNN.")
        if not role.files and (found or digits):
            raise AccountError(f"{role.a} account files nothing: leave out --ein and --ssn.")
        if role is Role.EMPLOYER and digits:
            raise AccountError("An employer account has EINs, not an SSN: leave out --ssn.")
        password, token_id, secret = _new_password(), secrets.token_hex(8), secrets.token_urlsafe(32)
        with self._tx() as s:
            if s.scalar(select(_Account.id).where(_Account.email == email)) is not None:
                raise AccountError(f"{email} already has an account. Use `coc accounts reset {email}` for a new "
                                   "password and token.")
            s.add(_Account(email=email, role=role.value, eins=" ".join(found), ssn=digits,
                           password_hash=_HASHER.hash(password), token_id=token_id,
                           token_hash=_HASHER.hash(secret), created_at=_utcnow()))
        return Credentials(email, password, f"coc_{token_id}_{secret}")

    def all(self) -> builtins.list[Account]:
        with self._tx() as s:
            return [_view(a) for a in s.scalars(select(_Account).order_by(_Account.email))]

    def disable(self, email: str) -> None:
        with self._tx() as s:
            account = _named(s, email)
            account.disabled = True
            account.generation += 1

    def reset(self, email: str) -> Credentials:
        """A new password and token; the account is enabled and unlocked, and its sessions end."""
        password, token_id, secret = _new_password(), secrets.token_hex(8), secrets.token_urlsafe(32)
        with self._tx() as s:
            account = _named(s, email)
            account.password_hash, account.token_id = _HASHER.hash(password), token_id
            account.token_hash = _HASHER.hash(secret)
            account.disabled, account.failures, account.locked_until = False, 0, None
            account.generation += 1
            return Credentials(account.email, password, f"coc_{token_id}_{secret}")

    # Signing in.
    def sign_in(self, email: str, password: str, attempts: int, lockout: dt.timedelta) -> tuple[SignIn, Account | None]:
        """Check a password. ``attempts`` failures in a row lock the account for ``lockout``; while it is locked
        even the right password is refused."""
        now = _utcnow()
        with self._tx() as s:
            account = s.scalar(select(_Account).where(_Account.email == email.strip().casefold()))
            if account is None:
                _verify(_dummy_hash(), password)
                return SignIn.WRONG, None
            locked = _aware(account.locked_until)
            if locked is not None and locked > now:
                return SignIn.LOCKED, _view(account)
            if not _verify(account.password_hash, password):
                account.failures += 1
                if account.failures >= attempts:
                    account.locked_until, account.failures = now + lockout, 0
                    return SignIn.LOCKED, _view(account)
                return SignIn.WRONG, _view(account)
            account.failures, account.locked_until = 0, None
            if account.disabled:
                return SignIn.DISABLED, _view(account)
            if _HASHER.check_needs_rehash(account.password_hash):
                account.password_hash = _HASHER.hash(password)
            return SignIn.OK, _view(account)

    def by_token(self, token: str) -> Account | None:
        """The enabled account whose API token this is."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        with self._tx() as s:
            account = s.scalar(select(_Account).where(_Account.token_id == match[1]))
            if account is None or account.disabled or not _verify(account.token_hash, match[2]):
                return None
            return _view(account)

    def get(self, account_id: int) -> Account | None:
        with self._tx() as s:
            account = s.get(_Account, account_id)
            return None if account is None else _view(account)

    # Submissions.
    def add_submission(self, row: SubmissionRow) -> None:
        with self._tx() as s:
            s.add(_Submission(**row.__dict__))

    def submissions(self, account_id: int) -> builtins.list[SubmissionRow]:
        """The account's submissions, newest first."""
        with self._tx() as s:
            found = s.scalars(select(_Submission).where(_Submission.account_id == account_id)
                              .order_by(_Submission.submitted_at.desc(), _Submission.submission_id))
            return [_row(r) for r in found]

    def submission(self, account_id: int, submission_id: str) -> SubmissionRow | None:
        """The account's own submission of that ID; None for anyone else's, as for one that does not exist."""
        with self._tx() as s:
            found = s.scalar(select(_Submission).where(_Submission.submission_id == submission_id,
                                                       _Submission.account_id == account_id))
            return None if found is None else _row(found)

    def first_of_batch(self, batch_id: str) -> SubmissionRow | None:
        """The first submission of these bytes, by any account: the one whose batch the intake makes (it takes the
        inbox in order of name, and an inbox name starts with the time submitted)."""
        with self._tx() as s:
            found = s.scalar(select(_Submission).where(_Submission.batch_id == batch_id)
                             .order_by(_Submission.inbox_name).limit(1))
            return None if found is None else _row(found)

    def made_batch(self, account_id: int, submission_id: str) -> bool:
        """Whether ``submission_id`` (a batch manifest's) is one of the account's submissions."""
        return self.submission(account_id, submission_id) is not None


def _sqlite_pragmas(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    # WAL lets the portal's threads read while one writes; the busy timeout waits for a writer instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def _email(value: str) -> str:
    email = value.strip().casefold()
    if not _EMAIL.fullmatch(email):
        raise AccountError(f"{redact(value)!r} is not an e-mail address. Give the person's address, e.g. "
                           "payroll@acme.example.")
    return email


@functools.cache
def _dummy_hash() -> str:
    """A hash verified when the e-mail is unknown, so that a sign-in takes as long whether or not the account
    exists."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def _new_password() -> str:
    return secrets.token_urlsafe(15)


def _verify(hashed: str, secret: str) -> bool:
    try:
        return bool(_HASHER.verify(hashed, secret))
    except (VerificationError, InvalidHashError):
        return False


def _named(s: Session, email: str) -> _Account:
    account = s.scalar(select(_Account).where(_Account.email == email.strip().casefold()))
    if account is None:
        raise AccountError(f"No account has the e-mail {redact(email)}. `coc accounts list` shows them.")
    return account


def _view(a: _Account) -> Account:
    return Account(a.id, a.email, Role(a.role), tuple(a.eins.split()) if a.eins else (), a.ssn, a.disabled,
                   a.generation, _aware(a.locked_until))


def _row(r: _Submission) -> SubmissionRow:
    return SubmissionRow(r.submission_id, r.account_id, r.original_name, r.inbox_name, r.sha256, r.batch_id,
                         r.size_bytes, _aware(r.submitted_at) or r.submitted_at)
