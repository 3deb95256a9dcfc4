"""Directions in the round's atlas layer that a person can point at: a named concept (its concept-head weight)
or an atlas cluster (the mean of its points' unit vectors). The dream and the feature visualization use them."""

from __future__ import annotations

import torch

from labeling.deps import Room
from core.errors import ArticulateError

__all__ = ["layer_direction"]


def layer_direction(room: Room, *, concept: str | None = None, cluster: int | None = None) -> tuple[torch.Tensor, str]:
    """The direction of a concept (name or id) or of an atlas cluster, and how to call it ("concept wheel").

    Raises:
        ArticulateError: The round has no concepts, an unknown concept, or no such cluster.
    """
    if concept is not None:
        from pipeline.editing.surgery import no_concepts

        surgeon = room.editor()[1]
        if surgeon is None:
            raise ArticulateError(no_concepts(room.coach().round))
        k = surgeon.concept_index(concept)
        return surgeon.weights[k].detach().clone(), f"concept {surgeon.names[k]}"
    if cluster is None:
        raise ValueError("layer_direction: give a concept or a cluster")
    return torch.from_numpy(room.view.cluster_direction(int(cluster))).float(), f"cluster {int(cluster)}"
