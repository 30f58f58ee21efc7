"""The data dictionary and the pandera schemas built from it and from the agreements."""

from coc_intake.schemas.dictionary import Field, always_required, edition, fields, find, header_token

__all__ = ["Field", "always_required", "edition", "fields", "find", "header_token"]
