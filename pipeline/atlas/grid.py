"""The atlas grid: a G x G grid over the 2-D layout, and the mean activation of the points in each cell.

Cells are square bins over the bounding box of the layout (each axis scaled to [0, 1] on its own). Row 0 is
the *top* row (largest layout y) and column 0 the left column (smallest layout x), so ``(row, col)`` reads
like the atlas image. A cell is kept when it holds at least ``min_count`` points; only kept cells get a mean
vector and an icon. Cell ids are ``row * G + col``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["AtlasGrid", "GridLayout"]


@dataclass
class GridLayout:
    """A fitted grid.

    Attributes:
        size: G (cells per side).
        min_count: The minimum points of a kept cell.
        extent: ``(x_min, x_max, y_min, y_max)`` of the layout the grid covers.
        point_cell: (n,) cell id (``row * G + col``) of every point, kept or not.
        cells: One row per kept cell, in cell-id order: ``cell``, ``row``, ``col``, ``count``, ``centre_x``,
            ``centre_y`` (centre of the cell in layout coordinates).
        means: (number of kept cells, C) float32 mean activation vector of each kept cell.
    """

    size: int
    min_count: int
    extent: tuple[float, float, float, float]
    point_cell: np.ndarray
    cells: pd.DataFrame
    means: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        """(n,) True for the points in kept cells."""
        return np.isin(self.point_cell, self.cells["cell"].to_numpy())


class AtlasGrid:
    """Bins a 2-D layout into a G x G grid and averages the activation vectors in each cell.

    Args:
        size: G, the cells per side (>= 1).
        min_count: Keep cells with at least this many points (>= 1).
        clip: The share of points, at each end of each axis, that the grid's extent leaves out (0 <= clip < 0.5):
            they fall into the border cells, so a few far-flung points do not shrink the dense region where
            the structure is to a few cells. 0: the extent is the layout's bounding box.

    Raises:
        ConfigError: A parameter is out of range.
    """

    CONF = Conf("atlas.grid")

    def __init__(self, size: int, min_count: int, clip: float) -> None:
        for name, value in (("grid.size", size), ("grid.min_count", min_count)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ConfigError(f"atlas: {name} must be an integer >= 1, got {value!r}")
        if isinstance(clip, bool) or not isinstance(clip, Real) or not 0 <= clip < 0.5:
            raise ConfigError(f"atlas: grid.clip must be a share from 0 to below 0.5, got {clip!r}")
        self.size = int(size)
        self.min_count = int(min_count)
        self.clip = float(clip)

    def get_params(self) -> dict[str, object]:
        """The parameters, as a plain dict."""
        return {"size": self.size, "min_count": self.min_count, "clip": self.clip}

    def fit(self, layout: np.ndarray, vectors: np.ndarray) -> GridLayout:
        """Bin the points and average the vectors of each kept cell.

        Args:
            layout: (n, 2) layout coordinates (x, y).
            vectors: (n, C) activation vectors.

        Returns:
            The grid.

        Raises:
            ConfigError: Fewer points than cells, or no cell reaching ``min_count`` (an empty atlas).
        """
        layout = np.asarray(layout, dtype=np.float64)
        vectors = np.asarray(vectors, dtype=np.float32)
        n, g = len(layout), self.size
        if len(vectors) != n:
            raise ValueError(f"{n} layout points but {len(vectors)} vectors")
        if n < g * g:
            raise ConfigError(f"atlas: fewer points than cells ({n} sampled points for a {g}x{g} grid of {g * g} "
                              "cells) would make an empty atlas; use a smaller grid (atlas.grid.size) or sample "
                              "more points (atlas.sample.count)")
        low, high = np.quantile(layout, [self.clip, 1.0 - self.clip], axis=0)
        span = np.where(high > low, high - low, 1.0)
        scaled = np.clip((layout - low) / span, 0.0, 1.0)  # [0, 1] on each axis; outliers at the border
        col = np.minimum((scaled[:, 0] * g).astype(np.int64), g - 1)
        row = np.minimum(((1.0 - scaled[:, 1]) * g).astype(np.int64), g - 1)  # row 0 at the top
        point_cell = row * g + col
        counts = np.bincount(point_cell, minlength=g * g)
        kept = np.flatnonzero(counts >= self.min_count)
        if len(kept) == 0:
            raise ConfigError(f"atlas: no grid cell has grid.min_count={self.min_count} points ({n} points, "
                              f"{g}x{g} grid); lower the minimum, use a smaller grid or sample more points")
        sums = np.zeros((g * g, vectors.shape[1]), dtype=np.float64)
        _add_sorted(sums, point_cell, vectors)
        means = (sums[kept] / counts[kept, None]).astype(np.float32)
        kept_row, kept_col = kept // g, kept % g
        cells = pd.DataFrame({
            "cell": kept.astype(np.int32), "row": kept_row.astype(np.int16), "col": kept_col.astype(np.int16),
            "count": counts[kept].astype(np.int32),
            "centre_x": low[0] + (kept_col + 0.5) / g * span[0],
            "centre_y": low[1] + (1.0 - (kept_row + 0.5) / g) * span[1],
        })
        extent = (float(low[0]), float(low[0] + span[0]), float(low[1]), float(low[1] + span[1]))
        return GridLayout(size=g, min_count=self.min_count, extent=extent, point_cell=point_cell.astype(np.int32),
                          cells=cells, means=means)


def _add_sorted(sums: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``np.add.at(sums, index, values)``, done by sorting and ``np.add.reduceat`` (much faster)."""
    order = np.argsort(index, kind="stable")
    index = index[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    sums[index[starts]] += np.add.reduceat(values[order].astype(np.float64), starts, axis=0)
