"""The portal's JSON API through a real server: its OpenAPI document validates, and a client with only a token
files a workbook end to end (upload, pre-check, marked workbook, submit, the nightly intake, results)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from openapi_spec_validator import validate

from tests.builders import row, write_xlsx
from tests.intake_helpers import run_intake
from tests.portal_helpers import PortalServer, inbox_files, json_of, start_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    yield from start_portal(tmp_path_factory.mktemp("portal-api"))


def test_the_openapi_document_validates_and_describes_every_api_action(portal: PortalServer) -> None:
    spec = json_of(httpx.get(f"{portal.url}/openapi.json"))
    validate(spec)
    paths = spec["paths"]
    assert set(paths) == {"/api/v1/uploads", "/api/v1/uploads/{upload_id}", "/api/v1/uploads/{upload_id}/marked.xlsx",
                          "/api/v1/uploads/{upload_id}/submit", "/api/v1/submissions",
                          "/api/v1/submissions/{submission_id}", "/api/v1/submissions/{submission_id}/{document}",
                          "/api/v1/referrals", "/api/v1/referrals/{request_id}",
                          "/api/v1/referrals/{request_id}/decisions"}
    assert "application/octet-stream" in paths["/api/v1/uploads"]["post"]["requestBody"]["content"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_without_a_valid_token_the_api_answers_401(portal: PortalServer) -> None:
    assert httpx.get(f"{portal.url}/api/v1/submissions").status_code == 401
    forged = httpx.get(f"{portal.url}/api/v1/submissions",
                       headers={"Authorization": f"Bearer coc_{'0' * 16}_{'x' * 43}"})
    assert forged.status_code == 401
    analyst = portal.add("analyst@ssa.example", role="analyst")
    with portal.api(analyst) as api:
        assert api.get("/api/v1/submissions").status_code == 403


def poll(api: httpx.Client, upload_id: str) -> dict[str, Any]:
    for _ in range(600):
        found: dict[str, Any] = json_of(api.get(f"/api/v1/uploads/{upload_id}"))
        if found["state"] != "checking":
            return found
        time.sleep(0.2)
    raise AssertionError("the pre-check did not finish")


def test_an_api_client_files_a_workbook_end_to_end_with_its_token(portal: PortalServer, tmp_path: Path) -> None:
    credentials = portal.add("payroll-robot@acme.example")
    data = write_xlsx(tmp_path / "april.xlsx", [row(), row(ssn="234-56-7890", last_name="Doe", host_country="ZZ"),
                                                row(ssn="345-67-8901", last_name="Roe")]).read_bytes()
    with portal.api(credentials) as api:
        started = api.post("/api/v1/uploads", params={"filename": "april.xlsx"}, content=data)
        assert started.status_code == 202
        checked = poll(api, json_of(started)["upload_id"])
        assert checked["state"] == "checked" and checked["status"] == "processed"
        assert checked["counts"]["rows"] == 3 and checked["counts"]["rejected"] == 1
        assert any(c["severity"] == "error" and c["rows"] == 1 for c in checked["by_code"])
        marked = api.get(f"/api/v1/uploads/{checked['upload_id']}/marked.xlsx")
        assert marked.status_code == 200
        assert "Summary" in openpyxl.load_workbook(io.BytesIO(marked.content)).sheetnames

        submitted = api.post(f"/api/v1/uploads/{checked['upload_id']}/submit")
        assert submitted.status_code == 201
        submission = json_of(submitted)
        assert submission["state"] == "waiting" and submission["downloads"] == []
        assert submission["inbox_name"] in inbox_files(portal)
        again = api.post(f"/api/v1/uploads/{checked['upload_id']}/submit")
        assert json_of(again)["submission_id"] == submission["submission_id"]  # submitted once, not twice
        assert api.get(f"/api/v1/submissions/{submission['submission_id']}/results.csv").status_code == 404

        run_intake(portal.inbox, portal.outbox)

        listed = json_of(api.get("/api/v1/submissions"))
        assert [s["submission_id"] for s in listed] == [submission["submission_id"]]
        done = listed[0]
        assert done["state"] == "processed" and done["counts"]["approved"] == 2 and done["counts"]["rejected"] == 1
        assert done["downloads"] == ["results.xlsx", "results.csv"]
        lines = list(csv.DictReader(io.StringIO(
            api.get(f"/api/v1/submissions/{submission['submission_id']}/results.csv").text)))
        assert [line["status"] for line in lines] == ["approved", "rejected", "approved"]
        workbook = api.get(f"/api/v1/submissions/{submission['submission_id']}/results.xlsx")
        assert "Summary" in openpyxl.load_workbook(io.BytesIO(workbook.content)).sheetnames
        assert api.get(f"/api/v1/submissions/{submission['submission_id']}/errors.csv").status_code == 404
    manifest = portal.outbox_store().manifest(submission["batch_id"])
    assert manifest["submission_id"] == submission["submission_id"]
