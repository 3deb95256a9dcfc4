"""Stroke growing: a kept exemplar's label reaches the rest of its stroke, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.raster import RasterSpec
from core.sketch import Sketch
from core.errors import ConfigError
from pipeline.finetune.strokes import StrokeGrowing, stroke_cells
from pipeline.activations.geometry import LayerGeometry


def _line(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 20, dtype=np.float32)
    return np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t])


def _toy() -> tuple[dict, dict, dict]:
    """One 4x4 sketch: stroke 1 along row 0, stroke 2 along row 3; activations alike along each stroke, except
    the last position of stroke 1, which looks like something else."""
    strokes = {"a": np.zeros((4, 4), dtype=np.int16)}
    strokes["a"][0, :] = 1
    strokes["a"][3, :] = 2
    ink = {"a": strokes["a"] > 0}
    vectors = {"a": np.zeros((4, 4, 3), dtype=np.float32)}
    vectors["a"][0, :] = [1.0, 0.1, 0.0]
    vectors["a"][0, 3] = [0.0, 0.0, 1.0]
    vectors["a"][3, :] = [1.0, 0.0, 0.2]  # like stroke 1: only the stroke keeps the labels apart
    return vectors, ink, strokes


def test_a_seed_grows_along_its_stroke_while_the_layer_agrees() -> None:
    vectors, ink, strokes = _toy()
    grown = StrokeGrowing(similarity=0.5).grow([[("a", 0, 0)], []], vectors, ink, strokes)
    assert grown == [[("a", 0, 1), ("a", 0, 2)], []]  # not (0, 3): unlike the seed; not row 3: another stroke
    whole = StrokeGrowing(similarity=-1.0).grow([[("a", 0, 0)]], vectors, ink, strokes)
    assert whole == [[("a", 0, 1), ("a", 0, 2), ("a", 0, 3)]]


def test_contested_unknown_and_empty_positions_are_not_grown() -> None:
    vectors, ink, strokes = _toy()
    growing = StrokeGrowing(similarity=-1.0)
    # two concepts seeded on one stroke: the stroke's other positions go to neither; the seeds stay theirs
    assert growing.grow([[("a", 0, 0)], [("a", 0, 2)]], vectors, ink, strokes) == [[], []]
    # a seed in an empty cell, outside the grid or in a sketch without strokes grows nothing
    assert growing.grow([[("a", 1, 1), ("a", 9, 0), ("bitmap", 0, 0)]], vectors, ink, strokes) == [[]]
    for bad in (1.5, -2.0, True, "0.5"):
        with pytest.raises(ConfigError, match="finetune.spread.strokes.similarity"):
            StrokeGrowing(similarity=bad)


def test_stroke_cells_name_each_positions_stroke() -> None:
    raster = RasterSpec(size=64)
    geometry = LayerGeometry("block", channels=8, height=16, width=16, input_size=64, stride=4.0,
                             receptive_field=4, rf_offset=1.5)
    top, bottom = _line(10, 20, 245, 20), _line(10, 230, 245, 230)
    sketches = [Sketch("s", "x", (top, bottom)), Sketch("b", "x", (), bitmap=np.zeros((28, 28), np.uint8))]
    cells = stroke_cells(sketches, raster, geometry)
    assert set(cells) == {"s"}  # a bitmap has no strokes to follow
    grid = cells["s"]
    assert grid.shape == (geometry.height, geometry.width)
    assert set(np.unique(grid)) == {0, 1, 2}
    rows_1, rows_2 = np.nonzero(grid == 1)[0], np.nonzero(grid == 2)[0]
    assert rows_1.max() < geometry.height // 2 <= rows_2.min()  # stroke 1 on top, stroke 2 at the bottom
