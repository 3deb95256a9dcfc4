"""Concept surgery: ablate or boost a named concept in the atlas layer and see what the model says then.

Two ways to edit a concept. ``mode="direction"``: a concept's direction is its row of the concept head (a 1x1
convolution: the direction in the layer's space along which the concept's logit grows); its component at each
position is scaled by the factor (0 ablates, above 1 boosts), at every position (``where="everywhere"``) or only
where the concept fires (``"fires"``: its probability at least the threshold). ``mode="positions"``: the whole
vectors where the concept fires (grown by ``grow`` positions around, since a position's neighbours see the same
strokes) are scaled: at 0 the layer no longer sees that part of the drawing (a cat without its ears, from this
layer on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.editing.edits import scale_direction, scale_positions
from pipeline.editing.runner import LayerRun, LayerRunner
from core.errors import ArticulateError
from pipeline.models.build import TrainedModel
from pipeline.models.input_spec import to_model_input

__all__ = ["MODES", "WHERE", "Outcome", "Surgeon", "no_concepts"]


def no_concepts(round_: int) -> str:
    """What to say when a round without a concept head is asked to edit a concept."""
    return (f"the round {round_} model has no concepts to edit: name concepts in its atlas and fine-tune (the next "
            "round has them)")

WHERE = ("everywhere", "fires")
MODES = ("direction", "positions")


@dataclass
class Outcome:
    """What the model says of N images before and after an edit.

    Attributes:
        before, after: (N, classes) class probabilities.
        presence_before, presence_after: (N, K) each concept's presence (its highest probability on the layer).
        edited_positions: (N,) how many positions the edit touched.
    """

    before: np.ndarray
    after: np.ndarray
    presence_before: np.ndarray
    presence_after: np.ndarray
    edited_positions: np.ndarray


class Surgeon:
    """Edits a trained round's model along its concepts.

    Args:
        model: A round with a concept head.
        threshold: A concept fires at a position where its probability is at least this.

    Raises:
        ArticulateError: The round has no concept head (round 0: name concepts first).
    """

    def __init__(self, model: TrainedModel, threshold: float = 0.5) -> None:
        if model.concept_head is None:
            raise ArticulateError(no_concepts(model.round))
        self.model, self.threshold = model, float(threshold)
        self.runner = LayerRunner(model.net, model.layer)
        self.weights = model.concept_head.conv.weight.detach()[:, :, 0, 0]  # (K, C)
        self.names = [str(c["name"]) for c in model.concepts]
        self.ids = [str(c["id"]) for c in model.concepts]

    def concept_index(self, ref: str) -> int:
        """The head index of a concept by id or exact name.

        Raises:
            ArticulateError: No such concept (the message lists them).
        """
        for i, (cid, name) in enumerate(zip(self.ids, self.names)):
            if ref in (cid, name):
                return i
        raise ArticulateError(f"unknown concept {ref!r}: the round {self.model.round} model's concepts are "
                              f"{', '.join(self.names)}")

    def maps(self, activations: torch.Tensor) -> torch.Tensor:
        """(N, K, H, W) concept probabilities of activations."""
        with torch.no_grad():
            return torch.sigmoid(self.model.concept_head(activations))

    def fires(self, maps: torch.Tensor, k: int, grow: int = 0) -> torch.Tensor:
        """(N, H, W) bool: where concept ``k`` fires in ``maps`` (:meth:`maps`; its probability at least the
        threshold), grown by ``grow`` positions around."""
        where = maps[:, k] >= self.threshold
        if grow:
            where = torch.nn.functional.max_pool2d(where[:, None].float(), 2 * grow + 1, 1, grow)[:, 0] > 0
        return where

    def prepare(self, images: np.ndarray) -> LayerRun:
        """Run rendered images (N, S, S, model polarity) to the layer."""
        x = to_model_input(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None],
                           self.model.input_spec)
        return self.runner.run(x)

    def edit(self, run: LayerRun, concepts: Sequence[int], factor: float, where: str = "everywhere",
             mode: str = "direction", grow: int = 0) -> Outcome:
        """Scale the concepts (their directions, or the positions where they fire) by ``factor`` (0 ablates) and
        run the rest of the network.

        Raises:
            ArticulateError: An unknown ``where`` or ``mode``, or a bad factor.
        """
        before_maps = self.maps(run.activations)
        edited, touched = self.edited(run.activations, before_maps, concepts, factor, where, mode, grow)
        logits = self.resume(run, edited)
        presence = lambda maps: maps.flatten(2).amax(2).numpy()  # noqa: E731
        return Outcome(torch.softmax(run.logits, 1).numpy(), torch.softmax(logits, 1).numpy(), presence(before_maps),
                       presence(self.maps(edited)), touched.flatten(1).sum(1).numpy())

    def edited(self, activations: torch.Tensor, maps: torch.Tensor, concepts: Sequence[int], factor: float,
               where: str = "everywhere", mode: str = "direction", grow: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's maps with the concepts scaled (see :meth:`edit`).

        Args:
            activations: (N, C, H, W) the layer's maps.
            maps: (N, K, H, W) the concepts' probabilities on them (:meth:`maps`).

        Returns:
            The edited maps, and (N, H, W) bool: the positions the edit touched.

        Raises:
            ArticulateError: An unknown ``where`` or ``mode``, or a bad factor or ``grow``.
        """
        if where not in WHERE:
            raise ArticulateError(f"where: expected one of {', '.join(WHERE)}, got {where!r}")
        if mode not in MODES:
            raise ArticulateError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if isinstance(grow, bool) or not isinstance(grow, int) or not 0 <= grow <= 8:
            raise ArticulateError(f"grow: expected 0 to 8 positions, got {grow!r}")
        edited = activations
        touched = torch.zeros(activations.shape[0], *activations.shape[2:], dtype=torch.bool)
        for k in concepts:
            fires = self.fires(maps, k, grow)
            if mode == "positions":
                edited, mask = scale_positions(edited, fires, factor), fires
            else:
                mask = fires if where == "fires" else None
                edited = scale_direction(edited, self.weights[k], factor, mask)
            touched |= mask if mask is not None else torch.ones_like(touched)
        return edited, touched

    def resume(self, run: LayerRun, edited: torch.Tensor) -> torch.Tensor:
        """The class logits of the run with the layer's maps replaced by ``edited``.

        Only the images the edit changed run the layers after the layer again (the others' logits are the
        unedited pass's): the ablation of a part that most drawings lack costs a fraction of a pass.
        """
        changed = (edited != run.activations).flatten(1).any(1)
        if changed.all():
            return self.runner.resume(run, edited)
        logits = run.logits.clone()
        if changed.any():
            logits[changed] = self.runner.resume(self.runner.rows(run, changed), edited[changed])
        return logits
