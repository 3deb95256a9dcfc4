"""Train/validation/test splits that never leak a drawing.

A sketch's split is a pure function of the seed and a hash of its drawing's content (stroke coordinates
rounded to integers, or the bitmap's pixels), not of its key_id or its position in the list:

- the same drawing saved twice under different key_ids lands in the same split, so it cannot be trained
  on and then tested on;
- adding or removing other sketches never moves a sketch to another split, so evaluation sets stay put as
  data is added;
- the assignment is the same on every machine and Python run (blake2b, not Python's salted ``hash()``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from os import PathLike

import numpy as np

from core.sketch import Sketch
from core.errors import ConfigError, InputError

__all__ = ["assign_splits", "content_hash", "split_of", "split_position"]

#: How close to 1 the fractions must sum.
SUM_TOLERANCE = 1e-6

_UNIT = float(2**64)


def content_hash(sketch: Sketch) -> bytes:
    """A 16-byte digest of what a sketch looks like, independent of its key_id, word and part names.

    Stroke drawings hash their coordinates rounded to integers (so float noise from a round trip through
    ndjson does not change it), stroke by stroke; bitmap drawings hash their pixels.

    Args:
        sketch: The drawing.

    Returns:
        The blake2b digest.
    """
    digest = hashlib.blake2b(digest_size=16)
    if sketch.strokes or sketch.bitmap is None:
        digest.update(b"strokes")
        for stroke in sketch.strokes:
            points = np.rint(np.asarray(stroke, dtype=np.float64)).astype("<i4")
            # The point count delimits strokes: [a, b] [c] and [a] [b, c] are different drawings.
            digest.update(points.shape[-1].to_bytes(4, "little"))
            digest.update(points.tobytes())
    else:
        bitmap = np.ascontiguousarray(sketch.bitmap, dtype=np.uint8)
        digest.update(b"bitmap")
        digest.update(np.asarray(bitmap.shape, dtype="<i4").tobytes())
        digest.update(bitmap.tobytes())
    return digest.digest()


def split_position(seed: int, sketch: Sketch) -> float:
    """The sketch's pseudo-random position in [0, 1) for this seed: its split is the one whose share of [0, 1)
    holds it, and sorting by it orders drawings the same way on every machine (what a split by count uses)."""
    digest = hashlib.blake2b(digest_size=8, person=b"articulate-split")
    digest.update(str(seed).encode("ascii"))
    digest.update(b"\0")
    digest.update(content_hash(sketch))
    return int.from_bytes(digest.digest(), "little") / _UNIT


def _check_fractions(fractions: Mapping[str, float]) -> list[tuple[str, float]]:
    """Validate split fractions; return them in a canonical order (sorted by name)."""
    if not isinstance(fractions, Mapping) or not fractions:
        raise ConfigError(
            f"data.splits must map split names to fractions, e.g. {{train: 0.8, val: 0.1, test: 0.1}}, "
            f"got {fractions!r}"
        )
    for name, value in fractions.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"data.splits: split names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"data.splits.{name} must be a number >= 0, got {value!r}")
    if "train" not in fractions:
        raise ConfigError(f"data.splits must include 'train'; got only {', '.join(sorted(fractions))}")
    total = math.fsum(float(v) for v in fractions.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        listed = ", ".join(f"{k}={v}" for k, v in fractions.items())
        raise ConfigError(f"data.splits fractions must sum to 1, but {listed} sum to {total:g}")
    # Sorted so that the same fractions written in another order give the same assignment.
    return sorted((name, float(value)) for name, value in fractions.items())


def split_of(sketch: Sketch, fractions: Mapping[str, float], seed: int) -> str:
    """The split one sketch belongs to (the one :func:`assign_splits` puts it in).

    Args:
        sketch: The drawing.
        fractions: Split name -> fraction, as in :func:`assign_splits`.
        seed: The split seed.

    Returns:
        The split name.

    Raises:
        ConfigError: If the fractions or the seed are invalid.
    """
    return _assign(sketch, _cumulative(_check_fractions(fractions)), _check_seed(seed))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ConfigError(f"the split seed must be an integer, got {seed!r}")
    return int(seed)


def _cumulative(ordered: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """(name, upper bound) pairs; positives only, the last bound forced to 1 against rounding."""
    bounds = []
    upper = 0.0
    for name, fraction in ordered:
        if fraction > 0:
            upper += fraction
            bounds.append((name, upper))
    bounds[-1] = (bounds[-1][0], 1.0)
    return bounds


def _assign(sketch: Sketch, bounds: list[tuple[str, float]], seed: int) -> str:
    position = split_position(seed, sketch)
    for name, upper in bounds:
        if position < upper:
            return name
    return bounds[-1][0]  # unreachable: the last bound is 1 and positions are < 1


def assign_splits(
    sketches: Sequence[Sketch],
    fractions: Mapping[str, float],
    seed: int,
    *,
    source: str | PathLike[str] = "the dataset",
    pinned: Mapping[str, str] | None = None,
) -> dict[str, list[Sketch]]:
    """Split sketches by a seeded hash of their content.

    Each sketch goes to a split with probability equal to its fraction, independently of the others, so
    the split sizes match the fractions only approximately (to about ``sqrt(N)``); in return, a sketch's
    split depends on nothing but its content and the seed (see the module docstring). A sketch in ``pinned``
    goes to the split named there instead (the real drawings of ``data=mixed``, split by count).

    Args:
        sketches: The drawings; key_ids must be unique.
        fractions: Split name -> fraction of the data, e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}``.
            Fractions must be >= 0 and sum to 1, and there must be a ``"train"`` split.
        seed: The split seed: another seed gives an unrelated assignment.
        source: What the sketches were read from, for error messages.
        pinned: key_id -> split name, for sketches whose split is decided already; every name must be one of
            ``fractions``.

    Returns:
        Split name -> its sketches in input order, with every name of ``fractions`` present (in that order),
        empty where nothing was assigned.

    Raises:
        ConfigError: If a fraction is negative or not a number, they do not sum to 1, ``"train"`` is
            missing, or the seed is not an integer.
        InputError: If two sketches share a key_id (naming it).
        ConfigError: Also if a pinned split is not one of ``fractions``.
    """
    bounds = _cumulative(_check_fractions(fractions))
    seed = _check_seed(seed)
    pinned = dict(pinned or {})
    foreign = sorted(set(pinned.values()) - set(fractions))
    if foreign:
        raise ConfigError(f"drawings of {source} are meant for the split '{foreign[0]}', which data.splits does not "
                          f"have ({', '.join(fractions)}); add it to data.splits or send them to another split")
    seen: dict[str, int] = {}
    for index, sketch in enumerate(sketches):
        first = seen.setdefault(sketch.key_id, index)
        if first != index:
            raise InputError(
                source,
                f"key_id {sketch.key_id!r} is used twice (drawings {first + 1} and {index + 1}, "
                f"words {sketches[first].word!r} and {sketch.word!r})",
                hint="key_ids must be unique: remove the duplicate or give it a new key_id; "
                "is the same file read twice?",
            )
    result: dict[str, list[Sketch]] = {name: [] for name in fractions}
    for sketch in sketches:
        result[pinned.get(sketch.key_id) or _assign(sketch, bounds, seed)].append(sketch)
    return result
