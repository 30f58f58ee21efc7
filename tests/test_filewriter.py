"""The helper process that writes a large batch's request files (``coc_intake.filewriter``): the files it writes,
the errors it reports, and that it writes nothing once the process that sent the files is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from coc_intake import filewriter
from coc_intake.filewriter import FileWriter


def _columns(items: list[tuple[str, bytes]]) -> tuple[pa.Array, pa.Array]:
    return (pa.array([n for n, _ in items], pa.large_string()), pa.array([b for _, b in items], pa.large_binary()))


def test_it_writes_each_content_under_its_name_readable_by_the_owner_only(tmp_path: Path) -> None:
    items = [(f"COC-DE-{i:010d}.json", f'{{"n": {i}, "text": "Zoë ✓"}}\n'.encode() * (i % 5)) for i in range(5000)]
    items.append(("Müller-é.json", b""))
    names, contents = _columns(items)
    writer = FileWriter(str(tmp_path))
    for start in range(0, len(items), 999):  # slices: Arrow arrays that start at an offset into their buffers
        writer.write(names.slice(start, 999), contents.slice(start, 999))
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, _ in items)
    for name, body in items[::97] + items[-1:]:
        assert (tmp_path / name).read_bytes() == body
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_string_contents_and_an_empty_writer_are_fine(tmp_path: Path) -> None:
    writer = FileWriter(str(tmp_path))
    writer.write(pa.array(["a.json"]), pa.array(['{"a": 1}']))
    writer.close()
    assert (tmp_path / "a.json").read_bytes() == b'{"a": 1}'
    FileWriter(str(tmp_path / "a.json")).close()  # nothing sent: nothing to fail on


def test_a_file_it_cannot_write_is_raised_as_an_oserror_naming_it(tmp_path: Path) -> None:
    (tmp_path / "taken.json").mkdir()
    writer = FileWriter(str(tmp_path))
    writer.write(*_columns([("fine.json", b"1"), ("taken.json", b"2")]))
    with pytest.raises(IsADirectoryError) as raised:
        writer.close()
    assert raised.value.filename == "taken.json"


def test_a_name_that_is_a_path_is_refused(tmp_path: Path) -> None:
    writer = FileWriter(str(tmp_path / "inner"))
    (tmp_path / "inner").mkdir()
    writer.write(*_columns([("../escaped.json", b"1")]))
    with pytest.raises(OSError, match="not a file name"):
        writer.close()
    assert not (tmp_path / "escaped.json").exists()


def test_a_frame_cut_short_writes_none_of_its_files(tmp_path: Path) -> None:
    names, contents = _columns([("a.json", b"1"), ("b.json", b"2")])
    name_offsets, name_data = filewriter._layout(names)
    offsets, data = filewriter._layout(contents)
    frame = filewriter._HEAD.pack(2, len(name_data), len(data)) + name_offsets + bytes(name_data) + offsets
    child = subprocess.run([sys.executable, "-I", "-S", filewriter.__file__, str(tmp_path), str(os.getpid())],
                           input=frame + bytes(data)[:-1], capture_output=True)
    assert child.returncode == 3
    assert list(tmp_path.iterdir()) == []


_PARENT = """
import sys, time
import pyarrow as pa
from coc_intake.filewriter import FileWriter
writer = FileWriter(sys.argv[1])
print(writer._child.pid, flush=True)
time.sleep(60)
"""


def test_the_helper_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # alive while its parent is
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # A killed child that nobody waits for stays a zombie of init: that is gone too.
        if Path(f"/proc/{child}/stat").read_text().split(") ")[1].startswith("Z"):
            return
        time.sleep(0.05)
    pytest.fail(f"the helper {child} outlived the process that started it")


# --- in the intake -------------------------------------------------------------------------------------------


def _outbox_after(tmp_path: Path, name: str, helper_from: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    from coc_intake import requestwriter
    from tests.intake_helpers import EXAMPLES, run_intake, snapshot

    monkeypatch.setattr(requestwriter, "HELPER_FROM", helper_from)
    inbox, outbox = tmp_path / f"{name}-inbox", tmp_path / f"{name}-outbox"
    inbox.mkdir()
    for example in sorted(EXAMPLES.glob("*.xlsx")) + sorted(EXAMPLES.glob("*.csv")):
        (inbox / example.name).write_bytes(example.read_bytes())
    run_intake(inbox, outbox)
    return snapshot(outbox)


def test_requests_written_by_the_helper_are_those_the_threads_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = FileWriter.write
    monkeypatch.setattr(FileWriter, "write", lambda self, n, c: calls.append("helper") or real(self, n, c))
    by_helper = _outbox_after(tmp_path, "helper", 1, monkeypatch)
    assert calls, "the helper wrote nothing"
    calls.clear()
    by_threads = _outbox_after(tmp_path, "threads", 10**9, monkeypatch)
    assert not calls
    assert any("/requests/" in key for key in by_helper)
    assert by_helper == by_threads


def test_a_batch_whose_helper_fails_is_not_committed_and_the_file_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coc_intake import requestwriter
    from tests.intake_helpers import EXAMPLES, run_intake

    monkeypatch.setattr(requestwriter, "HELPER_FROM", 1)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    example = sorted(EXAMPLES.glob("*.xlsx"))[0]
    (inbox / example.name).write_bytes(example.read_bytes())
    real = FileWriter.write
    monkeypatch.setattr(FileWriter, "write", lambda self, n, c: real(self, pa.array(["../x"] * len(n)), c))
    with pytest.raises(OSError, match="not a file name"):
        run_intake(inbox, outbox)
    assert (inbox / example.name).exists()
    assert not list(outbox.rglob("manifest.json"))


@pytest.mark.parametrize("folder", ["../elsewhere", "/tmp/elsewhere", "batches/../../elsewhere"])
def test_a_stores_file_writer_refuses_a_folder_outside_the_store_and_creates_nothing(tmp_path: Path,
                                                                                      folder: str) -> None:
    from coc_intake.store import LocalStore

    root = tmp_path / "outbox"
    root.mkdir()
    with pytest.raises(ValueError, match="leaves the store"):
        LocalStore(root).file_writer(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]
    assert not any(root.iterdir())


def test_a_stores_file_writer_writes_into_the_folder_it_creates_under_the_store(tmp_path: Path) -> None:
    from coc_intake.store import LocalStore

    writer = LocalStore(tmp_path).file_writer("batches/b1/requests")
    writer.write(pa.array(["a.json"], pa.large_string()), pa.array([b"{}"], pa.large_binary()))
    writer.close()
    assert (tmp_path / "batches" / "b1" / "requests" / "a.json").read_bytes() == b"{}"
