"""What the coach calls a concept: a map over the atlas layer's positions with values in [0, 1].

Two kinds. From round 1 on, the concept head's named concepts: the sigmoid of each concept's logit at each
position. In round 0, before anyone has named anything, the atlas's clusters: each position belongs to the
cluster whose mean direction (of L2-normalised activations, as the atlas clusters them) is nearest in cosine,
a map of 0 and 1. Either way a concept has an id, a name and, for the page, an atlas point to show as its icon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import ArticulateError

__all__ = ["CoachConcept", "ConceptSet", "cluster_concepts", "head_concepts"]


@dataclass(frozen=True)
class CoachConcept:
    """One concept as the coach scores and speaks of it: a concept of the store (the concept head's output) or an
    atlas cluster, with only what the page shows (the store's :class:`~conceptstore.concepts.Concept` holds the
    labels).

    Attributes:
        id: The concept store's id (``c3``), or ``cluster:<n>`` for an atlas cluster.
        name: What the page and the sentences call it.
        kind: ``concept`` (named, from the concept head) or ``cluster``.
        icon_point: The atlas point whose patch is its icon (None: none in this atlas).
    """

    id: str
    name: str
    kind: str
    icon_point: int | None = None


class ConceptSet(nn.Module):
    """Maps the layer's activations (N, C, H, W) to concept maps (N, K, H, W) in [0, 1].

    Args:
        concepts: The concepts, in map order.
        head: The concept head (a 1x1 convolution); maps are its sigmoid. Exclusive with ``centres``.
        centres: (K, C) unit cluster directions; a position's map is 1 for its nearest centre in cosine.
    """

    def __init__(self, concepts: Sequence[CoachConcept], *, head: nn.Module | None = None,
                 centres: np.ndarray | None = None) -> None:
        super().__init__()
        if (head is None) == (centres is None):
            raise ValueError("ConceptSet: give a concept head or cluster centres, not both")
        self.concepts = list(concepts)
        self.head = head
        self.register_buffer("centres", None if centres is None else torch.as_tensor(centres, dtype=torch.float32))
        k = len(self.concepts)
        width = head.concepts if head is not None else len(centres)
        if width != k:
            raise ArticulateError(f"the coach has {k} concept names for {width} concept maps")

    def __len__(self) -> int:
        return len(self.concepts)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        if self.head is not None:
            return torch.sigmoid(self.head(activations))
        unit = activations / activations.norm(dim=1, keepdim=True).clamp_min(1e-8)
        similarity = torch.einsum("nchw,kc->nkhw", unit, self.centres)
        return nn.functional.one_hot(similarity.argmax(1), len(self.concepts)).permute(0, 3, 1, 2).float()


def head_concepts(head: nn.Module, concepts: Sequence[dict], icon_points: Sequence[int | None] | None = None) -> ConceptSet:
    """The concept head's concepts (``{"id", "name"}`` each, in head order) as a concept set."""
    icons = list(icon_points) if icon_points is not None else [None] * len(concepts)
    return ConceptSet([CoachConcept(str(c["id"]), str(c["name"]), "concept", icons[i])
                       for i, c in enumerate(concepts)], head=head)


def cluster_concepts(cluster_of_point: np.ndarray, unit_vectors: np.ndarray,
                     exemplars: dict[int, list[int]] | None = None) -> ConceptSet:
    """The atlas's clusters as a concept set.

    Args:
        cluster_of_point: (n,) each atlas point's cluster (-1: none).
        unit_vectors: (n, C) each atlas point's L2-normalised activation vector.
        exemplars: Cluster -> its exemplar points, best first (the first is its icon).

    Raises:
        ArticulateError: The atlas has no clusters.
    """
    labels = np.asarray(cluster_of_point)
    ids = sorted(int(c) for c in np.unique(labels) if c >= 0)
    if not ids:
        raise ArticulateError("the atlas has no clusters for the coach to speak of")
    centres = np.stack([unit_vectors[labels == c].mean(axis=0) for c in ids])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-8)
    exemplars = exemplars or {}
    concepts = [CoachConcept(f"cluster:{c}", f"cluster {c}", "cluster", (exemplars.get(c) or [None])[0]) for c in ids]
    return ConceptSet(concepts, centres=centres)


def atlas_cluster_concepts(atlas_folder: str | Path, activations_folder: str | Path) -> ConceptSet:
    """The clusters of a built atlas (``atlases/round_<r>``), their directions read from the activation store."""
    from pipeline.atlas.build import read_atlas_vectors

    document, points, raw = read_atlas_vectors(atlas_folder, activations_folder)
    unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-8)
    exemplars = {int(c["cluster"]): [int(e["point"]) for e in c.get("exemplars", [])] for c in document["clusters"]}
    return cluster_concepts(points["cluster"].to_numpy(), unit, exemplars)
