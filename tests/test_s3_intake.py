"""The intake over S3 (a real moto_server over HTTP) gives what it gives on local folders, and two runs started at
the same time never process one file twice."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import boto3
import orjson
import pytest

from coc_intake.batch import list_inbox, process_file
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AS_OF = dt.date(2026, 11, 25)


def _fill(inbox_uri: str) -> list[str]:
    inbox = open_store(inbox_uri)
    names = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix in {".xlsx", ".csv"}:
            inbox.write(path.name, path.read_bytes())
            names.append(path.name)
    return names


def _run(inbox_uri: str, outbox_uri: str) -> list[str]:
    inbox, outbox = open_store(inbox_uri), Outbox(open_store(outbox_uri))
    known = KnownRequests.load(outbox)
    return [process_file(inbox, outbox, n, AS_OF, Settings(), known).result for n in list_inbox(inbox)]


def _snapshot(outbox_uri: str) -> dict[str, bytes]:
    store = open_store(outbox_uri)
    return {k: store.read(k) for k in store.list("batches/", recursive=True)}


def test_an_s3_outbox_holds_the_same_batches_as_a_local_one(s3_env: dict[str, str], tmp_path: Path) -> None:
    s3_in, s3_out = f"s3://{s3_env['BUCKET']}/in", f"s3://{s3_env['BUCKET']}/out"
    local_in, local_out = tmp_path / "in", tmp_path / "out"
    local_in.mkdir()
    _fill(s3_in)
    _fill(str(local_in))
    assert _run(s3_in, s3_out) == _run(str(local_in), str(local_out)) == ["processed"] * 3
    s3_files, local_files = _snapshot(s3_out), _snapshot(str(local_out))
    assert sorted(s3_files) == sorted(local_files)
    for key in s3_files:
        if not key.endswith(".xlsx"):
            assert s3_files[key] == local_files[key], key
    assert open_store(s3_in).list() == []


def test_every_object_of_an_s3_batch_carries_the_encryption_header(s3_env: dict[str, str]) -> None:
    s3_in, s3_out = f"s3://{s3_env['BUCKET']}/in", f"s3://{s3_env['BUCKET']}/out"
    _fill(s3_in)
    _run(s3_in, s3_out)
    client = boto3.client("s3")
    keys = open_store(s3_out).list("", recursive=True)
    assert any(k.endswith("manifest.json") for k in keys)
    for key in keys:
        head = client.head_object(Bucket=s3_env["BUCKET"], Key=f"out/{key}")
        assert head["ServerSideEncryption"] == "AES256", key


def test_kms_encryption_is_asked_for_when_a_key_is_configured(s3_env: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COC_S3_KMS_KEY_ID", "alias/coc-intake")
    store = open_store(f"s3://{s3_env['BUCKET']}/kms")
    store.write("x.json", b"{}")
    head = boto3.client("s3").head_object(Bucket=s3_env["BUCKET"], Key="kms/x.json")
    assert head["ServerSideEncryption"] == "aws:kms"


@pytest.mark.parametrize("attempt", range(3))
def test_two_runs_started_at_once_never_process_a_file_twice(s3_env: dict[str, str], attempt: int) -> None:
    s3_in, s3_out = f"s3://{s3_env['BUCKET']}/in{attempt}", f"s3://{s3_env['BUCKET']}/out{attempt}"
    names = _fill(s3_in)
    results: dict[int, list[str]] = {}
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        results[i] = _run(s3_in, s3_out)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    processed = [r for rs in results.values() for r in rs if r == "processed"]
    assert len(processed) == len(names)  # each file once, by one of the two runs
    outbox = open_store(s3_out)
    manifests = [k for k in outbox.list("batches/", recursive=True) if k.endswith("/manifest.json")]
    assert len(manifests) == len(names)
    ids = [rid for k in manifests for rid in orjson.loads(outbox.read(k))["request_ids"]]
    assert len(ids) == len(set(ids))
    assert open_store(s3_in).list() == []
    assert outbox.list("claims/") == []
