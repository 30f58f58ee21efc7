"""Where a run's logs go: a rotating file, owner-readable only, and the console only when asked (``--verbose``).

The console of ``coc run`` is for the operator: a progress bar and the summary. Prefect sets up its logging when it
is imported (``logging.yml`` of Prefect, or ``PREFECT_LOGGING_SETTINGS_PATH``): a Rich console handler on the root
logger, and stream handlers of their own on ``uvicorn``, ``fastapi`` and ``prefect._internal``, which do not
propagate. ``to_file`` takes every handler writing to the terminal off the loggers that have one, puts the file's
handler (and with ``verbose`` a console handler of its own, masked as well) on the root logger and on each of those
that do not propagate, and gives it all back on the way out. A handler of ours on the root logger also tells Prefect,
imported afterwards, to leave the root logger alone.
Python's warnings are logged too, so that they land in the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, Any

from coc_intake.redact import RedactingFilter

#: The log file's name under ``<Prefect home>/logs/``, its size before it is rotated and how many old ones are kept.
LOG_NAME = "coc-run.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
#: The loggers of the library itself, logged from INFO (the root logger stays at WARNING for everyone else's).
LIBRARY = "coc_intake"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def default_file() -> Path:
    """``<Prefect home>/logs/coc-run.log``: the home ``flows._env.configure`` sets (the project's ``.prefect``)
    unless ``PREFECT_HOME`` names another."""
    from coc_intake.settings import project_root

    home = os.environ.get("PREFECT_HOME") or str(project_root() / ".prefect")
    return Path(home).expanduser() / "logs" / LOG_NAME


def open_private(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created readable by its owner only (the log of a temporary server)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


class PrivateRotatingFile(RotatingFileHandler):
    """A rotating file whose every generation is created readable by its owner only. (Its name does not start with
    an underscore: Prefect leaves the root logger alone when it finds such a handler there on import.)"""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def _is_console(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = handler.stream
    if stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _loggers() -> list[logging.Logger]:
    found = [logging.getLogger()]
    found += [v for v in list(logging.Logger.manager.loggerDict.values()) if isinstance(v, logging.Logger)]
    return found


class _Format(logging.Formatter):
    """Time, level, logger and message; a flow or task run's records also name their run, as Prefect's console
    does."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        run = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        if run:
            head, _, message = text.partition(f"{record.name}: ")
            kind = "task run" if getattr(record, "task_run_name", None) else "flow run"
            text = f"{head}{record.name}: {kind} '{run}' - {message}"
        return text


class Routing:
    """The logs going to a file while ``to_file``'s block runs."""

    def __init__(self, path: Path, verbose: bool) -> None:
        self.path = path
        masking = RedactingFilter()
        self._handlers: list[logging.Handler] = [
            PrivateRotatingFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")]
        if verbose:
            self._handlers.append(logging.StreamHandler(sys.stderr))
        for handler in self._handlers:
            handler.setFormatter(_Format())
            handler.addFilter(masking)
        self._removed: list[tuple[logging.Logger, logging.Handler]] = []
        self._added: list[logging.Logger] = []

    def capture(self) -> None:
        """Take the console handlers off every logger that has one now (call it again after importing Prefect,
        which sets up its logging on import), and give this routing's handlers (the file's, and the console's with
        ``verbose``) to the root logger and to each of those loggers that do not propagate."""
        root = logging.getLogger()
        for logger in _loggers():
            consoles = [h for h in logger.handlers if _is_console(h) and h not in self._handlers]
            if logger is not root and not consoles:
                continue
            for h in consoles:
                logger.removeHandler(h)
                self._removed.append((logger, h))
            if logger is root or not logger.propagate:
                for handler in self._handlers:
                    if handler not in logger.handlers:  # a logging set-up since may have dropped it
                        logger.addHandler(handler)
                if logger not in self._added:
                    self._added.append(logger)

    def release(self) -> None:
        for logger in self._added:
            for handler in self._handlers:
                logger.removeHandler(handler)
        for logger, h in self._removed:
            logger.addHandler(h)
        self._handlers[0].close()


@contextlib.contextmanager
def to_file(path: Path, *, verbose: bool = False) -> Iterator[Routing]:
    """Send every log record to the rotating file ``path`` (SSNs masked) while the block runs, and to the console
    as well only with ``verbose``."""
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    routing = Routing(path, verbose)
    routing.capture()
    library = logging.getLogger(LIBRARY)
    level = library.level
    if level == logging.NOTSET or level > logging.INFO:
        library.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield routing
    finally:
        logging.captureWarnings(False)
        library.setLevel(level)
        routing.release()
