"""Opening a store from a path or URI: a folder, or ``s3://bucket/prefix``."""

from __future__ import annotations

from coc_intake.errors import ConfigError
from coc_intake.store import LocalStore, Store


def open_store(uri: str) -> Store:
    if uri.startswith("s3://"):
        raise ConfigError(f"{uri}: S3 stores are not available in this version; use a local folder.")
    return LocalStore(uri)
