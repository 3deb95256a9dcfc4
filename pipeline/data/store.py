"""The dataset folder written by the data stage and read by every later stage.

Layout (``paths.dataset``, default ``data/dataset/``)::

    manifest.json         classes, parts (generated data), split sizes, kind, what was skipped, the real
                          drawings of mixed data (data=mixed: per class how many went to each split, the share
                          of each training batch drawn from them), the drawings' attributes and their values
                          (generated data)
    train.ndjson ...      one file per split: Quick, Draw! simplified ndjson (+ "parts", "attributes"), for stroke
                          data
    train.npz ...         or, for numpy_bitmap data: bitmaps (N, 28, 28) uint8, words, key_ids
    samples.png           a preview grid of training drawings

The class index of a sketch is its position in ``manifest["classes"]``; part ids in part masks are
1 + the position in ``manifest["parts"]`` (0 is background, :data:`UNKNOWN_PART` a drawing that names no parts).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.ndjson import read_ndjson, write_ndjson
from core.sketch import Sketch
from core.errors import InputError
from core.io import atomic_write_bytes, atomic_write_text

MANIFEST = "manifest.json"
#: The part id of every pixel and position of a drawing whose parts are unknown, in data where others name theirs
#: (the real drawings of ``data=mixed``): neither a part nor "no part", so the part metrics, part supervision and the
#: simulated artist leave it out.
UNKNOWN_PART = -1
RUN_DATA_STAGE = "run the data stage first: `python -m pipeline.stages.data` or `dvc repro data`"


@dataclass
class Manifest:
    """What a dataset folder holds.

    Attributes:
        name: The data config's name ("generated", "quickdraw", ...).
        kind: "strokes" or "bitmap".
        classes: Class names; a sketch's label is its index here.
        parts: Part names of generated data (part id = index + 1), or None.
        splits: Number of drawings in each split.
        skipped: Number of invalid drawings left out while reading.
        real: For mixed data (generated drawings with parts, real ones without): the real drawings' folder,
            ``share`` (of each training batch drawn from them; None: as many as they are) and ``per_class``
            (class -> split -> count); None for other data. In such a dataset a drawing is real exactly when it
            names no parts.
        attributes: Attribute name -> its values, sorted, over the drawings that record attributes (generated
            data: ``facing`` -> ``["left", "right"]``, ...); None where no drawing does.
    """

    name: str
    kind: str
    classes: list[str]
    parts: list[str] | None
    splits: dict[str, int]
    skipped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    real: dict[str, Any] | None = None
    attributes: dict[str, list[str]] | None = None

    @property
    def class_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    @property
    def part_index(self) -> dict[str, int]:
        return {name: i + 1 for i, name in enumerate(self.parts or [])}


def attribute_values(sketches: Iterable[Sketch]) -> dict[str, list[str]] | None:
    """Every attribute the drawings record and the values it takes (the manifest's ``attributes``).

    Args:
        sketches: The drawings.

    Returns:
        Attribute name -> sorted values, names sorted; None when no drawing records attributes.
    """
    values: dict[str, set[str]] = {}
    for sketch in sketches:
        for name, value in (sketch.attributes or {}).items():
            values.setdefault(name, set()).add(value)
    return {name: sorted(values[name]) for name in sorted(values)} or None


def write_split(folder: Path, split: str, sketches: list[Sketch]) -> Path:
    """Write one split in the format its drawings need (ndjson for strokes, npz for bitmaps)."""
    if sketches and sketches[0].bitmap is not None and not sketches[0].strokes:
        path = folder / f"{split}.npz"
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            bitmaps=np.stack([s.bitmap for s in sketches]).astype(np.uint8),
            words=np.array([s.word for s in sketches]),
            key_ids=np.array([s.key_id for s in sketches]),
        )
        atomic_write_bytes(path, buffer.getvalue())
        return path
    path = folder / f"{split}.ndjson"
    write_ndjson(path, sketches)
    return path


def write_manifest(folder: Path, manifest: Manifest) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps(asdict(manifest), indent=2) + "\n")


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a dataset folder.

    Raises:
        InputError: The folder or its manifest is missing or unreadable.
    """
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text())
        return Manifest(**data)
    except FileNotFoundError:
        raise InputError(path, "no dataset here", hint=RUN_DATA_STAGE) from None
    except (OSError, ValueError, TypeError) as err:
        raise InputError(path, f"unreadable dataset manifest ({err})", hint=RUN_DATA_STAGE) from None


def split_path(folder: str | Path, split: str) -> Path:
    """The file that holds one split (``<split>.ndjson`` for strokes, ``<split>.npz`` for bitmaps).

    Raises:
        InputError: Neither exists.
    """
    folder = Path(folder)
    for path in (folder / f"{split}.ndjson", folder / f"{split}.npz"):
        if path.is_file():
            return path
    raise InputError(folder, f"no '{split}' split (neither {split}.ndjson nor {split}.npz)", hint=RUN_DATA_STAGE)


def read_split(folder: str | Path, split: str) -> list[Sketch]:
    """The drawings of one split of a dataset folder.

    Raises:
        InputError: The split's file is missing or corrupt.
    """
    path = split_path(folder, split)
    if path.suffix == ".ndjson":
        return read_ndjson(path).sketches
    try:
        with np.load(path) as data:
            images, words, keys = data["bitmaps"], data["words"], data["key_ids"]
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"corrupt split file ({err})", hint=RUN_DATA_STAGE) from None
    return [Sketch(key_id=str(k), word=str(w), bitmap=b) for b, w, k in zip(images, words, keys, strict=True)]
