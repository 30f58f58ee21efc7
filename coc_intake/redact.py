"""Masking SSNs in free text: the last line of defence for logs, console output and stored run state
(docs/outputs.md#confidentiality)."""

from __future__ import annotations

import logging
import re

_SSN_LIKE = re.compile(r"(?<![\d*])(\d{3})([- ]?)(\d{2})\2(\d{4})(?!\d)")


def redact(text: str) -> str:
    """Replace anything shaped like an SSN (NNN-NN-NNNN, NNN NN NNNN, NNNNNNNNN) by ``***-**-NNNN``."""
    return _SSN_LIKE.sub(lambda m: f"***-**-{m.group(4)}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks SSN-shaped numbers in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # A traceback ends with the exception's message, which may quote a cell: keep only its masked text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


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
