"""The metrics of the evaluate stage (docs/design.md, "Metrics"), as pure numpy functions.

Everything is measured on one split of the dataset (``evaluate.split``, ``test`` by default: the atlas and the
concepts come from the val split, so the test sketches are unseen), at the resolution of the atlas layer (the
layer the concept head reads), over *every* position of *every* sketch of the split.

Per position:

- its **true part** is the majority part of the labelled pixels of its stride cell, exactly as extraction
  computes it (:func:`pipeline.activations.extractor.part_cells` on the
  :func:`~pipeline.data.raster.rasterize_parts` mask; 0 where the cell holds no labelled pixel);
- concept ``k`` is **predicted** there when ``sigmoid(concept logit) >= threshold`` (``evaluate.threshold``,
  0.5).

Definitions:

``IoU(k, p)`` (localisation, Network Dissection style)
    ``|pred_k AND part == p| / |pred_k OR part == p|``, each count summed over all positions of all sketches
    of the split (not a mean of per-sketch IoUs). 0 when both are empty.
matched part of concept ``k``
    ``argmax_p IoU(k, p)`` over the true parts ``p >= 1``; ties go to the part listed first in the dataset's
    manifest (the smaller id). A concept whose IoU is 0 with every part (it fires nowhere, or only where no
    part is) *matches no part*.
``concept_iou/<name>``
    ``IoU(k, matched part)``; 0 for a concept that matches no part.
``concept_ap/<name>`` (presence)
    ``sklearn.metrics.average_precision_score`` of the concept's presence score in each sketch (the maximum
    over positions of its sigmoid) against "the sketch contains the matched part" (some position of the sketch
    has it as true part). 0 for a concept that matches no part. (The matched part occurs in the split, since
    its IoU is above 0, so there is at least one positive sketch.)
``parts_total``
    The true parts that occur in the split: the true part of at least one position (a part too thin to win
    any stride cell cannot be localised at this layer and is not counted).
``parts_discovered``
    The number of those parts ``p`` with ``max_k IoU(k, p) >= evaluate.iou_discovered`` (0.3): a part is
    discovered by *any* concept that overlaps it that well, not only by the concepts matched to it (one concept
    can discover two parts only when it covers both, each with IoU >= 0.3).
    ``parts_discovered_fraction`` = ``parts_discovered / parts_total``.
``mean_concept_iou``, ``mean_concept_ap``
    Means over the model's concepts (unmatched concepts count 0).
``class_acc``
    Accuracy of the class logits (argmax) on the split.

IoU at input resolution (``bench/bench_ceiling.py``): the stride-cell IoU above scores a map against the
layer's own coarse truth, so it cannot tell how well a map traces the strokes. :func:`ink_pixel_predictions`
upsamples each map to the input size (bilinear between position centres, see :func:`upsample_maps`) and keeps
the ink pixels only (the pixels the part mask labels); fed with the pixel part mask to :class:`OverlapCounts`
it gives the same IoU definitions over ink pixels instead of positions.

Where the data has no true parts (Quick, Draw! data), the part metrics are not defined and left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.activations.geometry import LayerGeometry

__all__ = [
    "ConceptResult", "OverlapCounts", "PartResult", "concept_results", "ink_pixel_predictions", "iou_matrix",
    "match_concepts", "metric_key", "part_results", "presence_ap", "presence_aps", "upsample_maps",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SLUG_LENGTH = 60


def metric_key(prefix: str, name: str, concept_id: str) -> str:
    """An MLflow metric key for a concept: ``<prefix>/<slug of the name>_<id>``.

    MLflow keys allow only alphanumerics, ``_ - . space /``; concept names may hold anything. The slug keeps
    ASCII letters, digits, ``_`` and ``-`` and turns every other run of characters into one ``_``; the id makes
    the key unique (two names can have the same slug). A name with no such character gives ``<prefix>/<id>``.

    >>> metric_key("concept_iou", "<b>a/b</b>", "c3")
    'concept_iou/b_a_b_b_c3'
    """
    slug = _UNSAFE.sub("_", str(name)).strip("_-")[:_SLUG_LENGTH].strip("_-")
    safe_id = _UNSAFE.sub("_", str(concept_id)).strip("_") or "concept"
    return f"{prefix}/{slug}_{safe_id}" if slug else f"{prefix}/{safe_id}"


class OverlapCounts:
    """Counts of positions, accumulated batch by batch, from which :func:`iou_matrix` follows.

    Args:
        concepts: Number of concepts K.
        parts: Number of true parts P (ids 1..P; 0 is "no part").

    Attributes:
        intersection: (K, P + 1) int64: positions where concept k is predicted and the true part is p.
        predicted: (K,) int64: positions where concept k is predicted.
        area: (P + 1,) int64: positions whose true part is p.
        positions: All positions counted.
    """

    def __init__(self, concepts: int, parts: int) -> None:
        self.concepts, self.parts = int(concepts), int(parts)
        self.intersection = np.zeros((self.concepts, self.parts + 1), dtype=np.int64)
        self.predicted = np.zeros(self.concepts, dtype=np.int64)
        self.area = np.zeros(self.parts + 1, dtype=np.int64)
        self.positions = 0

    def update(self, predicted: np.ndarray, part: np.ndarray) -> None:
        """Add a batch.

        Args:
            predicted: (N, K, H, W) bool, concept k predicted at a position.
            part: (N, H, W) int, the true part of each position (0: none).

        Raises:
            ValueError: Shapes that do not fit, or a part id outside 0..P.
        """
        predicted, part = np.asarray(predicted, dtype=bool), np.asarray(part)
        n, k = predicted.shape[:2]
        if k != self.concepts or predicted.shape[2:] != part.shape[1:] or len(part) != n:
            raise ValueError(f"predictions {predicted.shape} do not fit {self.concepts} concepts and parts "
                             f"{part.shape}")
        flat_part = part.reshape(-1).astype(np.int64)
        if flat_part.size and (flat_part.min() < 0 or flat_part.max() > self.parts):
            raise ValueError(f"part ids must be in 0..{self.parts}, got {flat_part.min()}..{flat_part.max()}")
        width = self.parts + 1
        self.area += np.bincount(flat_part, minlength=width)
        self.positions += flat_part.size
        if k == 0:
            return
        # (K, N*H*W): concept by position, positions in the same order as flat_part.
        by_concept = predicted.transpose(1, 0, 2, 3).reshape(k, -1)
        concept, position = np.nonzero(by_concept)
        self.intersection += np.bincount(concept * width + flat_part[position], minlength=k * width).reshape(k, width)
        self.predicted += by_concept.sum(1)

    @property
    def occurring(self) -> np.ndarray:
        """(P,) bool: true part p (id p + 1) is the true part of at least one position."""
        return self.area[1:] > 0


def _interpolation(count: int, size: int, offset: float, stride: float) -> np.ndarray:
    """(size, count) weights that interpolate ``count`` values centred at ``offset + stride * i`` linearly onto
    pixel centres ``0..size-1``; pixels beyond the outer centres take the outer value."""
    u = np.clip((np.arange(size, dtype=np.float64) - offset) / stride, 0.0, count - 1.0)
    low = np.floor(u).astype(np.int64)
    high = np.minimum(low + 1, count - 1)
    frac = u - low
    matrix = np.zeros((size, count), dtype=np.float64)
    rows = np.arange(size)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix.astype(np.float32)


def upsample_maps(maps: np.ndarray, geometry: LayerGeometry) -> np.ndarray:
    """Concept maps on the layer's grid -> maps at input resolution, bilinear between position centres.

    Position ``(y, x)`` is centred on input pixel ``rf_offset + stride * (y, x)`` (its receptive field's centre);
    for SketchCNN's ``features.block3`` this is ``F.interpolate(scale_factor=4, mode="bilinear")``.

    Args:
        maps: (N, K, H, W) values per position (probabilities or logits).
        geometry: The layer's grid and receptive field.

    Returns:
        (N, K, S, S) float32, S = ``geometry.input_size``.
    """
    maps = np.asarray(maps, dtype=np.float32)
    size = geometry.input_size
    rows = _interpolation(maps.shape[2], size, geometry.rf_offset, geometry.stride)
    cols = _interpolation(maps.shape[3], size, geometry.rf_offset, geometry.stride)
    return rows @ maps @ cols.T


def ink_pixel_predictions(maps: np.ndarray, masks: np.ndarray, geometry: LayerGeometry,
                          threshold: float = 0.5) -> np.ndarray:
    """Where each concept is predicted at input resolution, on ink pixels only.

    ``OverlapCounts.update(ink_pixel_predictions(maps, masks, ...), masks)`` then counts IoU over ink pixels:
    a concept's prediction on empty paper is neither a hit nor a miss, as a part is made of strokes.

    Args:
        maps: (N, K, H, W) concept probabilities on the layer's grid.
        masks: (N, S, S) pixel part masks (``rasterize_parts``: 0 where a pixel is not ink).
        geometry: The layer's grid and receptive field.
        threshold: A concept is predicted where its upsampled probability reaches this.

    Returns:
        (N, K, S, S) bool.
    """
    ink = np.asarray(masks) > 0
    return (upsample_maps(maps, geometry) >= threshold) & ink[:, None]


def iou_matrix(counts: OverlapCounts) -> np.ndarray:
    """(K, P) IoU of concept k with true part p (id p + 1) over all counted positions; 0 where the union is empty."""
    inter = counts.intersection[:, 1:].astype(np.float64)
    union = counts.predicted[:, None] + counts.area[None, 1:] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def match_concepts(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each concept's matched part: the part of highest IoU (ties: the smaller index), -1 when every IoU is 0.

    Args:
        iou: (K, P) from :func:`iou_matrix`.

    Returns:
        (matched part index (K,) int, -1 for none; its IoU (K,) float, 0 for none).
    """
    iou = np.asarray(iou, dtype=np.float64)
    if iou.shape[1] == 0:
        return np.full(len(iou), -1, dtype=np.int64), np.zeros(len(iou))
    best = iou.argmax(axis=1)
    value = iou[np.arange(len(iou)), best]
    return np.where(value > 0, best, -1).astype(np.int64), np.where(value > 0, value, 0.0)


def presence_ap(scores: np.ndarray, contains: np.ndarray) -> float | None:
    """Average precision of presence scores against "the sketch contains the part".

    Args:
        scores: (N,) presence score of each sketch (max over positions of the concept's sigmoid).
        contains: (N,) bool, the sketch contains the part.

    Returns:
        ``sklearn.metrics.average_precision_score``; None when no sketch contains the part (undefined).
    """
    return presence_aps(np.asarray(scores).reshape(-1, 1), np.asarray(contains).reshape(-1, 1))[0]


def presence_aps(scores: np.ndarray, contains: np.ndarray) -> list[float | None]:
    """:func:`presence_ap` of each column, in one call of scikit-learn (its input checks cost more than the
    computation, once per concept).

    Args:
        scores: (N, K) presence scores.
        contains: (N, K) bool.

    Returns:
        K average precisions; None where no sketch contains the part.
    """
    from sklearn.metrics import average_precision_score

    contains = np.asarray(contains, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    defined = np.flatnonzero(contains.any(axis=0))
    out: list[float | None] = [None] * contains.shape[1]
    if len(defined):
        values = np.atleast_1d(average_precision_score(contains[:, defined], scores[:, defined], average=None))
        for column, value in zip(defined, values, strict=True):
            out[int(column)] = float(value)
    return out


@dataclass
class ConceptResult:
    """How one concept did on the split (one entry of ``metrics.json``'s ``concepts``).

    Attributes:
        id, name: The concept's id and exact name.
        iou_key, ap_key: Its MLflow metric keys (:func:`metric_key`).
        matched_part: Name of the matched true part, None when it matches none.
        iou: IoU with the matched part (0 without one).
        ap: Presence AP against the matched part (0 without one).
        iou_by_part: The (up to) 3 parts of highest IoU above 0, ``{"part", "iou"}`` each, best first.
        predicted_fraction: Share of all positions where it is predicted.
        present_fraction: Share of sketches where its presence score reaches the threshold.
    """

    id: str
    name: str
    iou_key: str
    ap_key: str
    matched_part: str | None
    iou: float
    ap: float
    iou_by_part: list[dict[str, Any]] = field(default_factory=list)
    predicted_fraction: float = 0.0
    present_fraction: float = 0.0


@dataclass
class PartResult:
    """How well one true part that occurs in the split is found (one entry of ``metrics.json``'s ``parts``).

    Attributes:
        part: Its name.
        positions: Positions whose true part it is.
        sketches: Sketches that contain it.
        best_concept: Name of the concept of highest IoU with it (None without concepts or overlap).
        best_iou: That IoU (0 without).
        discovered: ``best_iou >= iou_discovered``.
    """

    part: str
    positions: int
    sketches: int
    best_concept: str | None
    best_iou: float
    discovered: bool


def concept_results(concepts: Sequence[dict[str, Any]], part_names: Sequence[str], counts: OverlapCounts,
                    presence: np.ndarray, contains: np.ndarray, threshold: float = 0.5) -> list[ConceptResult]:
    """The per-concept results.

    Args:
        concepts: ``{"id", "name"}`` per concept, in head order.
        part_names: Name of part id p + 1 at index p.
        counts: The accumulated overlaps.
        presence: (N, K) presence score per sketch and concept.
        contains: (N, P + 1) bool, sketch contains part id p (column 0: "no part", unused).
        threshold: The sigmoid threshold, for ``present_fraction``.
    """
    iou = iou_matrix(counts)
    matched, best = match_concepts(iou)
    presence = np.asarray(presence, dtype=np.float64).reshape(len(contains), len(concepts))
    found = np.flatnonzero(matched >= 0)
    aps = np.zeros(len(concepts))
    aps[found] = [ap or 0.0 for ap in presence_aps(presence[:, found], contains[:, matched[found] + 1])]
    out = []
    for k, concept in enumerate(concepts):
        cid, name = str(concept["id"]), str(concept["name"])
        order = [p for p in np.argsort(-iou[k], kind="stable")[:3] if iou[k, p] > 0]
        ap = aps[k]
        out.append(ConceptResult(
            id=cid, name=name, iou_key=metric_key("concept_iou", name, cid), ap_key=metric_key("concept_ap", name, cid),
            matched_part=str(part_names[matched[k]]) if matched[k] >= 0 else None, iou=float(best[k]), ap=float(ap),
            iou_by_part=[{"part": str(part_names[p]), "iou": float(iou[k, p])} for p in order],
            predicted_fraction=float(counts.predicted[k] / max(counts.positions, 1)),
            present_fraction=float((presence[:, k] >= threshold).mean()) if len(presence) else 0.0,
        ))
    return out


def part_results(concepts: Sequence[dict[str, Any]], part_names: Sequence[str], counts: OverlapCounts,
                 contains: np.ndarray, iou_discovered: float = 0.3) -> list[PartResult]:
    """The true parts that occur in the split, in manifest order, each with its best concept.

    Args:
        concepts: ``{"id", "name"}`` per concept, in head order (may be empty).
        part_names: Name of part id p + 1 at index p.
        counts: The accumulated overlaps.
        contains: (N, P + 1) bool, sketch contains part id p.
        iou_discovered: A part is discovered by a concept of at least this IoU.
    """
    iou = iou_matrix(counts)
    contains = np.asarray(contains, dtype=bool)
    out = []
    for p in np.nonzero(counts.occurring)[0]:
        column = iou[:, p]
        k = int(column.argmax()) if len(column) else -1
        best = float(column[k]) if k >= 0 else 0.0
        out.append(PartResult(
            part=str(part_names[p]), positions=int(counts.area[p + 1]), sketches=int(contains[:, p + 1].sum()),
            best_concept=str(concepts[k]["name"]) if k >= 0 and best > 0 else None, best_iou=best,
            discovered=bool(best >= iou_discovered),
        ))
    return out
