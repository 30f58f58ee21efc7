"""Uploads hold full SSNs (the employer's own file and its marked copy) in the portal's state folder: a real portal
deletes, when it starts, the upload folders an earlier process left more than a day ago, and keeps younger ones
(another process may still be checking them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from coc_intake.portal.uploads import KEEP_SECONDS
from tests.portal_helpers import start_portal


def test_a_starting_portal_deletes_upload_folders_left_over_a_day_ago_and_keeps_younger_ones(tmp_path: Path) -> None:
    uploads = tmp_path / "state" / "uploads"
    old, young = uploads / "abcdefghijkmnpqrstuvwxyz", uploads / "zyxwvutsrqpnmkjihgfedcba"
    for folder in (old, young):
        folder.mkdir(parents=True)
        (folder / "source.xlsx").write_bytes(b"123-45-6789")
    day_ago = time.time() - KEEP_SECONDS - 60
    os.utime(old / "source.xlsx", (day_ago, day_ago))
    os.utime(old, (day_ago, day_ago))
    for server in start_portal(tmp_path):
        assert server.process.poll() is None
    assert not old.exists()
    assert (young / "source.xlsx").read_bytes() == b"123-45-6789"
