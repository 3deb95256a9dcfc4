"""The concept head: per-position concept logits on the atlas layer, so a person's names become outputs.

A 1x1 convolution on the layer's activation map gives one logit per concept at every position (a concept
*map*); a concept's *presence* in a sketch is the maximum of its map over positions. :class:`ConceptModel`
runs the classifier once and returns both the class logits and the concept maps, reading the layer with a
forward hook, so any network whose layer is a module path works (SketchCNN, torchvision models, user models).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import ArticulateError, ConfigError
from pipeline.models.outputs import logits_of
from pipeline.models.layers import get_layer

__all__ = ["ConceptHead", "ConceptModel", "ConceptOutput", "concept_logits", "highest_probability", "presence"]


class ConceptHead(nn.Module):
    """Per-position concept logits: a 1x1 convolution from the layer's channels to one map per concept.

    Args:
        channels: Channels of the layer it reads.
        concepts: Number of concepts.

    Raises:
        ConfigError: A count below 1.
    """

    def __init__(self, channels: int, concepts: int) -> None:
        super().__init__()
        if channels < 1 or concepts < 1:
            raise ConfigError(f"concept head: need at least one channel and one concept, got {channels}, {concepts}")
        self.channels, self.concepts = int(channels), int(concepts)
        self.conv = nn.Conv2d(self.channels, self.concepts, kernel_size=1)
        # Start every concept as "mostly absent": most positions are negatives, so a prior of about 5% keeps the
        # first steps from being dominated by the easy background.
        nn.init.normal_(self.conv.weight, std=0.01)
        nn.init.constant_(self.conv.bias, -3.0)

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) activations -> (N, K, H, W) concept logits."""
        return self.conv(activations)


def concept_logits(head: ConceptHead) -> Callable[[np.ndarray], np.ndarray]:
    """The head as a function of stored activation vectors: (n, C) -> (n, K) concept logits.

    The head is a 1x1 convolution, so it applies to single positions' vectors as well as to maps; numpy, so
    an atlas can score every ink position of a store without torch's overhead per chunk.
    """
    weight = head.conv.weight.detach().double().cpu().numpy()[:, :, 0, 0]  # (K, C)
    bias = head.conv.bias.detach().double().cpu().numpy()

    def logits(vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float64) @ weight.T + bias

    return logits


def highest_probability(head: ConceptHead) -> Callable[[np.ndarray], np.ndarray]:
    """The head as a function of stored activation vectors: (n, C) -> (n,) the highest concept probability."""
    logits = concept_logits(head)

    def score(vectors: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-logits(vectors).max(axis=1)))  # sigmoid is monotone: max of logits first

    return score


def presence(concept_logits: torch.Tensor) -> torch.Tensor:
    """Image-level concept logits: the maximum of each concept map over positions, (N, K, H, W) -> (N, K)."""
    return concept_logits.flatten(2).amax(dim=2)


@dataclass
class ConceptOutput:
    """What :class:`ConceptModel` returns.

    Attributes:
        logits: (N, num_classes) class logits.
        concept_logits: (N, K, H, W) per-position concept logits on the atlas layer.
        activations: (N, C, H, W) the layer's activations (for the atlas and attribution).
    """

    logits: torch.Tensor
    concept_logits: torch.Tensor
    activations: torch.Tensor

    @property
    def presence(self) -> torch.Tensor:
        """(N, K) image-level concept logits."""
        return presence(self.concept_logits)


class ConceptModel(nn.Module):
    """A classifier with a concept head on one of its layers.

    Args:
        net: The classifier network (its output, or its ``.logits``, are the class logits).
        layer: Module path of the layer the head reads (the atlas layer).
        head: The head; its ``channels`` must match the layer's.
        concept_names: One name per head output, in order.

    Raises:
        UnknownLayerError: ``layer`` is not a module of ``net``.
        ConfigError: As many names as head outputs are needed.
    """

    def __init__(self, net: nn.Module, layer: str, head: ConceptHead, concept_names: Sequence[str]) -> None:
        super().__init__()
        if len(concept_names) != head.concepts:
            raise ConfigError(f"concept head: {len(concept_names)} names for {head.concepts} concepts")
        self.net, self.layer, self.head = net, layer, head
        self.concept_names = [str(n) for n in concept_names]
        self._captured: torch.Tensor | None = None
        get_layer(net, layer).register_forward_hook(self._capture)

    def _capture(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ArticulateError(f"layer {self.layer} gives {type(output).__name__}; a concept head needs an "
                                  "(N, C, H, W) tensor: choose a convolutional layer")
        self._captured = output

    def forward(self, images: torch.Tensor) -> ConceptOutput:
        """Class logits and concept maps for model-ready input (normalised as the net expects)."""
        self._captured = None
        logits = logits_of(self.net(images))
        if self._captured is None:
            raise ArticulateError(f"layer {self.layer} did not run in the forward pass; choose a layer the "
                                  "model uses for its output")
        activations, self._captured = self._captured, None
        return ConceptOutput(logits, self.head(activations), activations)
