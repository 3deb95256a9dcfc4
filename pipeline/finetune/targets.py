"""Concept targets: what the concept head should output at each position of each labelled sketch, and how much
each position counts.

A person labels a concept with *positives* (the exemplar positions they kept) and *negatives* (the exemplars
they unticked), positions ``(key_id, y, x)`` on the atlas layer's grid. Every other position of a labelled
sketch is unlabeled, and how unlabeled positions count is a deliberate choice, made here and configurable in
``conf/finetune/default.yaml``. For concept k at position p of a labelled sketch (the first rule that applies):

======================  ======  =====================  =====================================================
position                target  weight                 why
======================  ======  =====================  =====================================================
verified positive of k  1       1                      an exemplar the person looked at and kept as k
other positive of k     1       ``unverified_weight``  a member of the selection the person promoted that
                                                       nobody looked at: mostly k, but a cluster of the
                                                       atlas is seldom pure
negative of k           0       ``negative_weight``    what the person said is not k: as sure as a positive
                                                       (default 1); negatives are few, so they cost little
verified positive of    0       ``other_weight``       the person looked at it and called it something else:
another concept                                        not k, unless concepts overlap (an "eye" inside a
                                                       "head")
other positive of       0       ``other_unverified_``  called something else, but nobody looked at it
another concept                 ``weight``
no ink in its cell      0       ``background_weight``  a concept is about strokes: empty paper is not k. Weak
                                                       (default 0.04): a concept may extend a little past its
                                                       strokes, and empty cells are plentiful and easy
any other ink position  0       ``unlabeled_weight``   unknown: the person did not look at it. It may well
                                                       be k (the atlas sampled only some positions, and
                                                       showed only some exemplars), so by default it does
                                                       not count at all (weight 0)
======================  ======  =====================  =====================================================

A concept with no verified positive recorded (a lasso promoted without exemplars, a store from before the
store recorded them) has all its positives verified. The weights are relative to a verified positive's. The kinds of position are very unequal in number: with the simulated
artist's concepts on the default data, for each (sketch, concept) positive there are about 9 positives of other
concepts, 125 unlabeled ink positions and 250 empty cells. Weighted 1, 0.5 and 0.2, the non-positives weigh
about 55 times as much as the positives, and the loss is won by predicting "absent" almost everywhere: the maps
miss most of each part (low recall). The defaults (1, 0.1, 0.04, the same as weighting positives 5 times
against 1, 0.5, 0.2) bring that to about 11 times. Measured with clean (true-part) labels on the default data,
this raised the mean localisation IoU at probability 0.5 from 0.16 to 0.18 (0.20 with the default learning
rates), and no concept stayed near IoU 0 (``bench/bench_finetune.py``).

"No ink" uses the extract stage's definition (:func:`~pipeline.activations.extractor.ink_cells`): no pixel
of the position's stride cell reaches ``ink_threshold``.

Only sketches with at least one usable labelled position of any concept are *labelled sketches*; the rules
above fill in all K concepts on each of them. Positions outside the layer's grid, or of sketches the dataset
does not have, are skipped and counted (the stage warns).

The supervised ceiling (``bench/bench_ceiling.py``) labels every position of every sketch with its true part
instead (:func:`part_codes`): one concept per part, positive where the position's true part is that part,
``OTHER`` where it is another part and ``BACKGROUND`` where the cell holds no ink.

Targets are stored compactly as one code per (sketch, concept, position) (:data:`UNLABELED`, :data:`POSITIVE`,
:data:`NEGATIVE`, :data:`OTHER`, :data:`BACKGROUND`, uint8); :class:`TargetWeights` turns codes into targets and
weights, so the weights stay settings of the training rather than of the data. The loss of a batch is
``sum(weight * BCE(logit, target)) / sum(weight)`` (:func:`concept_loss`).

A drawing-level concept (``level: drawing``: its positives and negatives are whole drawings) has one code per
labelled sketch (:func:`drawing_codes`) with the same meaning: a verified positive drawing (target 1, weight 1),
another positive (``unverified_weight``), a negative (``negative_weight``), and any other labelled sketch:
``UNLABELED``, target 0 with ``finetune.drawing_unlabeled_weight``: a drawing the person saw elsewhere and did not
say has it (weak: it may well have it). Its loss is :func:`drawing_loss`, on the drawing head's logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["BACKGROUND", "CODES", "ConceptLabels", "ConceptTargets", "NEGATIVE", "OTHER", "OTHER_UNVERIFIED",
           "POSITIVE", "POSITIVE_CODES", "TargetWeights", "UNLABELED", "UNVERIFIED", "build_targets", "concept_loss",
           "DrawingConcepts", "drawing_codes", "drawing_loss", "part_codes"]

UNLABELED, POSITIVE, NEGATIVE, OTHER, BACKGROUND, UNVERIFIED, OTHER_UNVERIFIED = 0, 1, 2, 3, 4, 5, 6
CODES = {"unlabeled": UNLABELED, "positive": POSITIVE, "negative": NEGATIVE, "other": OTHER,
         "background": BACKGROUND, "unverified": UNVERIFIED, "other_unverified": OTHER_UNVERIFIED}
#: The codes whose target is 1.
POSITIVE_CODES = (POSITIVE, UNVERIFIED)


class ConceptLabels(Protocol):
    """What targets need of a concept (``conceptstore.store.Concept`` has it)."""

    id: str
    name: str
    positives: Sequence[tuple[str, int, int]]
    negatives: Sequence[tuple[str, int, int]]
    verified: Sequence[tuple[str, int, int]]


@dataclass(frozen=True)
class TargetWeights:
    """How much each kind of position counts in the concept loss, relative to a positive (which counts 1).

    Raises:
        ConfigError: A weight that is negative or not finite.
    """

    CONF: ClassVar[Conf] = Conf("finetune", negative="finetune.negative_weight", other="finetune.other_weight",
                                background="finetune.background_weight", unlabeled="finetune.unlabeled_weight",
                                unverified="finetune.unverified_weight",
                                other_unverified="finetune.other_unverified_weight")

    negative: float
    other: float
    background: float
    unlabeled: float
    unverified: float
    other_unverified: float
    balanced: bool

    def __post_init__(self) -> None:
        if not isinstance(self.balanced, bool):
            raise ConfigError(f"finetune.balanced: expected true or false, got {self.balanced!r}")
        for name in ("negative", "other", "background", "unlabeled", "unverified", "other_unverified"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"finetune.{name}_weight: expected a number >= 0, got {value!r}")

    def table(self) -> np.ndarray:
        """Weight of each code, indexed by code (float32, one a code)."""
        table = np.zeros(len(CODES), dtype=np.float32)
        table[[UNLABELED, POSITIVE, NEGATIVE, OTHER, BACKGROUND, UNVERIFIED, OTHER_UNVERIFIED]] = (
            self.unlabeled, 1.0, self.negative, self.other, self.background, self.unverified, self.other_unverified)
        return table

    def targets(self) -> np.ndarray:
        """Target of each code, indexed by code (float32): 1 for the positive codes, else 0."""
        table = np.zeros(len(CODES), dtype=np.float32)
        table[list(POSITIVE_CODES)] = 1.0
        return table

    def apply(self, codes: np.ndarray | torch.Tensor) -> tuple[Any, Any]:
        """Codes -> (target, weight), float32, numpy or torch as given."""
        if isinstance(codes, torch.Tensor):
            index = codes.long()
            return (torch.from_numpy(self.targets()).to(codes.device)[index],
                    torch.from_numpy(self.table()).to(codes.device)[index])
        codes = np.asarray(codes)
        return self.targets()[codes], self.table()[codes]


@dataclass
class ConceptTargets:
    """The concept codes of every labelled sketch.

    Attributes:
        key_ids: The labelled sketches, in order.
        codes: (N, K, H, W) uint8 codes, ``codes[i, k]`` for concept k on sketch ``key_ids[i]``.
        concept_ids: The concepts, in head order.
        positives: Per concept, the positions used as positives.
        negatives: Per concept, the positions used as negatives.
        skipped_outside: Positions outside the layer's grid (skipped).
        skipped_unknown: Positions of sketches not in the dataset (skipped).
    """

    key_ids: list[str]
    codes: np.ndarray
    concept_ids: list[str]
    positives: list[int] = field(default_factory=list)
    negatives: list[int] = field(default_factory=list)
    skipped_outside: int = 0
    skipped_unknown: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_outside + self.skipped_unknown

    def targets(self, weights: TargetWeights) -> tuple[np.ndarray, np.ndarray]:
        """(target, weight) arrays of shape (N, K, H, W)."""
        return weights.apply(self.codes)

    def counts(self) -> dict[str, int]:
        """How many (sketch, concept, position) entries have each code."""
        values = np.bincount(self.codes.ravel(), minlength=len(CODES))
        return {name: int(values[code]) for name, code in CODES.items()}


def build_targets(concepts: Sequence[ConceptLabels], ink: Mapping[str, np.ndarray], height: int,
                  width: int, drawings: Sequence[str] = ()) -> ConceptTargets:
    """The codes of every labelled sketch for the concepts, in the given (head) order.

    Args:
        concepts: The concepts; their positions are ``(key_id, y, x)`` on a ``height`` x ``width`` grid.
        ink: key_id -> (height, width) bool: which positions' stride cells hold ink, for every sketch the
            dataset has (a key_id missing here is a sketch the dataset does not have).
        height: Rows of the layer's grid.
        width: Columns of the layer's grid.
        drawings: Sketches labelled by drawing-level concepts: labelled sketches too (after the others, in this
            order), whose positions the rules above fill in with no position of theirs labelled. Those the
            dataset does not have are left out.

    Returns:
        The targets; sketches in order of first appearance among the concepts' positions, then ``drawings``.
    """
    rows: dict[str, int] = {}
    outside = unknown = 0
    kept: list[tuple[list[tuple[int, int, int]], ...]] = []
    for concept in concepts:
        lists = []
        for which, positions in enumerate((concept.positives, concept.negatives, getattr(concept, "verified", ()))):
            usable = []
            counted = which < 2  # verified positions are positives too: a skipped one is counted once
            for key_id, y, x in positions:
                key_id, y, x = str(key_id), int(y), int(x)
                if key_id not in ink:
                    unknown += counted
                elif not (0 <= y < height and 0 <= x < width):
                    outside += counted
                else:
                    usable.append((rows.setdefault(key_id, len(rows)), y, x))
            lists.append(usable)
        kept.append((lists[0], lists[1], lists[2]))
    for key_id in drawings:
        if key_id in ink:
            rows.setdefault(key_id, len(rows))

    n, k = len(rows), len(concepts)
    positive = np.zeros((n, k, height, width), dtype=bool)
    negative = np.zeros((n, k, height, width), dtype=bool)
    verified = np.zeros((n, k, height, width), dtype=bool)
    for c, (pos, neg, ver) in enumerate(kept):
        if not ver:  # nothing recorded as looked at (a lasso without exemplars, an older store): trust them all
            ver = pos
        for array, items in ((positive, pos), (negative, neg), (verified, ver)):
            if items:
                index = np.array(items, dtype=np.int64)
                array[index[:, 0], c, index[:, 1], index[:, 2]] = True
    key_ids = list(rows)
    inked = np.stack([np.asarray(ink[key], dtype=bool) for key in key_ids]) if key_ids else \
        np.zeros((0, height, width), dtype=bool)
    if inked.shape[1:] != (height, width):
        raise ValueError(f"ink maps have shape {inked.shape[1:]}, the grid is {height}x{width}")

    codes = np.full((n, k, height, width), UNLABELED, dtype=np.uint8)
    verified &= positive
    codes[~inked[:, None].repeat(k, axis=1)] = BACKGROUND
    # A positive of another concept (and not of this one): one the person looked at, or one nobody did.
    codes[positive.any(axis=1, keepdims=True) & ~positive] = OTHER_UNVERIFIED
    codes[verified.any(axis=1, keepdims=True) & ~positive] = OTHER
    codes[negative] = NEGATIVE
    codes[positive] = UNVERIFIED
    codes[verified] = POSITIVE
    return ConceptTargets(key_ids=key_ids, codes=codes, concept_ids=[c.id for c in concepts],
                          positives=[int(positive[:, c].sum()) for c in range(k)],
                          negatives=[int((negative[:, c] & ~positive[:, c]).sum()) for c in range(k)],
                          skipped_outside=outside, skipped_unknown=unknown)


def part_codes(parts: np.ndarray, part_ids: Sequence[int]) -> np.ndarray:
    """Fully supervised codes from true parts: every position labelled, one concept per part.

    Args:
        parts: (N, H, W) true part id of each position (:func:`~pipeline.activations.extractor.part_cells`;
            0 where the stride cell holds no ink).
        part_ids: The part id of each concept, in head order.

    Returns:
        (N, K, H, W) uint8: :data:`POSITIVE` where the position's part is the concept's, :data:`OTHER` where it is
        another part, :data:`BACKGROUND` where it is none.
    """
    parts = np.asarray(parts)[:, None]
    ids = np.asarray(part_ids, dtype=np.int64).reshape(1, -1, 1, 1)
    codes = np.full((len(parts), ids.shape[1], *parts.shape[2:]), BACKGROUND, dtype=np.uint8)
    codes[np.broadcast_to(parts > 0, codes.shape)] = OTHER  # uint8 throughout: all train positions x parts
    codes[parts == ids] = POSITIVE
    return codes


def drawing_codes(concepts: Sequence[ConceptLabels], key_ids: Sequence[str]) -> np.ndarray:
    """The codes of drawing-level concepts on the labelled sketches (see the module docstring).

    Args:
        concepts: Drawing-level concepts (their positives, negatives and verified are key_ids), in head order.
        key_ids: The labelled sketches, in row order.

    Returns:
        (N, D) uint8 codes: :data:`POSITIVE`, :data:`UNVERIFIED`, :data:`NEGATIVE` or :data:`UNLABELED`.
    """
    row = {key: i for i, key in enumerate(key_ids)}
    codes = np.full((len(key_ids), len(concepts)), UNLABELED, dtype=np.uint8)
    for d, concept in enumerate(concepts):
        verified = set(getattr(concept, "verified", ()) or concept.positives)  # none recorded: trust them all
        for code, members in ((NEGATIVE, concept.negatives), (UNVERIFIED, concept.positives),
                              (POSITIVE, [k for k in concept.positives if k in verified])):
            codes[[row[k] for k in members if k in row], d] = code
    return codes


@dataclass
class DrawingConcepts:
    """The drawing-level concepts of a round and their codes on its labelled sketches.

    Attributes:
        concepts: The concepts, in the drawing head's order.
        codes: (N, D) uint8 (:func:`drawing_codes`), rows as the labelled sketches'.
    """

    concepts: list[Any]
    codes: np.ndarray

    @classmethod
    def of(cls, concepts: Sequence[ConceptLabels], key_ids: Sequence[str]) -> DrawingConcepts:
        """The concepts' codes on the labelled sketches ``key_ids``."""
        return cls(list(concepts), drawing_codes(concepts, key_ids))

    def summary(self) -> list[dict[str, Any]]:
        """Per concept: id, name, born_round and how many labelled drawings are its positives and negatives."""
        return [{"id": c.id, "name": c.name, "born_round": int(getattr(c, "born_round", 0)),
                 "positives": int(np.isin(self.codes[:, d], POSITIVE_CODES).sum()),
                 "negatives": int((self.codes[:, d] == NEGATIVE).sum())}
                for d, c in enumerate(self.concepts)]


def drawing_loss(logits: torch.Tensor, codes: torch.Tensor, weights: TargetWeights,
                 unlabeled_weight: float) -> torch.Tensor:
    """The drawing-level concept loss of a batch: ``sum(weight * BCE) / sum(weight)``; 0 when nothing counts.

    Args:
        logits: (N, D) the drawing head's logits.
        codes: (N, D) their codes (:func:`drawing_codes`).
        weights: The weights of the codes (a positive, another positive, a negative).
        unlabeled_weight: The weight of an :data:`UNLABELED` code here (``finetune.drawing_unlabeled_weight``).
    """
    target, weight = weights.apply(codes)
    weight = torch.where(codes == UNLABELED, torch.full_like(weight, float(unlabeled_weight)), weight)
    bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    return (weight * bce).sum() / weight.sum().clamp_min(1e-12)


def concept_loss(logits: torch.Tensor, codes: torch.Tensor, weights: TargetWeights) -> torch.Tensor:
    """The concept loss of a batch; 0 (with a gradient) when nothing counts.

    Plain: ``sum(weight * BCE(logits, target)) / sum(weight)`` over every position of every concept. Balanced
    (``weights.balanced``): per concept, the weighted mean BCE of its positives plus that of its negatives,
    averaged over the concepts and sides the batch has. Negatives (other concepts' positions, empty paper)
    outnumber a concept's positives a hundred to one; balancing keeps them from winning by predicting "absent"
    everywhere, so they can all count fully (weight 1) without costing recall.

    Args:
        logits: (N, K, H, W) concept logits.
        codes: (N, K, H, W) codes of the same positions.
        weights: The weights of the codes.
    """
    target, weight = weights.apply(codes)
    bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    if not weights.balanced:
        return (weight * bce).sum() / weight.sum().clamp_min(1e-12)
    dims = (0, 2, 3)
    terms, sides = bce.new_zeros(()), bce.new_zeros(())
    for side in (weight * target, weight * (1.0 - target)):
        total = side.sum(dims)
        present = total > 0
        terms = terms + ((side * bce).sum(dims) / total.clamp_min(1e-12))[present].sum()
        sides = sides + present.sum()
    return terms / sides.clamp_min(1)
