"""Exact cosine neighbours (pipeline.neighbours) against scikit-learn's brute-force search."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import neighbours


def test_cosine_neighbours_equal_scikit_learns(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    reference = rng.standard_normal((300, 16)).astype(np.float32) * rng.uniform(0.5, 3, (300, 1)).astype(np.float32)
    query = rng.standard_normal((1000, 16)).astype(np.float32)
    query[7] = 0.0  # a zero vector: similarity 0 to everything
    monkeypatch.setattr(neighbours, "BLOCK", 300 * 64)  # blocks of 64 queries, the last one partial
    distance, index = neighbours.cosine_neighbours(query, reference, 5)
    expected_distance, expected_index = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute") \
        .fit(reference).kneighbors(query)
    assert index.shape == distance.shape == (1000, 5) and distance.dtype == np.float32
    rows = np.arange(1000) != 7  # the zero vector's neighbours are all ties
    assert np.array_equal(index[rows], expected_index[rows])
    assert np.allclose(distance, expected_distance, atol=1e-5)
    own, own_index = neighbours.cosine_neighbours(reference, reference, 2)  # a vector is its own nearest
    assert np.array_equal(own_index[:, 0], np.arange(300)) and np.allclose(own[:, 0], 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="k: expected 1 to 300"):
        neighbours.cosine_neighbours(query, reference, 301)
    with pytest.raises(ValueError, match="width"):
        neighbours.cosine_neighbours(query[:, :8], reference, 3)
