"""Projecting activation vectors to 2-D: UMAP (the Activation Atlas's choice) or PCA (fast, for tests).

umap-learn is imported lazily, inside :meth:`Projection.fit_transform`: importing it costs about 20 s and
its first fit compiles numba code. ``NUMBA_CACHE_DIR`` is pointed at ``.cache/numba`` in the project folder
(unless already set) before the import, so the compiled code is cached between runs.

The neighbour graph UMAP starts from is computed exactly, by scikit-learn's brute-force search, for samples up to
:data:`EXACT_KNN_MAX` points (an atlas's 10,000 take a few seconds), and handed to UMAP as ``precomputed_knn``:
umap-learn's own approximate search (NN-descent) took 81 of the 130 s of a round's layout here, mostly compiling.
Larger samples use NN-descent.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError

__all__ = ["METHODS", "METRICS", "Projection", "numba_cache_dir"]

log = logging.getLogger(__name__)

#: The accepted values of ``method``.
METHODS = ("umap", "pca")
#: Metrics accepted here (umap-learn knows more; these are the ones that make sense for activations).
METRICS = ("cosine", "euclidean", "correlation", "manhattan")
#: Samples up to this many points get an exact neighbour graph (brute force); larger ones UMAP's NN-descent.
EXACT_KNN_MAX = 30000


def numba_cache_dir() -> Path:
    """Set ``NUMBA_CACHE_DIR`` (unless set) to ``<project>/.cache/numba`` and return it."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).resolve().parents[2] / ".cache" / "numba")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only install: numba then compiles every time, which is only slower
        return folder
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    return folder


class Projection:
    """A 2-D layout of activation vectors.

    Args:
        method: ``"umap"`` or ``"pca"``.
        n_neighbors: UMAP's neighbourhood size (2 or more; larger keeps more global structure).
        min_dist: UMAP's minimum distance between laid-out points, in [0, 1] (smaller packs clusters tighter).
        metric: Distance between activation vectors: ``cosine`` (default: direction, not magnitude, as in
            the Activation Atlas), ``euclidean``, ``correlation`` or ``manhattan``. PCA honours ``cosine``
            and ``correlation`` by normalising (and centring) the vectors first.
        n_epochs: UMAP's optimisation epochs; None: umap-learn's choice (500 up to 10,000 points, else 200).
        seed: Random seed (UMAP with a seed runs on one thread, reproducibly).
        verbose: Let UMAP print its own progress.

    Raises:
        ConfigError: A parameter is out of range.
    """

    def __init__(self, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine",
                 n_epochs: int | None = None, seed: int = 0, verbose: bool = False) -> None:
        if method not in METHODS:
            raise ConfigError(f"atlas: layout.method must be one of {', '.join(METHODS)}, got {method!r}")
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral) or n_neighbors < 2:
            raise ConfigError(f"atlas: layout.n_neighbors must be an integer >= 2, got {n_neighbors!r}")
        if isinstance(min_dist, bool) or not isinstance(min_dist, Real) or not 0.0 <= min_dist <= 1.0:
            raise ConfigError(f"atlas: layout.min_dist must be a number from 0 to 1, got {min_dist!r}")
        if metric not in METRICS:
            raise ConfigError(f"atlas: layout.metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if n_epochs is not None and (isinstance(n_epochs, bool) or not isinstance(n_epochs, Integral) or n_epochs < 10):
            raise ConfigError(f"atlas: layout.n_epochs must be null or an integer >= 10, got {n_epochs!r}")
        self.n_epochs = None if n_epochs is None else int(n_epochs)
        self.method = method
        self.n_neighbors = int(n_neighbors)
        self.min_dist = float(min_dist)
        self.metric = metric
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.embedding_: np.ndarray | None = None

    def get_params(self) -> dict[str, object]:
        """The parameters, as a plain dict."""
        return {"method": self.method, "n_neighbors": self.n_neighbors, "min_dist": self.min_dist,
                "metric": self.metric, "n_epochs": self.n_epochs, "seed": self.seed}

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Lay the vectors out in 2-D.

        Args:
            vectors: (n, C) activation vectors.

        Returns:
            (n, 2) float32 coordinates (also kept as ``embedding_``).

        Raises:
            ConfigError: Too few points for the neighbourhood size.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(vectors)
        if vectors.ndim != 2 or n < 3:
            raise ConfigError(f"atlas: need at least 3 activation vectors to lay out, got {vectors.shape}")
        started = time.perf_counter()
        if self.method == "pca":
            layout = self._pca(vectors)
        else:
            if self.n_neighbors >= n:
                raise ConfigError(f"atlas: layout.n_neighbors ({self.n_neighbors}) must be smaller than the number "
                                  f"of sampled points ({n}); lower it or sample more points")
            layout = self._umap(vectors)
        log.info("%s layout of %d points in %.1f s", self.method.upper(), n, time.perf_counter() - started)
        self.embedding_ = layout.astype(np.float32)
        return self.embedding_

    def _pca(self, vectors: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        data = vectors.astype(np.float64)
        if self.metric == "correlation":
            data = data - data.mean(axis=1, keepdims=True)
        if self.metric in ("cosine", "correlation"):
            data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
        return PCA(n_components=2, random_state=self.seed).fit_transform(data)

    def _umap(self, vectors: np.ndarray) -> np.ndarray:
        numba_cache_dir()
        log.info("UMAP: importing umap-learn (slow the first time)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # "n_jobs overridden by setting random_state"
            warnings.simplefilter("ignore", category=FutureWarning)
            import umap

            log.info("UMAP: %d points, %d dimensions, n_neighbors=%d, min_dist=%g, metric=%s", len(vectors),
                     vectors.shape[1], self.n_neighbors, self.min_dist, self.metric)
            knn = self._exact_neighbours(vectors) if len(vectors) <= EXACT_KNN_MAX else None
            reducer = umap.UMAP(n_components=2, n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                                metric=self.metric, n_epochs=self.n_epochs, random_state=self.seed,
                                verbose=self.verbose, precomputed_knn=knn or (None, None, None))
            return reducer.fit_transform(vectors)

    def _exact_neighbours(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """Each point's ``n_neighbors`` nearest (itself first), exactly: UMAP's ``precomputed_knn``."""
        from sklearn.neighbors import NearestNeighbors

        started = time.perf_counter()
        search = NearestNeighbors(n_neighbors=self.n_neighbors, metric=self.metric, algorithm="brute").fit(vectors)
        distances, indices = search.kneighbors(vectors)
        log.info("UMAP: exact neighbour graph of %d points in %.1f s", len(vectors), time.perf_counter() - started)
        return indices, distances.astype(np.float32), None
