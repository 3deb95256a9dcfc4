"""Subcommands of ``articulate``, one module per family; each registers itself with ``add_commands``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from core.sketch import Sketch

__all__ = ["input_file_limit", "parse_int_list", "parse_sketch_ref", "read_sketch_ref"]

SKETCH_REF = "FILE.ndjson:KEY_ID or FILE.ndjson:N (the N-th drawing, from 1)"


def parse_int_list(text: str, option: str, example: str = "0-3,8", *, allow_empty: bool = False) -> list[int]:
    """``"0-15"``, ``"0,3,7"`` or a mix (``"0-3,8"``) as a list of non-negative integers.

    Args:
        text: The option's value.
        option: The option, for the error message (``--channels``).
        example: A valid value to show in the error message.
        allow_empty: An empty value is an empty list (otherwise an error).

    Returns:
        The numbers in the order given, without repeats.

    Raises:
        ConfigError: Not a comma-separated list of numbers and ascending ranges, or a negative number.
    """
    numbers: list[int] = []
    for piece in filter(None, (t.strip() for t in text.split(","))):
        try:
            if "-" in piece[1:]:
                low, high = (int(v) for v in piece.split("-", 1))
                if high < low:
                    raise ValueError(piece)
                numbers.extend(range(low, high + 1))
            else:
                numbers.append(int(piece))
        except ValueError:
            raise ConfigError(f"{option}: expected numbers and ranges like {example}, got {piece!r}") from None
    if not numbers and not allow_empty:
        raise ConfigError(f"{option}: expected numbers and ranges like {example}, got {text!r}")
    if any(n < 0 for n in numbers):
        raise ConfigError(f"{option}: expected numbers >= 0, got {text!r}")
    return list(dict.fromkeys(numbers))


def parse_sketch_ref(text: str) -> tuple[Path, str]:
    """Split ``FILE.ndjson:KEY_OR_N`` into the file and the selector.

    Raises:
        ConfigError: If there is no ``:`` selector.
    """
    path, sep, key = text.rpartition(":")
    if not sep or not path or not key:
        raise ConfigError(f"--sketch: expected {SKETCH_REF}, got {text!r}")
    return Path(path), key


def input_file_limit(overrides: list[str] | None = None) -> int:
    """The largest drawing file a command reads (``labeling.max_file_bytes``, with the command's overrides)."""
    from pipeline.config import compose

    return int(compose(list(overrides or []), targets=False).labeling.max_file_bytes)


def read_sketch_ref(text: str, max_bytes: int) -> Sketch:
    """The drawing ``FILE.ndjson:KEY_ID`` or ``FILE.ndjson:N`` names (lines that are not drawings are skipped).

    Args:
        text: The reference.
        max_bytes: The largest file read (``labeling.max_file_bytes``): a larger one, or anything but a regular
            file (``/dev/zero``), is refused before a byte of it is read.

    Raises:
        ConfigError: A malformed reference.
        InputError: The file is missing, unreadable, not a regular file or too large, or holds no such drawing.
    """
    from core.ndjson import read_ndjson

    path, key = parse_sketch_ref(text)
    sketches = read_ndjson(path, on_error="skip", max_bytes=max_bytes).sketches
    chosen = next((s for s in sketches if s.key_id == key), None)
    if chosen is None and key.isdigit() and 1 <= int(key) <= len(sketches):
        chosen = sketches[int(key) - 1]
    if chosen is None:
        raise InputError(path, f"no drawing with key_id {key!r}",
                         hint=f"give a key_id from the file or a number from 1 to {len(sketches)}")
    return chosen
