"""Masking SSNs in free text (docs/outputs.md#confidentiality): one function, ``redact``, for every text that leaves
the trust boundary — file names wherever they are shown or recorded, values quoted by findings, employer names in
the manifest, e-mails, reports, console output, logs and what Prefect stores.

What counts as an SSN in free text (``_SSN_LIKE``):

- three groups of 3, 2 and 4 digits, written together (``123456789``) or each pair parted by one separator: a
  hyphen or another dash, a space (also a no-break space), a period or an underscore. The two separators may
  differ (``123-45 6789``); one separator alone is not an SSN (``12345-6789`` is a ZIP+4 code);
- anywhere in the text, letters or punctuation around it included: ``acme123456789.xlsx``,
  ``123-45-6789_payroll``, ``SSN:123456789``;
- but never a part of a longer run of digits: no digit may come right before the first group or right after the
  last (``123456789012`` and ``1234-56-7890`` are kept), so account numbers and the like stay whole;
- digits are Unicode decimal digits (full-width ``１２３４５６７８９`` too), as Python's ``\\d`` reads them.

7 or 8 digits (an SSN whose leading zeros a spreadsheet dropped) are not masked in free text: such runs are mostly
dates (``20261125``) and order numbers. The ``ssn`` column itself is masked whole by ``findings.mask_ssn``.
"""

from __future__ import annotations

import logging
import re

#: A separator between the groups of an SSN: dashes (ASCII and Unicode, the minus sign), a space, a no-break space, a
#: period or an underscore (file names often use ``_`` or ``.`` where a person types ``-``).
_SEP = "[-\u2010-\u2015\u2212 \u00a0._]"
#: Three groups of 3-2-4 digits, with no separator or one between each pair, that no digit extends on either side.
_SSN_LIKE = re.compile(rf"(?<!\d)\d{{3}}(?:\d{{2}}|{_SEP}\d{{2}}{_SEP})(\d{{4}})(?!\d)")


def redact(text: str) -> str:
    """``text`` with every SSN-shaped number in it (see the module's rules) replaced by ``***-**-NNNN``, its last
    four digits kept. Masked text has no SSN shape left, so masking twice changes nothing."""
    return _SSN_LIKE.sub(lambda m: f"***-**-{m.group(1)}", text)


def redact_optional(text: str | None) -> str | None:
    """``redact`` for a text that may be missing (a blank cell, a finding without a value)."""
    return None if text is None else redact(text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks SSN-shaped numbers in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message and not _mask_args(record, masked):
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # A traceback ends with the exception's message, which may quote a cell: keep only its masked text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _mask_args(record: logging.LogRecord, masked: str) -> bool:
    """Mask the text arguments of a record in place, keeping them arguments (uvicorn's access formatter unpacks
    them); False when that does not give the masked message, and the caller flattens the record instead."""
    if not isinstance(record.args, tuple) or not isinstance(record.msg, str):
        return False
    original = record.msg, record.args
    record.msg = redact(record.msg)
    record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
    try:
        if record.getMessage() == masked:
            return True
    except (TypeError, ValueError):
        pass
    record.msg, record.args = original
    return False


class SanitizedError(Exception):
    """An unexpected failure, its message masked and its cause dropped, so that run state and tracebacks stored
    by an orchestrator never carry personal data from the original exception."""


def sanitize(exc: BaseException) -> SanitizedError:
    return SanitizedError(redact(f"{type(exc).__name__}: {exc}"))


def install(*logger_names: str) -> None:
    """Attach the filter to the named loggers and to every handler they and the root logger have."""
    flt = RedactingFilter()
    for name in ("", *logger_names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(flt)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)
