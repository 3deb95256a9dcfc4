"""Spread a person's labels to near neighbours in the atlas layer's activation space.

A person names a concept from a few dozen exemplars of one cluster; the concept's other positions in the same
drawings, and in every drawing the atlas did not sample, stay unlabeled, so the fine-tune sees each part in a
few places only. Spreading labels every ink position of the labelled split (the sketches the concepts were
named on) whose neighbourhood the person has already judged:

1. *Reference positions*: the verified positives of every concept (the exemplars the person looked at and
   kept, and what they grew to along their strokes: :mod:`pipeline.finetune.strokes`; label: the concept) and
   every negative (label: "not that concept", which blocks a spread of it), as
   activation vectors of the base model, L2-normalised. Cluster members nobody looked at are not spread from:
   a cluster promoted at a 55% majority would spread its other 45% too.
2. For each ink position of the split's sketches that no concept labels, its ``neighbours`` nearest reference
   positions (cosine). It becomes an unverified positive of concept k when at least ``agreement`` of them are
   positives of k, and when it is as close to them as k's own positions are to each other: its distance to
   the k-th neighbour is within the ``radius_quantile`` of the same distance among k's positives. The second
   test keeps a part nobody named from being swallowed by the nearest named one.

Spread positions are *unverified* positives (``finetune.unverified_weight``): nobody looked at them. Settings:
``finetune.spread`` (``conf/finetune/default.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from pipeline.neighbours import cosine_neighbours

__all__ = ["LabelSpreading"]

Position = tuple[str, int, int]


@dataclass(frozen=True)
class LabelSpreading:
    """k-nearest-neighbour label spreading over activation vectors.

    Args:
        neighbours: Reference positions consulted per position (k).
        agreement: Share of them that must be positives of one concept, in (0.5, 1].
        radius_quantile: How far a position may lie from a concept's positions, as a quantile of the distances
            among the concept's own positions, in (0, 1].

    Raises:
        ConfigError: A setting out of range.
    """

    neighbours: int = 10
    agreement: float = 0.8
    radius_quantile: float = 0.9

    def __post_init__(self) -> None:
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise ConfigError(f"finetune.spread.neighbours: expected a whole number >= 1, got {self.neighbours!r}")
        if not isinstance(self.agreement, (int, float)) or not 0.5 < self.agreement <= 1.0:
            raise ConfigError(f"finetune.spread.agreement: expected a share in (0.5, 1], got {self.agreement!r}")
        if not isinstance(self.radius_quantile, (int, float)) or not 0.0 < self.radius_quantile <= 1.0:
            raise ConfigError(f"finetune.spread.radius_quantile: expected a quantile in (0, 1], "
                              f"got {self.radius_quantile!r}")

    def spread(self, positives: Sequence[Sequence[Position]], negatives: Sequence[Sequence[Position]],
               vectors: Mapping[str, np.ndarray], ink: Mapping[str, np.ndarray]) -> list[list[Position]]:
        """The new positives of each concept.

        Args:
            positives: Per concept, the positive positions ``(key_id, y, x)`` to spread from (its verified ones).
            negatives: Per concept, its negative positions.
            vectors: key_id -> (H, W, C) activations of every sketch to spread over (the base model's).
            ink: key_id -> (H, W) bool, which positions hold ink, for the same sketches.

        Returns:
            Per concept, the positions that become its (unverified) positives; none already labelled.
        """
        k = len(positives)
        out: list[list[Position]] = [[] for _ in range(k)]
        reference, labels = [], []  # label c >= 0: positive of c; -(c + 1): negative of c
        labelled: set[Position] = set()
        for c in range(k):
            for sign, items in ((1, positives[c]), (-1, negatives[c])):
                for key, y, x in items:
                    # positions of sketches not given or outside the grid are left out here as the targets skip them
                    if key in vectors and 0 <= y < vectors[key].shape[0] and 0 <= x < vectors[key].shape[1]:
                        reference.append(vectors[key][y, x])
                        labels.append(c if sign > 0 else -(c + 1))
                        labelled.add((key, int(y), int(x)))
        labels_arr = np.asarray(labels, dtype=np.int64)
        if k == 0 or len(reference) <= self.neighbours or not (labels_arr >= 0).any():
            return out
        ref = np.asarray(reference, dtype=np.float32)
        query_keys = [(key, int(y), int(x)) for key in vectors for y, x in zip(*np.nonzero(ink[key]))
                      if (key, int(y), int(x)) not in labelled]
        if not query_keys:
            return out
        query = np.stack([vectors[key][y, x] for key, y, x in query_keys]).astype(np.float32)
        # how close a concept's own positives are to their k nearest reference positions (leave-one-out)
        own_distance, _ = cosine_neighbours(ref, ref, min(self.neighbours + 1, len(ref)))
        radius = np.full(k, -np.inf)
        for c in range(k):
            mine = labels_arr == c
            if mine.sum() >= 2:
                radius[c] = np.quantile(own_distance[mine, -1], self.radius_quantile)
        distance, neighbour = cosine_neighbours(query, ref, self.neighbours)
        votes = labels_arr[neighbour]  # (Q, k)
        for c in range(k):
            share = (votes == c).mean(axis=1)
            chosen = np.nonzero((share >= self.agreement) & (distance[:, -1] <= radius[c]))[0]
            out[c] = [query_keys[i] for i in chosen]
        return out

