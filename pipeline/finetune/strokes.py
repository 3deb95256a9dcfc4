"""Grow a person's labels along the strokes they lie on.

A person who keeps an exemplar as "wheel" looks at the whole drawing with the position marked, and what they
recognise is a stroke: the circle, not the one cell of it the atlas sampled. The exemplars of a cluster are a
few positions of each part, all alike (that is why they clustered), so a concept head trained on them alone
learns that corner of the part and misses the rest of it in new drawings: on the default data the simulated
artist's verified positives cover 1 to 5% of their parts' positions in the labelled split.

Growing labels every ink position of the same drawing whose stride cell is mostly the seed's stroke
(:func:`stroke_cells`) and whose activation is still like the seed's (cosine >= ``similarity``, on the base
model's atlas layer): a stroke that runs on into another part (a head and its ears drawn in one line, common
in real Quick, Draw! drawings) stops where the layer sees something else. A position grown by two concepts is
left to neither. Drawings without strokes (bitmaps) are not grown.

Measured on the default data (the simulated artist's round 0-2 concepts, val split; precision and recall of a
concept's labels against the part it is named after, means over 20 concepts): verified exemplars alone
1.00 / 0.03; grown along their strokes at similarity 0.5: 0.98 / 0.31 (no similarity bound: 0.98 / 0.34);
grown instead over the grid's ink neighbours at the same similarity (no strokes): 0.53 / 0.32, since adjacent
parts touch. Grown positions are unverified positives (``finetune.unverified_weight``); they also serve the
nearest-neighbour spreading (:mod:`pipeline.finetune.spread`) as references. Settings:
``finetune.spread.strokes`` (``conf/finetune/default.yaml``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.data.raster import RasterSpec, rasterize_parts
from core.sketch import Sketch
from core.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.activations.geometry import LayerGeometry

__all__ = ["StrokeGrowing", "stroke_cells"]

Position = tuple[str, int, int]


def stroke_cells(sketches: Sequence[Sketch], raster: RasterSpec, geometry: LayerGeometry) -> dict[str, np.ndarray]:
    """key_id -> (H, W) int16: which stroke (1-based, in drawing order) draws most of each position's stride
    cell, 0 where none does. Sketches without strokes (bitmaps) are left out.

    Args:
        sketches: The drawings.
        raster: How the model sees them.
        geometry: The layer's grid.
    """
    from pipeline.activations.extractor import part_cells

    out: dict[str, np.ndarray] = {}
    batch: list[Sketch] = []
    masks: list[np.ndarray] = []

    def flush() -> None:
        for sketch, cells in zip(batch, part_cells(np.stack(masks), geometry), strict=True):
            out[sketch.key_id] = cells
        batch.clear()
        masks.clear()

    for sketch in sketches:
        if not sketch.strokes:
            continue
        names = tuple(str(i + 1) for i in range(len(sketch.strokes)))
        # each stroke its own "part": the part mask's rules (ink, the later stroke on top) decide the cells
        masks.append(rasterize_parts(dataclasses.replace(sketch, parts=names), raster,
                                     {name: i + 1 for i, name in enumerate(names)}))
        batch.append(sketch)
        if len(batch) == 256:
            flush()
    if batch:
        flush()
    return out


@dataclass(frozen=True)
class StrokeGrowing:
    """Labels grown from seed positions along their strokes, while the layer's activation stays alike.

    Args:
        similarity: The least cosine similarity, on the atlas layer, of a grown position to its seed, in
            [-1, 1] (-1: the whole stroke).

    Raises:
        ConfigError: A setting out of range.
    """

    similarity: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.similarity, bool) or not isinstance(self.similarity, (int, float)) \
                or not -1.0 <= self.similarity <= 1.0:
            raise ConfigError(f"finetune.spread.strokes.similarity: expected a cosine in [-1, 1], "
                              f"got {self.similarity!r}")

    def grow(self, seeds: Sequence[Sequence[Position]], vectors: Mapping[str, np.ndarray],
             ink: Mapping[str, np.ndarray], strokes: Mapping[str, np.ndarray]) -> list[list[Position]]:
        """The positions each concept's seeds grow to.

        Args:
            seeds: Per concept, the positions ``(key_id, y, x)`` to grow from (its verified positives).
            vectors: key_id -> (H, W, C) activations (the base model's atlas layer).
            ink: key_id -> (H, W) bool, which positions hold ink.
            strokes: key_id -> (H, W) the stroke of each position (:func:`stroke_cells`).

        Returns:
            Per concept, the grown positions: never a seed of any concept, never one grown by two concepts.
        """
        grown: list[set[Position]] = [set() for _ in seeds]
        units: dict[str, np.ndarray] = {}  # each sketch's activations normalised once, for all of its seeds
        for c, items in enumerate(seeds):
            for key, y, x in items:
                if key not in strokes or key not in vectors:
                    continue
                cells = strokes[key]
                if not (0 <= y < cells.shape[0] and 0 <= x < cells.shape[1]) or cells[y, x] == 0:
                    continue
                candidates = np.argwhere((cells == cells[y, x]) & ink[key])
                if self.similarity > -1.0:
                    unit = units.get(key)
                    if unit is None:
                        unit = units[key] = _unit(vectors[key])
                    alike = unit[candidates[:, 0], candidates[:, 1]] @ unit[y, x] >= self.similarity
                    candidates = candidates[alike]
                grown[c].update((key, int(a), int(b)) for a, b in candidates)
        taken = {(str(k), int(y), int(x)) for items in seeds for k, y, x in items}
        counts: dict[Position, int] = {}
        for positions in grown:
            for p in positions:
                counts[p] = counts.get(p, 0) + 1
        return [sorted(p for p in positions if counts[p] == 1 and p not in taken) for positions in grown]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
