"""The canon: how much of each concept complete drawings of each class have (the val split, once per round).

For class c and concept k, over up to ``max_per_class`` complete drawings of c:

- ``share``: the fraction of them in which k is *present* (its mass is at least half a position);
- ``reference``: the median score of k over the drawings where it is present: a drawing's *level* of k is its
  score divided by this, so level 1 is as much as a typical complete drawing of c;
- ``complete``: the ``complete_quantile`` quantile of those scores, as a level: reaching it, the drawing has as
  much of k as all but that fraction of complete drawings;
- ``stroke_gain``: what one stroke that draws k typically has of it, as a level (complete drawings are replayed
  stroke by stroke; k's score over the stroke's own positions, where it covers at least half a position): a body
  comes in one stroke, petals in six, so "improved" is judged per concept.

k *belongs* to c when ``share >= relevant_share``; only concepts that belong to the target class are said to be
missing or complete. For a concept that does not belong to c the reference is its median over every class
where it is present, so its bar still reads "1 = a typical amount".

The canon is cached as JSON under the project's cache folder, keyed by the model file, the split, the concept
set and these settings, so the app and the command compute it once per round.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pipeline.coach.scorer import FrameScorer
from core.sketch import Sketch
from core.errors import ConfigError, InputError
from core.io import atomic_write_text
from pipeline.schema import Conf

__all__ = ["Canon", "CanonSettings", "build_canon", "cache_key", "cached_canon"]

log = logging.getLogger(__name__)
#: A concept is present in a drawing when its mass is at least this many positions' worth.
PRESENT_MASS = 0.5
FORMAT_VERSION = 3


@dataclass(frozen=True)
class CanonSettings:
    """How the canon is built.

    Attributes:
        max_per_class: Complete drawings per class it reads (the first ones of the split).
        relevant_share: A concept belongs to a class when at least this fraction of its drawings have it.
        complete_quantile: The canon quantile a concept must reach to look complete.
        batch_size: Drawings per forward pass.
    """

    CONF: ClassVar[Conf] = Conf("coach.canon")

    max_per_class: int
    relevant_share: float
    complete_quantile: float
    batch_size: int

    def __post_init__(self) -> None:
        if int(self.max_per_class) < 1 or int(self.batch_size) < 1:
            raise ConfigError(f"coach.canon: max_per_class and batch_size must be >= 1, got {self.max_per_class}, "
                              f"{self.batch_size}")
        for key in ("relevant_share", "complete_quantile"):
            if not 0.0 < float(getattr(self, key)) < 1.0:
                raise ConfigError(f"coach.canon.{key}: expected a fraction in (0, 1), got {getattr(self, key)!r}")


@dataclass
class Canon:
    """Per class and concept: share of complete drawings with it, reference score, level that looks complete.

    Attributes:
        classes: Class names (rows).
        concepts: Concept ids (columns).
        share: (classes, K) fraction of complete drawings where the concept is present.
        reference: (classes, K) score of a typical complete drawing (> 0).
        complete: (classes, K) level at which the concept looks complete.
        stroke_gain: (classes, K) the level a stroke that draws the concept typically has of it (median over
            the strokes of complete drawings where it covers at least half a position of the stroke).
        relevant_share: Share above which a concept belongs to a class.
        drawings: Complete drawings read per class.
    """

    classes: list[str]
    concepts: list[str]
    share: np.ndarray
    reference: np.ndarray
    complete: np.ndarray
    stroke_gain: np.ndarray
    relevant_share: float
    drawings: list[int]

    def belongs(self, target: int) -> np.ndarray:
        """(K,) bool: the concepts a complete drawing of class ``target`` usually has."""
        return self.share[target] >= self.relevant_share

    def levels(self, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Scores (N, K) as levels against each frame's target class (1 = a typical complete drawing)."""
        return scores / self.reference[np.asarray(targets)]

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "classes": self.classes, "concepts": self.concepts,
                "share": self.share.round(4).tolist(), "reference": self.reference.tolist(),
                "complete": self.complete.round(4).tolist(), "stroke_gain": self.stroke_gain.round(4).tolist(),
                "relevant_share": self.relevant_share,
                "drawings": self.drawings}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Canon:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError("another canon format")
        return cls(list(data["classes"]), list(data["concepts"]), np.asarray(data["share"], dtype=np.float64),
                   np.asarray(data["reference"], dtype=np.float64), np.asarray(data["complete"], dtype=np.float64),
                   np.asarray(data["stroke_gain"], dtype=np.float64), float(data["relevant_share"]), [int(d) for d in data["drawings"]])


def build_canon(scorer: FrameScorer, sketches: Sequence[Sketch], settings: CanonSettings,
                *, source: str = "the val split", progress: bool = False) -> Canon:
    """Score the complete drawings of each class and derive the canon.

    Args:
        scorer: The round's model and concepts.
        sketches: Complete drawings (the val split); classes the model does not know are skipped.
        settings: How many drawings, and the thresholds.
        source: Named in errors.
        progress: Show a progress bar.

    Raises:
        InputError: No drawing of any class the model knows.
    """
    from tqdm.auto import tqdm

    classes = scorer.class_names
    index = scorer.class_index  # a drawing's class -> its output (a pretrained model's through its class map)
    chosen: dict[int, list[Sketch]] = {i: [] for i in range(len(classes))}
    for sketch in sketches:
        c = index.get(sketch.word)
        if c is not None and len(chosen[c]) < settings.max_per_class and (sketch.strokes or sketch.bitmap is not None):
            chosen[c].append(sketch)
    if not any(chosen.values()):
        raise InputError(source, f"no complete drawing of the model's classes ({', '.join(classes)})",
                         hint="the canon reads the val split of the round's dataset")
    k = len(scorer.concepts)
    share = np.zeros((len(classes), k))
    per_class_scores: list[np.ndarray] = []
    per_class_present: list[np.ndarray] = []
    per_class_gains: list[np.ndarray] = []
    total = sum(len(v) for v in chosen.values())
    with tqdm(total=total, unit="drawing", desc="canon", disable=not progress) as bar:
        for c in range(len(classes)):
            final = _replay_all(scorer, chosen[c], c, settings.batch_size, bar)
            per_class_scores.append(np.stack([f.scores[-1] for f in final]) if final else np.zeros((0, k)))
            per_class_present.append(np.stack([f.mass[-1] >= PRESENT_MASS for f in final]) if final
                                     else np.zeros((0, k), dtype=bool))
            # A stroke *draws* a concept when the concept covers at least half a position of the stroke's ink;
            # its score there is what such a stroke typically adds (a petal stroke adds less than a body stroke).
            gains = [np.where(f.stroke_mass[1:] >= PRESENT_MASS, f.stroke_scores[1:], np.nan)
                     for f in final if len(f.scores) > 1]
            per_class_gains.append(np.concatenate(gains) if gains else np.full((0, k), np.nan))
            if final:
                share[c] = per_class_present[c].mean(axis=0)
    every_scores = np.concatenate(per_class_scores)
    every_present = np.concatenate(per_class_present)
    every_gains = np.concatenate(per_class_gains)
    reference = np.ones((len(classes), k))
    complete = np.ones((len(classes), k))
    stroke_gain = np.ones((len(classes), k))
    for j in range(k):
        overall = every_scores[every_present[:, j], j]
        fallback = float(np.median(overall)) if len(overall) else 1.0
        overall_gain = every_gains[:, j][np.isfinite(every_gains[:, j])]
        for c in range(len(classes)):
            mine = per_class_scores[c][per_class_present[c][:, j], j]
            ref = float(np.median(mine)) if share[c, j] >= settings.relevant_share and len(mine) else fallback
            reference[c, j] = ref if ref > 1e-6 else 1.0
            if len(mine):
                complete[c, j] = float(np.quantile(mine, settings.complete_quantile)) / reference[c, j]
            gain = per_class_gains[c][:, j][np.isfinite(per_class_gains[c][:, j])]
            gain = gain if len(gain) else overall_gain
            stroke_gain[c, j] = float(np.median(gain)) / reference[c, j] if len(gain) else 1.0
    return Canon(list(classes), [c.id for c in scorer.concepts.concepts], share, reference, complete, stroke_gain,
                 float(settings.relevant_share), [len(chosen[c]) for c in range(len(classes))])


@dataclass
class _Replayed:
    """Scores and masses (frames, K) of one drawing after 0..n strokes (one frame for a bitmap), over the whole
    frame and over its last stroke."""

    scores: np.ndarray
    mass: np.ndarray
    stroke_scores: np.ndarray
    stroke_mass: np.ndarray


def _replay_all(scorer: FrameScorer, sketches: Sequence[Sketch], target: int, batch_size: int,
                bar: Any) -> list[_Replayed]:
    """Score every partial drawing of ``sketches`` (stroke drawings from 0 strokes; a bitmap as it is)."""
    frames: list[Sketch] = []
    spans: list[tuple[int, int]] = []
    for sketch in sketches:
        partials = [sketch.first_strokes(n) for n in range(sketch.num_strokes + 1)] if sketch.strokes else [sketch]
        spans.append((len(frames), len(frames) + len(partials)))
        frames += partials
    if not frames:
        return []
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(frames), batch_size):
        batch = frames[start:start + batch_size]
        scored = scorer.sketches(batch, [target] * len(batch))
        parts.append((scored.scores, scored.mass, scored.stroke_scores, scored.stroke_mass))
        bar.update(sum(1 for _, end in spans if start < end <= start + batch_size))
    every = [np.concatenate(column) for column in zip(*parts)]
    return [_Replayed(*(column[a:b] for column in every)) for a, b in spans]


def _fingerprint(parts: Sequence[bytes | str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def cache_key(scorer: FrameScorer, settings: dict[str, Any], key_files: Sequence[str | Path]) -> str:
    """The fingerprint a cached canon (or calibration) is kept under: its settings, the scorer's, the concepts and
    the bytes of ``key_files`` (a changed model, split or atlas makes another key)."""
    parts: list[bytes | str] = [json.dumps(settings, sort_keys=True),
                                json.dumps([scorer.score, scorer.threshold, scorer.ink_threshold]),
                                json.dumps([c.id for c in scorer.concepts.concepts])]
    for path in key_files:
        path = Path(path)
        parts.append(path.read_bytes() if path.is_file() else f"missing:{path}")
    return _fingerprint(parts)


def cached_canon(scorer: FrameScorer, sketches: Sequence[Sketch], settings: CanonSettings, cache_dir: str | Path,
                 key_files: Sequence[str | Path], *, progress: bool = False) -> Canon:
    """The canon from the cache, or built and cached.

    Args:
        scorer: The round's model and concepts.
        sketches: The complete drawings to build it from on a miss.
        settings: Its settings (part of the key).
        cache_dir: Where canons are kept (``<paths.cache>/canon``).
        key_files: Files whose bytes decide whether a cached canon still holds (the model, the split, the atlas).
        progress: Show a progress bar while building.
    """
    file = Path(cache_dir) / f"canon-r{scorer.model.round}-{cache_key(scorer, asdict(settings), key_files)}.json"
    if file.is_file():
        try:
            return Canon.from_json(json.loads(file.read_text()))
        except (ValueError, KeyError, TypeError):
            log.info("%s: an outdated or damaged canon, building it again", file)
    canon = build_canon(scorer, sketches, settings, progress=progress)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, json.dumps(canon.to_json()))
    return canon
