"""Selections of a round's atlas as a person judges them: what a selection is made of, its exemplars (the points
nearest to its mean activation, as the atlas chooses a cluster's), and its sub-clusters.

:class:`~labeling.atlas_view.AtlasView` says which points a cluster, cell or lasso holds; :class:`Selections`
answers what the page shows of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.text import plural
from labeling.atlas_view import AtlasView, Position, Selection, SelectionError

__all__ = ["Selections"]


class Selections:
    """The selections of one atlas: their descriptions, exemplars and sub-clusters.

    Args:
        view: The round's atlas.
    """

    def __init__(self, view: AtlasView) -> None:
        self.view = view

    def describe(self, selection: Selection, exemplars: int | None = None) -> dict[str, Any]:
        """What a person judges a selection by (``POST /api/selection``, see docs/reference/http-api.md).

        Args:
            selection: The points.
            exemplars: How many exemplars to show (default: the view's setting).

        Returns:
            The selection's size, points, composition, mean attribution, icon and exemplars.
        """
        ids = selection.points
        rows = self.view.points.iloc[ids]
        cells = rows.loc[rows["kept"], "cell"]
        icon = None
        if len(cells):
            icons = {int(c["cell"]): c.get("icon") for c in self.view.document["cells"]}
            path = icons.get(int(cells.mode().iloc[0]))
            icon = f"/atlas/{path}" if path else None
        return {"kind": selection.kind, "key": selection.key, "size": int(len(ids)), "points": ids.tolist(),
                "sketches": int(rows["sketch"].nunique()), **self.composition(ids),
                "mean_attribution": float(rows["attribution"].mean()), "icon": icon,
                "exemplars": [self.exemplar(i) for i in self.exemplars(selection, exemplars)]}

    def exemplar(self, point: int) -> dict[str, Any]:
        """One exemplar as the page shows it."""
        row = self.view.points.iloc[int(point)]
        part = int(row["part"])
        parts = self.view.parts
        return {"point": int(point), "key_id": str(row["key_id"]), "class": str(row["word"]),
                "part": parts[part - 1] if parts and part > 0 else None,
                "y": int(row["y"]), "x": int(row["x"]), "patch": f"/api/patch/{int(point)}.png",
                "context": f"/api/sketch/{int(point)}.png"}

    def exemplars(self, selection: Selection, count: int | None = None) -> list[int]:
        """The selection's exemplar points: nearest first to its mean (L2-normalised) activation.

        A whole cluster shows the atlas's own exemplars (nearest to the k-means centre) first, so the page
        and ``clusters/cluster_<n>.png`` agree; beyond those, and for any other selection, the nearest points.

        Args:
            selection: The points.
            count: How many (default: the view's setting).

        Returns:
            Point ids, nearest first.
        """
        n = self.view.n_exemplars if count is None else int(count)
        ids = selection.points
        chosen: list[int] = []
        if selection.kind == "cluster":
            chosen = self.view.cluster_exemplars.get(int(selection.key), [])[:n]
        if len(chosen) < min(n, len(ids)):
            vectors = self.view.vectors()[ids]
            centre = vectors.mean(axis=0)
            order = ids[np.argsort(np.linalg.norm(vectors - centre, axis=1), kind="stable")]
            taken = set(chosen)
            chosen += [int(i) for i in order if int(i) not in taken][: n - len(chosen)]
        return chosen

    def composition(self, points: np.ndarray) -> dict[str, Any]:
        """What points are made of: their classes and, where the data has true parts, the parts, the majority part
        and its share of the points with a part (purity)."""
        rows = self.view.points.iloc[points]
        parts = majority = purity = None
        if self.view.parts:
            known = rows["part"].to_numpy()
            known = known[known > 0]
            counts = Counter(self.view.parts[p - 1] for p in known)
            parts = dict(counts.most_common())
            if counts:
                majority, top = counts.most_common(1)[0]
                purity = top / len(known)
        return {"classes": dict(Counter(rows["word"].astype(str)).most_common()), "parts": parts,
                "majority_part": majority, "purity": purity}

    def subclusters(self, positions: Sequence[Position], k: int, seed: int = 0) -> list[list[Position]]:
        """Split positions into ``k`` groups by k-means on their normalised activations, largest group first.

        Positions outside this round's activation store are left out.

        Raises:
            SelectionError: ``k`` < 2, or fewer positions in the store than groups.
        """
        kept, vectors = self.view.position_vectors(list(positions))
        labels = _kmeans_groups(vectors, k, seed,
                                f"{plural(len(kept), 'position')} of the round {self.view.round} store")
        groups = [[kept[i] for i in np.flatnonzero(labels == g)] for g in range(k)]
        return sorted((g for g in groups if g), key=len, reverse=True)

    def subcluster_points(self, selection: Selection, k: int, seed: int = 0, *,
                          space: str = "activations") -> list[np.ndarray]:
        """A selection's points split into ``k`` sub-clusters by k-means, largest first: on their normalised
        activations (what the layer tells apart; the page's Sub-clusters), or with ``space="map"`` on where they
        lie on the 2-D map (regions a lasso would cut).

        Raises:
            SelectionError: ``k`` < 2, or fewer points than sub-clusters.
        """
        ids = selection.points
        if space == "map":
            vectors = self.view.points[["umap_x", "umap_y"]].to_numpy(dtype=np.float64)[ids]
        elif space == "activations":
            vectors = self.view.vectors()[ids]
        else:
            raise ValueError(f"space: expected activations or map, got {space!r}")
        labels = _kmeans_groups(vectors, k, seed, f"a selection of {plural(len(ids), 'point')}")
        groups = [ids[labels == g] for g in range(k)]
        return sorted((g for g in groups if len(g)), key=len, reverse=True)


def _kmeans_groups(vectors: np.ndarray, k: int, seed: int, what: str) -> np.ndarray:
    """Group labels 0..k-1 of k-means on ``vectors``.

    Raises:
        SelectionError: ``k`` < 2, or fewer vectors than groups.
    """
    from sklearn.cluster import KMeans

    if k < 2 or len(vectors) < k:
        raise SelectionError(f"cannot split {what} into {k} groups (need k >= 2 and at least k of them)")
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors)
