""""Show me": a few strokes added to a person's own drawing, optimised to raise a concept the drawing lacks.

The drawing is drawn once per step under the learnable strokes and never changes (fixed strokes,
:mod:`pipeline.featurevis.strokes`); the strokes move to raise the concept's *presence*, the concept head's
logit at the position where it is highest (a smooth maximum over the atlas layer's positions, so every position
near the top gets a gradient). The result is the added strokes only, in the drawing's 0..255 box: the coach shows
them as a ghost to trace.

    from pipeline.featurevis.show_me import show_me
    added = show_me(model, sketch, concept_index=2)     # [(2, K) float32 arrays in 0..255], one per stroke

API (stable):

- :func:`show_me` ``(model, sketch, concept_index, strokes=None, steps=None, seed=0, *, settings=None,
  on_step=None) -> list[np.ndarray]``; ``strokes`` and ``steps`` default to ``coach.show_me`` in conf/.
- :func:`concept_presence` ``(model, sketches) -> np.ndarray``: (N, K) the concepts' presence logits of drawings as
  the project's rasteriser draws them (what the strokes raise; for checks and the page).
- :class:`ConceptPresence`: the objective, usable with :func:`~pipeline.featurevis.render.render` on any
  parameterisation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from core.errors import ConfigError
from core.sketch import Sketch
from pipeline.data.raster import rasterize_batch
from pipeline.featurevis.objectives import Objective
from pipeline.featurevis.render import LayerCapture, render
from pipeline.featurevis.strokes import StrokeSettings
from pipeline.models.build import TrainedModel
from pipeline.models.concept_head import presence
from pipeline.models.input_spec import to_model_input
from pipeline.schema import Conf

__all__ = ["ConceptPresence", "ShowMeSettings", "concept_presence", "show_me"]

#: Temperature of the smooth maximum over positions, in logits: small enough to follow the highest position,
#: large enough that its neighbours get a gradient too.
PRESENCE_TEMPERATURE = 0.2


@dataclass(frozen=True)
class ShowMeSettings:
    """How many strokes "show me" adds, and how long it optimises them.

    Attributes:
        strokes: Strokes added to the drawing (>= 1).
        steps: Optimisation steps (>= 1).

    Raises:
        ConfigError: A value out of range, naming the key.
    """

    CONF: ClassVar[Conf] = Conf("coach.show_me")

    strokes: int
    steps: int

    def __post_init__(self) -> None:
        for name in ("strokes", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"coach.show_me.{name} must be an integer >= 1, got {value!r}")


class ConceptPresence(Objective):
    """A concept's presence: the smooth maximum over positions of the concept head's logit for it.

    Args:
        layer: The layer the head reads (the atlas layer).
        weight: (C,) the head's weights for the concept.
        bias: The head's bias for it.
        concept: Its index (for the caption).
    """

    def __init__(self, layer: str, weight: torch.Tensor, bias: float, concept: int) -> None:
        self.layer, self.weight, self.bias, self.concept = layer, weight.detach().float(), float(bias), int(concept)

    @property
    def label(self) -> str:
        return f"concept {self.concept}"

    def group_key(self) -> Hashable:
        return (type(self), self.layer)

    def check(self, shape: torch.Size) -> None:
        if len(shape) != 4 or shape[1] != self.weight.numel():
            raise ConfigError(f"concept presence on {self.layer!r}: the head reads {self.weight.numel()} channels, the "
                              f"layer gives shape {tuple(shape)}")

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        weights = torch.stack([o.weight for o in objectives]).to(act.device, act.dtype)  # (K, C)
        biases = torch.tensor([o.bias for o in objectives], device=act.device, dtype=act.dtype)
        logits = torch.einsum("nchw,kc->nkhw", act, weights).flatten(2) + biases[None, :, None]  # (N, K, P)
        return PRESENCE_TEMPERATURE * torch.logsumexp(logits / PRESENCE_TEMPERATURE, dim=2)


def _head(model: TrainedModel, concept_index: int) -> tuple[torch.Tensor, float]:
    """The concept head's weights (C,) and bias for one concept.

    Raises:
        ConfigError: The model has no concept head, or the index is not one of its concepts.
    """
    head = model.concept_head
    if head is None:
        raise ConfigError(f"show me needs a round with concepts; round {model.round}'s model has no concept head")
    count = head.conv.weight.shape[0]
    if isinstance(concept_index, bool) or not isinstance(concept_index, (int, np.integer)) \
            or not 0 <= concept_index < count:
        raise ConfigError(f"show me: concept_index must be an integer from 0 to {count - 1} (the round's concepts), "
                          f"got {concept_index!r}")
    return head.conv.weight[int(concept_index), :, 0, 0].detach(), float(head.conv.bias[int(concept_index)].detach())


def concept_presence(model: TrainedModel, sketches: Sequence[Sketch]) -> np.ndarray:
    """The concepts' presence logits (the maximum of each concept map) of drawings, drawn by the project's rasteriser.

    Args:
        model: A round's model with a concept head.
        sketches: The drawings.

    Returns:
        Float32 (N, K).

    Raises:
        ConfigError: The model has no concept head.
    """
    _head(model, 0)
    images = torch.from_numpy(rasterize_batch(list(sketches), model.raster))[:, None]
    with torch.no_grad(), LayerCapture(model.net, [model.layer]) as capture:  # hooks removed on exit
        act = capture(to_model_input(images, model.input_spec))[model.layer]
        return presence(model.concept_head(act)).float().numpy()


def show_me(
    model: TrainedModel,
    sketch: Sketch,
    concept_index: int,
    strokes: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    *,
    settings: StrokeSettings | None = None,
    on_step: Callable[[float], bool | None] | None = None,
) -> list[np.ndarray]:
    """Strokes that, added to a person's drawing, raise a concept the drawing lacks.

    Args:
        model: The round's model (with a concept head: round 1 on).
        sketch: The person's drawing (its strokes are drawn under the new ones and never moved; it may be empty).
        concept_index: The concept, by its index in the round's concept head (``model.concepts`` order).
        strokes: Strokes to add (None: ``coach.show_me.strokes``).
        steps: Optimisation steps (None: ``coach.show_me.steps``).
        seed: Seed of the initial strokes and the robustness.
        settings: How strokes are drawn (None: ``atlas.icons.strokes``); its ``count`` is replaced by ``strokes``.
        on_step: Called after every step with the fraction done; returning False stops there (the strokes so far
            are returned).

    Returns:
        The added strokes, float32 (2, K) arrays (x row, y row) in 0..255.

    Raises:
        ConfigError: No concept head, an unknown concept index, or a count out of range.
    """
    from dataclasses import replace

    from pipeline.config import default

    weight, bias = _head(model, concept_index)
    if not isinstance(sketch, Sketch):
        raise ConfigError(f"show me: the drawing must be a Sketch, got {type(sketch).__name__}")
    chosen = default(ShowMeSettings, **{k: v for k, v in (("strokes", strokes), ("steps", steps)) if v is not None})
    settings = replace(settings if settings is not None else default(StrokeSettings), count=chosen.strokes)
    objective = ConceptPresence(model.layer, weight, bias, int(concept_index))
    result = render(model.net, [objective], model.input_spec, steps=chosen.steps, param="strokes", strokes=settings,
                    raster=model.raster, fixed=sketch, seed=seed, on_step=on_step)
    return result.strokes[0]
