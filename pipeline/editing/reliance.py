"""Which concepts the model relies on: each class's accuracy with each concept ablated (a causal check).

For every batch of the split the model runs once to the atlas layer; then, per concept, the layer is erased
where the concept fires (or, ``mode="direction"``, its direction removed everywhere) and only the layers after
it run again. The
*drop* of class c for concept k is c's accuracy as the model is minus its accuracy with k ablated (positive:
the model needs k to recognise c).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.activations.extractor import render_batch
from core.sketch import Sketch
from pipeline.editing.surgery import Surgeon

__all__ = ["Reliance", "concept_reliance"]


@dataclass
class Reliance:
    """Per class accuracy as the model is, and with each concept ablated.

    Attributes:
        classes: Class names (columns).
        concepts: Concept names (rows).
        sketches: (classes,) sketches of each class in the split.
        accuracy: (classes,) accuracy as the model is.
        ablated: (K, classes) accuracy with concept k ablated.
    """

    classes: list[str]
    concepts: list[str]
    sketches: np.ndarray
    accuracy: np.ndarray
    ablated: np.ndarray

    @property
    def drop(self) -> np.ndarray:
        """(K, classes) accuracy lost when concept k is ablated (positive: the class needs the concept)."""
        return self.accuracy[None, :] - self.ablated


def concept_reliance(surgeon: Surgeon, sketches: Sequence[Sketch], batch_size: int = 256,
                     mode: str = "positions", grow: int = 0) -> Reliance:
    """Measure :class:`Reliance` over ``sketches`` (sketches of classes the model does not know are skipped).

    Args:
        surgeon: The round's model.
        sketches: The split.
        batch_size: Sketches per pass.
        mode: ``positions`` (erase the layer where the concept fires) or ``direction`` (remove its direction
            everywhere), see :mod:`pipeline.editing.surgery`.
        grow: Positions mode: also erase this many positions around where it fires.
    """
    model = surgeon.model
    classes = model.class_map  # per dataset class; a pretrained model's outputs count through it
    index = {word: i for i, (word, targets) in enumerate(zip(classes.words, classes.targets, strict=True)) if targets}
    word_of = torch.from_numpy(classes.word_of_output())
    known = [s for s in sketches if s.word in index]
    k, n_classes = len(surgeon.names), len(classes.words)
    counts = np.zeros(n_classes)
    right = np.zeros(n_classes)
    right_ablated = np.zeros((k, n_classes))
    for start in range(0, len(known), batch_size):
        batch = known[start:start + batch_size]
        images, _ = render_batch(batch, model.raster, None)
        labels = np.array([index[s.word] for s in batch])
        run = surgeon.prepare(images)
        maps = surgeon.maps(run.activations)
        np.add.at(counts, labels, 1)
        np.add.at(right, labels, word_of[run.logits.argmax(1)].numpy() == labels)
        for concept in range(k):
            edited, _ = surgeon.edited(run.activations, maps, [concept], 0.0, mode=mode, grow=grow)
            logits = surgeon.resume(run, edited)
            np.add.at(right_ablated[concept], labels, word_of[logits.argmax(1)].numpy() == labels)
    safe = np.maximum(counts, 1)
    return Reliance(list(classes.words), list(surgeon.names), counts, right / safe, right_ablated / safe)
