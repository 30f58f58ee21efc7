"""coc-intake: employers' workbooks of expatriate assignments into U.S. Certificate of Coverage requests.

The public API, by what a caller does with it (everything else is private to the package and may change):

- check a file: ``check_file`` → ``Outcome`` (``CheckedRows`` or ``RejectedFile``), its ``Finding``s from the
  ``CATALOG`` of ``Code``s, the ``RowStatus`` of each row;
- run the intake without an orchestrator: ``open_store``, ``Outbox``, ``KnownRequests``, ``process_file`` (or
  ``prepare_file`` then ``commit_file``) → ``FileSummary`` with its ``FileResult``, then ``deliver`` the mail;
- configure it: ``Settings``, ``Limits``;
- handle its failures: ``CocError`` and below (``coc_intake.errors`` draws the tree).

The nightly flow is ``coc_intake.flows.intake.nightly_intake`` (importing it configures Prefect). Names are loaded
on first use, so ``import coc_intake`` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coc_intake.batch import FileSummary, commit_file, prepare_file, process_file
    from coc_intake.catalog import CATALOG, Code
    from coc_intake.engine import CheckedRows, Outcome, RejectedFile, check_file
    from coc_intake.errors import CocError, ConfigError, FileRejected, TransientError
    from coc_intake.findings import Finding
    from coc_intake.history import KnownRequests
    from coc_intake.limits import Limits
    from coc_intake.mail import deliver
    from coc_intake.outbox import Outbox
    from coc_intake.settings import Settings
    from coc_intake.states import FileResult, RowStatus
    from coc_intake.store import LocalStore, Store, open_store

_WHERE = {
    "FileSummary": "batch", "commit_file": "batch", "prepare_file": "batch", "process_file": "batch",
    "CATALOG": "catalog", "Code": "catalog",
    "CheckedRows": "engine", "Outcome": "engine", "RejectedFile": "engine", "check_file": "engine",
    "CocError": "errors", "ConfigError": "errors", "FileRejected": "errors", "TransientError": "errors",
    "Finding": "findings", "KnownRequests": "history", "Limits": "limits", "deliver": "mail", "Outbox": "outbox",
    "Settings": "settings", "FileResult": "states", "RowStatus": "states",
    "LocalStore": "store", "Store": "store", "open_store": "store",
}
__all__ = ["CATALOG", "CheckedRows", "CocError", "Code", "ConfigError", "FileRejected", "FileResult", "FileSummary",
    "Finding", "KnownRequests", "Limits", "LocalStore", "Outbox", "Outcome", "RejectedFile", "RowStatus", "Settings",
    "Store", "TransientError", "check_file", "commit_file", "deliver", "open_store", "prepare_file", "process_file"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'coc_intake' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"coc_intake.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
