"""The exhibit's three kinds of event, from a thresholded difference between successive frames.

Levels are scores read against the canon of the target class (1 = a typical complete drawing). Between the
frame before and the frame now, for each concept that belongs to the target class (the canon's ``share``):

- **improved**: the last stroke drew it: the concept's level over the positions the stroke inks is at least
  ``improved_share`` of what a stroke that draws it typically has (the canon's ``stroke_gain``) and at least
  ``improved_min``, and its level over the whole drawing rose (``improved_by: stroke``, the default); or, with
  ``improved_by: change``, its level over the whole drawing rose by that much, wherever the rise came from;
- **complete**: its level reached the canon's ``complete`` level (it was below it before): the drawing now has
  as much of it as most complete drawings;
- **missing** (a state, said of the frame now, not an event): the drawing lacks it: its level is below
  ``missing_level``, it is not *present* (less than half a position of it, the canon's own test of whether a
  drawing has a concept), and it was neither improved by this stroke nor looks complete. So one frame never says
  both "improved: X" (or "looks complete: X") and "missing: X".

A concept that does not belong to the class gets a bar but no sentence: a cat's drawing is not told that it
lacks wheels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["EVENT_KINDS", "Event", "EventRules", "FrameEvents"]

EVENT_KINDS = ("improved", "complete")
IMPROVED_BY = ("stroke", "change")
#: A level "rose" when it gained more than this (the API rounds the levels it hands back to 1e-4).
ROSE = 1e-3


@dataclass(frozen=True)
class EventRules:
    """The thresholds, in canon levels.

    Attributes:
        improved_share: A rise of at least this share of a typical adding stroke's gain is an improvement.
        improved_min: ... and of at least this level.
        missing_level: Below this a concept that belongs to the class is missing.
        improved_by: ``stroke`` (what the last stroke drew) or ``change`` (the rise of the whole drawing).
    """

    CONF: ClassVar[Conf] = Conf("coach.events")

    improved_share: float
    improved_min: float
    missing_level: float
    improved_by: str

    def __post_init__(self) -> None:
        if self.improved_by not in IMPROVED_BY:
            raise ConfigError(f"coach.events.improved_by: expected one of {', '.join(IMPROVED_BY)}, "
                              f"got {self.improved_by!r}")
        for key in ("improved_share", "improved_min", "missing_level"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 10.0:
                raise ConfigError(f"coach.events.{key}: expected a level in (0, 10), got {value!r}")


@dataclass(frozen=True)
class Event:
    """Something the drawing did to a concept.

    Attributes:
        kind: ``improved`` or ``complete``.
        concept: Index of the concept in the coach's concept set.
        frame: The frame (number of strokes, or the update) it happened at.
        level: The concept's level after.
        change: Its rise since the frame before.
    """

    kind: str
    concept: int
    frame: int
    level: float
    change: float


@dataclass(frozen=True)
class FrameEvents:
    """The events of one frame and its state.

    Attributes:
        events: What changed since the frame before.
        missing: Concepts of the class the drawing lacks (indices).
        complete: Concepts of the class that look complete (indices).
    """

    events: list[Event]
    missing: list[int]
    complete: list[int]

    def unsure(self, named: bool) -> FrameEvents:
        """The frame as said when the coach is not sure what the drawing is: no praise (no event, nothing looks
        complete), and what is missing only for a class the person ``named`` (not for the model's own guess)."""
        return FrameEvents([], self.missing if named else [], [])


def detect(before: np.ndarray | None, now: np.ndarray, stroke: np.ndarray, belongs: np.ndarray,
           complete_level: np.ndarray, stroke_gain: np.ndarray, rules: EventRules, frame: int,
           present: np.ndarray | None = None) -> FrameEvents:
    """Compare two frames' levels.

    Args:
        before: (K,) levels of the frame before (None: the blank canvas, all zero).
        now: (K,) levels now.
        stroke: (K,) levels over the positions the last stroke inks.
        belongs: (K,) bool, the concepts of the target class.
        complete_level: (K,) the canon's level at which each concept looks complete.
        stroke_gain: (K,) the canon's level a stroke that adds each concept typically adds.
        rules: The thresholds.
        frame: The frame number given to the events.
        present: (K,) bool, the concepts the drawing has some of (None: judged by the levels alone).
    """
    before = np.zeros_like(now) if before is None else before
    change = now - before
    step = np.maximum(rules.improved_share * stroke_gain, rules.improved_min)
    drew = (stroke >= step) & (change > ROSE) if rules.improved_by == "stroke" else change >= step
    events: list[Event] = []
    for k in np.flatnonzero(belongs):
        if drew[k]:
            events.append(Event("improved", int(k), frame, float(now[k]), float(change[k])))
        if now[k] >= complete_level[k] > before[k]:
            events.append(Event("complete", int(k), frame, float(now[k]), float(change[k])))
    complete = belongs & (now >= complete_level)
    improved = np.zeros(len(now), dtype=bool)
    improved[[e.concept for e in events if e.kind == "improved"]] = True
    lacks = (now < rules.missing_level) & ~improved & ~complete
    if present is not None:
        lacks &= ~present
    missing = [int(k) for k in np.flatnonzero(belongs & lacks)]
    return FrameEvents(events, missing, [int(k) for k in np.flatnonzero(complete)])
