"""One pass of a trained round's model over a split: class predictions, concept maps against true parts.

Batched and streaming: memory grows with the batch size and with (sketches x concepts) presence scores, not
with the split's positions. Rendering (:func:`~pipeline.activations.extractor.render_batch`) runs on a second
thread while the model runs on the batch before, as in extraction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.activations.extractor import part_cells, render_batch, rendered_batches
from pipeline.activations.geometry import LayerGeometry
from core.sketch import Sketch
from core.errors import ArticulateError, InputError
from pipeline.evaluation.metrics import OverlapCounts, ink_pixel_predictions
from pipeline.models.build import TrainedModel
from pipeline.models.classes import UNMAPPED
from pipeline.models.outputs import logits_of
from pipeline.models.input_spec import to_model_input

__all__ = ["ConceptMaps", "Evaluator", "SplitPass", "concept_maps", "run_split"]


@dataclass
class SplitPass:
    """What one pass over a split gives.

    Attributes:
        labels: (N,) the class's label (:meth:`~pipeline.models.classes.ClassMap.labels`: the output index for a
            model trained here; -1 for a class a pretrained model lacks).
        predictions: (N,) the argmax of the class logits, sent to its class's label
            (:meth:`~pipeline.models.classes.ClassMap.canonical`), so a right prediction equals the label.
        presence: (N, K) presence score: max over positions of each concept's sigmoid (K = 0 in round 0).
        contains: (N, P + 1) bool, sketch has a position whose true part is id p (all False for a sketch whose
            parts are unknown).
        counts: Concept/part overlaps over all positions of the sketches with true parts.
        geometry: The atlas layer's geometry.
        pixel_counts: Concept/part overlaps over the ink pixels at input resolution, the maps upsampled
            (:func:`~pipeline.evaluation.metrics.ink_pixel_predictions`); None unless asked for.
        known: (N,) bool, the sketch names its parts: the part metrics count only these (in mixed data the real
            drawings name none; in data without parts, none does).
    """

    labels: np.ndarray
    predictions: np.ndarray
    presence: np.ndarray
    contains: np.ndarray
    counts: OverlapCounts
    geometry: LayerGeometry
    pixel_counts: OverlapCounts | None = None
    known: np.ndarray | None = None

    @property
    def class_acc(self) -> float:
        return self.accuracy_of(np.ones(len(self.labels), dtype=bool))

    def accuracy_of(self, rows: np.ndarray) -> float:
        """The class accuracy over some of the sketches ((N,) bool), those of a class the model has (0 if none)."""
        counted = rows & (self.labels != UNMAPPED)
        return float((self.labels[counted] == self.predictions[counted]).mean()) if counted.any() else 0.0


class Evaluator:
    """Runs a round's model on rendered sketches: class logits, and concept sigmoid maps where it has a head.

    Args:
        model: The round's trained model (round 0: no concept head).
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self.geometry = LayerGeometry.of(model)
        # Built once: a ConceptModel registers a forward hook on the layer.
        self.concept_model = model.concept_model() if model.concept_head is not None else None

    def forward(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class logits (N, classes) and concept sigmoid maps (N, K, H, W) (None without a head) of rendered
        images (N, S, S) in the model's polarity."""
        x = to_model_input(torch.from_numpy(images)[:, None], self.model.input_spec)
        with torch.no_grad():
            if self.concept_model is None:
                return logits_of(self.model.net(x)), None
            out = self.concept_model(x)
            return out.logits, torch.sigmoid(out.concept_logits)


def run_split(evaluator: Evaluator, sketches: Sequence[Sketch], part_names: Sequence[str] | None, *,
              threshold: float = 0.5, batch_size: int = 128, progress: bool = False,
              source: str = "the split", pixels: bool = False) -> SplitPass:
    """Run the model over ``sketches`` and accumulate what the metrics need.

    Args:
        evaluator: The round's model, ready to run.
        sketches: The split.
        part_names: The dataset's part names (id = index + 1), or None where the data has no parts. Sketches that
            name no parts (the real drawings of mixed data) count for the class accuracy only.
        threshold: Concept k is predicted at a position where its sigmoid is at least this.
        batch_size: Sketches per forward pass.
        progress: Show a progress bar.
        source: The split's file, named in errors.
        pixels: Also count overlaps at input resolution over ink pixels (``SplitPass.pixel_counts``; needs
            true parts and a concept head).

    Raises:
        InputError: A sketch of a class the model does not know.
    """
    from tqdm.auto import tqdm

    model, geometry = evaluator.model, evaluator.geometry
    class_index = model.class_map.labels()
    canonical = torch.from_numpy(model.class_map.canonical())
    part_index = {name: i + 1 for i, name in enumerate(part_names)} if part_names else None
    n, k, parts = len(sketches), len(model.concepts), len(part_names or ())
    counts = OverlapCounts(k, parts)
    pixel_counts = OverlapCounts(k, parts) if pixels and part_index and k else None
    labels = np.empty(n, dtype=np.int64)
    predictions = np.empty(n, dtype=np.int64)
    presence = np.zeros((n, k), dtype=np.float32)
    contains = np.zeros((n, parts + 1), dtype=bool)
    known = np.array([part_index is not None and s.parts is not None for s in sketches], dtype=bool)
    # the part bookkeeping's rows: the sketches with true parts (without parts in the data: every sketch, all "none")
    counted = known if part_index is not None else np.ones(n, dtype=bool)

    done = 0
    with tqdm(total=n, unit="sketch", desc="evaluate", disable=not progress) as bar:
        for batch, (images, masks) in rendered_batches(sketches, batch_size, model.raster, part_index):
            unknown = sorted({s.word for s in batch} - set(class_index))
            if unknown:
                raise InputError(source, f"sketches of classes the model does not know: "
                                 f"{', '.join(unknown[:5])}", hint=f"the model's classes are "
                                 f"{', '.join(class_index)}")
            rows = slice(done, done + len(batch))
            labels[rows] = [class_index[s.word] for s in batch]
            logits, maps = evaluator.forward(images)
            predictions[rows] = canonical[logits.argmax(1)].numpy()
            # the part metrics over the sketches that name their parts only
            mine = counted[rows]
            part = part_cells(masks[mine], geometry) if masks is not None else \
                np.zeros((int(mine.sum()), geometry.height, geometry.width), dtype=np.int16)
            hit = np.zeros((len(part), parts + 1), dtype=bool)
            np.put_along_axis(hit, part.reshape(len(part), -1).astype(np.int64), True, axis=1)
            contains[done + np.flatnonzero(mine)] = hit
            if maps is not None:
                maps_np = maps.numpy()
                if maps_np.shape[2:] != part.shape[1:]:
                    raise ArticulateError(f"the concept maps are {maps_np.shape[2:]}, the layer {model.layer} is "
                                          f"{part.shape[1:]}")
                presence[rows] = maps_np.reshape(len(batch), k, -1).max(2)
                counts.update(maps_np[mine] >= threshold, part)
                if pixel_counts is not None:
                    pixel_counts.update(ink_pixel_predictions(maps_np[mine], masks[mine], geometry, threshold),
                                        masks[mine])
            else:
                counts.update(np.zeros((len(part), 0, *part.shape[1:]), dtype=bool), part)
            done += len(batch)
            bar.update(len(batch))
    return SplitPass(labels, predictions, presence, contains, counts, geometry, pixel_counts, known)


@dataclass
class ConceptMaps:
    """Concept maps of a few sketches, for the figure.

    Attributes:
        sketches: Row of the split of each example.
        maps: (E, H, W) the concept's sigmoid map on each example.
    """

    sketches: list[int]
    maps: np.ndarray


def concept_maps(evaluator: Evaluator, sketches: Sequence[Sketch], presence: np.ndarray, count: int,
                 batch_size: int = 128) -> list[ConceptMaps]:
    """For each concept, its ``count`` sketches of highest presence (ties: split order) and its map on them.

    Runs the model again on just those sketches (at most K x count), so the pass over the split keeps no maps.
    """
    model = evaluator.model
    k = len(model.concepts)
    if k == 0 or count < 1 or len(sketches) == 0:
        return [ConceptMaps([], np.zeros((0, 0, 0), dtype=np.float32)) for _ in range(k)]
    chosen = [list(np.argsort(-presence[:, c], kind="stable")[:count]) for c in range(k)]
    rows = sorted({int(r) for rows in chosen for r in rows})
    where = {r: i for i, r in enumerate(rows)}
    maps = []
    for start in range(0, len(rows), batch_size):
        batch = [sketches[r] for r in rows[start:start + batch_size]]
        images, _ = render_batch(batch, model.raster, None)
        maps.append(evaluator.forward(images)[1].numpy())
    every = np.concatenate(maps)
    return [ConceptMaps([int(r) for r in chosen[c]], every[[where[int(r)] for r in chosen[c]], c])
            for c in range(k)]
