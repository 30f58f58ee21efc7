"""Configuration in one place: every setting, its environment variable and its default."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
        """Defaults, then the optional TOML file (``COC_CONFIG``, else ``coc.toml`` in the project), then
        ``COC_<NAME>`` environment variables. Names in the file are the settings' own (``smtp_host``)."""
        env = dict(os.environ if environ is None else environ)
        merged: dict[str, object] = dict(_config_file(env))
        merged.update({k[4:].lower(): v for k, v in env.items() if k.startswith("COC_") and v != ""})
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "limits" or f.name not in merged:
                continue
            values[f.name] = _convert(f.name, merged[f.name], f.type)
        if values.get("smtp_security", "none") not in ("none", "starttls", "ssl"):
            raise ConfigError("smtp_security (COC_SMTP_SECURITY) must be none, starttls or ssl.")
        limit_env = {f"COC_{k.upper()}": str(v) for k, v in merged.items() if k.startswith("max_")}
        return cls(limits=Limits.from_env(limit_env), **values)  # type: ignore[arg-type]


def _convert(name: str, value: object, annotation: object) -> object:
    kind = str(annotation)
    try:
        if "int" in kind:
            return int(str(value))
        if "float" in kind:
            return float(str(value))
    except ValueError:
        raise ConfigError(f"{name} (COC_{name.upper()}) = {value!r} is not a number.") from None
    return str(value)


def _config_file(env: Mapping[str, str]) -> dict[str, object]:
    path = Path(env["COC_CONFIG"]) if env.get("COC_CONFIG") else project_root() / "coc.toml"
    if not path.is_file():
        if env.get("COC_CONFIG"):
            raise ConfigError(f"COC_CONFIG names {path}, which does not exist.")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(Settings)} | {f.name for f in fields(Limits)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown settings {', '.join(unknown)}; the settings are {', '.join(sorted(known))}.")
    return data
