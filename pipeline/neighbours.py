"""Exact nearest neighbours by cosine similarity, on every core torch has.

A matrix product of unit vectors and a top-k over blocks of queries, each block's similarities small enough to
stay in the CPU's cache: for an atlas's 10,000 points or a round's 60,000 labelled positions this is several times
faster than scikit-learn's brute-force search, whose reduction is not blocked for the cache, with the same
neighbours (ties aside).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "cosine_neighbours"]

#: Similarities computed at once: a block of 4M floats (16 MB) stays in the cache.
BLOCK = 4 * 2**20


def _unit(vectors: np.ndarray):
    import torch

    data = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    return data / data.norm(dim=1, keepdim=True).clamp_min(1e-12)  # a zero vector stays zero: similarity 0


def cosine_neighbours(query: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` nearest reference vectors by cosine distance (``1 - cos``), nearest first.

    Args:
        query: (Q, C) vectors.
        reference: (R, C) vectors.
        k: Neighbours per query, 1 to R.

    Returns:
        (Q, k) float32 distances and (Q, k) int64 indices into ``reference``.

    Raises:
        ValueError: ``k`` out of range, or the two have different widths.
    """
    if not 1 <= k <= len(reference):
        raise ValueError(f"k: expected 1 to {len(reference)} neighbours, got {k}")
    if query.shape[1:] != reference.shape[1:]:
        raise ValueError(f"query vectors of width {query.shape[1:]} against reference vectors of {reference.shape[1:]}")
    queries, ref = _unit(query), _unit(reference)
    distances = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    step = max(1, BLOCK // len(ref))
    for start in range(0, len(queries), step):
        similarity, index = (queries[start:start + step] @ ref.T).topk(k, dim=1)
        distances[start:start + step] = (1.0 - similarity).clamp_min(0.0).numpy()
        indices[start:start + step] = index.numpy()
    return distances, indices
