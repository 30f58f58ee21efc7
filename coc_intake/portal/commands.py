"""``coc accounts add|list|disable|reset`` and ``coc portal`` (docs/commands.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coc_intake.redact import redact

if TYPE_CHECKING:
    from coc_intake.portal.accounts import Accounts, Credentials

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

accounts_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                           help="The portal's accounts: add, list, disable, reset.")


def _fail(text: str, code: int = 2) -> typer.Exit:
    err.print(f"Error: {escape(text)}")
    return typer.Exit(code)


def _open() -> Accounts:
    from coc_intake.errors import ConfigError
    from coc_intake.portal.accounts import Accounts
    from coc_intake.settings import Settings

    try:
        return Accounts.from_settings(Settings.from_env())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # the database not reachable: SQLAlchemy's and the driver's many kinds
        raise _fail(f"The accounts database could not be opened ({redact(type(exc).__name__)}: "
                    f"{redact(str(exc)).splitlines()[0]}). Check COC_ACCOUNTS_URL (or COC_STATE_DIR).") from None


def _show_credentials(credentials: Credentials, what: str) -> None:
    out.print(f"{what} {credentials.email}. Hand these to the person once; they are not shown again and only "
              "their hashes are kept:")
    out.print(f"  password:  {credentials.password}")
    out.print(f"  API token: {credentials.token}")


def _audit(who: str, action: str, subject: str) -> None:
    from coc_intake.audit import record
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.store import open_store

    record(Outbox(open_store(Settings.from_env().outbox)), who, action, subject)


@accounts_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The person's e-mail address, their sign-in name.")],
    role: Annotated[str, typer.Option(help="employer, self-employed, specialist, analyst or admin.")],
    ein: Annotated[list[str] | None, typer.Option(
        help="An EIN the employer files for (NN-NNNNNNN); repeat for each.")] = None,
    ssn: Annotated[str | None, typer.Option(help="A self-employed person's SSN (NNN-NN-NNNN).")] = None,
) -> None:
    """Add an account; prints its one-time password and API token."""
    from coc_intake.portal.accounts import AccountError, Role

    if role not in {r.value for r in Role}:
        raise _fail(f"--role {role!r} is not a role. Give one of {', '.join(r.value for r in Role)}.")
    accounts = _open()
    try:
        credentials = accounts.add(email, role, ein or [], ssn)
    except AccountError as exc:
        raise _fail(str(exc)) from None
    finally:
        accounts.close()
    _audit("coc accounts", "account-added", credentials.email)
    _show_credentials(credentials, f"Added the {role} account")


@accounts_app.command("list")
def list_accounts() -> None:
    """List the accounts (SSNs masked)."""
    accounts = _open()
    try:
        found = accounts.all()
    finally:
        accounts.close()
    if not found:
        out.print("No accounts yet. Add the first with `coc accounts add EMAIL --role admin`.")
        return
    table = Table(title="Accounts")
    for name in ("E-mail", "Role", "EINs / SSN", "State"):
        table.add_column(name)
    for a in found:
        state = "disabled" if a.disabled else "locked" if a.locked_until else "active"
        table.add_row(escape(a.email), a.role.value, " ".join(a.eins) or a.masked_ssn or "-", state)
    out.print(table)


@accounts_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The account's e-mail address.")]) -> None:
    """Disable an account: it can no longer sign in or use its token, and its sessions end."""
    from coc_intake.portal.accounts import AccountError

    accounts = _open()
    try:
        accounts.disable(email)
    except AccountError as exc:
        raise _fail(str(exc)) from None
    finally:
        accounts.close()
    _audit("coc accounts", "account-disabled", email)
    out.print(f"Disabled {escape(redact(email))}. `coc accounts reset` enables it again with new secrets.")


@accounts_app.command("reset")
def reset(email: Annotated[str, typer.Argument(help="The account's e-mail address.")]) -> None:
    """A new one-time password and API token (the old ones stop working); enables and unlocks the account."""
    from coc_intake.portal.accounts import AccountError

    accounts = _open()
    try:
        credentials = accounts.reset(email)
    except AccountError as exc:
        raise _fail(str(exc)) from None
    finally:
        accounts.close()
    _audit("coc accounts", "account-reset", credentials.email)
    _show_credentials(credentials, "Reset")


def portal(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to listen on.")] = 8000,
) -> None:
    """Serve the portal: employers' uploads, pre-checks and submissions, on the web and under /api/v1."""
    from coc_intake.errors import ConfigError
    from coc_intake.portal.app import serve
    from coc_intake.settings import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    err.print(f"The portal on http://{host}:{port}/ over {settings.inbox} → {settings.outbox}. Stop with Ctrl-C.")
    serve(settings, host, port)
