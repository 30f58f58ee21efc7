"""A real portal for the tests: `coc portal` in a subprocess on a free loopback port, over folders of its own, with
accounts made through the same database; and a client that signs in and fills forms as a browser does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from coc_intake.outbox import Outbox
from coc_intake.portal.accounts import Accounts, Credentials
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.conftest import free_port

SECRET = "test-portal-secret-not-for-production"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class PortalServer:
    url: str
    root: Path
    env: dict[str, str]
    log: Path
    accounts: Accounts
    process: subprocess.Popen[bytes]
    made: list[Credentials] = field(default_factory=list)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def outbox_store(self) -> Outbox:
        return Outbox(LocalStore(self.outbox))

    def add(self, email: str, role: str = "employer", eins: tuple[str, ...] = ("12-3456789",),
            ssn: str | None = None) -> Credentials:
        credentials = self.accounts.add(email, role, eins if role == "employer" else (), ssn)
        self.made.append(credentials)
        return credentials

    def api(self, credentials: Credentials) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {credentials.token}"}, timeout=60)

    def browser(self) -> Browser:
        return Browser(httpx.Client(base_url=self.url, timeout=60, follow_redirects=False))

    def server_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Browser:
    """An httpx client that keeps the session cookie and sends each form's CSRF token, as a browser would."""

    client: httpx.Client
    csrf: str = ""

    def get(self, path: str) -> httpx.Response:
        response = self.client.get(path)
        if found := _CSRF.search(response.text):
            self.csrf = found[1]
        return response

    def sign_in(self, credentials: Credentials, password: str | None = None) -> httpx.Response:
        self.get("/sign-in")
        return self.client.post("/sign-in", data={"csrf_token": self.csrf, "email": credentials.email,
                                                  "password": credentials.password if password is None else password})

    def upload(self, name: str, data: bytes, csrf: bool = True) -> httpx.Response:
        self.get("/")
        fields = {"csrf_token": self.csrf} if csrf else {}
        return self.client.post("/uploads", data=fields, files={"file": (name, data, "application/octet-stream")})

    def checked(self, location: str, timeout: float = 120) -> httpx.Response:
        """The upload's page once its pre-check is done (the progress page refreshes itself until then)."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.get(location)
            if 'http-equiv="refresh"' not in page.text or time.monotonic() > deadline:
                return page
            time.sleep(0.3)

    def post(self, path: str, csrf: bool = True, **data: str) -> httpx.Response:
        return self.client.post(path, data={**({"csrf_token": self.csrf} if csrf else {}), **data})


def start_portal(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[PortalServer]:
    """`coc portal` on a free port over ``root``'s inbox, outbox and state; stopped afterwards."""
    for name in ("inbox", "outbox", "state"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COC_")}
    env.update({"COC_INBOX": str(root / "inbox"), "COC_OUTBOX": str(root / "outbox"),
                "COC_STATE_DIR": str(root / "state"), "COC_PORTAL_SECRET": SECRET,
                "COC_PORTAL_SIGN_IN_ATTEMPTS": "3", "COC_PORTAL_CHECK_WORKERS": "1",
                "COC_CONFIG": str(root / "coc.toml"), **(extra_env or {})})
    (root / "coc.toml").write_text("", encoding="utf-8")
    accounts = Accounts.from_settings(Settings.from_env(env))
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "coc_intake.cli", "portal", "--port", str(port)],
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = PortalServer(f"http://127.0.0.1:{port}", root, env, log, accounts, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        accounts.close()


def _wait_until_up(server: PortalServer) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"coc portal stopped at start:\n{server.server_log()}")
        try:
            if httpx.get(f"{server.url}/sign-in", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"coc portal did not answer within 90 s:\n{server.server_log()}")


def inbox_files(server: PortalServer) -> list[str]:
    return sorted(p.name for p in server.inbox.iterdir())


def audit_text(server: PortalServer) -> str:
    folder = server.outbox / "audit"
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.json"))) if folder.exists() else ""


def json_of(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("application/json"), response.text[:500]
    return response.json()


CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: For a module of browser tests: they skip, saying why, where Debian's browser is not installed.
needs_browser = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                   reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


def headless_chromium(downloads: Path | None = None) -> Iterator[Any]:
    """Debian's chromium driven by selenium, headless, 1280 wide; files it downloads go to ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, folder: Path, name: str) -> None:
    """The whole page (up to 6,000 pixels high) as ``folder/name.png``, to be looked at."""
    folder.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 120, 6000)))
    driver.save_screenshot(str(folder / f"{name}.png"))


def wait_for(condition: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the page")
