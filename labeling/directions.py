"""Directions in the round's atlas layer that a person can point at: a named concept (its concept-head weight)
or an atlas cluster (the mean of its points' unit vectors). The dream, the feature visualization and the edits
use them."""

from __future__ import annotations

import torch

from core.errors import ArticulateError
from labeling.atlas_view import AtlasView
from labeling.deps import Editor

__all__ = ["cluster_direction", "layer_direction"]


def layer_direction(view: AtlasView, editor: Editor, *, concept: str | None = None,
                    cluster: int | None = None) -> tuple[torch.Tensor, str]:
    """The direction of a concept (name or id) or of an atlas cluster, and how to call it ("concept wheel").

    Args:
        view: The atlas whose clusters a direction may name (the session's).
        editor: The round's editor (its surgeon holds the concepts' directions).
        concept: A concept's name or id.
        cluster: An atlas cluster (when no concept is given).

    Raises:
        ArticulateError: The round has no concepts, an unknown concept, or no such cluster.
    """
    if concept is not None:
        from pipeline.editing.surgery import no_concepts

        surgeon = editor.surgeon
        if surgeon is None:
            raise ArticulateError(no_concepts(editor.round))
        k = surgeon.concept_index(concept)
        return surgeon.weights[k].detach().clone(), f"concept {surgeon.names[k]}"
    if cluster is None:
        raise ValueError("layer_direction: give a concept or a cluster")
    return cluster_direction(view, cluster)


def cluster_direction(view: AtlasView, cluster: int) -> tuple[torch.Tensor, str]:
    """An atlas cluster's direction (any round, concepts or not), and how to call it ("cluster 3").

    Raises:
        NotInAtlasError: No such cluster.
    """
    return torch.from_numpy(view.cluster_direction(int(cluster))).float(), f"cluster {int(cluster)}"
