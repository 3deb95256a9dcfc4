"""Projecting activation vectors to 2-D: UMAP (the Activation Atlas's choice) or PCA (fast, for tests).

umap-learn is imported lazily, inside :meth:`Projection.fit_transform`: importing it costs about 20 s and
its first fit compiles numba code. ``NUMBA_CACHE_DIR`` is pointed at ``.cache/numba`` in the project folder
(unless already set) before the import, so the compiled code is cached between runs.

The neighbour graph UMAP starts from is computed exactly (cosine: blocked matrix products, :mod:`pipeline.neighbours`;
other metrics: scikit-learn's brute-force search) for samples up to :data:`EXACT_KNN_MAX` points (an atlas's
10,000 take well under a second), and handed to UMAP as ``precomputed_knn``:
umap-learn's own approximate search (NN-descent) took 81 of the 130 s of a round's layout here, mostly compiling.
Larger samples use NN-descent.

Past ``fit_sample`` points (a million-position atlas) the layout is fitted on a seeded sample of that many and
every other point is placed at the similarity-weighted mean of its ``n_neighbors`` nearest fitted points'
coordinates (exact neighbours, in batches of ``batch_size``: memory stays bounded), as UMAP's own ``transform``
starts; ``fast`` lets UMAP use every core by leaving it unseeded (umap-learn runs on one thread when seeded), at
the price of a layout that differs from run to run.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from pipeline.schema import Conf

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
        fit_sample: Fit the layout on at most this many points and place the rest by their neighbours; None:
            fit on all.
        batch_size: Points placed per batch (memory of one batch: ``batch_size x fit_sample`` similarities).
        fast: UMAP unseeded, on every core (not reproducible); the sampling and placement stay seeded.

    Raises:
        ConfigError: A parameter is out of range.
    """

    CONF = Conf("atlas.layout", seed="atlas.seed")

    def __init__(self, method: str, n_neighbors: int, min_dist: float, metric: str, n_epochs: int | None, seed: int,
                 fit_sample: int | None, batch_size: int, fast: bool, verbose: bool = False) -> None:
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
        for name, value, low in (("fit_sample", fit_sample, 100), ("batch_size", batch_size, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or value < low):
                raise ConfigError(f"atlas: layout.{name} must be {'null or ' if name == 'fit_sample' else ''}an "
                                  f"integer >= {low}, got {value!r}")
        if not isinstance(fast, bool):
            raise ConfigError(f"atlas: layout.fast must be true or false, got {fast!r}")
        self.fit_sample = None if fit_sample is None else int(fit_sample)
        self.batch_size, self.fast = int(batch_size), fast
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
                "metric": self.metric, "n_epochs": self.n_epochs, "seed": self.seed, "fit_sample": self.fit_sample,
                "batch_size": self.batch_size, "fast": self.fast}

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
        if self.method == "umap" and self.n_neighbors >= n:
            raise ConfigError(f"atlas: layout.n_neighbors ({self.n_neighbors}) must be smaller than the number "
                              f"of sampled points ({n}); lower it or sample more points")
        fitted = np.arange(n)
        if self.fit_sample is not None and n > self.fit_sample:
            fitted = np.sort(np.random.default_rng(self.seed).choice(n, size=self.fit_sample, replace=False))
        fit = self._pca(vectors[fitted]) if self.method == "pca" else self._umap(vectors[fitted])
        if len(fitted) == n:
            layout = fit
        else:
            layout = np.empty((n, 2), dtype=np.float32)
            layout[fitted] = fit
            rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
            layout[rest] = self.place(vectors[fitted], fit, vectors[rest])
            log.info("layout fitted on %d of %d points, the other %d placed by their %d nearest fitted neighbours",
                     len(fitted), n, len(rest), self.n_neighbors)
        log.info("%s layout of %d points in %.1f s", self.method.upper(), n, time.perf_counter() - started)
        self.embedding_ = np.asarray(layout, dtype=np.float32)
        return self.embedding_

    def place(self, fitted: np.ndarray, layout: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Place new vectors on a fitted layout: each at the similarity-weighted mean of the coordinates of its
        ``n_neighbors`` nearest fitted vectors (cosine similarity for the angular metrics, else inverse distance),
        ``batch_size`` at a time.

        Args:
            fitted: (m, C) the vectors the layout was fitted on.
            layout: (m, 2) their coordinates.
            vectors: (n, C) the vectors to place.

        Returns:
            (n, 2) float32 coordinates.
        """
        k = min(self.n_neighbors, len(fitted))
        search = self._neighbours(fitted, k)
        out = np.empty((len(vectors), 2), dtype=np.float32)
        for start in range(0, len(vectors), self.batch_size):
            block = vectors[start:start + self.batch_size]
            distances, indices = search(block)
            weights = np.maximum(1.0 - distances, 1e-6) if self.metric in ("cosine", "correlation") else \
                1.0 / np.maximum(distances, 1e-6)
            weights = weights / weights.sum(axis=1, keepdims=True)
            out[start:start + len(block)] = np.einsum("nk,nkd->nd", weights, layout[indices])
        return out

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
            if self.fast:
                log.info("UMAP: layout.fast, unseeded on every core: the layout differs from run to run")
            reducer = umap.UMAP(n_components=2, n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                                metric=self.metric, n_epochs=self.n_epochs,
                                random_state=None if self.fast else self.seed, n_jobs=-1 if self.fast else 1,
                                verbose=self.verbose, precomputed_knn=knn or (None, None, None))
            return reducer.fit_transform(vectors)

    def _exact_neighbours(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """Each point's ``n_neighbors`` nearest (itself first), exactly: UMAP's ``precomputed_knn``."""
        started = time.perf_counter()
        distances, indices = self._neighbours(vectors, min(self.n_neighbors, len(vectors)))(vectors)
        log.info("UMAP: exact neighbour graph of %d points in %.1f s", len(vectors), time.perf_counter() - started)
        return indices, distances.astype(np.float32), None

    def _neighbours(self, fitted: np.ndarray, k: int):
        """A search of the ``k`` nearest of ``fitted`` in this metric: ``search(block) -> (distances, indices)``.
        Cosine: blocked matrix products in torch (:mod:`pipeline.neighbours`); other metrics: scikit-learn."""
        if self.metric == "cosine":
            from pipeline.neighbours import cosine_neighbours

            return lambda block: cosine_neighbours(block, fitted, k)
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(n_neighbors=k, metric=self.metric, algorithm="brute").fit(fitted).kneighbors
