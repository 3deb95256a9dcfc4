"""Exemplar icons: each atlas cell shown by the real drawing fragment that best stands for it.

The Activation Atlas renders each cell by feature visualization (:mod:`pipeline.atlas.icons`). On a sketch
model those renders are stroke textures that a person cannot name. An exemplar icon is instead the ink position
of the cell whose activation vector lies closest (cosine) to the cell's mean, drawn sharp from its strokes
around that position (:meth:`~pipeline.atlas.patches.PatchMaker.fragment`): a piece of a real drawing, the
position marked. Its score is that cosine: 1 when the fragment is exactly the cell's average direction, lower
when the cell is spread out and no one member stands for it well. No optimisation runs, so it costs a few
milliseconds per cell instead of a minute per batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.atlas.icons import IconSet
from pipeline.atlas.patches import PatchMaker

__all__ = ["exemplar_icons"]


def exemplar_icons(points: pd.DataFrame, vectors: np.ndarray, cells: pd.DataFrame, means: np.ndarray,
                   maker: PatchMaker, size: int) -> tuple[IconSet, np.ndarray]:
    """One real-fragment icon per kept cell.

    Args:
        points: The sampled positions (``key_id``, ``y``, ``x``, ``cell``), row i for vector i.
        vectors: (n, C) their activation vectors.
        cells: The kept cells (``cell``), in the order of ``means``.
        means: (m, C) each kept cell's mean vector.
        maker: Draws the fragments from the split's sketches.
        size: The icons' side in pixels.

    Returns:
        The icons (``scores`` and ``values``: the chosen member's cosine with its cell's mean), and the chosen
        point of each cell (row of ``points``).
    """
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    centres = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    point_cell = points["cell"].to_numpy()
    images, scores, chosen = [], [], []
    for k, cell in enumerate(cells["cell"].to_numpy()):
        members = np.flatnonzero(point_cell == cell)
        cosine = unit[members] @ centres[k]
        best = int(members[int(np.argmax(cosine))])
        row = points.iloc[best]
        images.append(maker.fragment(str(row["key_id"]), int(row["y"]), int(row["x"]), size))
        scores.append(float(cosine.max()))
        chosen.append(best)
    score = np.asarray(scores, dtype=np.float32)
    return IconSet(images=np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8), scores=score,
                   values=score.copy()), np.asarray(chosen, dtype=np.int64)
