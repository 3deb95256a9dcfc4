"""What the fine-tune stage measures and draws: class accuracy, the concept loss over the labelled sketches, and
the rows of the figure of predicted concept maps (``concept_maps.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pipeline.evaluation.figures import CellMark, MapPanel, MapRow
from pipeline.finetune.data import ConceptDataset
from pipeline.finetune.targets import NEGATIVE, POSITIVE, POSITIVE_CODES, UNVERIFIED, TargetWeights
from pipeline.models.outputs import logits_of
from pipeline.models.predict import class_accuracy
from pipeline.models.concept_head import ConceptModel
from pipeline.models.input_spec import InputSpec, to_model_input

__all__ = ["LABEL_MARKS", "class_accuracy", "concept_eval", "map_rows", "pick_examples"]

#: How the figure of predicted concept maps outlines the labelled positions.
LABEL_MARKS = (CellMark(POSITIVE, (0.0, 0.62, 0.0), "positive (labelled)"),
               CellMark(UNVERIFIED, "yellowgreen", "positive (grown or spread, unseen)"),
               CellMark(NEGATIVE, (0.85, 0.0, 0.0), "negative (labelled)"))


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def concept_eval(model: ConceptModel, dataset: ConceptDataset, input_spec: InputSpec, weights: TargetWeights,
                 keep: Sequence[int] = (), batch_size: int = 256) -> tuple[float, dict[int, np.ndarray]]:
    """The weighted concept loss over all labelled sketches (eval mode), and the concept maps of a few.

    Args:
        keep: Rows of ``dataset`` whose maps to return.

    Returns:
        (loss, maps): ``sum(w * BCE) / sum(w)`` over the whole set, and row -> (K, H, W) float32 probabilities.
    """
    was_training = model.training
    model.eval()
    device = _device(model)
    wanted = set(int(i) for i in keep)
    total = weight_sum = 0.0
    maps: dict[int, np.ndarray] = {}
    try:
        for start, (images, _labels, codes, _mask, *_drawing) in zip(range(0, len(dataset), batch_size),
                                                                     DataLoader(dataset, batch_size=batch_size)):
            logits = model(to_model_input(images.to(device), input_spec)).concept_logits.float()
            target, weight = weights.apply(codes.to(device))
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
            total += float((weight * bce).sum())
            weight_sum += float(weight.sum())
            for row in wanted & set(range(start, start + len(images))):
                maps[row] = torch.sigmoid(logits[row - start]).cpu().numpy()
    finally:
        model.train(was_training)
    return total / max(weight_sum, 1e-12), maps


def pick_examples(codes: np.ndarray, per_concept: int) -> list[list[int]]:
    """Per concept, up to ``per_concept`` labelled sketches with the most positives of it (ties: first)."""
    chosen = []
    for k in range(codes.shape[1]):
        counts = np.isin(codes[:, k], POSITIVE_CODES).reshape(len(codes), -1).sum(1)
        order = np.argsort(-counts, kind="stable")
        chosen.append([int(i) for i in order[:per_concept] if counts[i] > 0])
    return chosen


def map_rows(names: Sequence[str], details: Sequence[str], ink: Mapping[int, np.ndarray],
             maps: Mapping[int, np.ndarray], codes: np.ndarray, examples: Sequence[Sequence[int]]) -> list[MapRow]:
    """The rows of the figure of predicted concept maps (:func:`~pipeline.evaluation.figures.concept_maps_figure`
    with :data:`LABEL_MARKS`): per concept, labelled sketches with its predicted map and the person's labels.

    Args:
        names: Concept names, in head order.
        details: Under each name (how many positions it has).
        ink: Row -> (S, S) ink coverage of a labelled sketch (1 = ink), for every row shown.
        maps: Row -> (K, H, W) predicted probabilities, for every row shown.
        codes: (N, K, H, W) target codes.
        examples: Per concept, the sketch rows to show.

    Returns:
        A row per concept.
    """
    return [MapRow(name, detail, [MapPanel(np.clip(ink[row], 0, 1), None, maps[row][k].astype(np.float32),
                                           f"max {float(maps[row][k].max()):.2f}", codes[row, k])
                                  for row in examples[k]])
            for k, (name, detail) in enumerate(zip(names, details, strict=True))]
