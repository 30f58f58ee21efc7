"""A stopped portal leaves no process behind: its upload checks run in worker processes of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.builders import row, write_xlsx
from tests.portal_helpers import start_portal


def descendants(pid: int) -> set[int]:
    """The processes under ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, pp in parents.items() if pp == parent}
        found |= children
        todo.extend(children)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def test_a_portal_stopped_with_sigterm_leaves_no_checking_process_behind(tmp_path: Path) -> None:
    portal = start_portal(tmp_path)
    server = next(portal)
    browser = server.browser()
    browser.sign_in(server.add("stop@acme.example"))
    sent = browser.upload("march.xlsx", write_xlsx(tmp_path / "march.xlsx", [row()]).read_bytes())
    assert sent.status_code == 303
    assert 'http-equiv="refresh"' not in browser.checked(sent.headers["location"]).text  # its check is done
    workers = descendants(server.process.pid)
    assert workers, "the upload was checked, so a checking process was started"
    for _ in portal:  # start_portal's end: SIGTERM, as a service manager stops it
        pass
    assert server.process.returncode is not None
    deadline = time.monotonic() + 30
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(workers) == set()
