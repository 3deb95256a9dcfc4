"""Are the coach's events right? Measured on drawings whose strokes carry their true part.

Replaying a generated drawing adds its parts stroke by stroke. For each concept matched to a true part P (the
evaluation's ``matched_part``) that belongs to the drawing's class and whose part the drawing has:

- ``improved_hit``: an "improved" event for the concept fires at one of P's strokes;
- ``improved_first``: it fires at P's first stroke;
- ``improved_precision``: of the concept's "improved" events, the share at strokes of P;
- ``missing_before``: of the frames before P's first stroke, the share that call the concept missing;
- ``missing_after``: of the frames after P's last stroke, the share that (wrongly) still call it missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.coach.coach import Coach
from pipeline.data.sketch import Sketch

__all__ = ["EventRates", "event_rates"]


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
