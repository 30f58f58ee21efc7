"""The states a row and a file end in, named once.

They are ``StrEnum``s: a member is the string it names (equal to it, hashed and printed as it), so documents and
frames that hold them read as before. orjson writes a member as its text but refuses one as a dict key: keys take
``.value``.
"""

from __future__ import annotations

from enum import StrEnum


class RowStatus(StrEnum):
    """What became of a data row."""

    APPROVED = "approved"
    REFERRED = "referred"
    """Valid, but a specialist decides (a referral reason)."""
    REJECTED = "rejected"
    ALREADY_REQUESTED = "already-requested"
    """The same request (ID and end date) was made by an earlier file or run: nothing new is made."""

    @property
    def key(self) -> str:
        """The status as a count's name in the manifest and summaries (``already_requested``)."""
        return self.value.replace("-", "_")


class FileResult(StrEnum):
    """What became of an inbox file in a run."""

    PROCESSED = "processed"
    REJECTED_FILE = "rejected-file"
    """Rejected whole; still a processed file, whose batch says why."""
    ALREADY_PROCESSED = "already-processed"
    """Its bytes were committed by an earlier run: nothing new is written."""
    TAKEN_BY_ANOTHER_RUN = "taken-by-another-run"
    """Another run holds it (or took it out of the inbox) first."""
    SET_ASIDE = "set-aside"
    """Not a submission the intake can take (a folder, a symbolic link, a name that is not UTF-8 or holds control
    characters): left where it is, never read, and listed with the reason every run until someone moves it."""


#: The statuses of rows that make a request (a request document).
REQUESTING: frozenset[RowStatus] = frozenset({RowStatus.APPROVED, RowStatus.REFERRED})

#: The results of a file that made a batch (the manifest's ``status``).
BATCH_RESULTS: frozenset[FileResult] = frozenset({FileResult.PROCESSED, FileResult.REJECTED_FILE})


class Decision(StrEnum):
    """A specialist's decision on a referred request (the latest of a request's decisions counts)."""

    APPROVED = "approved"
    DENIED = "denied"
