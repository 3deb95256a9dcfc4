"""A prototype term at the atlas layer: fine-tuning moves the layer itself so that each concept's positions
gather around the concept's prototype and the concepts separate.

A linear concept head alone can fit the labels while the layer stays as it was, so the next atlas (UMAP and
k-means of the same layer) would look much like the last. This term acts on the layer's activations. For the
positions that are positive for exactly one concept in a batch (verified or not, weighted as the concept loss
weighs them), the activation vectors are L2-normalised, each concept's prototype is the normalised mean of its
positions' vectors in the batch, and each position is classified among the prototypes by cosine similarity
over a temperature (as in prototypical networks and supervised contrastive learning)::

    loss = sum_i w_i * CE(cos(v_i, p_k) / temperature over k, concept of i) / sum_i w_i

It needs positions of at least two concepts in a batch, and is 0 (with a gradient) otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import ConfigError
from pipeline.finetune.targets import POSITIVE_CODES, TargetWeights

__all__ = ["prototype_loss"]


def prototype_loss(activations: torch.Tensor, codes: torch.Tensor, weights: TargetWeights,
                   temperature: float = 0.1) -> torch.Tensor:
    """The prototype term of a batch of concept-labelled sketches.

    Args:
        activations: (N, C, H, W) the atlas layer's activations.
        codes: (N, K, H, W) the concept codes of the same positions (:mod:`pipeline.finetune.targets`).
        weights: The weights of the codes (a position counts as much as it does in the concept loss).
        temperature: Softmax temperature of the cosine similarities (> 0; smaller: sharper).

    Returns:
        A scalar tensor.

    Raises:
        ConfigError: A temperature that is not positive.
    """
    if not temperature > 0:
        raise ConfigError(f"finetune.prototype_temperature: expected a number > 0, got {temperature!r}")
    positive = torch.zeros_like(codes, dtype=torch.bool)
    for code in POSITIVE_CODES:
        positive |= codes == code
    single = positive.sum(dim=1) == 1  # (N, H, W): positions that belong to exactly one concept
    if not bool(single.any()):
        return activations.sum() * 0.0
    concept = positive.float().argmax(dim=1)[single]                       # (M,)
    _, weight = weights.apply(codes.permute(0, 2, 3, 1)[single])           # (M, K)
    weight = weight.gather(1, concept[:, None])[:, 0]                      # each position's own weight
    vectors = F.normalize(activations.permute(0, 2, 3, 1)[single].float(), dim=1)  # (M, C)
    present = torch.unique(concept)
    if len(present) < 2:
        return activations.sum() * 0.0
    # Prototypes of the concepts present, from this batch (so the layer, not a stored centre, is what moves).
    onehot = (concept[:, None] == present[None]).float()                   # (M, P)
    prototypes = F.normalize(onehot.T @ (vectors * weight[:, None]), dim=1)  # (P, C)
    logits = vectors @ prototypes.T / temperature
    target = onehot.argmax(dim=1)
    loss = F.cross_entropy(logits, target, reduction="none")
    return (weight * loss).sum() / weight.sum().clamp_min(1e-12)
