"""Are the coach's events right? Measured on drawings whose strokes carry their true part.

Replaying a generated drawing adds its parts stroke by stroke. For each concept matched to a true part P (the
evaluation's ``matched_part``) that belongs to the drawing's class and whose part the drawing has:

- ``improved_hit``: an "improved" event for the concept fires at one of P's strokes;
- ``improved_first``: it fires at P's first stroke;
- ``improved_precision``: of the concept's "improved" events, the share at strokes of P;
- ``missing_before``: of the frames before P's first stroke, the share that call the concept missing;
- ``missing_after``: of the frames after P's last stroke, the share that (wrongly) still call it missing.

And whether the coach knows when it does not know (:func:`unsure_rates`): the share of random scribbles and of
real drawings of classes the model does not have that it is unsure of, the share of its own classes' complete
drawings it is unsure of, and the AUROC of each familiarity between them; :func:`replay_unsure` replays drawings of
its own classes stroke by stroke (real ones: does the coach stay unsure of a finished drawing a person made?) and
splits the unsure ones by whether the model reads them right; :func:`contradictions` counts the frames of a replay
whose sentences contradict each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.coach.calibration import FAMILIARITY, auroc, outputs
from pipeline.coach.coach import Coach, Replay
from core.sketch import Sketch

__all__ = ["EventRates", "ReplayUnsure", "UnsureRates", "contradictions", "event_rates", "random_scribbles",
           "replay_unsure", "unsure_rates"]

#: The kinds of random scribble :func:`random_scribbles` draws, in turn.
SCRIBBLES = ("walk", "lines", "loops", "zigzag")


def _ratio(a: int, b: int) -> float:
    """``a / b`` to four decimals; nan where ``b`` is 0."""
    return round(a / b, 4) if b else float("nan")


@dataclass
class EventRates:
    """Counts and rates of :func:`event_rates` (see the module docstring)."""

    pairs: int = 0
    improved_hit: int = 0
    improved_first: int = 0
    improved_events: int = 0
    improved_on_part: int = 0
    missing_frames_before: int = 0
    missing_said_before: int = 0
    frames_after: int = 0
    missing_said_after: int = 0

    def rates(self) -> dict[str, float]:
        return {"pairs": self.pairs, "improved_hit": _ratio(self.improved_hit, self.pairs),
                "improved_first": _ratio(self.improved_first, self.pairs),
                "improved_precision": _ratio(self.improved_on_part, self.improved_events),
                "missing_before": _ratio(self.missing_said_before, self.missing_frames_before),
                "missing_after": _ratio(self.missing_said_after, self.frames_after)}


def event_rates(coach: Coach, sketches: Sequence[Sketch], matched_part: Mapping[str, str]) -> EventRates:
    """Replay part-annotated drawings and count how often the events are right.

    Args:
        coach: The round's coach.
        sketches: Drawings with per-stroke parts, of the model's classes.
        matched_part: Concept id -> the true part it was matched to.
    """
    counts = EventRates()
    index = {c.id: i for i, c in enumerate(coach.concepts)}
    matched = {index[cid]: part for cid, part in matched_part.items() if cid in index}
    classes = coach.scorer.class_index
    for sketch in sketches:
        if sketch.parts is None or sketch.word not in classes or not sketch.strokes:
            continue
        replay = coach.replay(sketch, sketch.word)
        belongs = coach.canon.belongs(classes[sketch.word])
        for k, part in matched.items():
            strokes = [i + 1 for i, p in enumerate(sketch.parts) if p == part]  # frame numbers of P's strokes
            if not belongs[k] or not strokes:
                continue
            counts.pairs += 1
            improved = [e.frame for f in replay.frames for e in f.events if e.kind == "improved" and e.concept == k]
            counts.improved_hit += any(t in strokes for t in improved)
            counts.improved_first += strokes[0] in improved
            counts.improved_events += len(improved)
            counts.improved_on_part += sum(t in strokes for t in improved)
            for t, frame in enumerate(replay.frames, start=1):
                if t < strokes[0]:
                    counts.missing_frames_before += 1
                    counts.missing_said_before += k in frame.missing
                elif t >= strokes[-1]:
                    counts.frames_after += 1
                    counts.missing_said_after += k in frame.missing
    return counts


def random_scribbles(count: int, seed: int = 0) -> list[Sketch]:
    """``count`` random scribbles on the 0..255 canvas, a few kinds in turn (:data:`SCRIBBLES`): a random walk,
    random straight lines, random loops, a zigzag; 1 to 6 strokes each."""
    rng = np.random.default_rng(seed)
    drawn = []
    for i in range(count):
        kind = SCRIBBLES[i % len(SCRIBBLES)]
        strokes = []
        for _ in range(int(rng.integers(1, 7))):
            if kind == "walk":
                steps = rng.normal(0, 12, size=(2, int(rng.integers(8, 40))))
                xy = rng.uniform(40, 215, size=(2, 1)) + np.cumsum(steps, axis=1)
            elif kind == "lines":
                a, b = rng.uniform(0, 255, size=(2, 2, 1))
                xy = a + (b - a) * np.linspace(0, 1, 8)[None]
            elif kind == "loops":
                t = np.linspace(0, rng.uniform(1.0, 2.0) * 2 * np.pi, 24)
                centre, radius = rng.uniform(50, 205, size=(2, 1)), rng.uniform(10, 60, size=(2, 1))
                xy = centre + radius * np.stack([np.cos(t), np.sin(t)])
            else:
                n = int(rng.integers(4, 12))
                x = np.linspace(*sorted(rng.uniform(0, 255, 2)), n)
                y = rng.uniform(0, 255) + rng.uniform(10, 60) * (np.arange(n) % 2)
                xy = np.stack([x, y])
            strokes.append(np.clip(xy, 0, 255).astype(np.float32))
        drawn.append(Sketch(f"scribble-{kind}-{i}", "scribble", tuple(strokes)))
    return drawn


@dataclass
class UnsureRates:
    """What :func:`unsure_rates` measured.

    Attributes:
        familiarity: The familiarity the coach reads.
        own: Complete drawings of the model's classes read.
        scribbles: Random scribbles read.
        others: Drawings of classes the model does not have read.
        own_unsure: Share of ``own`` it is unsure of (aim <= 0.1).
        scribbles_unsure: Share of the scribbles it is unsure of (aim >= 0.9).
        others_unsure: Share of the other classes' drawings it is unsure of (aim >= 0.7).
        auroc: Familiarity -> {"scribbles": AUROC own vs scribbles, "others": own vs other classes}.
    """

    familiarity: str
    own: int
    scribbles: int
    others: int
    own_unsure: float
    scribbles_unsure: float
    others_unsure: float
    auroc: dict[str, dict[str, float]]


def unsure_rates(coach: Coach, own: Sequence[Sketch], scribbles: Sequence[Sketch],
                 others: Sequence[Sketch]) -> UnsureRates:
    """Read complete drawings of the model's classes, random scribbles and drawings of other classes; how often
    is the coach unsure of each, and how well does each familiarity tell them apart?

    Args:
        coach: The round's coach (with its calibration).
        own: Complete drawings of the model's classes (not those its threshold was set on: the test split).
        scribbles: Random scribbles (:func:`random_scribbles`).
        others: Real drawings of classes the model does not have.

    Raises:
        ValueError: The coach has no calibration.
    """
    calibration = coach.calibration
    if calibration is None:
        raise ValueError("the coach has no calibration to be unsure with")
    read = {}
    for name, drawings in (("own", own), ("scribbles", scribbles), ("others", others)):
        if drawings:
            read[name] = calibration.familiarities(*outputs(coach.scorer, list(drawings)))
        else:
            read[name] = {kind: np.zeros(0) for kind in FAMILIARITY}

    def share(name: str) -> float:
        values = read[name][calibration.familiarity]
        return round(float((values < calibration.threshold).mean()), 4) if len(values) else float("nan")

    areas = {kind: {"scribbles": round(auroc(read["own"][kind], read["scribbles"][kind]), 4),
                    "others": round(auroc(read["own"][kind], read["others"][kind]), 4)} for kind in FAMILIARITY}
    return UnsureRates(calibration.familiarity, len(own), len(scribbles), len(others), share("own"),
                       share("scribbles"), share("others"), areas)


@dataclass
class ReplayUnsure:
    """What :func:`replay_unsure` counted over drawings of the model's own classes replayed stroke by stroke.

    Attributes:
        drawings: Drawings replayed.
        last_unsure: Of them, those the coach is still unsure of at the last stroke (aim: at most a tenth).
        right: Drawings the model reads as their own class at the last stroke.
        unsure_right: Of ``right``, those it is unsure of at the last stroke.
        unsure_wrong: Of the misread ones, those it is unsure of at the last stroke (the more, the better).
        frames: Frames after a stroke, all replays together.
        frames_unsure: Of them, those it is unsure of.
        contradictory: Frames whose sentences contradict each other (:func:`contradictions`; aim 0).
        per_class: Class -> (drawings, unsure at the last stroke).
    """

    drawings: int = 0
    last_unsure: int = 0
    right: int = 0
    unsure_right: int = 0
    unsure_wrong: int = 0
    frames: int = 0
    frames_unsure: int = 0
    contradictory: int = 0
    per_class: dict[str, list[int]] = field(default_factory=dict)

    def rates(self) -> dict[str, float]:
        """The shares: ``last_unsure`` of the drawings, ``accuracy`` (read right at the last stroke),
        ``unsure_when_right`` and ``unsure_when_wrong``, ``frames_unsure``; nan where nothing was counted."""
        wrong = self.drawings - self.right
        return {"drawings": self.drawings, "last_unsure": _ratio(self.last_unsure, self.drawings),
                "accuracy": _ratio(self.right, self.drawings),
                "unsure_when_right": _ratio(self.unsure_right, self.right),
                "unsure_when_wrong": _ratio(self.unsure_wrong, wrong), "wrong": wrong,
                "frames_unsure": _ratio(self.frames_unsure, self.frames), "contradictory": self.contradictory}


def replay_unsure(coach: Coach, drawings: Sequence[Sketch]) -> ReplayUnsure:
    """Replay drawings of the model's classes stroke by stroke, each read for the model's own guess (as the page
    reads a drawing nobody named): is the coach still unsure at the last stroke, and is it unsure where the model
    misreads the drawing (good) or where it reads it right (a needless doubt)?

    Args:
        coach: The round's coach (with its calibration).
        drawings: Drawings with strokes; those of classes the model does not have are skipped.
    """
    counts = ReplayUnsure()
    classes = coach.scorer.class_index
    for sketch in drawings:
        if sketch.word not in classes or not sketch.strokes:
            continue
        replay = coach.replay(sketch)
        unsure = bool(replay.unsure[-1])
        right = classes.get(replay.top[-1][0]) == classes[sketch.word]
        counts.drawings += 1
        counts.last_unsure += unsure
        counts.right += right
        counts.unsure_right += unsure and right
        counts.unsure_wrong += unsure and not right
        counts.frames += len(replay.frames)
        counts.frames_unsure += sum(replay.unsure[1:])
        counts.contradictory += contradictions(coach, replay)
        seen = counts.per_class.setdefault(sketch.word, [0, 0])
        seen[0] += 1
        seen[1] += unsure
    return counts


def contradictions(coach: Coach, replay: Replay) -> int:
    """The frames of a replay whose state contradicts itself: a concept both improved (or complete) and missing,
    or missing though it is not a concept of the class the drawing is read for."""
    belongs = coach.canon.belongs(coach.scorer.class_names.index(replay.target))
    count = 0
    for frame in replay.frames:
        said = {e.concept for e in frame.events} | set(frame.complete)
        missing = set(frame.missing)
        count += bool(missing & said or any(not belongs[k] for k in missing))
    return count
