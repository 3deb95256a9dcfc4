"""Per-cluster statistics and the atlas metrics ``atlas_purity`` and ``atlas_nmi``.

The true part of a position is the majority part of the ink pixels in its stride cell (``part`` in the
activation store; 0 where it has none or the data has no parts). The metrics, as docs/design.md defines them,
compare the cluster assignment of the sampled ink positions with their true parts, over the positions with a
known part (``part > 0``):

``atlas_purity``
    The weighted mean over clusters of each cluster's purity (the share of its majority true part), weighted
    by the cluster's number of positions with a known part. Equivalently: the fraction of positions whose
    part is their cluster's majority part. 1 when every cluster holds one part; about the share of the most
    common part for clusters unrelated to parts.
``atlas_nmi``
    ``sklearn.metrics.normalized_mutual_info_score(true part, cluster)`` (arithmetic normalisation). 1 when
    clusters and parts determine each other, about 0 when independent.

Both are None where the data has no parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ClusterStats", "atlas_nmi", "atlas_purity", "cluster_stats"]


@dataclass
class ClusterStats:
    """What a cluster holds.

    Attributes:
        cluster: The cluster id (0 the largest).
        size: Number of sampled positions in it.
        classes: Class name -> number of its positions, most common first.
        mean_attribution: Mean attribution of its positions (to their sketch's class).
        parts: True part name -> number of its positions with a known part, most common first; None where
            the data has no parts.
        majority_part: The most common true part (None without parts or known parts).
        purity: Share of the majority part among its positions with a known part (None without).
        exemplars: Filled by the atlas builder: the exemplar positions shown for this cluster.
    """

    cluster: int
    size: int
    classes: dict[str, int]
    mean_attribution: float
    parts: dict[str, int] | None = None
    majority_part: str | None = None
    purity: float | None = None
    exemplars: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain-Python form for JSON."""
        return asdict(self)


def _known(labels: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, parts = np.asarray(labels), np.asarray(parts)
    if labels.shape != parts.shape:
        raise ValueError(f"{labels.shape} cluster labels but {parts.shape} parts")
    known = parts > 0
    return labels[known], parts[known]


def atlas_purity(labels: np.ndarray, parts: np.ndarray) -> float | None:
    """Weighted mean cluster purity against true parts, over positions with a known part (``part > 0``).

    Args:
        labels: (n,) cluster of each position.
        parts: (n,) true part id of each position (0: unknown).

    Returns:
        The purity in (0, 1], or None when no position has a known part.
    """
    labels, parts = _known(labels, parts)
    if len(labels) == 0:
        return None
    table = pd.crosstab(labels, parts).to_numpy()
    return float(table.max(axis=1).sum() / table.sum())


def atlas_nmi(labels: np.ndarray, parts: np.ndarray) -> float | None:
    """Normalized mutual information of cluster and true part, over positions with a known part.

    Args:
        labels: (n,) cluster of each position.
        parts: (n,) true part id of each position (0: unknown).

    Returns:
        The NMI in [0, 1], or None when no position has a known part.
    """
    from sklearn.metrics import normalized_mutual_info_score

    labels, parts = _known(labels, parts)
    if len(labels) == 0:
        return None
    return float(normalized_mutual_info_score(parts, labels))


def cluster_stats(positions: pd.DataFrame, labels: np.ndarray, classes: Sequence[str],
                  parts: Sequence[str] | None) -> list[ClusterStats]:
    """Statistics of every cluster.

    Args:
        positions: The sampled positions (columns ``label``, ``part``, ``attribution``).
        labels: (n,) cluster of each position, 0..k-1.
        classes: Class names (label -> name).
        parts: Part names (part id - 1 -> name), or None where the data has no parts.

    Returns:
        One entry per cluster, in cluster order.
    """
    labels = np.asarray(labels)
    class_ids = positions["label"].to_numpy()
    part_ids = positions["part"].to_numpy()
    attribution = positions["attribution"].to_numpy(dtype=np.float64)
    out = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        members = labels == c
        ids, counts = np.unique(class_ids[members], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        entry = ClusterStats(
            cluster=c, size=int(members.sum()),
            classes={str(classes[ids[i]]): int(counts[i]) for i in order},
            mean_attribution=float(attribution[members].mean()) if members.any() else 0.0,
        )
        if parts is not None:
            known = part_ids[members]
            known = known[known > 0]
            ids, counts = np.unique(known, return_counts=True)
            order = np.argsort(-counts, kind="stable")
            entry.parts = {str(parts[ids[i] - 1]): int(counts[i]) for i in order}
            if len(known):
                entry.majority_part = str(parts[ids[order[0]] - 1])
                entry.purity = float(counts[order[0]] / len(known))
        out.append(entry)
    return out
