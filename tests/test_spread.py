"""Label spreading: a concept's labels reach its unlabelled neighbours, never a part nobody named."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from pipeline.finetune.spread import LabelSpreading


def _sketches(rng: np.random.Generator, centres: np.ndarray, n: int = 30, size: int = 4) -> tuple[dict, dict, dict]:
    """n sketches of size x size positions; each ink position drawn near one of the centres (its true group)."""
    vectors, ink, group = {}, {}, {}
    for i in range(n):
        key = f"s{i}"
        truth = rng.integers(0, len(centres), size=(size, size))
        vectors[key] = (centres[truth] + 0.05 * rng.standard_normal((size, size, centres.shape[1]))).astype(np.float32)
        ink[key] = rng.random((size, size)) < 0.8
        group[key] = truth
    return vectors, ink, group


def test_labels_reach_their_neighbours_and_not_an_unnamed_group() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8, dtype=np.float32) * 3.0  # groups 0 and 1 named below, group 2 named by nobody
    vectors, ink, group = _sketches(rng, centres)
    inked = [(k, int(y), int(x)) for k in vectors for y, x in zip(*np.nonzero(ink[k]))]
    of = {g: [p for p in inked if group[p[0]][p[1], p[2]] == g] for g in range(3)}
    positives = [[*of[0][:15], ("s0", 40, 0), ("unknown", 0, 0)], of[1][:15]]  # outside the grid, no such sketch
    negatives = [of[2][:2], []]
    added = LabelSpreading(neighbours=5, agreement=0.8).spread(positives, negatives, vectors, ink)
    for concept in (0, 1):
        assert len(added[concept]) > 0.7 * (len(of[concept]) - 15)  # most of the group (the radius keeps ~90%)
        assert all(group[k][y, x] == concept for k, y, x in added[concept])  # and nothing of another group
        assert not set(added[concept]) & set(positives[concept])
        assert all(k in vectors for k, _, _ in added[concept])
        assert all(ink[k][y, x] for k, y, x in added[concept])


def test_nothing_to_spread_from_and_bad_settings() -> None:
    rng = np.random.default_rng(1)
    vectors, ink, _ = _sketches(rng, np.eye(2, 4, dtype=np.float32), n=3)
    assert LabelSpreading().spread([[], []], [[], []], vectors, ink) == [[], []]
    assert LabelSpreading().spread([], [], vectors, ink) == []
    for bad in ({"neighbours": 0}, {"agreement": 0.5}, {"agreement": 1.5}, {"radius_quantile": 0.0}):
        with pytest.raises(ConfigError, match="finetune.spread"):
            LabelSpreading(**bad)

