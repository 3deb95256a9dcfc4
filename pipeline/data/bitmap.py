"""Reading Quick, Draw! ``numpy_bitmap`` files.

Each file is a ``.npy`` array of shape (N, 784): N drawings of 28x28 pixels, uint8, 0 background and 255
ink, one class per file (``cat.npy``, ``full_numpy_bitmap_cat.npy``, ``bowtie5000.npy``). Files are
memory-mapped, so reading the first few hundred drawings of a large file does not load all of it.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np

from core.names import NameProblem, check_class_name
from core.ndjson import (
    OnError,
    ReadResult,
    Skipped,
    check_input_file,
    check_limit,
    check_on_error,
    find_class_files,
    select_class_files,
)
from core.sketch import Sketch
from core.errors import InputError

__all__ = ["SIDE", "read_bitmap", "read_bitmap_dir", "word_from_stem"]

#: Bitmaps are SIDE x SIDE pixels.
SIDE = 28

#: Rows are checked and converted this many at a time, so memory stays bounded on large files.
_CHUNK = 4096

_EXPECTED_SHAPE = f"(N, {SIDE * SIDE}) or (N, {SIDE}, {SIDE})"
_NPY_MAGIC = b"\x93NUMPY"
_REDOWNLOAD = "re-download or re-create the file; numpy_bitmap files are saved with numpy.save"


def word_from_stem(stem: str) -> str:
    """The class name a numpy_bitmap file name stands for.

    Drops the download prefix ``full_numpy_bitmap_`` and a trailing count: ``"bowtie5000"`` -> ``"bowtie"``,
    ``"full_numpy_bitmap_cat"`` -> ``"cat"``.

    Args:
        stem: The file name without its ``.npy`` suffix.

    Returns:
        The class name (the stem itself if stripping would leave nothing).
    """
    name = stem.removeprefix("full_numpy_bitmap_")
    name = re.sub(r"[\s_-]*\d+$", "", name)
    return name or stem


def _open(path: Path) -> np.ndarray:
    """Memory-map a .npy file, turning every way it can be broken into one InputError."""
    # Check the signature first: for a file that is not .npy at all, np.load guesses "pickle" and says
    # the file "contains pickled (object) data", which would send the user the wrong way.
    try:
        with path.open("rb") as file:
            magic = file.read(len(_NPY_MAGIC))
    except OSError as error:
        raise InputError(path, f"cannot read the file: {error.strerror or error}") from None
    if not magic:
        raise InputError(path, "is empty (0 bytes)", hint=_REDOWNLOAD)
    if magic.startswith(b"PK\x03\x04"):
        raise InputError(path, "is an .npz archive, not a .npy array", hint="save each class with numpy.save")
    if magic != _NPY_MAGIC:
        raise InputError(path, "is not a .npy file (it does not start with the .npy signature)", hint=_REDOWNLOAD)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        text = str(error)
        if "Python objects" in text or "pickle" in text:  # object arrays are not image data
            raise InputError(path, "holds Python objects, not a numeric array", hint=_REDOWNLOAD) from None
        if "mmap length is greater than file size" in text or text.startswith("EOF"):
            raise InputError(path, "is truncated: shorter than its header says", hint=_REDOWNLOAD) from None
        raise InputError(path, f"is not a valid .npy file ({text})", hint=_REDOWNLOAD) from None
    except (OSError, EOFError) as error:
        raise InputError(path, f"is not a valid .npy file ({error})", hint=_REDOWNLOAD) from None


def _check_array(path: Path, array: np.ndarray) -> np.ndarray:
    """Check dtype and shape and return the array viewed as (N, 28, 28)."""
    kind = array.dtype.kind
    if kind not in "uif" or array.dtype.fields is not None:
        raise InputError(
            path,
            f"has dtype {array.dtype}; bitmaps must be numbers 0..255 (uint8)",
            hint="save the drawings as a uint8 array",
        )
    if array.ndim in (3, 4) and array.shape[1] == 1:  # a channel axis: (N, 1, 784) or (N, 1, 28, 28)
        array = array[:, 0]
    if array.ndim == 2 and array.shape[1] == SIDE * SIDE:
        images = array.reshape(array.shape[0], SIDE, SIDE)
    elif array.ndim == 3 and array.shape[1:] == (SIDE, SIDE):
        images = array
    else:
        raise InputError(
            path,
            f"has shape {array.shape}; expected {_EXPECTED_SHAPE}: one row of {SIDE}x{SIDE} pixels per drawing",
            hint="reshape the array before saving it",
        )
    if images.shape[0] == 0:
        raise InputError(path, f"holds no drawings (shape {array.shape})", hint="remove the file or refill it")
    return images


def _to_uint8(path: Path, chunk: np.ndarray, first_row: int) -> np.ndarray:
    """Convert one chunk of rows to uint8, checking that the values are pixel values 0..255.

    Floats may be up to 0.5 outside 0..255 (they round into it), as other tools' rounding leaves them.
    """
    if chunk.dtype == np.uint8:
        return np.array(chunk)  # copy: the sketches must not keep the memory map (and its file) open
    values = np.asarray(chunk)
    flat = values.reshape(len(values), -1)
    if values.dtype.kind == "f":
        finite = np.isfinite(flat).all(axis=1)
        if not finite.all():
            row = first_row + int(np.argmin(finite))
            raise InputError(path, f"row {row} holds NaN or infinite values", hint="pixels must be 0..255")
    slack = 0.5 if values.dtype.kind == "f" else 0
    low, high = flat.min(axis=1), flat.max(axis=1)
    bad = (low < -slack) | (high > 255 + slack)
    if bad.any():
        index = int(np.argmax(bad))
        raise InputError(
            path,
            f"row {first_row + index} has pixel values outside 0..255 ({low[index]:g} to {high[index]:g})",
            hint="numpy_bitmap pixels are 0 (background) to 255 (ink)",
        )
    top = high.max()
    if 0 < top <= 1:
        # Values in 0..1 would pass the range check but turn every drawing into faint grey smudges.
        raise InputError(
            path,
            f"has pixel values that go only up to {top:g}: they look like 0..1 intensities or a 0/1 mask",
            hint="multiply by 255 before saving; numpy_bitmap pixels are 0 (background) to 255 (ink)",
        )
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def read_bitmap(
    path: str | PathLike[str],
    word: str | None = None,
    limit: int | None = None,
    on_error: OnError = "raise",
) -> ReadResult:
    """Read a numpy_bitmap ``.npy`` file as bitmap sketches.

    Any integer or float array whose values are 0..255 is accepted and converted to uint8. Each drawing
    becomes ``Sketch(key_id=f"{stem}-{row}", word=word, strokes=(), bitmap=<uint8 (28, 28)>)``, ``row``
    counting from 0. Blank drawings (every pixel 0) are invalid.

    Args:
        path: The ``.npy`` file.
        word: The class name; defaults to the file stem without a trailing count (see :func:`word_from_stem`).
        limit: Return at most this many drawings, from the start of the file (None: all). Only the rows
            needed are read.
        on_error: ``"raise"`` to stop at the first blank drawing, ``"skip"`` to leave blank drawings out and
            list them in :attr:`ReadResult.skipped`.

    Returns:
        The drawings in file order, and the skipped ones.

    Raises:
        InputError: If the file is missing, a folder, not a regular file, named after no valid class name, not a
            valid (or a truncated) ``.npy`` file, has the wrong dtype, shape or value range, holds no drawings,
            or (with ``on_error="raise"``) holds a blank drawing.
        ConfigError: If ``on_error`` or ``limit`` is not a valid setting.
    """
    check_on_error(on_error)
    check_limit(limit, "limit")
    path = Path(path)
    check_input_file(path, ".npy file")
    try:
        word = check_class_name(word if word is not None else word_from_stem(path.stem),
                                what="the class name" if word is not None else "the file name's class name")
    except NameProblem as problem:
        raise InputError(path, str(problem), hint="rename the file after its class, e.g. cat.npy") from None
    images = _check_array(path, _open(path))
    result = ReadResult()
    start = 0
    while start < images.shape[0]:
        # With a limit, read (and check) no more rows than could still be needed.
        size = _CHUNK if limit is None else min(_CHUNK, limit - len(result.sketches))
        chunk = _to_uint8(path, images[start : start + size], start)
        blank = ~chunk.reshape(len(chunk), -1).any(axis=1)
        for offset, image in enumerate(chunk):
            row = start + offset
            if blank[offset]:
                reason = f"row {row} is a blank drawing (every pixel is 0)"
                if on_error == "raise":
                    raise InputError(
                        path, reason, hint="remove the row, or set data.source.on_error=skip to skip blank drawings"
                    )
                result.skipped.append(Skipped(str(path), None, reason))
                continue
            result.sketches.append(Sketch(key_id=f"{path.stem}-{row}", word=word, bitmap=image))
            if limit is not None and len(result.sketches) >= limit:
                return result
        start += len(chunk)
    if not result.sketches:
        raise InputError(
            path, f"no usable drawings: all {len(result.skipped)} are blank", hint="remove the file or refill it"
        )
    return result


def read_bitmap_dir(
    folder: str | PathLike[str],
    classes: list[str] | None = None,
    max_per_class: int | None = None,
    on_error: OnError = "raise",
) -> ReadResult:
    """Read every ``*.npy`` file of a folder, one file per class, in sorted file-name order.

    Args:
        folder: The folder.
        classes: The classes to read, by class name (``"bowtie"`` selects ``bowtie5000.npy``, see
            :func:`word_from_stem`); None reads all.
        max_per_class: Read at most this many drawings of each class (None: all).
        on_error: ``"raise"`` or ``"skip"``, as in :func:`read_bitmap`.

    Returns:
        The drawings of all the selected files, file after file, and the skipped ones.

    Raises:
        InputError: If the folder is missing, holds no ``.npy`` file, a class has no file (the message lists
            the available ones), or a file is invalid (see :func:`read_bitmap`).
        ConfigError: If ``on_error``, ``classes`` or ``max_per_class`` is not a valid setting.
    """
    check_on_error(on_error)
    check_limit(max_per_class)
    folder = Path(folder)
    available = find_class_files(folder, ".npy", word_from_stem)
    result = ReadResult()
    taken: dict[str, int] = {}  # drawings read per class, as two files may hold the same class
    for path in select_class_files(available, classes, folder, ".npy file"):
        word = word_from_stem(path.stem)
        left = None if max_per_class is None else max_per_class - taken.get(word, 0)
        if left is not None and left <= 0:
            continue
        part = read_bitmap(path, word=word, limit=left, on_error=on_error)
        taken[word] = taken.get(word, 0) + len(part.sketches)
        result.extend(part)
    return result
