"""The concept head: per-position concept logits on the atlas layer, so a person's names become outputs.

A 1x1 convolution on the layer's activation map gives one logit per concept at every position (a concept
*map*); a concept's *presence* in a sketch is the maximum of its map over positions. :class:`ConceptModel`
runs the classifier once and returns both the class logits and the concept maps, reading the layer with a
forward hook, so any network whose layer is a module path works (SketchCNN, torchvision models, user models).

A drawing-level concept (something a whole drawing has or not, such as which way it faces) has no map: the
:class:`DrawingHead` gives one logit per drawing from the layer's activations pooled over the drawing's ink
positions (:func:`ink_pool`): their mean, and their first moments across and down the grid, since much of what a
whole drawing has is where things are in it (which way it faces: which side its head is on). Measured on the test
project's base model, a linear probe of these read "facing left" at AP 0.81 on the test split, of the mean alone
0.57 (the base rate 0.52).
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

__all__ = ["ConceptHead", "ConceptModel", "ConceptOutput", "DrawingHead", "concept_logits", "highest_probability",
           "ink_pool", "presence"]


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


def ink_pool(activations: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """Each drawing's activations pooled over its ink positions (over every position where it has none): their
    mean, and their means weighted by the position's column and by its row (centred on the grid's middle, in grid
    widths: -0.5 .. 0.5), which say where in the drawing each channel fires.

    Args:
        activations: (N, C, H, W) a layer's activations.
        ink: (N, H, W) bool: which positions' stride cells hold ink.

    Returns:
        (N, 3C) the pooled vectors: mean, column moment, row moment.
    """
    height, width = ink.shape[1:]
    weight = ink.to(activations.dtype).flatten(1)
    weight = torch.where(weight.sum(1, keepdim=True) > 0, weight, torch.ones_like(weight))
    weight = (weight / weight.sum(1, keepdim=True)).view(ink.shape)
    across = (torch.arange(width, dtype=activations.dtype, device=activations.device) - (width - 1) / 2) / width
    down = (torch.arange(height, dtype=activations.dtype, device=activations.device) - (height - 1) / 2) / height
    return torch.cat([torch.einsum("nchw,nhw->nc", activations, weight),
                      torch.einsum("nchw,nhw,w->nc", activations, weight, across),
                      torch.einsum("nchw,nhw,h->nc", activations, weight, down)], dim=1)


class DrawingHead(nn.Module):
    """Drawing-level concept logits: a linear layer on the layer's activations pooled over each drawing's ink
    (:func:`ink_pool`).

    Args:
        channels: Channels of the layer it reads.
        concepts: Number of drawing-level concepts.

    Raises:
        ConfigError: A count below 1.
    """

    def __init__(self, channels: int, concepts: int) -> None:
        super().__init__()
        if channels < 1 or concepts < 1:
            raise ConfigError(f"drawing head: need at least one channel and one concept, got {channels}, {concepts}")
        self.channels, self.concepts = int(channels), int(concepts)
        self.linear = nn.Linear(3 * self.channels, self.concepts)  # mean, column and row moments
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)  # a drawing-level concept is about as often there as not

    def forward(self, activations: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) activations and (N, H, W) ink -> (N, D) drawing-level concept logits."""
        return self.linear(ink_pool(activations, ink))


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
