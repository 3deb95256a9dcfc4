"""Reading and writing Quick, Draw! "simplified" ndjson files.

One JSON object a line::

    {"word": "cat", "key_id": "5027286841556992", "drawing": [[[x0, x1, ...], [y0, y1, ...]], ...],
     "countrycode": "GB", "timestamp": "...", "recognized": true, "parts": ["head", "ear", ...]}

``drawing`` holds the strokes in drawing order, coordinates in 0..255. ``parts`` (one part name per stroke)
and ``attributes`` (what the drawing is like as a whole: ``{"facing": "left", "omitted": "none", ...}``) are this
project's extensions, written by the procedural generator; the other optional keys are ignored.

Every problem in a file is reported as an :class:`~core.errors.InputError` naming the file and the
1-based line, or, with ``on_error="skip"``, recorded in :attr:`ReadResult.skipped` while reading goes on.
"""

from __future__ import annotations

import difflib
import json
import math
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.names import NameProblem, check_class_name
from core.sketch import CANVAS_MAX, Sketch
from core.errors import ConfigError, InputError
from core.io import atomic_open

__all__ = [
    "OnError",
    "ReadResult",
    "Skipped",
    "read_ndjson",
    "read_ndjson_dir",
    "write_ndjson",
]

OnError = Literal["raise", "skip"]

#: Coordinates a little outside 0..255 (float rounding in other tools) are accepted and clipped.
COORD_SLACK = 0.5

SKIP_HINT = "fix or remove the line, or set data.source.on_error=skip to skip bad lines"

#: The longest line read as one drawing: a Quick, Draw! drawing is a few kilobytes, a coach drawing at its limits
#: (coach.limits) a few hundred; a longer line is refused after this many bytes instead of being held whole.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class Skipped:
    """A drawing that was left out because it was invalid.

    Attributes:
        path: The file it is in.
        line: The 1-based line (ndjson), or None where the file has no lines (numpy_bitmap).
        reason: What was wrong with it.
    """

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass
class ReadResult:
    """The drawings read from one or more files, and the invalid ones that were skipped.

    Attributes:
        sketches: The valid drawings, in file order.
        skipped: The drawings left out with ``on_error="skip"`` (always empty with ``"raise"``).
    """

    sketches: list[Sketch] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        """Append another result's sketches and skipped entries to this one.

        Args:
            other: The result to append.
        """
        self.sketches.extend(other.sketches)
        self.skipped.extend(other.skipped)


class _BadLine(Exception):
    """Internal: one line is invalid; carries the problem text (the caller adds file and line)."""


def check_on_error(on_error: str) -> None:
    """Check an ``on_error`` setting.

    Args:
        on_error: The value to check.

    Raises:
        ConfigError: If it is neither ``"raise"`` nor ``"skip"``.
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"data.source.on_error must be 'raise' or 'skip', got {on_error!r}")


def check_limit(limit: int | None, name: str = "data.source.max_per_class") -> None:
    """Check a count limit: None (no limit) or a positive integer.

    Args:
        limit: The value to check.
        name: The setting's name, for the message.

    Raises:
        ConfigError: If it is not None or an integer >= 1.
    """
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ConfigError(f"{name} must be a positive integer or null (no limit), got {limit!r}")


def check_input_file(path: Path, kind: str, max_bytes: int | None = None) -> None:
    """Check that ``path`` is an existing regular file, before anything is read of it.

    Args:
        path: The file.
        kind: What it should be, for the message (".ndjson file").
        max_bytes: The largest size accepted (None: any; a dataset's files are read a line at a time).

    Raises:
        InputError: If it is missing, a folder, not a regular file (a device such as ``/dev/zero``, a pipe, a
            socket: they may never end), or larger than ``max_bytes``.
    """
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte in the path
        raise InputError(path, "file not found", hint="check the path and that the data has been downloaded") from None
    except OSError as error:  # a name too long, a folder it may not enter
        raise _cannot_read(path, error) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, f"is a folder, not a {kind}", hint="give the path of one file, or read the folder")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, f"is a device, a pipe or a socket, not a regular {kind}: it may never end",
                         hint="save the data to a file and give its path")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(path, f"is {info.st_size:,} bytes, more than the {max_bytes:,} a {kind} may have here",
                         hint="give a smaller file (one or a few drawings), or raise labeling.max_file_bytes")


def check_input_dir(folder: Path) -> None:
    """Check that ``folder`` is an existing folder.

    Args:
        folder: The folder.

    Raises:
        InputError: If it is missing or not a folder.
    """
    if not folder.exists():
        raise InputError(folder, "folder not found", hint="check the path and that the data has been downloaded")
    if not folder.is_dir():
        raise InputError(folder, "is a file, not a folder", hint="give the folder that holds the data files")


def _describe(value: Any) -> str:
    """A short description of a bad JSON value for a message: 'string "2"', 'null', 'list [1, 2]'."""
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, float) else json.dumps(value, ensure_ascii=False)
    if len(text) > 40:
        text = text[:37] + "..."
    kind = {bool: "boolean", str: "string", list: "list", dict: "object"}.get(type(value))
    return f"{kind} {text}" if kind else text


def _number(value: float) -> str:
    """A coordinate for a message (integers too large for a float are shortened, not converted)."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 20 else text[:17] + "..."


_NUMBER_TYPES = frozenset((int, float))


def _check_row(row: Any, stroke: int, axis: str) -> bool:
    """Validate one coordinate row of a stroke; True when it needs clipping into 0..255.

    Plain Python rather than numpy: strokes are short (about ten points), and numpy's per-call overhead
    would dominate reading time.
    """
    if not isinstance(row, list):
        raise _BadLine(f"stroke {stroke}: the {axis} coordinates must be a list of numbers, got {_describe(row)}")
    if not row:
        return False
    # type() rather than isinstance(): bool is a subclass of int, and true/false are not coordinates.
    types = set(map(type, row))
    if not types <= _NUMBER_TYPES:
        bad = next(v for v in row if type(v) not in _NUMBER_TYPES)
        raise _BadLine(f"stroke {stroke}: {axis} coordinate {_describe(bad)} is not a number")
    if float in types and not all(map(math.isfinite, row)):
        bad = next(v for v in row if not math.isfinite(v))
        raise _BadLine(f"stroke {stroke}: {axis} coordinate {bad} is not a finite number")
    low, high = min(row), max(row)
    if low < -COORD_SLACK or high > CANVAS_MAX + COORD_SLACK:
        bad = low if low < -COORD_SLACK else high
        raise _BadLine(
            f"stroke {stroke}: {axis} coordinate {_number(bad)} is outside 0..255 "
            "(the 'simplified' layout scales every drawing into 0..255)"
        )
    return low < 0 or high > CANVAS_MAX


def _parse_drawing(drawing: Any) -> tuple[np.ndarray, ...]:
    """Validate a ``drawing`` value and return its strokes as float32 (2, n) arrays clipped to 0..255."""
    if not isinstance(drawing, list):
        raise _BadLine(f"'drawing' must be a list of strokes [[x...], [y...]], got {_describe(drawing)}")
    if not drawing:
        raise _BadLine("empty drawing: 'drawing' has no strokes")
    strokes = []
    empty = []
    for number, stroke in enumerate(drawing, start=1):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise _BadLine(f"stroke {number} must be [[x...], [y...]], got {_describe(stroke)}")
        if len(stroke) == 3:
            # The dataset's "raw" layout adds a time row and is not scaled to 0..255.
            raise _BadLine(
                f"stroke {number} has 3 rows [[x...], [y...], [t...]]: this is the raw Quick, Draw! layout; "
                "use the 'simplified' files"
            )
        xs, ys = stroke
        clip_x = _check_row(xs, number, "x")
        clip_y = _check_row(ys, number, "y")
        if len(xs) != len(ys):
            raise _BadLine(f"stroke {number} has {len(xs)} x but {len(ys)} y coordinates")
        if not xs:
            empty.append(number)
        points = np.array((xs, ys), dtype=np.float32).reshape(2, len(xs))
        if clip_x or clip_y:
            np.clip(points, 0.0, CANVAS_MAX, out=points)
        strokes.append(points)
    if len(empty) == len(strokes):
        raise _BadLine("empty drawing: no stroke has any points")
    if empty:
        raise _BadLine(f"stroke {empty[0]} has no points")
    return tuple(strokes)


def _parse_parts(parts: Any, num_strokes: int) -> tuple[str, ...] | None:
    """Validate an optional ``parts`` value: one non-empty part name per stroke."""
    if parts is None:
        return None
    if not isinstance(parts, list):
        raise _BadLine(f"'parts' must be a list of part names, one per stroke, got {_describe(parts)}")
    for number, name in enumerate(parts, start=1):
        if not isinstance(name, str) or not name.strip():
            raise _BadLine(f"'parts' entry {number} must be a non-empty part name, got {_describe(name)}")
    if len(parts) != num_strokes:
        raise _BadLine(f"'parts' has {len(parts)} names but the drawing has {num_strokes} strokes")
    return tuple(_class_name(name, f"'parts' entry {number}") for number, name in enumerate(parts, start=1))


def _parse_attributes(attributes: Any) -> dict[str, str] | None:
    """Validate an optional ``attributes`` value: an object of attribute names to value names."""
    if attributes is None:
        return None
    if not isinstance(attributes, dict):
        raise _BadLine(f"'attributes' must be an object of attribute names to values, got {_describe(attributes)}")
    checked = {}
    for name, value in attributes.items():
        if not isinstance(value, str) or not value.strip():
            raise _BadLine(f"'attributes' entry {name!r} must be a non-empty value name, got {_describe(value)}")
        checked[_class_name(name, "'attributes' name")] = _class_name(value, f"'attributes' entry {name!r}")
    return checked


#: Names already checked (a file repeats a handful of class and part names thousands of times).
_CHECKED_NAMES: dict[str, str] = {}


def _class_name(name: str, what: str) -> str:
    """A class or part name as :func:`core.names.check_class_name` allows it (NFC), or a _BadLine."""
    checked = _CHECKED_NAMES.get(name)
    if checked is None:
        try:
            checked = check_class_name(name, what=what)
        except NameProblem as problem:
            raise _BadLine(str(problem)) from None
        if len(_CHECKED_NAMES) < 10_000:
            _CHECKED_NAMES[name] = checked
    return checked


def _parse_record(record: Any, default_word: str, default_key: str) -> Sketch:
    """Validate one decoded line and build its Sketch."""
    if not isinstance(record, dict):
        raise _BadLine(f"expected a JSON object {{...}}, got {_describe(record)}")

    word = record.get("word", default_word)
    if not isinstance(word, str) or not word.strip():
        raise _BadLine(f"'word' must be a non-empty string, got {_describe(word)}")
    word = _class_name(word, "'word'")

    if "key_id" in record:
        key_id = record["key_id"]
        # key_ids are decimal strings in the dataset; accept the integer form other tools write.
        if isinstance(key_id, int) and not isinstance(key_id, bool):
            key_id = str(key_id)
        if not isinstance(key_id, str) or not key_id.strip():
            raise _BadLine(f"'key_id' must be a non-empty string or an integer, got {_describe(key_id)}")
    else:
        key_id = default_key

    if "drawing" not in record:
        raise _BadLine("missing 'drawing' (the list of strokes)")
    strokes = _parse_drawing(record["drawing"])
    parts = _parse_parts(record.get("parts"), len(strokes))
    return Sketch(key_id=key_id, word=word, strokes=strokes, parts=parts,
                  attributes=_parse_attributes(record.get("attributes")))


#: Returned by _decode for a blank line.
_BLANK = object()


def _cannot_read(path: Path, error: OSError) -> InputError:
    return InputError(path, f"cannot read the file: {error.strerror or error}", hint="check its permissions")


def _decode(raw: bytes, number: int) -> Any:
    """Decode one line's bytes as UTF-8 JSON."""
    try:
        # A byte-order mark is legal at the start of a UTF-8 file (some editors write one).
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        raise _BadLine(
            f"not valid UTF-8 text (byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line); "
            "save the file as UTF-8"
        ) from None
    if not text.strip():
        return _BLANK
    try:
        # NaN/Infinity are not JSON; refuse them here rather than as coordinates later.
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise _BadLine(f"not valid JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise _BadLine("not valid JSON: nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise _BadLine(f"'{name}' is not a number in JSON; coordinates must be finite numbers")


def read_ndjson(
    path: str | PathLike[str],
    on_error: OnError = "raise",
    word: str | None = None,
    *,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> ReadResult:
    """Read a Quick, Draw! simplified ndjson file.

    Blank lines are ignored. A line without ``word`` takes the ``word`` argument (default: the file name
    without its suffix); a line without ``key_id`` gets the stable id ``"<file stem>-<line>"``. Coordinates
    up to 0.5 outside 0..255 are clipped; anything further out is an error.

    Args:
        path: The ``.ndjson`` file.
        on_error: ``"raise"`` to stop at the first invalid line, ``"skip"`` to leave invalid lines out and
            list them in :attr:`ReadResult.skipped`.
        word: The class name for lines that have no ``word``; defaults to the file stem.
        limit: Stop after this many valid drawings (None: read the whole file).
        max_bytes: Refuse a larger file before reading it (None: any size; lines are read one at a time, and
            one longer than :data:`MAX_LINE_BYTES` is an invalid line).

    Returns:
        The drawings in file order, and the skipped lines.

    Raises:
        InputError: If the file is missing, a folder, not a regular file, larger than ``max_bytes``, unreadable,
            or holds no valid drawing; with
            ``on_error="raise"``, also at the first invalid line (naming the line and the problem).
        ConfigError: If ``on_error`` or ``limit`` is not a valid setting.
    """
    check_on_error(on_error)
    check_limit(limit, "limit")
    path = Path(path)
    check_input_file(path, ".ndjson file", max_bytes)
    try:
        default_word = check_class_name(word if word is not None else path.stem,
                                        what="the class name" if word is not None else "the file name's class name")
    except NameProblem as problem:
        raise InputError(path, str(problem), hint="rename the file after its class, e.g. cat.ndjson") from None
    result = ReadResult()
    try:
        file = path.open("rb")
    except OSError as error:
        raise _cannot_read(path, error) from None
    # Line by line, so that large files are never held in memory whole.
    with file:
        try:
            for number, raw in enumerate(_lines(file), start=1):
                try:
                    if raw is None:
                        raise _BadLine(f"the line is longer than {MAX_LINE_BYTES:,} bytes: not one drawing")
                    record = _decode(raw, number)
                    if record is _BLANK:
                        continue
                    sketch = _parse_record(record, default_word, f"{path.stem}-{number}")
                except _BadLine as bad:
                    if on_error == "raise":
                        raise InputError(path, str(bad), line=number, hint=SKIP_HINT) from None
                    result.skipped.append(Skipped(str(path), number, str(bad)))
                    continue
                result.sketches.append(sketch)
                if limit is not None and len(result.sketches) >= limit:
                    break
        except OSError as error:  # a read error part-way (the reading itself, not our checks)
            raise _cannot_read(path, error) from None
    if not result.sketches:
        if result.skipped:
            first = result.skipped[0]
            raise InputError(
                path,
                f"no valid drawings: all {len(result.skipped)} non-blank lines are invalid "
                f"(first, line {first.line}: {first.reason})",
                hint="check that this is a Quick, Draw! 'simplified' ndjson file",
            )
        raise InputError(path, "the file has no drawings (it is empty)", hint="remove it or regenerate it")
    return result


def _lines(file: Any) -> Iterable[bytes | None]:
    """The file's lines, each read at most :data:`MAX_LINE_BYTES` at a time: None stands for a longer line, whose
    rest is skipped (memory stays bounded on a file that is one endless line)."""
    while True:
        raw = file.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw
            continue
        while raw and not raw.endswith(b"\n"):
            raw = file.readline(MAX_LINE_BYTES)
        yield None


def select_class_files(
    available: dict[str, list[Path]], classes: list[str] | None, folder: Path, kind: str
) -> list[Path]:
    """The files of the selected classes, in sorted file-name order.

    Args:
        available: Class name -> the files of that class found in ``folder``.
        classes: The class names to select; None selects all.
        folder: The folder, for messages.
        kind: What the files are (".ndjson file"), for messages.

    Returns:
        The selected files.

    Raises:
        ConfigError: If ``classes`` is a string or an empty list.
        InputError: If a class has no file (the hint lists close matches and every available class).
    """
    if classes is None:
        return sorted(p for paths in available.values() for p in paths)
    if isinstance(classes, str):
        raise ConfigError(f"data.source.classes must be a list of class names, got the string {classes!r}")
    if len(classes) == 0:
        raise ConfigError("data.source.classes is an empty list; list the classes to read, or use null for all of them")
    unknown = [c for c in classes if c not in available]
    if unknown:
        names = sorted(available)
        close = difflib.get_close_matches(unknown[0], names, n=3)
        suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise InputError(
            folder,
            f"no {kind} for class{'es' if len(unknown) > 1 else ''} {', '.join(repr(c) for c in unknown)}",
            hint=f"{suggestion}available classes ({len(names)}): {', '.join(names)}",
        )
    wanted = set(classes)
    return sorted(p for name, paths in available.items() if name in wanted for p in paths)


def find_class_files(folder: Path, suffix: str, word_of: Callable[[str], str]) -> dict[str, list[Path]]:
    """The files of a folder with a given suffix, grouped by the class name ``word_of(stem)``.

    Raises:
        InputError: If the folder is missing or holds no such file.
    """
    check_input_dir(folder)
    available: dict[str, list[Path]] = {}
    for path in folder.glob(f"*{suffix}"):
        if path.is_file():
            available.setdefault(word_of(path.stem), []).append(path)
    if not available:
        raise InputError(folder, f"no {suffix} files in this folder", hint=f"check the path (files must end in {suffix})")
    return available


def read_ndjson_dir(
    folder: str | PathLike[str],
    classes: list[str] | None = None,
    max_per_class: int | None = None,
    on_error: OnError = "raise",
) -> ReadResult:
    """Read every ``*.ndjson`` file of a folder, one file per class, in sorted file-name order.

    Args:
        folder: The folder.
        classes: The classes to read, by file stem ("cat" reads ``cat.ndjson``); None reads all.
        max_per_class: Read at most this many valid drawings from each file (None: all).
        on_error: ``"raise"`` or ``"skip"``, as in :func:`read_ndjson`.

    Returns:
        The drawings of all the selected files, file after file, and the skipped lines.

    Raises:
        InputError: If the folder is missing, holds no ``.ndjson`` file, a class has no file (the message
            lists the available ones), or a file is invalid (see :func:`read_ndjson`).
        ConfigError: If ``on_error``, ``classes`` or ``max_per_class`` is not a valid setting.
    """
    check_on_error(on_error)
    check_limit(max_per_class)
    folder = Path(folder)
    available = find_class_files(folder, ".ndjson", lambda stem: stem)
    result = ReadResult()
    for path in select_class_files(available, classes, folder, ".ndjson file"):
        result.extend(read_ndjson(path, on_error=on_error, limit=max_per_class))
    return result


def write_ndjson(path: str | PathLike[str], sketches: Iterable[Sketch]) -> int:
    """Write drawings as simplified ndjson (one compact JSON object a line), atomically.

    Coordinates are rounded to integers, as in the dataset; part names are kept.

    Args:
        path: The destination file. Missing parent folders are created.
        sketches: The drawings; each must have strokes (numpy_bitmap drawings cannot be written as ndjson).

    Returns:
        The number of drawings written.

    Raises:
        ValueError: If a drawing has no strokes (the file would not read back).
        OSError: If the file cannot be written (an existing file is then unchanged).
    """
    count = 0
    with atomic_open(path, "w") as file:
        for sketch in sketches:
            if not sketch.strokes:
                raise ValueError(
                    f"sketch {sketch.key_id!r} ({sketch.word}) has no strokes and cannot be written as ndjson"
                )
            file.write(json.dumps(sketch.to_ndjson_record(), separators=(",", ":"), ensure_ascii=False))
            file.write("\n")
            count += 1
    return count
