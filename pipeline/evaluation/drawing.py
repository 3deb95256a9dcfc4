"""Drawing-level concepts against the drawings' attributes: what a round's drawing head scores, and how well.

A drawing-level concept (``level: drawing``, such as "facing left") has no map and no part to be compared with:
the round's :class:`~pipeline.models.concept_head.DrawingHead` gives each drawing one probability, from the atlas
layer's activations averaged over the drawing's ink. As a concept of positions is matched in hindsight to the true
part it overlaps most, a drawing-level concept is matched to the attribute value (``facing=left``) its scores rank
best: the one its scores separate best from the rest, by the area under the ROC curve. A value is compared over
the drawings of the classes it varies in (some of their drawings have it, some not), as far as they record the
attribute (generated drawings do; real ones record none): so "omitted=fin" is fish without a fin against fish
with one, and a head that only knows the class matches nothing. The AUC is the same for a rare value as for a
common one, where average precision starts at the value's base rate (matching on the AP would favour the
commonest values). A value fewer than :data:`MIN_DRAWINGS` of those drawings have, or lack, is not matched: its
ranking is mostly chance. Its metric is ``concept_ap/<key>`` like any concept's: the average precision for that
value over those drawings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.sketch import Sketch
from pipeline.evaluation.metrics import metric_key, presence_aps
from pipeline.models.build import TrainedModel

__all__ = ["DrawingConceptResult", "drawing_results", "drawing_scores"]

#: How many of a concept's best-matched attribute values its result lists.
TOP_VALUES = 3
#: The fewest drawings that have a value, and that lack it, for a concept to be matched to it.
MIN_DRAWINGS = 10


@dataclass
class DrawingConceptResult:
    """One drawing-level concept's figures on a split.

    Attributes:
        id: The concept's id.
        name: Its exact name.
        ap_key: Its metric's key (``concept_ap/<slug>_<id>``).
        ap: Its average precision against the attribute value it matches; None where no drawing records one.
        matched: That value as ``attribute=value`` (None without attributes).
        auc: The area under the ROC curve of that match (0.5: chance).
        base_rate: That value's share of the drawings it was compared over (the AP of scores that know nothing).
        ap_by_value: The best-matched values' APs (``attribute=value`` -> AP), best matched first.
        present_fraction: The share of the split's drawings it scores at least the threshold.
        drawings: How many drawings record attributes (those the AP is over).
    """

    id: str
    name: str
    ap_key: str
    ap: float | None
    matched: str | None
    auc: float | None = None
    base_rate: float | None = None
    ap_by_value: dict[str, float] = field(default_factory=dict)
    present_fraction: float = 0.0
    drawings: int = 0


def drawing_scores(model: TrainedModel, sketches: Sequence[Sketch], ink_threshold: float,
                   batch_size: int = 128) -> np.ndarray:
    """The drawing head's probabilities for each drawing.

    Args:
        model: A round's model with a drawing head.
        sketches: The drawings.
        ink_threshold: The extract stage's ink threshold (the positions the head pools over).
        batch_size: Drawings per forward pass.

    Returns:
        (N, D) probabilities, one column per drawing-level concept in head order.
    """
    from pipeline.finetune.data import layer_vectors

    head = model.drawing_head
    if head is None:
        raise ValueError("drawing_scores: the model has no drawing head")
    out = []
    for start in range(0, len(sketches), batch_size):
        batch = list(sketches[start:start + batch_size])
        vectors, ink = layer_vectors(model, batch, ink_threshold, batch_size)
        activations = torch.from_numpy(np.stack([vectors[s.key_id] for s in batch])).permute(0, 3, 1, 2)
        cells = torch.from_numpy(np.stack([ink[s.key_id] for s in batch]))
        with torch.no_grad():
            out.append(torch.sigmoid(head.eval()(activations.float(), cells)).numpy())
    return np.concatenate(out) if out else np.zeros((0, head.concepts), dtype=np.float32)


def drawing_results(concepts: Sequence[dict], scores: np.ndarray, sketches: Sequence[Sketch],
                    threshold: float) -> list[DrawingConceptResult]:
    """Each drawing-level concept matched to the attribute value its scores rank best.

    Args:
        concepts: The drawing head's concepts (``{"id", "name"}``), in head order.
        scores: (N, D) their probabilities on ``sketches`` (:func:`drawing_scores`).
        sketches: The drawings, with their attributes where they record them.
        threshold: The probability from which a concept counts as present.

    Returns:
        One result per concept; AP and match None where no drawing records an attribute.
    """
    from sklearn.metrics import roc_auc_score

    from pipeline.atlas.attributes import attribute_codes

    recorded = np.array([bool(s.attributes) for s in sketches], dtype=bool)
    words = np.array([s.word for s in sketches])
    # ("attribute=value", (n,) the drawing has it, (n,) the drawing is compared: see the module docstring)
    columns: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, (codes, values) in attribute_codes([s.key_id for s in sketches], sketches).items():
        for i, value in enumerate(values):
            has = codes == i + 1
            varies = [w for w in np.unique(words[has]) if not has[(words == w) & (codes > 0)].all()]
            columns.append((f"{name}={value}", has, np.isin(words, varies) & (codes > 0)))
    results = []
    for d, concept in enumerate(concepts):
        found: list[tuple[float, str, float, float]] = []  # (AUC, value, AP, base rate)
        for label, has, records in columns if recorded.any() else ():
            if min((records & has).sum(), (records & ~has).sum()) < MIN_DRAWINGS:
                continue
            ap = presence_aps(scores[records, d:d + 1], has[records, None])[0]
            found.append((float(roc_auc_score(has[records], scores[records, d])), label, ap,
                          float(has[records].mean())))
        found.sort(key=lambda item: (-item[0], item[1]))
        auc, matched, ap, base = found[0] if found else (None, None, None, None)
        results.append(DrawingConceptResult(
            id=str(concept["id"]), name=str(concept["name"]),
            ap_key=metric_key("concept_ap", str(concept["name"]), str(concept["id"])), ap=ap, matched=matched,
            auc=auc, base_rate=base, ap_by_value={label: value for _, label, value, _ in found[:TOP_VALUES]},
            present_fraction=float((scores[:, d] >= threshold).mean()) if len(scores) else 0.0,
            drawings=int(recorded.sum())))
    return results
