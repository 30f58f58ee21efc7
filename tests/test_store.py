"""The store contract, for the local folder and for S3 (a real moto_server over HTTP)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import boto3
import pytest

from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore, open_store


def test_written_objects_read_back_and_list_in_order(store_uris: tuple[str, str]) -> None:
    store = open_store(store_uris[1])
    store.write("b.txt", b"2")
    store.write("a.txt", b"1")
    store.write("batches/x/manifest.json", b"{}")
    assert store.read("a.txt") == b"1"
    assert store.list() == ["a.txt", "b.txt"]
    assert store.list("batches/", recursive=True) == ["batches/x/manifest.json"]
    assert store.exists("b.txt") and not store.exists("c.txt")
    store.delete("b.txt")
    assert not store.exists("b.txt")


def test_reading_a_missing_object_raises_file_not_found(store_uris: tuple[str, str]) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(store_uris[1]).read("nothing-here.json")


def test_write_many_writes_every_object(store_uris: tuple[str, str]) -> None:
    store = open_store(store_uris[1])
    items = [(f"batches/b/requests/{i:05d}.json", str(i).encode()) for i in range(300)]
    store.write_many(items)
    assert store.list("batches/b/requests/", recursive=True) == [k for k, _ in items]
    assert store.read("batches/b/requests/00042.json") == b"42"


def test_write_from_copies_a_local_file_larger_than_its_read_chunk_and_returns_its_sha256(
        store_uris: tuple[str, str], tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # 2.2 MB: more than one 1 MB chunk
    source.write_bytes(data)
    store = open_store(store_uris[1])
    assert store.write_from("batches/b/source/big.bin", source) == hashlib.sha256(data).hexdigest()
    assert store.read("batches/b/source/big.bin") == data


def test_create_succeeds_for_one_writer_only(store_uris: tuple[str, str]) -> None:
    store = open_store(store_uris[1])
    assert store.create("claims/x.json", b"first")
    assert not store.create("claims/x.json", b"second")
    assert store.read("claims/x.json") == b"first"


def test_a_claim_is_exclusive_until_released(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    assert outbox.claim("abc", ttl=3600)
    assert not outbox.claim("abc", ttl=3600)
    outbox.release("abc")
    assert outbox.claim("abc", ttl=3600)


def test_a_claim_older_than_its_ttl_is_taken_over(store_uris: tuple[str, str]) -> None:
    store = open_store(store_uris[1])
    store.write("claims/old.json", b'{"host": "elsewhere", "pid": 1, "at": 0}')
    assert Outbox(store).claim("old", ttl=60)


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store = LocalStore(tmp_path)
    store.write("claims/k.json", f'{{"host": "{socket.gethostname()}", "pid": {dead.stdout.strip()}, "at": 9e12}}'
                .encode())
    assert Outbox(store).claim("k", ttl=3600)


def test_every_s3_object_asks_for_server_side_encryption(s3_env: dict[str, str]) -> None:
    store = open_store(f"s3://{s3_env['BUCKET']}/out")
    store.write("one.json", b"1")
    store.write_many([("two.json", b"2")])
    store.create("three.json", b"3")
    s3 = boto3.client("s3")
    for key in ("out/one.json", "out/two.json", "out/three.json"):
        assert s3.head_object(Bucket=s3_env["BUCKET"], Key=key)["ServerSideEncryption"] == "AES256"


def test_local_files_and_folders_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "out")
    store.write("batches/b/manifest.json", b"{}")
    store.write_many([("batches/b/requests/r.json", b"{}")])
    store.create("claims/c.json", b"{}")
    for path in (tmp_path / "out").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_a_key_cannot_leave_the_local_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalStore(tmp_path / "out").write("../escape.txt", b"x")


def test_decisions_are_appended_never_overwritten_and_read_in_order(store_uris: tuple[str, str]) -> None:
    outbox = Outbox(open_store(store_uris[1]))
    assert outbox.decisions("COC-DE-AAAAAAAAAA") == []
    assert outbox.add_decision("COC-DE-AAAAAAAAAA", {"decision": "approved", "note": "first"}) == 1
    assert outbox.add_decision("COC-DE-AAAAAAAAAA", {"decision": "denied", "note": "second"}) == 2
    assert [d["note"] for d in outbox.decisions("COC-DE-AAAAAAAAAA")] == ["first", "second"]
    assert outbox.decisions("COC-DE-BBBBBBBBBB") == []
