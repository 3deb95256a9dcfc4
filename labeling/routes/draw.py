"""The drawing coach: the ``/draw`` page, what it needs to start, and one feedback update per request.

Scoring runs in FastAPI's thread pool (plain ``def`` routes), so a drawing being scored never holds up the
atlas page's requests; drawings are scored one at a time (:data:`~labeling.deps.ScoreLockDep`). A drawing over the coach's
limits (strokes, points, coordinates) answers 422, an unknown target class 400, a missing coach 503.

Talking back (``POST /api/drawn``): the person marks positions of their own drawing as a concept ("this is
ear") or not ("this is not ear"), or names a new concept from them. The drawing is kept beside the concept store
(:class:`~conceptstore.drawings.DrawingBook`) and the positions go into the store like exemplars the person
verified, so the next round's fine-tune counts them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from conceptstore.drawings import DrawingBook, drawings_path
from labeling.deps import (CoachDep, CoachingDep, ScoreLockDep, SessionViewDep, SettingsDep, StoreDep,
                           WriteLockDep)
from labeling.fields import Index, Strokes
from labeling.routes.concepts import VersionedBody, write_and_list
from labeling.routes.files import STATIC
from pipeline.coach.coach import DrawingError, strokes_to_sketch

__all__ = ["DrawnBody", "FeedbackBody", "router"]

router = APIRouter()


class FeedbackBody(BaseModel):
    """One frame of a drawing: its strokes (Quick, Draw! layout, 0..255), the target class (None: the model's
    top class), the levels the previous answer gave (concept id -> level) and the class it read them for
    (``before_target``), and the frame number."""

    model_config = ConfigDict(extra="forbid")
    strokes: Strokes
    target: str | None = None
    before: dict[str, float] | None = None
    before_target: str | None = None
    frame: Index | None = None


@router.get("/draw", include_in_schema=False)
def draw_page() -> FileResponse:
    return FileResponse(STATIC / "draw.html", headers={"Cache-Control": "no-store"})


@router.get("/api/coach")
def coach(coach: CoachDep, view: SessionViewDep, settings: SettingsDep) -> dict[str, Any]:
    """The round, its classes, the concepts the coach speaks of (with icon images), the grid and thresholds."""
    described = coach.describe()
    for concept in described["concepts"]:
        point = concept.pop("icon_point")
        concept["icon"] = f"/api/patch/{point}.png" if point is not None and 0 <= point < len(view) else None
    return {**described, "throttle_ms": settings.coach_throttle_ms}


@router.get("/api/coach/status")
def coach_status(coaching: CoachingDep) -> dict[str, Any]:
    """Whether the coach is ready, and how long it has been preparing (it is built when the server starts)."""
    return coaching.status()


@router.post("/api/feedback")
def feedback(coach: CoachDep, score_lock: ScoreLockDep, body: FeedbackBody) -> dict[str, Any]:
    with score_lock:
        return coach.answer(body.strokes, body.target, body.before, body.frame, body.before_target)


class DrawnBody(VersionedBody):
    """Positions of the person's drawing marked as a concept (or not): an existing ``concept`` (id or name), or
    a new one by ``name``."""

    strokes: Strokes
    word: str
    cells: list[tuple[Index, Index]] = Field(min_length=1, max_length=4096)
    concept: str | None = None
    name: str | None = None
    negative: bool = False


@router.post("/api/drawn", status_code=201)
def drawn(coach: CoachDep, view: SessionViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep,
          body: DrawnBody) -> dict[str, Any]:
    """Keep the drawing and write its marked positions into the concept store."""
    if body.word not in coach.scorer.class_names:
        raise DrawingError(f"word: {body.word!r} is not a class of the round {coach.round} model "
                           f"({', '.join(coach.scorer.class_names)})")
    if (body.concept is None) == (body.name is None):
        raise DrawingError("give either concept (an existing concept's id or name) or name (a new concept)")
    if body.name is not None and body.negative:
        raise DrawingError("a new concept starts from what it is: mark 'this is', not 'this is not'")
    grid = coach.scorer.geometry
    outside = [(y, x) for y, x in body.cells if not (0 <= y < grid.height and 0 <= x < grid.width)]
    if outside:
        raise DrawingError(f"cells: {outside[0]} is outside the layer's {grid.height} x {grid.width} grid")
    sketch = strokes_to_sketch(body.strokes, coach.limits, word=body.word)
    if not sketch.strokes:
        raise DrawingError("strokes: an empty drawing has nothing to mark")
    actor = settings.actor

    def change() -> Any:
        # The drawing is kept only with the change it is for: a change refused (a stale version, an unknown
        # concept, a bad name) takes the drawing out again, so the next fine-tune reads no orphan.
        with DrawingBook(drawings_path(store.path)).kept(sketch) as key_id:
            positions = [(key_id, int(y), int(x)) for y, x in sorted(set(body.cells))]
            source = {"kind": "drawing", "round": view.round, "key_id": key_id}
            if body.name is not None:
                return store.promote(body.name, positions, layer=coach.scorer.model.layer, born_round=view.round,
                                     source=source, verified=positions, expected_version=body.expected_version,
                                     actor=actor)
            positives, negatives = ([], positions) if body.negative else (positions, [])
            return store.add(body.concept, positives, negatives, source=source, verified=positives,
                             expected_version=body.expected_version, actor=actor)

    return write_and_list(store, write_lock, view, change)
