"""The upload form read as it streams in (multipart/form-data): small fields kept, the one file part written to disk
chunk by chunk and refused as soon as it passes the size bound, never held whole in memory (starlette's own form
reader spools every file to disk without a bound)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from coc_intake.errors import FileRejected
from coc_intake.limits import human

#: A text field of the form (the CSRF token) is never longer than this.
FIELD_BYTES = 4096


class FormError(Exception):
    """A request that is not the upload form."""


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0
    sha256: str = ""


class _Reader:
    def __init__(self, target: Path, max_bytes: int) -> None:
        self.form = UploadForm()
        self._target, self._max = target, max_bytes
        self._digest = hashlib.sha256()
        self._header_field, self._header_value = b"", b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._text = bytearray()
        self._file: IO[bytes] | None = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def on_part_begin(self) -> None:
        self._headers, self._text = {}, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in params
        if self._is_file:
            if self.form.filename is not None:
                raise FormError("the form carries more than one file; upload one at a time")
            self.form.filename = params[b"filename"].decode("utf-8", "replace")
            fd = os.open(self._target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._file = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            self._text += chunk
            if len(self._text) > FIELD_BYTES:
                raise FormError(f"the field {self._name!r} is too long")
            return
        self.form.size += len(chunk)
        if self.form.size > self._max:
            raise FileRejected("file-too-large", reason=f"more than {human(self._max)} uploaded")
        self._digest.update(chunk)
        assert self._file is not None
        self._file.write(chunk)

    def on_part_end(self) -> None:
        if self._is_file:
            assert self._file is not None
            self._file.close()
            self._file = None
            self.form.sha256 = self._digest.hexdigest()
        elif self._name:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")


async def read_upload_form(content_type: str, chunks: AsyncIterator[bytes], target: Path, max_bytes: int
                           ) -> UploadForm:
    """The form's fields, and its file written to ``target`` (nothing there when it has none). FileRejected
    ``file-too-large`` as soon as the file passes ``max_bytes``; ``target`` is then deleted and the rest not read."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise FormError("the upload must be sent as multipart/form-data")
    reader = _Reader(target, max_bytes)
    parser = MultipartParser(params[b"boundary"], callbacks={
        "on_part_begin": reader.on_part_begin, "on_header_field": reader.on_header_field,
        "on_header_value": reader.on_header_value, "on_header_end": reader.on_header_end,
        "on_headers_finished": reader.on_headers_finished, "on_part_data": reader.on_part_data,
        "on_part_end": reader.on_part_end})
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except BaseException:
        reader.close()
        target.unlink(missing_ok=True)
        raise
    return reader.form
