"""Many small files written by a helper process: the request documents of a large batch.

Creating a file is system calls, which release the GIL, but a thread has to take the GIL back after each of them. While
the main thread builds the other outputs (pandas, xlsxwriter: Python holding the GIL), writer threads of the same
process wait up to the switch interval (5 ms) after every call, so the files were mostly written after the other
outputs instead of beside them. A process of its own, with threads of its own, writes them meanwhile.

The parent sends frames on the child's stdin: a column of file names and one of contents, each as Arrow lays
out variable-size binary (offsets, then bytes), so that nothing is done per file on the parent's side. The child
writes a frame only once it has all of it, stops with its parent (``PR_SET_PDEATHSIG``: nothing is written into a
batch after the process that prepared it is gone), and reports the first error as JSON on stdout.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import subprocess
import sys
import threading
from array import array
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: count, then the byte lengths of the names and of the contents.
_HEAD = struct.Struct("<3Q")
THREADS = 4
#: Request documents hold full SSNs: files are readable by their owner only (the stores use the same mode).
FILE_MODE = 0o600


class FileWriter:
    """Writes files into ``root`` (an existing folder) from a child process; ``close`` waits for all of them.

    ``write`` may be called from several threads; frames are sent whole, one at a time. The child stops when the
    thread that made the writer ends (Linux's parent-death signal follows the thread), so make and close it in a
    thread that outlives the writing.
    """

    def __init__(self, root: str) -> None:
        self._child = subprocess.Popen(
            # This file as a script, isolated (-I) and without site (-S): it needs only the standard library, starts
            # in ~20 ms and finds nothing of the current folder or the environment's paths.
            [sys.executable, "-I", "-S", __file__, root, str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lock = threading.Lock()
        self._ended: tuple[bytes, bytes] | None = None

    def write(self, names: pa.Array, contents: pa.Array) -> None:
        """Send one frame: file ``names[i]`` gets ``contents[i]`` (Arrow text and binary columns, no nulls)."""
        name_offsets, name_data = _layout(names)
        offsets, data = _layout(contents)
        count = len(names)
        if len(contents) != count:
            raise ValueError("as many names as contents are needed")
        head = _HEAD.pack(count, len(name_data), len(data))
        with self._lock:
            stdin = self._child.stdin
            if stdin is None:
                raise RuntimeError("the file writer is closed")
            try:
                for piece in (head, name_offsets, name_data, offsets, data):
                    stdin.write(piece)
                stdin.flush()
            except BrokenPipeError:
                pass
            else:
                return
        self._failed()  # the child stopped: say why

    def close(self) -> None:
        """Wait until every file sent is written; raises the child's first OSError."""
        out, err = self._finish()
        if self._child.returncode:
            self._failed(out, err)

    def abort(self) -> None:
        """Stop the child without waiting for what it has not written yet."""
        self._child.kill()
        self._finish()

    def _finish(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._ended is None:
                stdin, self._child.stdin = self._child.stdin, None  # communicate() then only reads
                if stdin is not None:
                    with contextlib.suppress(BrokenPipeError):
                        stdin.close()
                self._ended = self._child.communicate()
            return self._ended

    def _failed(self, out: bytes | None = None, err: bytes | None = None) -> None:
        if out is None:
            out, err = self._finish()
        try:
            problem = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError(f"the file writer stopped (exit {self._child.returncode}): "
                               f"{(err or b'').decode(errors='replace')[-2000:]}") from None
        raise OSError(problem["errno"], problem["strerror"], problem["filename"])


def _layout(column: pa.Array) -> tuple[bytes, memoryview]:
    """A column's offsets (int64, from 0) and the bytes they index, as Arrow holds them, without a copy of them."""
    import numpy as np
    import pyarrow as pa

    if column.null_count:
        raise ValueError("a file needs a name and a content")
    if not (pa.types.is_large_binary(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.large_binary())
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype="<i8")[column.offset:column.offset + len(column) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(data_buffer)[start:end] if data_buffer is not None else memoryview(b"")
    return (offsets - start).tobytes(), data


# --- the child ------------------------------------------------------------------------------------------------


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError  # the parent stopped mid-frame: none of the frame is written
    return data


def write_file(path: str, data: bytes | memoryview) -> None:
    """Create or empty ``path`` (readable by its owner only) and write ``data`` into it: one system call unless the
    system writes less (rare for a file), then the rest."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_frame(root: str, names: list[str], offsets: array[int], data: bytes, slots: threading.Semaphore) -> None:
    view = memoryview(data)
    try:
        for at, name in enumerate(names):
            if "/" in name or name in ("", ".", ".."):
                raise OSError(errno.EINVAL, "not a file name", name)
            write_file(f"{root}/{name}", view[offsets[at]:offsets[at + 1]])
    finally:
        slots.release()


def _split(offsets: array[int], data: bytes) -> list[str]:
    text = data.decode()
    if text.isascii():
        return [text[offsets[at]:offsets[at + 1]] for at in range(len(offsets) - 1)]
    return [data[offsets[at]:offsets[at + 1]].decode() for at in range(len(offsets) - 1)]


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent was gone before the line above
        sys.exit(3)


def _main(root: str, parent: int) -> int:
    _die_with(parent)
    stdin = sys.stdin.buffer
    done: list[Future[None]] = []
    # A frame is read only when a thread is about to be free for it: the parent waits on the pipe meanwhile, so
    # neither process holds more than a few frames (a million documents are 1.5 GB).
    slots = threading.Semaphore(THREADS + 1)
    with ThreadPoolExecutor(THREADS) as pool:
        try:
            while slots.acquire() and (head := stdin.read(_HEAD.size)):
                count, names_size, data_size = _HEAD.unpack(head)
                name_offsets = array("q", _read(stdin, 8 * (count + 1)))
                names = _split(name_offsets, _read(stdin, names_size))
                offsets = array("q", _read(stdin, 8 * (count + 1)))
                data = _read(stdin, data_size)
                done.append(pool.submit(_write_frame, root, names, offsets, data, slots))
        except (EOFError, struct.error):
            for pending in done:
                pending.cancel()
            return 3
    for future in done:
        error = future.exception()
        if isinstance(error, OSError):
            print(json.dumps({"errno": error.errno, "strerror": error.strerror,
                              "filename": os.path.relpath(str(error.filename), root)}))
            return 1
        if error is not None:
            raise error
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], int(sys.argv[2])))
