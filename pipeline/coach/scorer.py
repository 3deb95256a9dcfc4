"""Scoring frames of drawings: class probabilities, concept maps and per-concept scores in one pass.

One forward pass with a hook on the atlas layer, one backward pass from each frame's target-class logit to the
layer (no weight gradients, as in extraction): attribution per position = activation x gradient summed over
channels (The Building Blocks of Interpretability). A concept's *mass* in a frame is the sum of its map over
the ink positions where the concept is (its probability at least ``threshold``, as the evaluation decides); its
*score* is that mass (``score="mass"``) or the map weighted by
the positive attribution of each position (``score="attribution"``: how much of the class evidence sits
where the concept is, the exhibit's measure). The same sums over only the positions the frame's *last stroke*
inks give the stroke's own score: what that stroke drew, whatever the rest of the drawing now looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.activations.extractor import LayerHooks, ink_cells
from pipeline.activations.geometry import LayerGeometry
from pipeline.coach.concept_set import ConceptSet
from pipeline.coach.runtime import checkpoint
from pipeline.data.raster import rasterize_batch
from core.sketch import Sketch
from core.errors import ConfigError
from pipeline.models.build import TrainedModel
from pipeline.models.input_spec import to_model_input
from pipeline.models.outputs import logits_of

__all__ = ["SCORES", "FrameScorer", "Frames"]

SCORES = ("mass", "attribution")


@dataclass
class Frames:
    """What the model says about N frames.

    Attributes:
        probabilities: (N, classes) softmax of the class logits (not calibrated: the coach divides the logits
            by its temperature, :mod:`~pipeline.coach.calibration`).
        logits: (N, classes) the class logits.
        pooled: (N, C) the atlas layer's activation averaged over its positions (what the Mahalanobis score reads).
        targets: (N,) the class each frame's attribution and canon are read for.
        maps: (N, K, H, W) concept maps on the ink positions (0 elsewhere), not thresholded.
        attribution: (N, H, W) activation x gradient of the target logit, summed over channels.
        ink: (N, H, W) positions whose stride cell holds ink.
        mass: (N, K) each concept's map summed over the ink positions where it is (positions' worth of it).
        scores: (N, K) the configured score (``mass`` or attribution-weighted mass).
        stroke_mass: (N, K) ``mass`` over the positions the frame's last stroke inks (0 for a blank frame).
        stroke_scores: (N, K) ``scores`` over those positions.
    """

    probabilities: np.ndarray
    logits: np.ndarray
    pooled: np.ndarray
    targets: np.ndarray
    maps: np.ndarray
    attribution: np.ndarray
    ink: np.ndarray
    mass: np.ndarray
    scores: np.ndarray
    stroke_mass: np.ndarray
    stroke_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


class FrameScorer:
    """Runs the round's model and its concept set on frames.

    Args:
        model: The round's trained model.
        concepts: The concept set on ``model.layer``.
        score: ``mass`` or ``attribution`` (see the module docstring).
        ink_threshold: A pixel is ink at or above this coverage (as extraction).
        threshold: A concept is at a position where its map is at least this (``evaluate.threshold``).

    Raises:
        ConfigError: An unknown score.
    """

    def __init__(self, model: TrainedModel, concepts: ConceptSet, score: str = "mass",
                 ink_threshold: float = 0.5, threshold: float = 0.5) -> None:
        if score not in SCORES:
            raise ConfigError(f"coach.score: expected one of {', '.join(SCORES)}, got {score!r}")
        self.model, self.concepts, self.score = model, concepts.eval(), score
        self.ink_threshold, self.threshold = float(ink_threshold), float(threshold)
        self.geometry = LayerGeometry.of(model)

    @property
    def class_names(self) -> list[str]:
        return self.model.class_names

    @property
    def class_index(self) -> dict[str, int]:
        """A class name -> its output: the model's own names, and the dataset's classes that map onto them (a
        pretrained model's, :class:`~pipeline.models.classes.ClassMap`)."""
        mapped = {word: label for word, label in self.model.class_map.labels().items() if label >= 0}
        return {**mapped, **{name: i for i, name in enumerate(self.model.class_names)}}

    def render(self, sketches: Sequence[Sketch]) -> tuple[np.ndarray, np.ndarray]:
        """The frames as the model sees them, and their last strokes alone, (N, S, S) each."""
        last = [Sketch(s.key_id, s.word, s.strokes[-1:]) if s.strokes else s for s in sketches]
        return rasterize_batch(sketches, self.model.raster), rasterize_batch(last, self.model.raster)

    def __call__(self, images: np.ndarray, targets: Sequence[int | None], last_strokes: np.ndarray | None = None) -> Frames:
        """Score rendered frames.

        Args:
            images: (N, S, S) in the model's polarity (from :meth:`render`).
            targets: Per frame, the class index to read it for, or None for the model's top class.
            last_strokes: (N, S, S) each frame's last stroke alone (from :meth:`render`); None: the whole frame.
        """
        x = to_model_input(torch.from_numpy(np.ascontiguousarray(images))[:, None], self.model.input_spec)
        hooks = LayerHooks(self.model.net, [self.model.layer])
        try:
            with torch.no_grad():
                logits = logits_of(self.model.net(x))
                activations = hooks.outputs[self.model.layer]
                chosen = torch.tensor([-1 if t is None else int(t) for t in targets], dtype=torch.long)
                chosen = torch.where(chosen < 0, logits.argmax(1), chosen)
                with torch.enable_grad():
                    grad, = torch.autograd.grad(logits.gather(1, chosen[:, None]).sum(), activations)
        finally:
            hooks.remove()
        with torch.no_grad():
            act = activations.detach()
            attribution = (act * grad).sum(1).numpy()
            coverage = (1.0 - images) if self.model.raster.invert else images
            ink = ink_cells(coverage, self.geometry, self.ink_threshold)
            maps = self.concepts(act).numpy() * ink[:, None]
            probabilities = torch.softmax(logits, 1).numpy()
        where = maps * (maps >= self.threshold)
        weighted = where if self.score == "mass" else where * np.maximum(attribution, 0.0)[:, None]
        if last_strokes is None:
            stroke_ink = ink
        else:
            last_coverage = (1.0 - last_strokes) if self.model.raster.invert else last_strokes
            stroke_ink = ink_cells(last_coverage, self.geometry, self.ink_threshold)
        mass, scores = where.sum(axis=(2, 3)), weighted.sum(axis=(2, 3))
        stroke_mass = (where * stroke_ink[:, None]).sum(axis=(2, 3))
        stroke_scores = (weighted * stroke_ink[:, None]).sum(axis=(2, 3))
        return Frames(probabilities, logits.detach().numpy(), act.mean(dim=(2, 3)).numpy(), chosen.numpy(), maps.astype(np.float32), attribution.astype(np.float32), ink,
                      mass.astype(np.float32), scores.astype(np.float32), stroke_mass.astype(np.float32),
                      stroke_scores.astype(np.float32))

    def sketches(self, sketches: Sequence[Sketch], targets: Sequence[int | None]) -> Frames:
        """Render and score drawings (whole or partial); a build asked to stop stops here
        (:func:`~pipeline.coach.runtime.checkpoint`), before the batch."""
        checkpoint()
        images, last = self.render(sketches)
        return self(images, targets, last)
