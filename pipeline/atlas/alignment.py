"""Aligning a round's map with the previous round's, so that the artist and the researcher see what moved.

UMAP's layout is only defined up to rotation, reflection, scale and position: two rounds of the same layer
come out turned against each other even where nothing changed. The positions both rounds sampled (the same
sketch, y, x) are anchors: the similarity transform (orthogonal Procrustes with a scale and a shift) that
brings the new anchors closest to their old places is applied to the whole new map. Where the layer did not
change, the map lands where it was; what moved is then what the fine-tuning moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import orthogonal_procrustes

__all__ = ["Alignment", "align_layout"]

log = logging.getLogger(__name__)

#: Fewer shared positions than this and the map is left as UMAP made it.
MIN_ANCHORS = 10


@dataclass(frozen=True)
class Alignment:
    """How a map was aligned.

    Attributes:
        anchors: Positions both rounds sampled.
        residual: Root mean square distance of the aligned anchors from their previous places, as a share of
            the previous map's spread (0: the anchors landed exactly where they were).
        applied: Whether the map was transformed (False: too few anchors).
    """

    anchors: int
    residual: float | None
    applied: bool


def _keys(frame: pd.DataFrame) -> pd.Index:
    return pd.Index(frame["key_id"].astype(str) + ":" + frame["y"].astype(int).astype(str) + ":"
                    + frame["x"].astype(int).astype(str))


def align_layout(layout: np.ndarray, positions: pd.DataFrame, previous: pd.DataFrame) -> tuple[np.ndarray, Alignment]:
    """Transform ``layout`` so the positions shared with ``previous`` land where they were.

    Args:
        layout: (n, 2) the new map.
        positions: The new map's positions (``key_id``, ``y``, ``x``), row i for ``layout[i]``.
        previous: The previous round's points (``key_id``, ``y``, ``x``, ``umap_x``, ``umap_y``).

    Returns:
        The aligned (n, 2) float32 map, and how it was aligned.
    """
    new_index, old_index = _keys(positions), _keys(previous)
    shared = new_index.intersection(old_index)
    if len(shared) < MIN_ANCHORS:
        log.info("map alignment: %d positions shared with the previous round's map; left as it is", len(shared))
        return np.asarray(layout, dtype=np.float32), Alignment(len(shared), None, False)
    source = np.asarray(layout, dtype=np.float64)[new_index.get_indexer(shared)]
    target = previous[["umap_x", "umap_y"]].to_numpy(dtype=np.float64)[old_index.get_indexer(shared)]
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    rotation, singular = orthogonal_procrustes(centred_source, centred_target)
    scale = singular / max(float((centred_source ** 2).sum()), 1e-12)
    aligned = (np.asarray(layout, dtype=np.float64) - source_mean) @ rotation * scale + target_mean
    spread = float(np.sqrt((centred_target ** 2).sum(axis=1).mean())) or 1.0
    moved = aligned[new_index.get_indexer(shared)] - target
    residual = float(np.sqrt((moved ** 2).sum(axis=1).mean())) / spread
    log.info("map aligned with the previous round's on %d shared positions (residual %.3f of its spread)",
             len(shared), residual)
    return aligned.astype(np.float32), Alignment(len(shared), residual, True)
