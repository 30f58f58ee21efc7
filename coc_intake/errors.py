"""The exception tree of coc-intake.

::

    CocError                      base of everything the library raises on purpose
    ├── FileRejected              terminal: the file itself is bad (carries a file finding, see docs/errors.md)
    ├── ConfigError               terminal: a setting or an argument is wrong; the message says which
    └── TransientError            worth retrying: a store or a mail server did not answer

Rows with problems never raise: they become findings.
"""

from __future__ import annotations

from coc_intake.catalog import message


class CocError(Exception):
    """Base class of the library's own exceptions."""


class FileRejected(CocError):
    """The whole file is rejected with a file-level code before any row is looked at."""

    def __init__(self, code: str, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(message(code, reason=reason))


class ConfigError(CocError):
    """A setting, an argument or the environment is wrong."""


class TransientError(CocError):
    """A failure that may pass: retry later (a store or a mail server did not answer)."""
