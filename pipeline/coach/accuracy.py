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
drawings it is unsure of, and the AUROC of each familiarity between them; :func:`contradictions` counts the
frames of a replay whose sentences contradict each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.coach.calibration import FAMILIARITY, auroc, outputs
from pipeline.coach.coach import Coach, Replay
from pipeline.data.sketch import Sketch

__all__ = ["EventRates", "UnsureRates", "contradictions", "event_rates", "random_scribbles", "unsure_rates"]

#: The kinds of random scribble :func:`random_scribbles` draws, in turn.
SCRIBBLES = ("walk", "lines", "loops", "zigzag")


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
        def ratio(a: int, b: int) -> float:
            return round(a / b, 4) if b else float("nan")

        return {"pairs": self.pairs, "improved_hit": ratio(self.improved_hit, self.pairs),
                "improved_first": ratio(self.improved_first, self.pairs),
                "improved_precision": ratio(self.improved_on_part, self.improved_events),
                "missing_before": ratio(self.missing_said_before, self.missing_frames_before),
                "missing_after": ratio(self.missing_said_after, self.frames_after)}


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
