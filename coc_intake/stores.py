"""Opening a store from a path or URI: a folder, or ``s3://bucket/prefix``."""

from __future__ import annotations

from coc_intake.store import LocalStore, Store


def open_store(uri: str) -> Store:
    if uri.startswith("s3://"):
        from coc_intake.s3store import S3Store

        return S3Store(uri)
    return LocalStore(uri)
