"""A portal submission in the inbox: the uploaded file and its sidecar record (who submitted it, when, under which
name, for which EINs), and the authorization the record gives (docs/outputs.md#submissions-from-the-portal).

This module is the one place that knows how a sidecar is named in the inbox: ``.<inbox name>.submission.json``,
hidden, so that ``batch.survey_inbox`` never takes it for a submission. ``submit`` writes the sidecar first and the
file second, so intake never sees a portal file without its record; a file without a sidecar (dropped into the
inbox by an operator) is processed with no authorization check.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from coc_intake.errors import CocError
from coc_intake.redact import redact
from coc_intake.store import Store

_SUFFIX = ".submission.json"
_EIN = re.compile(r"\d{2}-\d{7}")
_SSN = re.compile(r"\d{9}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"[._-]*_[._-]*")  # a replaced run and the separators around it (a masked SSN's) become one _
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
#: The most characters of the original name's stem kept in the inbox name.
STEM_CHARS = 60


class SidecarError(CocError):
    """A sidecar that exists but cannot be read as a submission record: its file is not processed (it would
    otherwise be processed without the authorization check), and stays in the inbox for the operator."""


@dataclass(frozen=True)
class SubmissionRecord:
    """Who submitted a file through the portal, when, as what, and the employers the account may submit for."""

    submission_id: str
    """Opaque (uuid4 hex), made by the caller."""
    account: str
    """The submitting account's e-mail address."""
    submitted_at: str
    """ISO 8601, UTC."""
    original_name: str
    """As uploaded: shown, never used as a path."""
    eins: tuple[str, ...]
    """The account's EINs, ``NN-NNNNNNN``."""
    ssns: tuple[str, ...] = ()
    """A self-employed account's SSN (9 digits), to check the rows at intake. Never shown or recorded elsewhere."""

    def to_json(self) -> bytes:
        return orjson.dumps({"submission_id": self.submission_id, "account": self.account,
                             "submitted_at": self.submitted_at, "original_name": self.original_name,
                             "eins": list(self.eins), "ssns": list(self.ssns)}, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> SubmissionRecord:
        """The record; ValueError when the bytes are not one (not JSON, a field missing or of the wrong kind, an
        EIN or SSN not in its form)."""
        try:
            doc: Any = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        text: dict[str, Any] = {k: doc.get(k) for k in ("submission_id", "account", "submitted_at", "original_name")}
        for key, value in text.items():
            if not isinstance(value, str) or (key != "original_name" and not value):
                raise ValueError(f"{key} is missing or not text")
        if not _ID.fullmatch(text["submission_id"] or ""):
            raise ValueError("submission_id is not letters, digits, - and _ (at most 64)")
        eins, ssns = doc.get("eins"), doc.get("ssns", [])
        if not isinstance(eins, list) or not all(isinstance(e, str) and _EIN.fullmatch(e) for e in eins):
            raise ValueError("eins is not a list of EINs NN-NNNNNNN")
        if not isinstance(ssns, list) or not all(isinstance(s, str) and _SSN.fullmatch(s) for s in ssns):
            raise ValueError("ssns is not a list of 9-digit SSNs")
        try:
            dt.datetime.fromisoformat(text["submitted_at"])
        except ValueError:
            raise ValueError("submitted_at is not an ISO 8601 time") from None
        return cls(text["submission_id"], text["account"], text["submitted_at"], text["original_name"],
                   tuple(eins), tuple(ssns))


@dataclass(frozen=True)
class Authorization:
    """The employers a submission may make requests for: the account's EINs, and (self-employed) its SSNs as 9
    digits."""

    eins: frozenset[str]
    ssns: frozenset[str]

    @classmethod
    def of(cls, record: SubmissionRecord) -> Authorization:
        return cls(frozenset(record.eins), frozenset(re.sub(r"\D", "", s) for s in record.ssns))



def sidecar_key(name: str) -> str:
    """The sidecar's key beside the inbox file ``name``: hidden, so never surveyed as a submission."""
    return f".{name}{_SUFFIX}"


def file_of(key: str) -> str | None:
    """The inbox file a sidecar key belongs to; None for any other key."""
    if key.startswith(".") and key.endswith(_SUFFIX) and len(key) > len(_SUFFIX) + 1:
        return key[1:-len(_SUFFIX)]
    return None


def inbox_name(record: SubmissionRecord) -> str:
    """``<UTC yyyymmddTHHMMSS>-<submission id[:8]>-<safe stem><.suffix>``: the time submitted, then the original
    name reduced to letters, digits, ``.``, ``_`` and ``-`` (accents dropped, SSN-shaped numbers masked first), never
    a path; the suffix kept, lowercased, so intake reads (or rejects) the file by its kind as uploaded."""
    at = dt.datetime.fromisoformat(record.submitted_at)
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    original = PurePosixPath(record.original_name.replace("\\", "/")).name
    stem, dot, suffix = original.rpartition(".")
    if not dot:
        stem, suffix = original, ""
    extension = f".{suffix.casefold()}" if _EXTENSION.fullmatch(f".{suffix.casefold()}") else ""
    ascii_stem = unicodedata.normalize("NFKD", redact(stem)).encode("ascii", "ignore").decode("ascii")
    safe = _RUNS.sub("_", _UNSAFE.sub("_", ascii_stem)).strip("._-")[:STEM_CHARS].rstrip("._-") or "file"
    ident = record.submission_id[:8]
    return f"{at:%Y%m%dT%H%M%S}-{ident}-{safe}{extension}"


def submit(inbox: Store, source: Path, record: SubmissionRecord) -> str:
    """Place an uploaded file in the inbox with its record; the inbox name it got. The sidecar is written first
    (created: never over another), then the file, streamed: intake never sees the file without its record. A file
    that could not be written takes its sidecar away again."""
    SubmissionRecord.from_json(record.to_json())  # ValueError now, rather than a file intake will not process
    name = inbox_name(record)
    if not inbox.create(sidecar_key(name), record.to_json()):
        raise FileExistsError(f"a submission named {name} is already in the inbox")
    try:
        inbox.write_from(name, source)
    except BaseException:
        inbox.delete(sidecar_key(name))
        raise
    return name


def read_record(inbox: Store, name: str) -> SubmissionRecord | None:
    """The record of the inbox file ``name``; None when it has none (not a portal submission). SidecarError when it
    has one that cannot be read: such a file must not be processed as if it had none."""
    try:
        data = inbox.read(sidecar_key(name))
    except FileNotFoundError:
        return None
    try:
        return SubmissionRecord.from_json(data)
    except ValueError as exc:
        raise SidecarError(
            f"{redact(name)}: its submission record {redact(sidecar_key(name))} cannot be read ({exc}); the file "
            "stays in the inbox. Submit the file again through the portal, or, to process it without the "
            "authorization check, delete the record.") from None


def remove_record(inbox: Store, name: str) -> None:
    """Take the sidecar of ``name`` out of the inbox (once its batch holds a copy)."""
    inbox.delete(sidecar_key(name))


def tidy_orphans(inbox: Store, now: dt.datetime | None = None, older_than: dt.timedelta = dt.timedelta(days=1)
                 ) -> int:
    """Delete the sidecars whose file is no longer in the inbox and that were submitted more than ``older_than``
    ago (a younger one may belong to an upload still being written); how many went. A record that cannot be read
    is left for the operator."""
    now = now or dt.datetime.now(dt.UTC)
    keys = {e.key for e in inbox.entries()}
    gone = 0
    for key in sorted(keys):
        name = file_of(key)
        if name is None or name in keys:
            continue
        try:
            record = SubmissionRecord.from_json(inbox.read(key))
            at = dt.datetime.fromisoformat(record.submitted_at)
        except (FileNotFoundError, ValueError):
            continue
        at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
        if now - at > older_than:
            inbox.delete(key)
            gone += 1
    return gone
