"""What the fine-tune stage measures and draws: class accuracy, the concept loss over the labelled sketches, and
the figure of predicted concept maps (``concept_maps.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pipeline.activations.extractor import LayerGeometry
from pipeline.finetune.data import ConceptDataset
from pipeline.finetune.targets import NEGATIVE, POSITIVE, POSITIVE_CODES, UNVERIFIED, TargetWeights
from pipeline.models.outputs import logits_of
from pipeline.models.predict import class_accuracy
from pipeline.models.concept_head import ConceptModel
from pipeline.models.input_spec import InputSpec, to_model_input

__all__ = ["class_accuracy", "concept_eval", "concept_maps_figure"]


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
        for start, (images, _labels, codes, _mask) in zip(range(0, len(dataset), batch_size),
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


def concept_maps_figure(names: Sequence[str], ink: Mapping[int, np.ndarray], maps: Mapping[int, np.ndarray],
                        codes: np.ndarray, examples: Sequence[Sequence[int]], geometry: LayerGeometry,
                        title: str = "") -> Figure:
    """One row per concept: labelled sketches with the predicted concept map (probability) overlaid, the
    person's positives outlined in green and negatives in red.

    Args:
        names: Concept names, in head order.
        ink: Row -> (S, S) ink coverage of a labelled sketch (1 = ink), for every row shown.
        maps: Row -> (K, H, W) predicted probabilities, for every row shown.
        codes: (N, K, H, W) target codes.
        examples: Per concept, the sketch rows to show.
        geometry: The layer's grid (for placing the maps on the image).
        title: The figure's title.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    columns = max(1, max((len(e) for e in examples), default=1))
    rows = max(1, len(names))
    width, height = max(6.0, 1.6 * columns + 1.8), 1.6 * rows + 0.6
    # Fixed margins (in inches), not a layout engine: with a row per concept the constrained layout alone took
    # seconds per save.
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False,
                             gridspec_kw={"left": 0.9 / width, "right": 1 - 1.1 / width, "top": 1 - 0.75 / height,
                                          "bottom": 0.1 / height, "wspace": 0.08, "hspace": 0.25})
    size, stride, half = geometry.input_size, geometry.stride, geometry.stride / 2
    extent = (geometry.rf_offset - half, geometry.rf_offset - half + stride * geometry.width,
              geometry.rf_offset - half + stride * geometry.height, geometry.rf_offset - half)
    cmap = plt.get_cmap("plasma")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for k, name in enumerate(names):
        axes[k, 0].set_ylabel(name, fontsize=9)
        for column, row in enumerate(examples[k]):
            ax = axes[k, column]
            ax.set_frame_on(True)
            ax.imshow(1.0 - np.clip(ink[row], 0, 1), cmap="gray", vmin=0, vmax=1,
                      extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            probability = np.clip(maps[row][k].astype(np.float32), 0, 1)
            overlay = cmap(probability)
            overlay[..., 3] = 0.75 * probability  # transparent where the concept is absent
            ax.imshow(overlay, extent=extent, interpolation="nearest")
            for code, colour in ((POSITIVE, "lime"), (UNVERIFIED, "yellowgreen"), (NEGATIVE, "red")):
                cells = [Rectangle((geometry.rf_offset + stride * x - half, geometry.rf_offset + stride * y - half),
                                   stride, stride) for y, x in zip(*np.nonzero(codes[row, k] == code))]
                if cells:  # one collection per colour: drawn at once, not patch by patch
                    ax.add_collection(PatchCollection(cells, facecolor="none", edgecolor=colour, linewidth=0.8))
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
            ax.set_title(f"max {float(maps[row][k].max()):.2f}", fontsize=7, pad=2)
    bar = fig.add_axes((1 - 0.85 / width, 0.5 - min(0.45, 1.5 / height), 0.15 / width, min(0.9, 3.0 / height)))
    fig.colorbar(ScalarMappable(cmap=cmap), cax=bar, label="concept probability (and opacity)")
    fig.suptitle(title or "predicted concept maps", fontsize=9, y=1 - 0.1 / height, va="top")
    return fig
