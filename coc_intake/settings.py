"""Configuration in one place: every setting, its environment variable and its default.

A value comes from, highest first: arguments to ``Settings(...)``, the ``COC_<NAME>`` environment variable, the
TOML file (``COC_CONFIG``, else ``coc.toml`` in the project), the default. The file uses the settings' own names
(``smtp_host``); the bounds on untrusted files are flat there (``max_rows = 10``) or in a ``[limits]`` table, and
flat in the environment (``COC_MAX_ROWS``). Anything wrong (an unknown name in the file or among the ``COC_*``
variables, a value of the wrong kind) is a ``ConfigError`` whose one-line message names the setting and its variable.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from coc_intake.errors import ConfigError
from coc_intake.limits import Limits
from coc_intake.store import absolute_uri

PREFIX = "COC_"
CONFIG_VARIABLE = "COC_CONFIG"

# from_env(environ) hands its mapping to the sources this way: pydantic-settings builds them inside the model's
# constructor, which takes no such argument, and a context variable keeps concurrent callers apart.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("coc_settings_environ", default=None)


def project_root() -> Path:
    """The checkout this package runs from (its inbox/ and outbox/ are the embedded default), else the cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,  # COC_SMTP_HOST= means unset, as a shell's `export COC_SMTP_HOST=` suggests
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    inbox: str = Field(default_factory=lambda: str(project_root() / "inbox"))
    """COC_INBOX: a folder or s3://bucket/prefix."""
    outbox: str = Field(default_factory=lambda: str(project_root() / "outbox"))
    """COC_OUTBOX: a folder or s3://bucket/prefix."""
    smtp_host: str | None = None
    """COC_SMTP_HOST: the mail server; unset, confirmations are written as .eml files under outbox/mail/."""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    """COC_SMTP_PORT."""
    smtp_user: str | None = None
    """COC_SMTP_USER: login name; unset, no login."""
    smtp_password: Annotated[str | None, Field(repr=False)] = None
    """COC_SMTP_PASSWORD."""
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    """COC_SMTP_SECURITY: none, starttls or ssl."""
    mail_from: str = "coc-intake@localhost"
    """COC_MAIL_FROM: the sender address of confirmations."""
    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 30
    """COC_SMTP_TIMEOUT_SECONDS: how long one step of an SMTP conversation (connect, each reply) may take."""
    smtp_budget_seconds: Annotated[float, Field(gt=0)] = 120
    """COC_SMTP_BUDGET_SECONDS: a run's time for delivering confirmations; what is left stays queued."""
    schedule_cron: str = "0 2 * * *"
    """COC_SCHEDULE_CRON: when `coc serve` runs the nightly intake."""
    schedule_timezone: str = "America/New_York"
    """COC_SCHEDULE_TIMEZONE: the time zone of the schedule."""
    claim_ttl_seconds: Annotated[float, Field(gt=0)] = 6 * 3600
    """COC_CLAIM_TTL_SECONDS: after this long a run's claim on a file is taken to be abandoned."""
    s3_kms_key_id: str | None = None
    """COC_S3_KMS_KEY_ID: S3 objects are encrypted with aws:kms and this key; unset, with AES256."""
    s3_addressing_style: Literal["auto", "virtual", "path"] = "auto"
    """COC_S3_ADDRESSING_STYLE: path suits S3-compatible servers without virtual-host buckets."""
    state_dir: str = Field(default_factory=lambda: str(project_root() / ".coc"))
    """COC_STATE_DIR: the portal's own files on this host: the accounts database by default, uploads being checked,
    the session key when none is set."""
    accounts_url: str | None = None
    """COC_ACCOUNTS_URL: the accounts database, an SQLAlchemy URL (postgresql://…); unset, an SQLite file in
    state_dir."""
    portal_secret: Annotated[str | None, Field(repr=False)] = None
    """COC_PORTAL_SECRET: the key that signs session cookies (the same on every portal host); unset, one made once
    and kept in state_dir."""
    portal_session_minutes: Annotated[int, Field(gt=0)] = 60
    """COC_PORTAL_SESSION_MINUTES: a session cookie expires this long after sign-in."""
    portal_sign_in_attempts: Annotated[int, Field(gt=0)] = 5
    """COC_PORTAL_SIGN_IN_ATTEMPTS: failed sign-ins in a row that lock an account."""
    portal_lockout_minutes: Annotated[int, Field(gt=0)] = 15
    """COC_PORTAL_LOCKOUT_MINUTES: how long a locked account stays locked."""
    portal_check_workers: Annotated[int, Field(gt=0)] = 2
    """COC_PORTAL_CHECK_WORKERS: processes that run the portal's pre-checks."""
    limits: Limits = Field(default_factory=Limits)
    """COC_MAX_BYTES, COC_MAX_UNCOMPRESSED, COC_MAX_RATIO, COC_MAX_ROWS, COC_MAX_COLUMNS."""

    if not TYPE_CHECKING:  # hidden from mypy, which then keeps checking Settings(...)'s keywords against the fields

        def __init__(self, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise ConfigError(_explain(exc)) from None
            except SettingsError as exc:
                raise ConfigError(str(exc)) from None

    @field_validator("inbox", "outbox", "state_dir")
    @classmethod
    def _absolute(cls, uri: str) -> str:
        # Resolved once, where the setting enters: a relative folder is the current folder's at that moment.
        return absolute_uri(uri)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``environ`` (the process's environment when None) and the TOML file it points to;
        the same as ``Settings()`` when ``environ`` is None."""
        with _environment(os.environ if environ is None else environ):
            return cls()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file and no secrets directory: the environment and the one TOML file are the whole story.
        environ = _environ()
        return init_settings, _EnvSource(settings_cls, environ), _TomlSource(settings_cls, _config_file(environ))

    @model_validator(mode="before")
    @classmethod
    def _fold_flat_limits(cls, data: Any) -> Any:
        # The sources fold their own flat max_* names; what is left came as arguments, Settings(max_rows=10),
        # and being the highest source it overrides what they gave.
        if not isinstance(data, dict) or not set(data) & set(Limits.model_fields):
            return data
        data = dict(data)
        limits = data.get("limits")
        if isinstance(limits, Limits):
            merged = limits.model_dump()
        elif isinstance(limits, dict) or limits is None:
            merged = dict(limits or {})
        else:
            return data  # validation reports the limits that are not a table
        merged.update({name: data.pop(name) for name in Limits.model_fields if name in data})
        data["limits"] = merged
        return data


def setting_names() -> list[str]:
    """The names the TOML file accepts at its top level (``limits`` being the table of the bounds)."""
    return sorted(set(Settings.model_fields) | set(Limits.model_fields))


def env_names() -> list[str]:
    """The ``COC_*`` environment variables that mean something."""
    flat = (set(Settings.model_fields) - {"limits"}) | set(Limits.model_fields)
    return sorted({CONFIG_VARIABLE} | {PREFIX + name.upper() for name in flat})


@contextmanager
def _environment(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def _environ() -> Mapping[str, str]:
    environ = _ENVIRON.get()
    return os.environ if environ is None else environ


def _config_file(environ: Mapping[str, str]) -> Path | None:
    named = environ.get(CONFIG_VARIABLE)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_VARIABLE} names {path}, which does not exist.")
        return path
    default = project_root() / "coc.toml"
    return default if default.is_file() else None


class _EnvSource(EnvSettingsSource):
    """``COC_*`` variables from a given mapping; the flat ``COC_MAX_*`` ones become ``limits``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def __call__(self) -> dict[str, Any]:
        prefix = PREFIX.lower()  # the source matches names case-insensitively, so it keeps them lower-cased
        known = {name.lower() for name in env_names()}
        unknown = sorted(k.upper() for k in self.env_vars if k.startswith(prefix) and k not in known)
        if unknown:
            raise ConfigError(f"Unknown environment variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                              f"the variables are {', '.join(env_names())}.")
        data = super().__call__()
        limits = {name: value for name in Limits.model_fields
                  if (value := self.env_vars.get(prefix + name)) is not None}
        if limits:
            data["limits"] = limits
        return data


class _TomlSource(TomlConfigSettingsSource):
    """The TOML file, checked for unknown names, its flat ``max_*`` keys moved into ``limits``."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file_path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - set(setting_names()))
        if unknown:
            raise ConfigError(f"{file_path}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                              f"the settings are {', '.join(setting_names())}.")
        table = data.get("limits", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{file_path}: limits must be a [limits] table of "
                              f"{', '.join(Limits.model_fields)}, not {table!r}.")
        unknown = sorted(set(table) - set(Limits.model_fields))
        if unknown:
            raise ConfigError(f"{file_path}: unknown setting{'s' if len(unknown) > 1 else ''} in [limits] "
                              f"{', '.join(unknown)}; the limits are {', '.join(Limits.model_fields)}.")
        flat = {name: data.pop(name) for name in Limits.model_fields if name in data}
        twice = sorted(set(flat) & set(table))
        if twice:
            raise ConfigError(f"{file_path}: {', '.join(twice)} set both at the top and in [limits]; keep one.")
        if flat or table:
            data["limits"] = {**table, **flat}
        return data


_KINDS = {
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "string_type": "text",
}


def _explain(exc: ValidationError) -> str:
    """One line per wrong value: which setting, under which names it can be set, what it must be."""
    config = _environ().get(CONFIG_VARIABLE) or "coc.toml"
    problems: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = loc[1] if loc[0] == "limits" and len(loc) > 1 else loc[0]
        variable = PREFIX + name.upper()
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown setting {name}; the settings are {', '.join(setting_names())}")
            continue
        shown = "(hidden)" if name == "smtp_password" else repr(error["input"])
        wanted = _KINDS.get(error["type"]) or str(error["msg"]).removeprefix("Input should be ")
        if name == "limits":  # the table itself, which has no variable of its own
            problems.append(f"limits is {shown} but must be a table of {', '.join(Limits.model_fields)}; "
                            f"fix [limits] in {config}")
            continue
        problems.append(f"{name} ({variable}) is {shown} but must be {wanted}; "
                        f"fix {variable} in the environment or {name} in {config}")
    return "Invalid settings: " + "; ".join(problems) + "."
