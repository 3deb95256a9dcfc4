"""Atomic file output.

Every file or folder a stage produces is written under a temporary name in the same folder and renamed into
place only once it is complete, so an interrupted run (Ctrl-C, a crash, a full disk) never leaves a
half-written output that a later run or DVC would take for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["atomic_dir", "atomic_open", "atomic_write_bytes", "atomic_write_text", "fsync_dir", "save_npy_atomic"]


def _read_umask() -> int:
    # os.umask can only be read by setting it; set it back at once. Done once, at import, because the
    # umask is process-wide and briefly zeroing it while other threads create files would be a race.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entry table so that a rename inside it survives a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform/file system: the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | PathLike[str], mode: Literal["w", "wb"] = "w", encoding: str = "utf-8"
) -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only if the ``with`` block completes.

    The data go to a hidden temporary file in the same folder (so the final rename stays on one file
    system), which is flushed to disk and then renamed over ``path``. If the block raises, the temporary
    file is removed and any existing ``path`` is left untouched.

    Args:
        path: The destination file. Missing parent folders are created.
        mode: ``"w"`` for text, ``"wb"`` for bytes.
        encoding: The text encoding (text mode only).

    Yields:
        The open temporary file.

    Raises:
        ValueError: If ``mode`` is not ``"w"`` or ``"wb"``.
        OSError: If the file cannot be written (the destination is unchanged).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        if mode == "w":
            # newline="" writes "\n" as is, so files are byte-identical on every platform.
            file: IO = os.fdopen(fd, mode, encoding=encoding, newline="")
        else:
            file = os.fdopen(fd, mode)
        with file:
            # mkstemp creates the file 0600; give it the permissions a plain open() would have.
            os.chmod(file.fileno(), 0o666 & ~_UMASK)
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a part.

    Args:
        path: The destination file. Missing parent folders are created.
        data: The bytes to write.

    Raises:
        OSError: If the file cannot be written (the destination is unchanged).
    """
    with atomic_open(path, "wb") as file:
        file.write(data)


def atomic_write_text(path: str | PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (no newline translation).

    Args:
        path: The destination file. Missing parent folders are created.
        text: The text to write.
        encoding: The text encoding.

    Raises:
        OSError: If the file cannot be written (the destination is unchanged).
    """
    with atomic_open(path, "w", encoding=encoding) as file:
        file.write(text)


def save_npy_atomic(path: str | PathLike[str], array: np.ndarray) -> None:
    """Save an array in ``.npy`` format atomically (object arrays are refused, as they need pickle).

    Unlike :func:`numpy.save`, no ``.npy`` suffix is appended: the file is written at exactly ``path``.

    Args:
        path: The destination file. Missing parent folders are created.
        array: The array to save.

    Raises:
        ValueError: If the array has an object dtype.
        OSError: If the file cannot be written (the destination is unchanged).
    """
    import numpy as np  # here, not at the top: the light commands (`concepts list`) need not load numpy

    array = np.asanyarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"save_npy_atomic: cannot save an array of dtype {array.dtype} without pickle")
    with atomic_open(path, "wb") as file:
        np.save(file, array, allow_pickle=False)


@contextlib.contextmanager
def atomic_dir(path: str | PathLike[str]) -> Iterator[Path]:
    """Build a folder under a temporary name and move it to ``path`` only if the ``with`` block completes.

    On success an existing folder at ``path`` is replaced (and deleted). POSIX cannot rename a folder over
    a non-empty one, so the old folder is first renamed aside, the new one renamed in, and the old one then
    deleted; the window between the two renames is a few microseconds, and if the second rename fails the
    old folder is put back. On an exception the temporary folder is deleted and an existing ``path`` is
    left exactly as it was.

    Args:
        path: The destination folder. Missing parent folders are created.

    Yields:
        The temporary folder (a hidden sibling of ``path``) to write into.

    Raises:
        InputError: If ``path`` exists and is not a folder.
        OSError: If the folder cannot be created or moved into place.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "exists and is not a folder", hint="remove it or choose another output path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    old: Path | None = None
    try:
        if path.is_dir():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
                old = None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
