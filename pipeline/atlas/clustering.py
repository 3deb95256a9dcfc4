"""Clusters of the sampled positions: k-means, agglomerative (Ward) or a Gaussian mixture (scikit-learn).

Clustering runs in one of two spaces:

``activations``
    The activation vectors, L2-normalised by default (``normalize``): with the cosine layout this clusters
    by the direction of the activation, as the atlas shows it.
``umap``
    The 2-D layout: clusters are then regions of the map a person sees.

Clusters are renumbered by size, largest first (cluster 0 is the biggest). Agglomerative clustering needs
memory quadratic in the number of points, so above ``max_agglomerative`` points it is fitted on a seeded
random subset and every point is then assigned to the nearest cluster mean.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["CLUSTER_METHODS", "CLUSTER_SPACES", "Clusterer", "Clustering"]

log = logging.getLogger(__name__)

#: The accepted values of ``method``.
CLUSTER_METHODS = ("kmeans", "minibatch", "agglomerative", "gmm")
#: The accepted values of ``space``.
CLUSTER_SPACES = ("activations", "umap")


@dataclass
class Clustering:
    """A fitted clustering.

    Attributes:
        labels: (n,) cluster of every point, 0 the largest cluster.
        centres: (k, D) mean of each cluster's points in the clustering space.
        points: (n, D) the points in the clustering space (normalised activations or the 2-D layout).
    """

    labels: np.ndarray
    centres: np.ndarray
    points: np.ndarray

    @property
    def k(self) -> int:
        return len(self.centres)

    def distances(self) -> np.ndarray:
        """(n,) distance of every point to its cluster's centre."""
        return np.linalg.norm(self.points - self.centres[self.labels], axis=1)


class Clusterer:
    """Clusters activation vectors or their 2-D layout.

    Args:
        method: ``"kmeans"``, ``"minibatch"`` (mini-batch k-means: a million points in seconds, memory
            bounded by its batches), ``"agglomerative"`` (Ward) or ``"gmm"`` (Gaussian mixture, diagonal
            covariances in activation space, full in the 2-D layout).
        k: Number of clusters (>= 2).
        space: ``"activations"`` or ``"umap"`` (the 2-D layout).
        normalize: L2-normalise activation vectors before clustering (ignored for ``space="umap"``).
        seed: Random seed.
        max_agglomerative: Largest number of points agglomerative clustering is fitted on directly.

    Raises:
        ConfigError: A parameter is out of range.
    """

    CONF = Conf("atlas.clusters", seed="atlas.seed")

    def __init__(self, method: str, k: int, space: str, normalize: bool, seed: int,
                 max_agglomerative: int = 10000) -> None:
        if method not in CLUSTER_METHODS:
            raise ConfigError(f"atlas: clusters.method must be one of {', '.join(CLUSTER_METHODS)}, got {method!r}")
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 2:
            raise ConfigError(f"atlas: clusters.k must be an integer >= 2, got {k!r}")
        if space not in CLUSTER_SPACES:
            raise ConfigError(f"atlas: clusters.space must be one of {', '.join(CLUSTER_SPACES)}, got {space!r}")
        if not isinstance(normalize, bool):
            raise ConfigError(f"atlas: clusters.normalize must be true or false, got {normalize!r}")
        self.method, self.k, self.space, self.normalize = method, int(k), space, normalize
        self.seed = int(seed)
        self.max_agglomerative = int(max_agglomerative)

    def get_params(self) -> dict[str, object]:
        """The parameters, as a plain dict."""
        return {"method": self.method, "k": self.k, "space": self.space, "normalize": self.normalize,
                "seed": self.seed}

    def space_points(self, vectors: np.ndarray, layout: np.ndarray | None = None) -> np.ndarray:
        """The points in the clustering space."""
        if self.space == "umap":
            if layout is None:
                raise ValueError("clusters.space='umap' needs the 2-D layout")
            return np.asarray(layout, dtype=np.float32)
        points = np.asarray(vectors, dtype=np.float32)
        if self.normalize:
            points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
        return points

    def fit(self, vectors: np.ndarray, layout: np.ndarray | None = None) -> Clustering:
        """Cluster the points.

        Args:
            vectors: (n, C) activation vectors.
            layout: (n, 2) layout, needed when ``space="umap"``.

        Returns:
            The clustering, clusters numbered by size (0 the largest).

        Raises:
            ConfigError: Fewer points than clusters.
        """
        points = self.space_points(vectors, layout)
        n = len(points)
        if n < self.k:
            raise ConfigError(f"atlas: {n} sampled points cannot make clusters.k={self.k} clusters; "
                              "lower k or sample more points")
        started = time.perf_counter()
        labels = self._fit_labels(points)
        # Renumber by size, largest first; drop empty ids (a mixture can leave a component empty).
        counts = np.bincount(labels, minlength=self.k)
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] > 0]
        relabel = np.full(self.k, -1, dtype=np.int64)
        relabel[order] = np.arange(len(order))
        labels = relabel[labels].astype(np.int32)
        centres = np.stack([points[labels == c].mean(axis=0) for c in range(len(order))]).astype(np.float32)
        log.info("%s: %d clusters of %d points (%s space) in %.1f s", self.method, len(order), n, self.space,
                 time.perf_counter() - started)
        return Clustering(labels=labels, centres=centres, points=points)

    def _fit_labels(self, points: np.ndarray) -> np.ndarray:
        if self.method == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(n_clusters=self.k, n_init=3, random_state=self.seed).fit_predict(points)
        if self.method == "minibatch":
            from sklearn.cluster import MiniBatchKMeans

            return MiniBatchKMeans(n_clusters=self.k, n_init=3, batch_size=4096, random_state=self.seed).fit_predict(
                points)
        if self.method == "gmm":
            from sklearn.mixture import GaussianMixture

            covariance = "full" if points.shape[1] <= 8 else "diag"
            model = GaussianMixture(n_components=self.k, covariance_type=covariance, random_state=self.seed,
                                    reg_covar=1e-5)
            return model.fit_predict(points)
        from sklearn.cluster import AgglomerativeClustering

        if len(points) <= self.max_agglomerative:
            return AgglomerativeClustering(n_clusters=self.k, linkage="ward").fit_predict(points)
        rng = np.random.default_rng(self.seed)
        subset = rng.choice(len(points), size=self.max_agglomerative, replace=False)
        sub_labels = AgglomerativeClustering(n_clusters=self.k, linkage="ward").fit_predict(points[subset])
        means = np.stack([points[subset][sub_labels == c].mean(axis=0) for c in range(self.k)])
        return _nearest(points, means)


def _nearest(points: np.ndarray, centres: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centre (Euclidean) for every point, in chunks."""
    out = np.empty(len(points), dtype=np.int64)
    centre_sq = (centres ** 2).sum(axis=1)
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        out[start:start + chunk] = np.argmin(centre_sq[None, :] - 2.0 * block @ centres.T, axis=1)
    return out
