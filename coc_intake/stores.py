"""Opening a store from a path or URI: a folder, or ``s3://bucket/prefix``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coc_intake.store import LocalStore, Store

if TYPE_CHECKING:
    from coc_intake.settings import Settings


def open_store(uri: str, settings: Settings | None = None) -> Store:
    """``settings`` matter to S3 only (encryption key, addressing style); None reads them from the environment."""
    if uri.startswith("s3://"):
        from coc_intake.s3store import S3Store

        return S3Store(uri, settings=settings)
    return LocalStore(uri)
