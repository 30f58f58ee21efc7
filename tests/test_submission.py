"""An inbox file as intake reads it: by path from a folder (no copy held in memory), hashed once, checked again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from coc_intake import batch
from coc_intake.errors import TransientError
from coc_intake.history import KnownRequests
from coc_intake.outbox import Outbox
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.builders import row, write_xlsx
from tests.intake_helpers import AS_OF_DATE as AS_OF


def _inbox_file(tmp_path: Path) -> tuple[LocalStore, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return LocalStore(inbox), write_xlsx(inbox / "acme.xlsx", [row()])


def test_a_file_in_a_local_inbox_is_read_by_path_with_the_hash_and_size_of_its_bytes(tmp_path: Path) -> None:
    store, path = _inbox_file(tmp_path)
    file = batch.open_submission(store, "acme.xlsx")
    data = path.read_bytes()
    assert file.source == path
    assert (file.sha, file.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert file.batch_id == batch.batch_id_of(data)[0]
    outbox = LocalStore(tmp_path / "outbox")
    file.copy_to(Outbox(outbox))
    assert outbox.read(f"batches/{file.batch_id}/source/acme.xlsx") == data


def test_a_file_replaced_after_it_was_hashed_is_a_transient_error_not_a_batch_of_mixed_content(
        tmp_path: Path) -> None:
    store, path = _inbox_file(tmp_path)
    file = batch.open_submission(store, "acme.xlsx")
    write_xlsx(path, [row(), row(ssn="234-56-7890")])
    outbox = LocalStore(tmp_path / "outbox")
    with pytest.raises(TransientError, match="changed in the inbox"):
        file.copy_to(Outbox(outbox))
    assert outbox.list("", recursive=True) == []


def test_a_file_replaced_while_it_is_processed_leaves_no_batch_and_stays_in_the_inbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, path = _inbox_file(tmp_path)
    outbox = Outbox(LocalStore(tmp_path / "outbox"))
    file_check = batch.FileCheck

    class CheckThenReplace(file_check):
        def outcome(self) -> Any:
            outcome = super().outcome()
            write_xlsx(path, [row(), row(ssn="234-56-7890")])  # the employer saves the file again mid-run
            return outcome

    monkeypatch.setattr(batch, "FileCheck", CheckThenReplace)
    with pytest.raises(TransientError):
        batch.process_file(store, outbox, "acme.xlsx", AS_OF, Settings(), KnownRequests())
    assert path.exists()
    assert outbox.committed() == []
    assert outbox.claims() == []  # released: the retry (or the next run) takes the file again
    monkeypatch.setattr(batch, "FileCheck", file_check)
    summary = batch.process_file(store, outbox, "acme.xlsx", AS_OF, Settings(), KnownRequests())
    assert (summary.result, summary.rows) == ("processed", 2)
    assert not path.exists()
