"""The in-memory sketch: strokes in drawing order, with optional per-stroke part names or a bitmap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: Quick, Draw! "simplified" coordinates live in 0..255.
CANVAS_MAX = 255.0


@dataclass(frozen=True)
class Sketch:
    """One drawing.

    Stroke drawings (the generator, ndjson files) have ``strokes``; numpy_bitmap drawings have only
    ``bitmap``. Generated drawings also carry the name of the part each stroke draws.

    Attributes:
        key_id: Identifier, unique within a dataset.
        word: The class name ("cat").
        strokes: Strokes in drawing order, each a float32 array of shape (2, n): x row, y row, in 0..255.
        parts: The part name of each stroke (same length as ``strokes``), or None when unknown.
        bitmap: A uint8 (28, 28) image (0 background, 255 ink) for numpy_bitmap data, else None.
        attributes: What the generator chose for the whole drawing (attribute name -> value: ``facing`` ->
            ``left``, ``omitted`` -> ``leg``, ...), or None where unknown (real drawings).
    """

    key_id: str
    word: str
    strokes: tuple[np.ndarray, ...] = ()
    parts: tuple[str, ...] | None = None
    bitmap: np.ndarray | None = field(default=None, repr=False)
    attributes: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.parts is not None and len(self.parts) != len(self.strokes):
            raise ValueError(f"sketch {self.key_id}: {len(self.parts)} part names for {len(self.strokes)} strokes")

    @property
    def num_strokes(self) -> int:
        return len(self.strokes)

    def first_strokes(self, k: int) -> Sketch:
        """The partial drawing made of the first ``k`` strokes (drawing order), without the finished drawing's
        attributes (a part not drawn yet is not an omitted part)."""
        parts = None if self.parts is None else self.parts[:k]
        return Sketch(self.key_id, self.word, self.strokes[:k], parts, self.bitmap)

    def to_ndjson_record(self) -> dict:
        """The Quick, Draw! simplified layout (integer coordinates), plus ``parts`` and ``attributes`` when known."""
        record: dict = {
            "word": self.word,
            "key_id": self.key_id,
            "recognized": True,
            "drawing": [[np.rint(s[0]).astype(int).tolist(), np.rint(s[1]).astype(int).tolist()] for s in self.strokes],
        }
        if self.parts is not None:
            record["parts"] = list(self.parts)
        if self.attributes is not None:
            record["attributes"] = dict(self.attributes)
        return record
