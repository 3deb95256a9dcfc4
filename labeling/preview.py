"""What a label does at once: a linear probe on the round's atlas layer, trained on one concept, in well under a second.

After a promote or an add, the page asks for the concept's preview (``GET /api/concepts/{id}/preview``). A
logistic regression (scikit-learn, balanced class weights) is fitted on the activations the round's store holds
for the concept's positions: its positives against its negatives (the unticked exemplars) and against the other
atlas points of the drawings it was labelled on (a person who named a drawing's ears left its other positions
out). It then says:

- where it would claim the concept on the atlas's drawings that hold none of the concept's labels: how many
  points, the surest of them and the borderline ones (nearest its threshold), drawn in context as the exemplars
  are;
- how well it agrees with the label: cross-validated by drawing (no drawing in both the fitted and the judged
  part), the share of the positives it claims and of the negatives it leaves, and their mean (``agreement``).

The fine-tune of the next round learns from the same labels with far more capacity; a label the probe cannot
reproduce (low agreement) or that claims what the person did not mean is worth another look now.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conceptstore.concepts import Concept
from labeling.atlas_view import AtlasView
from labeling.selections import Selections
from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["FittedProbe", "ProbeCache", "ProbeSettings", "fit_probe", "preview"]


@dataclass(frozen=True)
class ProbeSettings:
    """How the preview's probe is fitted and shown (``labeling.preview``).

    Args:
        exemplars: Points shown in each strip (the surest, the borderline).
        folds: Folds of the cross-validation by drawing (fewer where the concept spans fewer drawings).
        background: The other points of the labelled drawings taken as negatives: at most this many times the
            positives (a seeded sample).
        regularization: The probe's inverse regularisation strength (scikit-learn's ``C``).
        threshold: The probability from which the probe claims a point.
    """

    CONF: ClassVar[Conf] = Conf("labeling.preview")

    exemplars: int
    folds: int
    background: float
    regularization: float
    threshold: float

    def __post_init__(self) -> None:
        if self.exemplars < 1 or self.folds < 2:
            raise ConfigError(f"labeling.preview: expected exemplars >= 1 and folds >= 2, got {self.exemplars} "
                              f"and {self.folds}")
        if self.background <= 0 or self.regularization <= 0 or not 0 < self.threshold < 1:
            raise ConfigError("labeling.preview: expected background > 0, regularization > 0 and a threshold in "
                              f"(0, 1), got {self.background}, {self.regularization} and {self.threshold}")


@dataclass(frozen=True)
class FittedProbe:
    """A concept's probe fitted on the round's atlas layer, and what it says of the labels it was fitted on.

    Attributes:
        positives: The concept's positives in this round's store (the rows of ``held_out`` first).
        negatives: Its negatives in this round's store (the next rows).
        background: The atlas points of its labelled drawings taken as negatives.
        drawings: How many drawings the labels come from.
        candidates: The atlas points on drawings holding none of its labels.
        chance: The probe's probability of the concept at each candidate.
        held_out: Each positive's, then each negative's probability from a fold that did not see its drawing (NaN
            where no fold judged it; empty when there was too little to fit).
        agreement: What :func:`preview` answers of the cross-validation (``agreement``, ``folds``, ``message``...).
        model: The probe fitted on every label (None: too little to fit).
    """

    positives: list[tuple[str, int, int]]
    negatives: list[tuple[str, int, int]]
    background: list[int]
    drawings: int
    candidates: np.ndarray
    chance: np.ndarray
    held_out: np.ndarray
    agreement: dict[str, Any]
    model: Any

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        """The probe's probability of the concept for some normalised activation vectors, (n,) (zeros unfitted)."""
        if self.model is None or not len(vectors):
            return np.zeros(len(vectors))
        return self.model.predict_proba(vectors.astype(np.float64))[:, 1]


def fit_probe(view: AtlasView, concept: Concept, settings: ProbeSettings, seed: int = 0) -> FittedProbe:
    """Fit a concept's probe on the round's atlas layer (see the module's docstring).

    Args:
        view: The round's atlas (its activation store and points).
        concept: The concept, from the concept store.
        settings: The probe's settings.
        seed: Seed of the background sample.

    Returns:
        The probe, with its cross-validated judgment of the labels and its claims on the other drawings.
    """
    positives, x_pos = view.position_vectors(list(concept.positives))
    negatives, x_neg = view.position_vectors(list(concept.negatives))
    labelled = {p[0] for p in positives} | {p[0] for p in negatives}
    keys = view.points["key_id"].astype(str).to_numpy()
    on_labelled = np.isin(keys, list(labelled)) if labelled else np.zeros(len(keys), dtype=bool)
    taken = set(positives) | set(negatives)
    others = np.flatnonzero(on_labelled)
    background = [int(i) for i, p in zip(others, view.positions(others)) if p not in taken]
    most = int(np.ceil(settings.background * max(len(positives), 1)))
    if len(background) > most:
        background = sorted(np.random.default_rng(seed).choice(background, most, replace=False).tolist())
    x = np.concatenate([x_pos, x_neg, view.vectors()[background]]).astype(np.float64)
    y = np.concatenate([np.ones(len(x_pos)), np.zeros(len(x_neg) + len(background))])
    groups = np.array([p[0] for p in positives] + [p[0] for p in negatives] + list(keys[background]))
    candidates = np.flatnonzero(~on_labelled)
    unfitted = dict(positives=positives, negatives=negatives, background=background, drawings=len(labelled),
                    candidates=candidates)
    if len(positives) < 2 or (y == 0).sum() < 2:
        message = (f"too little to fit a probe: {len(positives)} of its positives and {int((y == 0).sum())} "
                   "negatives are in this round's store (it needs 2 of each)")
        return FittedProbe(**unfitted, chance=np.zeros(len(candidates)), held_out=np.zeros(0),
                           agreement={"message": message}, model=None)
    held_out, agreement = _agreement(x, y, groups, settings)
    model = _probe(settings).fit(x, y)
    chance = model.predict_proba(view.vectors()[candidates].astype(np.float64))[:, 1] if len(candidates) else \
        np.zeros(0)
    return FittedProbe(**unfitted, chance=chance, held_out=held_out[:len(positives) + len(negatives)],
                       agreement=agreement, model=model)


class ProbeCache:
    """Fitted probes kept while their concept's labels, the round and the settings stay the same: the review queue
    and the suggestions fit every concept's probe, and after one fix only the concepts it changed need another.

    Args:
        kept: The most probes kept (the least recently used go first).
    """

    def __init__(self, kept: int = 256) -> None:
        self.kept = kept
        self._probes: OrderedDict[tuple, FittedProbe] = OrderedDict()
        self._lock = threading.Lock()

    def fit(self, view: AtlasView, concept: Concept, settings: ProbeSettings) -> FittedProbe:
        """The concept's probe on ``view``'s round (:func:`fit_probe`), fitted once per labels, round and
        settings."""
        key = (view.folder.as_posix(), view.round, concept.id, concept.positives, concept.negatives, settings)
        with self._lock:
            if key in self._probes:
                self._probes.move_to_end(key)
                return self._probes[key]
        probe = fit_probe(view, concept, settings)
        with self._lock:
            self._probes[key] = probe
            while len(self._probes) > self.kept:
                self._probes.popitem(last=False)
        return probe


def preview(view: AtlasView, concept: Concept, settings: ProbeSettings, seed: int = 0) -> dict[str, Any]:
    """A concept's probe on the round's atlas layer, as ``GET /api/concepts/{id}/preview`` answers it.

    Args:
        view, concept, settings, seed: As for :func:`fit_probe`.

    Returns:
        ``{"concept", "name", "round", "trained": {"positives", "negatives", "background", "drawings"},
        "agreement", "positives_agreement", "negatives_agreement", "folds", "candidates", "claimed", "points",
        "surest", "borderline", "seconds", "message"}`` (``points``: the claimed atlas points); the exemplar lists are the page's exemplars with the
        probe's ``probability``; ``agreement`` is None (with a ``message``) where there is too little to fit.
    """
    started = time.perf_counter()
    probe = fit_probe(view, concept, settings, seed)
    candidates, chance = probe.candidates, probe.chance
    answer: dict[str, Any] = {
        "concept": concept.id, "name": concept.name, "round": view.round,
        "trained": {"positives": len(probe.positives), "negatives": len(probe.negatives),
                    "background": len(probe.background), "drawings": probe.drawings},
        "agreement": None, "positives_agreement": None, "negatives_agreement": None, "folds": 0,
        "candidates": int(len(candidates)), "claimed": 0, "points": [], "surest": [], "borderline": [], "message": None}
    answer.update(probe.agreement)
    if probe.model is not None:
        claimed = chance >= settings.threshold
        n = settings.exemplars
        surest = candidates[claimed][np.argsort(-chance[claimed], kind="stable")[:n]]
        borderline = candidates[np.argsort(np.abs(chance - settings.threshold), kind="stable")[:n]]
        probability = dict(zip(candidates.tolist(), chance.tolist()))
        answer.update(claimed=int(claimed.sum()), points=candidates[claimed].tolist(),
                      surest=[_shown(view, i, probability[int(i)]) for i in surest],
                      borderline=[_shown(view, i, probability[int(i)]) for i in borderline])
        if not len(candidates):
            answer["message"] = "every drawing of the atlas holds labels of this concept: nothing left to claim"
    answer["seconds"] = round(time.perf_counter() - started, 4)
    return answer


def _probe(settings: ProbeSettings) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=settings.regularization, class_weight="balanced",
                                                              max_iter=500))


def _agreement(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
               settings: ProbeSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """Cross-validated by drawing: each row's probability from a fold that did not see its drawing (NaN: none
    judged it), and the share of the positives claimed and of the negatives left, and their mean. Folds whose
    fitted part lacks one of the two are left out; none left: no agreement (None)."""
    from sklearn.model_selection import GroupKFold

    held_out = np.full(len(y), np.nan)
    folds = min(settings.folds, len(set(groups.tolist())))
    if folds < 2:
        return held_out, {"message": "the concept's labels come from one drawing: no drawing to cross-validate on"}
    used = 0
    for fit, judge in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(set(y[fit].tolist())) < 2:
            continue
        held_out[judge] = _probe(settings).fit(x[fit], y[fit]).predict_proba(x[judge])[:, 1]
        used += 1
    judged = ~np.isnan(held_out)
    pos, neg = judged & (y == 1), judged & (y == 0)
    if not pos.any() or not neg.any():
        return held_out, {"folds": used, "message": "no fold could judge both its positives and its negatives"}
    on_pos = float((held_out[pos] >= settings.threshold).mean())
    on_neg = float((held_out[neg] < settings.threshold).mean())
    return held_out, {"agreement": round((on_pos + on_neg) / 2, 4), "positives_agreement": round(on_pos, 4),
                      "negatives_agreement": round(on_neg, 4), "folds": used}


def _shown(view: AtlasView, point: int, probability: float) -> dict[str, Any]:
    return {**Selections(view).exemplar(int(point)), "probability": round(float(probability), 4)}
