"""Reaching into the model from the app: read a drawing's atlas layer, edit it, and see the answer change.

``POST /api/layer`` answers what the sketch page shows of a drawing (strokes in the Quick, Draw! layout, or an
atlas point: its sketch): the class probabilities, and the atlas layer's maps, the named concepts' first, then
the channels sorted by their attribution to the target class. ``POST /api/edit`` takes the same drawing and a
stack of edits, applied in order: a named concept ablated or boosted (along its direction, or the whole
positions where it fires), one channel scaled, or every channel (``"all": true``), each optionally only at
chosen cells of the grid, or moved (``shift``: rows and columns; ``rotate``: degrees); it answers the class probabilities and the concept presences before and after, side
by side. Only the layers after the atlas layer run again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from labeling.atlas_view import AtlasView
from labeling.deps import CoachDep, Editor, EditorDep, ScoreLockDep, SessionViewDep, SettingsDep
from labeling.directions import cluster_direction
from labeling.fields import Index, Whole
from labeling.drawing import Drawing, sketch_of
from labeling.routes.files import STATIC
from labeling.settings import RequestLimits
from pipeline.coach.coach import DrawingError
from pipeline.data.raster import rasterize
from pipeline.editing.edits import (move_maps, rotate_maps, scale_channel, scale_direction, scale_positions,
                                    shift_maps)
from pipeline.editing.runner import LayerRun, LayerRunner
from pipeline.editing.surgery import MODES, WHERE, Surgeon, no_concepts
from pipeline.models.input_spec import to_model_input

__all__ = ["EditBody", "LayerBody", "page_router", "router"]

router = APIRouter(prefix="/api")
page_router = APIRouter()


class LayerBody(Drawing):
    target: str | None = None
    channels: int = Field(default=24, ge=0, le=1024)


class Edit(BaseModel):
    """One edit: a ``concept``, a ``channel`` or ``all`` channels, scaled by ``factor`` (0 ablates), or moved:
    ``shift`` by (rows, columns) or ``rotate`` by degrees (then ``factor`` is not used)."""

    model_config = ConfigDict(extra="forbid")
    concept: str | None = None
    cluster: Index | None = None
    channel: Index | None = None
    all: bool = False
    factor: float = Field(default=0.0, strict=True)
    mode: str = "direction"
    where: str = "everywhere"
    grow: int = Field(default=0, ge=0, le=8)
    cells: list[tuple[Index, Index]] | None = Field(default=None, max_length=4096)
    shift: tuple[Whole, Whole] | None = None
    rotate: float | None = Field(default=None, strict=True, ge=-360.0, le=360.0)


class EditBody(Drawing):
    edits: list[Edit]  # 1 to labeling.limits.edits (GET /api/limits)


@page_router.get("/sketch", include_in_schema=False)
def sketch_page() -> FileResponse:
    """The sketch page: a drawing's atlas layer, painted edits, and the model's answer before and after."""
    return FileResponse(STATIC / "sketch.html", headers={"Cache-Control": "no-store"})


def _top(probabilities: np.ndarray, names: list[str], count: int = 5) -> list[dict[str, Any]]:
    return [{"name": names[j], "p": round(float(probabilities[j]), 4)} for j in np.argsort(-probabilities)[:count]]


def _map(values: torch.Tensor) -> list[list[float]]:
    return np.round(values.numpy().astype(np.float64), 3).tolist()


@router.post("/layer")
def layer(coach: CoachDep, editor: EditorDep, view: SessionViewDep, score_lock: ScoreLockDep,
          body: LayerBody) -> dict[str, Any]:
    """The drawing's class probabilities and atlas-layer maps (concepts first, then the strongest channels)."""
    model = coach.scorer.model
    target = coach.target_index(body.target)
    sketch = sketch_of(body, view, coach.limits)
    image = rasterize(sketch, model.raster)[None]
    runner = editor.runner
    with score_lock:
        x = to_model_input(torch.from_numpy(image)[:, None], model.input_spec)
        act_leaf = runner.run(x)
        chosen = int(act_leaf.logits.argmax(1)[0]) if target is None else target
        attribution = _channel_attribution(runner, act_leaf, chosen)
        with torch.no_grad():
            concept_maps = torch.sigmoid(model.concept_head(act_leaf.activations))[0] \
                if model.concept_head is not None else None
    act = act_leaf.activations[0]
    order = torch.argsort(attribution, descending=True)[:body.channels]
    names = model.class_names
    return {
        "round": model.round, "layer": model.layer, "target": names[chosen],
        "chosen": "model" if target is None else "person", "grid": coach.grid(),
        "strokes": [s.tolist() for s in sketch.strokes], "word": sketch.word,
        "classes": _top(torch.softmax(act_leaf.logits, 1)[0].numpy(), names),
        "concepts": [] if concept_maps is None else [
            {"id": str(c["id"]), "name": str(c["name"]), "presence": round(float(m.max()), 4), "map": _map(m)}
            for c, m in zip(model.concepts, concept_maps)],
        "channels": [{"channel": int(c), "attribution": round(float(attribution[c]), 4),
                      "max": round(float(act[c].max()), 4), "map": _map(act[c])} for c in order],
    }


def _channel_attribution(runner: LayerRunner, run: LayerRun, target: int) -> torch.Tensor:
    """(C,) each channel's activation x gradient of the target logit, summed over positions."""
    leaf = run.activations.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = runner.resume_with_grad(run, leaf)
        grad, = torch.autograd.grad(logits[0, target], leaf)
    return (leaf.detach() * grad)[0].sum((1, 2))


@router.post("/edit")
def edit(coach: CoachDep, editor: EditorDep, view: SessionViewDep, settings: SettingsDep, score_lock: ScoreLockDep,
         body: EditBody) -> dict[str, Any]:
    """Apply the edits in order and answer the model's output before and after."""
    model = coach.scorer.model
    sketch = sketch_of(body, view, coach.limits)
    grid = coach.scorer.geometry
    spans = settings.limits.ranges()
    RequestLimits.check(len(body.edits), spans["edits"], "edits (how many in the stack)")
    for i, one in enumerate(body.edits, start=1):
        RequestLimits.check(one.factor, spans["factor"], f"edit {i}: factor")
        if sum((one.concept is not None, one.cluster is not None, one.channel is not None, one.all)) != 1:
            raise DrawingError(f"edit {i}: give one of concept (name or id), cluster, channel, or all")
        if one.mode not in MODES or one.where not in WHERE:
            raise DrawingError(f"edit {i}: mode must be one of {', '.join(MODES)} and where one of {', '.join(WHERE)}")
        if one.shift is not None and one.rotate is not None:
            raise DrawingError(f"edit {i}: shift or rotate, not both in one edit")
        if (one.shift is not None or one.rotate is not None) and one.cells is not None:
            raise DrawingError(f"edit {i}: shift and rotate move the whole map; leave cells out")
        if one.shift is not None and (abs(one.shift[0]) >= grid.height or abs(one.shift[1]) >= grid.width):
            raise DrawingError(f"edit {i}: a shift of {tuple(one.shift)} moves the {grid.height} x {grid.width} map "
                               "off the grid")
        outside = [(y, x) for y, x in one.cells or () if not (0 <= y < grid.height and 0 <= x < grid.width)]
        if outside:
            raise DrawingError(f"edit {i}: cell {outside[0]} is outside the layer's {grid.height} x {grid.width} grid")
    image = rasterize(sketch, model.raster)[None]
    runner, surgeon = editor.runner, editor.surgeon
    with score_lock:
        run = runner.run(to_model_input(torch.from_numpy(image)[:, None], model.input_spec))
        edited, touched = run.activations, torch.zeros(1, grid.height, grid.width, dtype=torch.bool)
        labels = []
        for one in body.edits:
            edited, mask, label = _apply(edited, one, editor, view)
            touched |= mask
            labels.append(label)
        logits = runner.resume(run, edited)
        presence = None if surgeon is None else (surgeon.maps(run.activations).flatten(2).amax(2)[0].numpy(),
                                                 surgeon.maps(edited).flatten(2).amax(2)[0].numpy())
    before, after = torch.softmax(run.logits, 1)[0].numpy(), torch.softmax(logits, 1)[0].numpy()
    names = model.class_names
    return {"round": model.round, "edit": "; ".join(labels), "edited_positions": int(touched.sum()),
            "before": _top(before, names), "after": _top(after, names),
            "reads_before": names[int(before.argmax())], "reads_after": names[int(after.argmax())],
            "concepts": [] if presence is None else [
                {"id": str(c["id"]), "name": str(c["name"]), "before": round(float(b), 4),
                 "after": round(float(a), 4)} for c, b, a in zip(model.concepts, *presence)]}


def _apply(activations: torch.Tensor, one: Edit, editor: Editor,
           view: AtlasView) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One edit: the edited map, the positions it touched, and a label."""
    if one.shift is not None or one.rotate is not None:
        return _move(activations, one, editor, view)
    shape = (1, *activations.shape[2:])
    cells = None
    if one.cells is not None:
        cells = torch.zeros(shape, dtype=torch.bool)
        for y, x in one.cells:
            cells[0, y, x] = True
    everywhere = torch.ones(shape, dtype=torch.bool)
    if one.channel is not None:
        return scale_channel(activations, int(one.channel), one.factor, cells), \
            cells if cells is not None else everywhere, f"channel {one.channel} x {one.factor:g}"
    if one.all:
        where = cells if cells is not None else everywhere
        return scale_positions(activations, where, one.factor), where, f"all channels x {one.factor:g}"
    if one.cluster is not None:  # an atlas cluster's direction: any round, concepts or not
        direction, what = cluster_direction(view, one.cluster)
        where = cells if cells is not None else everywhere
        return scale_direction(activations, direction, one.factor, where), where, f"{what} x {one.factor:g}"
    surgeon = _surgeon(editor)
    k = surgeon.concept_index(str(one.concept))
    fires = surgeon.fires(surgeon.maps(activations), k, one.grow)
    if one.mode == "positions":
        where = fires if cells is None else fires & cells
        edited = scale_positions(activations, where, one.factor)
    else:
        where = cells if cells is not None else (fires if one.where == "fires" else everywhere)
        edited = scale_direction(activations, surgeon.weights[k], one.factor, where)
    return edited, where, f"{surgeon.names[k]} x {one.factor:g}"


def _move(activations: torch.Tensor, one: Edit, editor: Editor,
          view: AtlasView) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A shift or a rotation of one channel's map, of every channel's, or of a concept's component."""
    if one.shift is not None:
        dy, dx = (int(v) for v in one.shift)
        move, how = (lambda maps: shift_maps(maps, dy, dx)), f"shifted by ({dy}, {dx})"
    else:
        degrees = float(one.rotate)
        move, how = (lambda maps: rotate_maps(maps, degrees)), f"rotated by {degrees:g}°"
    everywhere = torch.ones((1, *activations.shape[2:]), dtype=torch.bool)
    if one.channel is not None:
        return move_maps(activations, move, channel=int(one.channel)), everywhere, f"channel {one.channel} {how}"
    if one.all:
        return move_maps(activations, move), everywhere, f"all channels {how}"
    if one.cluster is not None:
        direction, what = cluster_direction(view, one.cluster)
        return move_maps(activations, move, direction=direction), everywhere, f"{what} {how}"
    surgeon = _surgeon(editor)
    k = surgeon.concept_index(str(one.concept))
    return move_maps(activations, move, direction=surgeon.weights[k]), everywhere, f"{surgeon.names[k]} {how}"


def _surgeon(editor: Editor) -> Surgeon:
    """The round's surgeon, for an edit of a named concept.

    Raises:
        DrawingError: The round has no concepts.
    """
    if editor.surgeon is None:
        raise DrawingError(f"{no_concepts(editor.round)}; channels can be edited now")
    return editor.surgeon
