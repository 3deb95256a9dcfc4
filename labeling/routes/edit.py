"""Reaching into the model from the app: edit a drawing's atlas layer and see the model's answer change.

``POST /api/edit`` takes a drawing (strokes in the Quick, Draw! layout, or an atlas point: its sketch) and one
edit: a named concept ablated or boosted (along its direction, or the whole positions where it fires), or one
channel scaled, optionally only at chosen cells of the layer grid; it answers the class probabilities and the
concept presences before and after, side by side (only the layers after the atlas layer run again). Editing
needs a round with concepts for concept edits (round 0: channels only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labeling.deps import RoomDep
from pipeline.coach.coach import DrawingError, strokes_to_sketch
from pipeline.data.raster import rasterize
from pipeline.editing.edits import scale_channel, scale_direction, scale_positions
from pipeline.editing.runner import LayerRunner
from pipeline.editing.surgery import MODES, WHERE, Surgeon
from pipeline.models.input_spec import to_model_input

__all__ = ["EditBody", "router"]

router = APIRouter(prefix="/api")


class EditBody(BaseModel):
    """A drawing (``strokes``, or an atlas ``point``) and one edit (a ``concept`` or a ``channel``)."""

    model_config = ConfigDict(extra="forbid")
    strokes: list[list[list[float]]] | None = None
    point: int | None = Field(default=None, ge=0)
    concept: str | None = None
    channel: int | None = Field(default=None, ge=0)
    factor: float = 0.0
    mode: str = "direction"
    where: str = "everywhere"
    grow: int = Field(default=0, ge=0, le=8)
    cells: list[tuple[int, int]] | None = Field(default=None, max_length=4096)


def _top(probabilities: np.ndarray, names: list[str], count: int = 5) -> list[dict[str, Any]]:
    return [{"name": names[j], "p": round(float(probabilities[j]), 4)} for j in np.argsort(-probabilities)[:count]]


@router.post("/edit")
def edit(room: RoomDep, body: EditBody) -> dict[str, Any]:
    coach = room.coach()
    model = coach.scorer.model
    if (body.strokes is None) == (body.point is None):
        raise DrawingError("give the drawing as strokes or as an atlas point, one of them")
    if (body.concept is None) == (body.channel is None):
        raise DrawingError("give one edit: a concept (name or id) or a channel")
    if body.mode not in MODES or body.where not in WHERE:
        raise DrawingError(f"mode must be one of {', '.join(MODES)} and where one of {', '.join(WHERE)}")
    if body.point is not None:
        sketch = room.view.sketch_of_point(body.point)
    else:
        sketch = strokes_to_sketch(body.strokes, coach.limits)
    grid = coach.scorer.geometry
    mask = None
    if body.cells is not None:
        outside = [(y, x) for y, x in body.cells if not (0 <= y < grid.height and 0 <= x < grid.width)]
        if outside:
            raise DrawingError(f"cells: {outside[0]} is outside the layer's {grid.height} x {grid.width} grid")
        mask = torch.zeros(1, grid.height, grid.width, dtype=torch.bool)
        for y, x in body.cells:
            mask[0, y, x] = True
    image = rasterize(sketch, model.raster)[None]
    with room.score_lock:
        if body.concept is not None:
            surgeon = Surgeon(model, threshold=coach.scorer.threshold)
            k = surgeon.concept_index(body.concept)
            run = surgeon.prepare(image)
            if mask is None:
                outcome = surgeon.edit(run, [k], body.factor, where=body.where, mode=body.mode, grow=body.grow)
                before, after, touched = outcome.before[0], outcome.after[0], int(outcome.edited_positions[0])
                presence = (outcome.presence_before[0], outcome.presence_after[0])
            else:
                edited = scale_positions(run.activations, mask, body.factor) if body.mode == "positions" else \
                    scale_direction(run.activations, surgeon.weights[k], body.factor, mask)
                before, after, touched, presence = _answer(surgeon.runner, run, edited, surgeon, mask)
            what = f"{surgeon.names[k]} x {body.factor:g}"
        else:
            runner = LayerRunner(model.net, model.layer)
            run = runner.run(to_model_input(torch.from_numpy(image)[:, None], model.input_spec))
            edited = scale_channel(run.activations, int(body.channel), body.factor, mask)
            surgeon = Surgeon(model, coach.scorer.threshold) if model.concept_head is not None else None
            before, after, touched, presence = _answer(runner, run, edited, surgeon, mask)
            what = f"channel {body.channel} x {body.factor:g}"
    names = model.class_names
    concepts = [] if presence is None else [
        {"id": str(c["id"]), "name": str(c["name"]), "before": round(float(b), 4), "after": round(float(a), 4)}
        for c, b, a in zip(model.concepts, *presence)]
    return {"round": model.round, "edit": what, "edited_positions": touched, "before": _top(before, names),
            "after": _top(after, names), "reads_before": names[int(before.argmax())],
            "reads_after": names[int(after.argmax())], "concepts": concepts}


def _answer(runner: LayerRunner, run: Any, edited: torch.Tensor, surgeon: Surgeon | None,
            mask: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, np.ndarray] | None]:
    """Class probabilities before and after, positions touched, concept presences (None without concepts)."""
    logits = runner.resume(run, edited)
    before = torch.softmax(run.logits, 1)[0].numpy()
    after = torch.softmax(logits, 1)[0].numpy()
    touched = int(mask.sum()) if mask is not None else int(run.activations[0, 0].numel())
    if surgeon is None:
        return before, after, touched, None
    presence = (surgeon.maps(run.activations).flatten(2).amax(2)[0].numpy(),
                surgeon.maps(edited).flatten(2).amax(2)[0].numpy())
    return before, after, touched, presence
