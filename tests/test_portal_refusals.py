"""Refusals through a real portal say what happened and what to do: a staff account's API token, and a page
address asked with a method it does not take (a sign-out typed into the address bar)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import row, write_xlsx
from tests.portal_helpers import PortalServer, json_of, start_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-refusals"))


def test_a_staff_token_is_refused_in_english_with_the_accounts_that_file(portal: PortalServer) -> None:
    for role, article in (("admin", "An admin"), ("specialist", "A specialist"), ("analyst", "An analyst")):
        with portal.api(portal.add(f"{role}@ssa.example", role=role)) as api:
            refused = api.get("/api/v1/submissions")
        assert refused.status_code == 403
        detail = json_of(refused)["detail"]
        assert detail.startswith(f"{article} account files nothing: ")
        assert "employer or self-employed account" in detail


def test_a_page_asked_with_a_method_it_does_not_take_says_how_to_go_on(portal: PortalServer) -> None:
    browser = portal.browser()
    browser.sign_in(portal.add("methods@acme.example"))
    for method, path in (("GET", "/sign-out"), ("PUT", "/"), ("GET", "/uploads")):
        page = browser.client.request(method, path)
        assert page.status_code == 405
        text = " ".join(html.unescape(page.text).split())
        assert f"This address does not take a {method} request: use the portal's own links and buttons." in text
        assert "Method Not Allowed" not in text and 'href="/"' in text
        assert "default-src 'self'" in page.headers["content-security-policy"]


def test_adding_a_staff_account_with_an_ein_names_the_role_with_its_article(tmp_path: Path) -> None:
    from coc_intake.portal.accounts import AccountError, Accounts

    accounts = Accounts(f"sqlite:///{tmp_path / 'accounts.db'}")
    try:
        with pytest.raises(AccountError, match=r"^An analyst account files nothing"):
            accounts.add("a@ssa.example", "analyst", ("12-3456789",))
    finally:
        accounts.close()


@pytest.fixture(scope="module")
def small_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-small"), {"COC_MAX_BYTES": "50000"})


def test_a_refused_upload_keeps_the_accounts_recent_uploads_on_the_page(small_portal: PortalServer,
                                                                       tmp_path: Path) -> None:
    browser = small_portal.browser()
    browser.sign_in(small_portal.add("recent@acme.example"))
    kept = browser.upload("kept march.xlsx", write_xlsx(tmp_path / "kept.xlsx", [row()]).read_bytes())
    assert kept.status_code == 303
    too_large = browser.upload("huge.xlsx", b"x" * 60_000)
    assert too_large.status_code == 413 and "file-too-large" in too_large.text
    assert "kept march.xlsx" in too_large.text and "Your recent uploads" in too_large.text
    browser.get("/")
    no_file = browser.client.post("/uploads", data={"csrf_token": browser.csrf},
                                  files={"file": ("", b"", "application/octet-stream")})
    assert no_file.status_code == 400 and "Choose a file to upload first." in no_file.text
    assert "kept march.xlsx" in no_file.text
