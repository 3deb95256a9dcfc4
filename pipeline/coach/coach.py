"""A drawing's feedback, frame by frame: what the page shows after each stroke and what a replay prints.

:class:`Coach` holds the round's model, its concept set, the canon and the event rules. :meth:`Coach.feedback`
answers one frame of a drawing in progress (the page calls it after every stroke and, throttled, during one),
comparing it with the levels of the frame before, which the caller hands back; :meth:`Coach.replay` runs a
recorded drawing stroke by stroke (all its partial drawings in one batch) and returns the event timeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from omegaconf import DictConfig

from pipeline.coach.calibration import Calibration, UnsureSettings, cached_calibration
from pipeline.coach.canon import PRESENT_MASS, Canon, CanonSettings, cached_canon
from pipeline.coach.concept_set import CoachConcept, ConceptSet, atlas_cluster_concepts, head_concepts
from pipeline.coach.events import Event, EventRules, FrameEvents, detect
from pipeline.coach.runtime import InferenceThread, checkpoint
from pipeline.coach.scorer import FrameScorer, Frames
from core.sketch import CANVAS_MAX, Sketch
from core.errors import ArticulateError, ConfigError, InputError
from pipeline.schema import Conf, configured

__all__ = ["Coach", "DrawingError", "Feedback", "Limits", "Replay", "strokes_to_sketch"]

#: Decimals of the levels an answer hands back (the page returns them as the next update's ``before``).
LEVEL_DECIMALS = 4
SENTENCE = {"missing": "Missing", "improved": "You just improved", "complete": "Looks complete"}
#: What the coach says of a drawing it does not recognise (out of distribution, or too little of it yet).
UNSURE_TEXT = "I'm not sure what this is yet"


class DrawingError(ArticulateError):
    """A drawing the coach cannot read: malformed strokes, too many of them, or coordinates out of range."""

    status_code = 422


@dataclass(frozen=True)
class Limits:
    """What one drawing may hold (a request over them is refused, not cut).

    Attributes:
        max_strokes: Strokes per drawing.
        max_points: Points per drawing, all strokes together.
        margin: How far outside the 0..255 canvas a point may lie (a pen leaving the canvas), in drawing units.
    """

    CONF: ClassVar[Conf] = Conf("coach.limits")

    max_strokes: int
    max_points: int
    margin: float


def strokes_to_sketch(strokes: Sequence[Any], limits: Limits | None = None, word: str = "", key_id: str = "drawing",
                      where: str = "drawing") -> Sketch:
    """A drawing in the Quick, Draw! layout (strokes ``[[x...], [y...]]``, 0..255) as a :class:`Sketch`.

    Args:
        strokes: The drawing's strokes.
        limits: What it may hold (None: conf/'s default ``coach.limits``).
        word: Its class, if known.
        key_id: Its key.
        where: What an error calls it.

    Raises:
        DrawingError: Naming the stroke and what is wrong with it.
    """
    if limits is None:
        from pipeline.config import default

        limits = default(Limits)
    if not isinstance(strokes, (list, tuple)):
        raise DrawingError(f"{where}: strokes must be a list of [[x...], [y...]], got {type(strokes).__name__}")
    if len(strokes) > limits.max_strokes:
        raise DrawingError(f"{where}: {len(strokes)} strokes, more than the {limits.max_strokes} a drawing may have")
    arrays, points = [], 0
    low, high = -limits.margin, CANVAS_MAX + limits.margin
    for i, stroke in enumerate(strokes, start=1):
        if not (isinstance(stroke, (list, tuple)) and len(stroke) == 2 and all(isinstance(r, (list, tuple))
                                                                                for r in stroke)):
            raise DrawingError(f"{where}: stroke {i} must be [[x...], [y...]]")
        xs, ys = stroke
        if len(xs) != len(ys) or not xs:
            raise DrawingError(f"{where}: stroke {i} has {len(xs)} x and {len(ys)} y values; it needs as many of "
                               "each, at least one")
        points += len(xs)
        if points > limits.max_points:
            raise DrawingError(f"{where}: more than {limits.max_points} points in the drawing")
        try:
            array = np.asarray([xs, ys], dtype=np.float32)
        except (TypeError, ValueError):
            raise DrawingError(f"{where}: stroke {i} holds values that are not numbers") from None
        if not np.isfinite(array).all() or array.min() < low or array.max() > high:
            raise DrawingError(f"{where}: stroke {i} has coordinates outside {low:g}..{high:g} (or not finite); "
                               "the canvas is 0..255")
        arrays.append(np.clip(array, 0.0, CANVAS_MAX))
    return Sketch(key_id, word, tuple(arrays))


@dataclass
class Feedback:
    """The coach's answer for one frame.

    Attributes:
        target: The class the frame is read for.
        chosen: ``person`` (a target was given) or ``model`` (the model's top class).
        top: (class name, calibrated probability), best first.
        familiarity: How much the frame looks like the model's own drawings (:mod:`~pipeline.coach.calibration`).
        unsure: The familiarity is below the threshold: the coach does not know what the drawing is.
        levels: (K,) each concept's level against the target's canon.
        belongs: (K,) the concepts of the target class.
        state: The frame's events, missing and complete concepts.
        maps: (K, H, W) concept maps (0 off the ink).
    """

    target: str
    chosen: str
    top: list[tuple[str, float]]
    familiarity: float
    unsure: bool
    levels: np.ndarray
    belongs: np.ndarray
    state: FrameEvents
    maps: np.ndarray


@dataclass
class Replay:
    """A recorded drawing replayed stroke by stroke.

    Attributes:
        sketch: The drawing.
        target: The class it was read for (fixed for the replay: the given one or the model's on the whole).
        levels: (T + 1, K) levels after 0..T strokes.
        top: Per frame, the model's top class and its calibrated probability.
        frames: Per stroke 1..T, its events and state.
        unsure: Per frame 0..T, whether the coach was not sure what the drawing is.
        familiarity: Per frame 0..T, its familiarity.
    """

    sketch: Sketch
    target: str
    levels: np.ndarray
    top: list[tuple[str, float]]
    frames: list[FrameEvents] = field(default_factory=list)
    unsure: list[bool] = field(default_factory=list)
    familiarity: list[float] = field(default_factory=list)

    @property
    def events(self) -> list[Event]:
        return [e for f in self.frames for e in f.events]


class Coach:
    """Live feedback on drawings from one round's model.

    Args:
        scorer: The round's model and concept set.
        canon: The canon of that model and concept set.
        rules: The event thresholds.
        limits: What a drawing may hold.
        top_classes: Class probabilities reported per frame.
        calibration: The temperature and the familiarity threshold (None: the raw softmax, never unsure).
        threads: Torch intra-op threads of its updates and replays, on an inference thread of its own
            (:class:`~pipeline.coach.runtime.InferenceThread`; 0: one per core); None: on the caller's thread, with
            the caller's threads.
    """

    CONF: ClassVar[Conf] = Conf("coach", runtime=("scorer", "canon", "calibration"))

    def __init__(self, scorer: FrameScorer, canon: Canon, rules: EventRules, limits: Limits, top_classes: int,
                 calibration: Calibration | None = None, *, threads: int | None) -> None:
        if canon.concepts != [c.id for c in scorer.concepts.concepts] or canon.classes != scorer.class_names:
            raise ArticulateError("the canon was built for other concepts or classes; build it again")
        self.scorer, self.canon, self.rules, self.limits = scorer, canon, rules, limits
        self.calibration = calibration
        self.inference = None if threads is None else InferenceThread(threads)
        self.top_classes = int(top_classes)
        self._class_index = scorer.class_index

    @classmethod
    def load(cls, cfg: DictConfig, round_: int | None = None, *, progress: bool = False) -> Coach:
        """The coach of a built round (default: the latest) loaded from disk, its canon from the cache or built now.

        Its updates run on ``coach.threads`` torch threads of their own. Called inside
        :func:`~pipeline.coach.runtime.stoppable`, it stops between two batches once asked (``BuildStopped``).
        """
        from pipeline.data.store import read_split, split_path
        from pipeline.models.build import load_trained
        from pipeline.rounds import activations_dir, atlas_dir, latest_round, model_path

        settings = cfg.coach
        if settings.threads < 0:
            raise ConfigError(f"coach.threads: expected 1 or more (0: one per core), got {settings.threads}")
        r = latest_round(cfg.paths.atlases) if round_ is None else round_
        model = load_trained(model_path(cfg, r))
        checkpoint()
        atlas = atlas_dir(cfg, r)
        if model.concept_head is not None:
            concepts = head_concepts(model.concept_head, model.concepts, _icon_points(model, atlas, activations_dir(cfg, r)))
            key_files = [model_path(cfg, r)]
        else:
            concepts = atlas_cluster_concepts(atlas, activations_dir(cfg, r))
            key_files = [model_path(cfg, r), atlas / "atlas.json"]
        scorer = FrameScorer(model, concepts, score=settings.score, ink_threshold=cfg.extract.ink_threshold,
                             threshold=cfg.evaluate.threshold)
        canon_settings = configured(CanonSettings, cfg)
        split = settings.canon_split
        val = read_split(cfg.paths.dataset, split)
        cache = Path(cfg.paths.cache) / "canon"
        canon = cached_canon(scorer, val, canon_settings, cache, [*key_files, split_path(cfg.paths.dataset, split)],
                             progress=progress)
        unsure = configured(UnsureSettings, cfg)
        fit_split = unsure.fit_split
        calibration = cached_calibration(
            scorer, val, _LazySplit(cfg.paths.dataset, fit_split), unsure, cache,
            [model_path(cfg, r), split_path(cfg.paths.dataset, split), split_path(cfg.paths.dataset, fit_split)])
        return configured(cls, cfg, scorer=scorer, canon=canon, calibration=calibration)

    @property
    def concepts(self) -> list[CoachConcept]:
        return self.scorer.concepts.concepts

    @property
    def round(self) -> int:
        return self.scorer.model.round

    def target_index(self, target: str | None) -> int | None:
        """The class index of a target name (None: the model's top class).

        Raises:
            ArticulateError: A class the model does not know.
        """
        if target is None or target == "":
            return None
        if target not in self._class_index:
            raise ArticulateError(f"unknown target class {target!r}: the round {self.round} model knows "
                                  f"{', '.join(self.scorer.class_names)}")
        return self._class_index[target]

    def previous_levels(self, before: Mapping[str, float] | None) -> np.ndarray | None:
        """The caller's levels of the frame before (concept id -> level) in concept order; unknown ids ignored."""
        if before is None:
            return None
        levels = np.zeros(len(self.concepts))
        for i, concept in enumerate(self.concepts):
            value = before.get(concept.id, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ArticulateError(f"before: the level of {concept.id} must be a number, got {value!r}")
            levels[i] = float(value)
        return levels

    def feedback(self, sketch: Sketch, target: str | None = None, before: Mapping[str, float] | None = None,
                 frame: int | None = None, before_target: str | None = None) -> Feedback:
        """The feedback for one frame of a drawing.

        Args:
            sketch: The drawing so far.
            target: The class the person draws, or None for the model's top class.
            before: The levels the previous answer gave (concept id -> level); None: a blank canvas before.
            frame: The frame number for the events (default: the number of strokes).
            before_target: The class ``before`` was read for (the previous answer's ``target``), when it may
                differ from this frame's (the model's guess changed): ``before`` is then read again for this
                frame's class, so a change of class is not mistaken for a change of the drawing.
        """
        chosen = self.target_index(target)
        frames = self.score([sketch], [chosen])
        previous = self.target_index(before_target) if before_target else None
        return self._feedback(frames, 0, self.previous_levels(before), sketch.num_strokes if frame is None else frame,
                              "model" if chosen is None else "person", previous)

    def score(self, sketches: Sequence[Sketch], targets: Sequence[int | None]) -> Frames:
        """Render and score drawings as the coach's updates are (on its inference thread, where it has one)."""
        if self.inference is None:
            return self.scorer.sketches(sketches, targets)
        return self.inference.run(self.scorer.sketches, sketches, targets)

    def close(self) -> None:
        """End the coach's inference thread (a later update starts it again)."""
        if self.inference is not None:
            self.inference.close()

    def _feedback(self, frames: Frames, i: int, before: np.ndarray | None, frame: int, chosen: str,
                  before_target: int | None = None) -> Feedback:
        t = int(frames.targets[i])
        if before is not None and before_target is not None and before_target != t:
            before = before * self.canon.reference[before_target] / self.canon.reference[t]
        levels = self.canon.levels(frames.scores[i:i + 1], frames.targets[i:i + 1])[0]
        stroke = self.canon.levels(frames.stroke_scores[i:i + 1], frames.targets[i:i + 1])[0]
        belongs = self.canon.belongs(t)
        state = detect(before, levels, stroke, belongs, self.canon.complete[t], self.canon.stroke_gain[t], self.rules,
                       frame, present=frames.mass[i] >= PRESENT_MASS)
        familiarity, unsure = self.familiarity(frames, i)
        if unsure:
            state = state.unsure(named=chosen == "person")
        probabilities = self.probabilities(frames)[i]
        order = np.argsort(-probabilities)[:self.top_classes]
        top = [(self.scorer.class_names[j], float(probabilities[j])) for j in order]
        return Feedback(self.scorer.class_names[t], chosen, top, familiarity, unsure, levels, belongs, state,
                        frames.maps[i])

    def probabilities(self, frames: Frames) -> np.ndarray:
        """The frames' class probabilities (N, classes), calibrated by the round's temperature."""
        return frames.probabilities if self.calibration is None else self.calibration.probabilities(frames.logits)

    def familiarity(self, frames: Frames, i: int) -> tuple[float, bool]:
        """Frame ``i``'s familiarity and whether the coach is unsure of it (below the threshold, or no ink)."""
        if self.calibration is None:
            return float("nan"), not frames.ink[i].any()
        value = float(self.calibration.familiarity_of(frames.logits[i:i + 1], frames.pooled[i:i + 1])[0])
        return value, bool(value < self.calibration.threshold or not frames.ink[i].any())

    def replay(self, sketch: Sketch, target: str | None = None) -> Replay:
        """Replay a drawing stroke by stroke (its real stroke order): levels and events after every stroke.

        The target is fixed for the whole replay: the given class, else the model's top class on the finished
        drawing (a replay is read as a drawing of what it became). Each frame is scored alone and compared with
        the levels of the frame before as the page hands them back (:meth:`sent_levels`), exactly as the page's
        updates are answered: the same drawing gives the same events either way. (Scoring all frames in one
        batch would not: a batch's size changes the last bits of each frame's numbers on some CPUs, enough to
        tip a level that sits on a threshold.)
        """
        chosen = self.target_index(target)
        if sketch.num_strokes == 0:
            raise DrawingError(f"{sketch.key_id}: the drawing has no strokes to replay")
        named = "model" if chosen is None else "person"
        if chosen is None:
            chosen = int(self.score([sketch], [None]).targets[0])
        levels, top, states, unsure, familiarity = [], [], [], [], []
        before: np.ndarray | None = None  # the page's first update has no levels before it
        for k in range(sketch.num_strokes + 1):
            frames = self.score([sketch.first_strokes(k)], [chosen])
            feedback = self._feedback(frames, 0, before, k, named)
            levels.append(feedback.levels)
            top.append(feedback.top[0])
            unsure.append(feedback.unsure)
            familiarity.append(feedback.familiarity)
            if k > 0:
                states.append(feedback.state)
                before = self.previous_levels(self.sent_levels(feedback.levels))
        return Replay(sketch, self.scorer.class_names[chosen], np.stack(levels), top, states, unsure, familiarity)

    def sent_levels(self, levels: np.ndarray) -> dict[str, float]:
        """Levels as an answer hands them to the page (concept id -> level rounded to ``LEVEL_DECIMALS``), which
        the page sends back as the next update's ``before``."""
        return {c.id: round(float(v), LEVEL_DECIMALS) for c, v in zip(self.concepts, levels)}

    def grid(self) -> dict[str, Any]:
        """Where the layer's positions lie on the 0..255 drawing canvas: cell (y, x) spans
        ``origin + step * (y, x)`` to ``origin + step * (y + 1, x + 1)``."""
        g, raster = self.scorer.geometry, self.scorer.model.raster
        per_pixel = CANVAS_MAX / (raster.size - 2 * raster.padding)
        return {"rows": g.height, "cols": g.width, "origin": round((g.cell_origin - raster.padding) * per_pixel, 3),
                "step": round(g.stride * per_pixel, 3)}

    def describe(self) -> dict[str, Any]:
        """What the page needs once: the round, classes, concepts (with icons), grid and thresholds."""
        return {"round": self.round, "classes": self.scorer.class_names, "grid": self.grid(),
                "concepts": [{"id": c.id, "name": c.name, "kind": c.kind, "icon_point": c.icon_point}
                             for c in self.concepts],
                "canon": {"share": self.canon.share.round(3).tolist(), "complete": self.canon.complete.round(3).tolist(),
                          "stroke_gain": self.canon.stroke_gain.round(3).tolist(),
                          "drawings": self.canon.drawings},
                "rules": {"improved_share": self.rules.improved_share, "improved_min": self.rules.improved_min,
                          "missing_level": self.rules.missing_level, "improved_by": self.rules.improved_by},
                "limits": {"max_strokes": self.limits.max_strokes, "max_points": self.limits.max_points}}

    def answer(self, strokes: Sequence[Any], target: str | None = None, before: Mapping[str, float] | None = None,
               frame: int | None = None, before_target: str | None = None) -> dict[str, Any]:
        """One feedback update as the API answers it (JSON-ready): the drawing checked, scored and described.

        Raises:
            DrawingError: A malformed drawing.
            ArticulateError: An unknown target class or a bad ``before``.
        """
        sketch = strokes_to_sketch(strokes, self.limits)
        feedback = self.feedback(sketch, target, before, frame, before_target)
        ids = [c.id for c in self.concepts]
        return {
            "round": self.round, "target": feedback.target, "chosen": feedback.chosen, "strokes": sketch.num_strokes,
            "classes": [{"name": n, "p": round(p, 4)} for n, p in feedback.top],
            "unsure": feedback.unsure,
            "familiarity": self.familiarity_answer(feedback.familiarity),
            "levels": self.sent_levels(feedback.levels),
            "belongs": [cid for cid, b in zip(ids, feedback.belongs) if b],
            "events": [{"kind": e.kind, "concept": ids[e.concept], "frame": e.frame, "level": round(e.level, 4),
                        "change": round(e.change, 4)} for e in feedback.state.events],
            "missing": [ids[k] for k in feedback.state.missing],
            "complete": [ids[k] for k in feedback.state.complete],
            "sentences": self.sentences(feedback),
            "maps": {cid: np.round(m, 2).tolist() for cid, m in zip(ids, feedback.maps) if m.max() > 0.05},
        }

    def familiarity_answer(self, value: float) -> dict[str, Any]:
        """The familiarity as an answer carries it: its kind, value and the threshold under which it is unsure."""
        if self.calibration is None:
            return {"kind": None, "value": None, "threshold": None, "temperature": 1.0}
        return {"kind": self.calibration.familiarity, "value": round(value, 4) if math.isfinite(value) else None,
                "threshold": round(self.calibration.threshold, 4),
                "temperature": round(self.calibration.temperature, 4)}

    def sentences(self, feedback: Feedback) -> list[dict[str, Any]]:
        """Friendly sentences, news first: what was just improved or completed, what is missing (the class's
        most usual concepts first), then what already looked complete. Unsure of the drawing, first "I'm not sure
        what this is yet" (and no praise: the frame's state has no events then)."""
        names = [c.name for c in self.concepts]
        just_completed = {e.concept for e in feedback.state.events if e.kind == "complete"}

        def sentence(kind: str, k: int, **extra: Any) -> dict[str, Any]:
            return {"kind": kind, "concept": self.concepts[k].id, "text": f"{SENTENCE[kind]}: {names[k]}", **extra}

        target = self._class_index[feedback.target]
        improved = [e.concept for e in feedback.state.events if e.kind == "improved" and e.concept not in just_completed]
        missing = sorted(feedback.state.missing, key=lambda k: -self.canon.share[target, k])
        doubt = [{"kind": "unsure", "concept": None, "text": UNSURE_TEXT}] if feedback.unsure else []
        return (doubt + [sentence("improved", k) for k in improved]
                + [sentence("complete", k, new=True) for k in feedback.state.complete if k in just_completed]
                + [sentence("missing", k) for k in missing]
                + [sentence("complete", k, new=False) for k in feedback.state.complete if k not in just_completed])


class _LazySplit(Sequence[Sketch]):
    """A split read only when first used (a cached calibration never reads the fit split)."""

    def __init__(self, dataset: str | Path, split: str) -> None:
        self.dataset, self.split, self._sketches = dataset, split, None

    def _read(self) -> list[Sketch]:
        from pipeline.data.store import read_split

        if self._sketches is None:
            self._sketches = read_split(self.dataset, self.split)
        return self._sketches

    def __len__(self) -> int:
        return len(self._read())

    def __getitem__(self, index: Any) -> Any:
        return self._read()[index]


def _icon_points(model: Any, atlas: Path, activations: Path) -> list[int | None]:
    """For each head concept, the atlas point where the head is most sure of it (its icon); None without an atlas."""
    import torch

    if not (atlas / "atlas.json").is_file():
        return [None] * len(model.concepts)
    from pipeline.atlas.build import read_atlas_vectors

    _, _, raw = read_atlas_vectors(atlas, activations)
    with torch.no_grad():
        logits = model.concept_head(torch.from_numpy(np.asarray(raw, dtype=np.float32))[:, :, None, None])[:, :, 0, 0]
    return [int(i) for i in logits.argmax(0).numpy()]
