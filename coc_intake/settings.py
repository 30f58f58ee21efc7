"""Configuration in one place: every setting, its environment variable and its default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coc_intake.errors import ConfigError
from coc_intake.limits import Limits


def project_root() -> Path:
    """The checkout this package runs from (its inbox/ and outbox/ are the embedded default), else the cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


@dataclass(frozen=True)
class Settings:
    inbox: str = field(default_factory=lambda: str(project_root() / "inbox"))
    """COC_INBOX: a folder or s3://bucket/prefix."""
    outbox: str = field(default_factory=lambda: str(project_root() / "outbox"))
    """COC_OUTBOX: a folder or s3://bucket/prefix."""
    smtp_host: str | None = None
    """COC_SMTP_HOST: the mail server; unset, confirmations are written as .eml files under outbox/mail/."""
    smtp_port: int = 25
    """COC_SMTP_PORT."""
    smtp_user: str | None = None
    """COC_SMTP_USER: login name; unset, no login."""
    smtp_password: str | None = None
    """COC_SMTP_PASSWORD."""
    smtp_security: str = "none"
    """COC_SMTP_SECURITY: none, starttls or ssl."""
    mail_from: str = "coc-intake@localhost"
    """COC_MAIL_FROM: the sender address of confirmations."""
    schedule_cron: str = "0 2 * * *"
    """COC_SCHEDULE_CRON: when `coc serve` runs the nightly intake."""
    schedule_timezone: str = "America/New_York"
    """COC_SCHEDULE_TIMEZONE: the time zone of the schedule."""
    claim_ttl_seconds: float = 6 * 3600
    """COC_CLAIM_TTL_SECONDS: after this long a run's claim on a file is taken to be abandoned."""
    limits: Limits = field(default_factory=Limits)
    """COC_MAX_BYTES, COC_MAX_UNCOMPRESSED, COC_MAX_RATIO, COC_MAX_ROWS, COC_MAX_COLUMNS (SPEC §3)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in ("inbox", "outbox", "smtp_host", "smtp_user", "smtp_password", "smtp_security", "mail_from",
                     "schedule_cron", "schedule_timezone"):
            if env.get(f"COC_{name.upper()}"):
                values[name] = env[f"COC_{name.upper()}"]
        if env.get("COC_SMTP_PORT"):
            try:
                values["smtp_port"] = int(env["COC_SMTP_PORT"])
            except ValueError:
                raise ConfigError(f"COC_SMTP_PORT={env['COC_SMTP_PORT']!r} is not a port number.") from None
        if env.get("COC_CLAIM_TTL_SECONDS"):
            try:
                values["claim_ttl_seconds"] = float(env["COC_CLAIM_TTL_SECONDS"])
            except ValueError:
                raise ConfigError("COC_CLAIM_TTL_SECONDS must be a number of seconds.") from None
        if values.get("smtp_security", "none") not in ("none", "starttls", "ssl"):
            raise ConfigError("COC_SMTP_SECURITY must be none, starttls or ssl.")
        return cls(limits=Limits.from_env(dict(env)), **values)  # type: ignore[arg-type]
