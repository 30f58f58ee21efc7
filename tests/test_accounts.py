"""`coc accounts add|list|disable|reset` and the accounts database: secrets shown once and kept only as argon2
hashes, EINs and SSNs validated, the same behaviour over SQLite and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coc_intake.cli import app
from coc_intake.portal.accounts import AccountError, Accounts, SignIn
from coc_intake.settings import Settings
from tests.conftest import free_port

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("COC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COC_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("COC_CONFIG", str(tmp_path / "coc.toml"))
    (tmp_path / "coc.toml").write_text("", encoding="utf-8")
    return tmp_path


def secrets_of(output: str) -> tuple[str, str]:
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in output.splitlines()
             if line.strip().startswith(("password:", "API token:"))}
    return lines["password"], lines["API token"]


def test_accounts_add_prints_the_secrets_once_and_the_database_holds_only_their_hashes(env: Path) -> None:
    added = runner.invoke(app, ["accounts", "add", "Pay@Acme.example", "--role", "employer", "--ein", "12-3456789",
                                "--ein", "987654321"])
    assert added.exit_code == 0, added.output
    password, token = secrets_of(added.output)
    database = (env / "state" / "accounts.db").read_bytes()
    assert password.encode() not in database and token.split("_", 2)[2].encode() not in database
    assert b"$argon2id$" in database
    assert oct((env / "state" / "accounts.db").stat().st_mode & 0o777) == "0o600"
    listed = runner.invoke(app, ["accounts", "list"])
    assert "pay@acme.example" in listed.output and "12-3456789 98-7654321" in listed.output
    assert password not in listed.output
    accounts = Accounts(f"sqlite:///{env / 'state' / 'accounts.db'}")
    assert accounts.sign_in("pay@acme.example", password, 5, dt.timedelta(minutes=1))[0] is SignIn.OK
    assert accounts.by_token(token) is not None
    audit = "".join(p.read_text() for p in (env / "outbox" / "audit").rglob("*.json"))
    assert '"account-added"' in audit


@pytest.mark.parametrize(("args", "says"), [
    (["--role", "employer"], "needs its EINs"),
    (["--role", "employer", "--ein", "12-345"], "not a valid EIN"),
    (["--role", "self-employed"], "needs the person's SSN"),
    (["--role", "self-employed", "--ssn", "000-12-3456"], "not a valid SSN"),
    (["--role", "analyst", "--ein", "12-3456789"], "files nothing"),
    (["--role", "boss"], "is not a role"),
])
def test_accounts_add_refuses_what_the_role_does_not_fit_and_says_how_to_fix_it(env: Path, args: list[str],
                                                                              says: str) -> None:
    result = runner.invoke(app, ["accounts", "add", "x@acme.example", *args])
    assert result.exit_code == 2
    assert says in result.output
    assert "000-12-3456" not in result.output


def test_a_self_employed_ssn_is_listed_masked(env: Path) -> None:
    assert runner.invoke(app, ["accounts", "add", "me@self.example", "--role", "self-employed",
                               "--ssn", "234-56-7890"]).exit_code == 0
    listed = runner.invoke(app, ["accounts", "list"]).output
    assert "***-**-7890" in listed and "234-56-7890" not in listed and "234567890" not in listed


def test_disable_stops_the_password_and_token_and_reset_gives_new_ones(env: Path) -> None:
    password, token = secrets_of(runner.invoke(app, ["accounts", "add", "d@acme.example", "--role", "admin"]).output)
    assert runner.invoke(app, ["accounts", "disable", "d@acme.example"]).exit_code == 0
    accounts = Accounts(f"sqlite:///{env / 'state' / 'accounts.db'}")
    assert accounts.sign_in("d@acme.example", password, 5, dt.timedelta(minutes=1))[0] is SignIn.DISABLED
    assert accounts.by_token(token) is None
    reset = runner.invoke(app, ["accounts", "reset", "d@acme.example"])
    new_password, new_token = secrets_of(reset.output)
    assert accounts.sign_in("d@acme.example", password, 5, dt.timedelta(minutes=1))[0] is SignIn.WRONG
    assert accounts.sign_in("d@acme.example", new_password, 5, dt.timedelta(minutes=1))[0] is SignIn.OK
    assert accounts.by_token(new_token) is not None and accounts.by_token(token) is None
    missing = runner.invoke(app, ["accounts", "reset", "nobody@acme.example"])
    assert missing.exit_code == 2 and "coc accounts list" in missing.output


def exercise(accounts: Accounts) -> None:
    """The same behaviour on any database: add, duplicates refused, sign-in limit, tokens, submissions."""
    made = accounts.add("pg@acme.example", "employer", ["12-3456789"])
    with pytest.raises(AccountError, match="already has an account"):
        accounts.add("PG@acme.example", "employer", ["12-3456789"])
    for _ in range(2):
        assert accounts.sign_in(made.email, "wrong", 3, dt.timedelta(minutes=5))[0] is SignIn.WRONG
    assert accounts.sign_in(made.email, "wrong", 3, dt.timedelta(minutes=5))[0] is SignIn.LOCKED
    outcome, account = accounts.sign_in(made.email, made.password, 3, dt.timedelta(minutes=5))
    assert outcome is SignIn.LOCKED and account is not None and account.locked_until is not None
    assert account.locked_until > dt.datetime.now(dt.UTC)
    found = accounts.by_token(made.token)
    assert found is not None and found.eins == ("12-3456789",)


def test_the_accounts_database_works_the_same_on_sqlite(tmp_path: Path) -> None:
    accounts = Accounts(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        exercise(accounts)
    finally:
        accounts.close()


def _postgres_binaries() -> Path | None:
    for candidate in (shutil.which("initdb"), *sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        if candidate:
            return Path(candidate).parent
    return None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port, run as the unprivileged user ``nobody`` (the server
    refuses root)."""
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (.ci/run installs Debian's postgresql)")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to start PostgreSQL as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="coc-pg-"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    port = free_port()
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "coc", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-h 127.0.0.1 -p {port} -k {folder}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://coc@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_accounts_database_works_the_same_on_a_real_postgresql_server(postgres_url: str) -> None:
    accounts = Accounts.from_settings(Settings(accounts_url=postgres_url))
    try:
        assert accounts.engine.dialect.name == "postgresql" and accounts.engine.driver == "psycopg"
        exercise(accounts)
    finally:
        accounts.close()




def test_sqlite_file_is_not_readable_by_others(tmp_path: Path) -> None:
    Accounts(f"sqlite:///{tmp_path / 'state' / 'x.db'}").close()
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"
    with sqlite3.connect(tmp_path / "state" / "x.db") as db:
        assert {r[0] for r in db.execute("select name from sqlite_master where type='table'")} >= {
            "accounts", "submissions"}
