"""Dreaming in the app: DeepDream a drawing toward a concept, a channel or a whole layer, as a job with progress
and cancel (``POST /api/dream`` starts it; ``GET /api/jobs/<id>`` polls it; ``DELETE`` cancels it).

A dream runs on a copy of the round's network (:meth:`Room.dream_net`), on the app's one job worker, so the
drawing coach and the editor keep answering while it runs. "Dream at layer" is any layer of the model
(``layer``, a module path): early layers change strokes, later ones add parts.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from labeling.deps import RoomDep
from labeling.drawing import Drawing, sketch_of
from pipeline.coach.coach import DrawingError
from pipeline.data.raster import rasterize
from pipeline.errors import ArticulateError
from pipeline.models.layers import get_layer

__all__ = ["DreamBody", "router"]

router = APIRouter(prefix="/api")


class DreamBody(Drawing):
    """What to dream toward (a ``concept`` of the round, a ``channel`` of ``layer``, or the whole layer)."""

    concept: str | None = None
    channel: int | None = Field(default=None, ge=0)
    layer: str | None = None
    octaves: int = Field(default=3, ge=1, le=6)
    steps: int = Field(default=10, ge=1, le=100)
    lr: float = Field(default=0.02, gt=0.0, le=1.0)


@router.post("/dream", status_code=202)
def dream(room: RoomDep, body: DreamBody) -> dict[str, Any]:
    """Start a dream; answers the job (poll ``/api/jobs/<id>``)."""
    import torch

    from pipeline.featurevis.dream import deepdream
    from pipeline.featurevis.images import display_zoom, to_pil

    coach = room.coach()
    model = coach.scorer.model
    sketch = sketch_of(room, body)
    net = room.dream_net()
    layer = body.layer or model.layer
    get_layer(net, layer, key="layer")  # an unknown layer: 400 listing the layer names
    objective, what = None, f"{layer}" if body.channel is None else f"{layer} ch {body.channel}"
    if body.concept is not None:
        if body.channel is not None:
            raise DrawingError("dream toward a concept or a channel, not both")
        if layer != model.layer:
            raise DrawingError(f"a concept lives on the atlas layer {model.layer}; leave layer out to dream toward it")
        from pipeline.editing.surgery import no_concepts
        from pipeline.featurevis.objectives import Direction

        surgeon = room.editor()[1]
        if surgeon is None:
            raise ArticulateError(no_concepts(model.round))
        k = surgeon.concept_index(body.concept)
        objective, what = Direction(layer, surgeon.weights[k]), f"concept {surgeon.names[k]}"
    image = torch.from_numpy(rasterize(sketch, model.raster))[None]

    def work(progress):
        dreamed = deepdream(net, image, model.input_spec, layer, channel=body.channel, objective=objective,
                            octaves=body.octaves, octave_scale=1.4, steps=body.steps, lr=body.lr,
                            progress=progress)[0]
        buffer = io.BytesIO()
        to_pil(dreamed, display_zoom(dreamed.shape[-1])).save(buffer, format="PNG")
        return {"image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), "what": what}

    return room.jobs.start(work).to_json()


@router.get("/jobs/{job_id}")
def job(room: RoomDep, job_id: str) -> dict[str, Any]:
    return room.jobs.get(job_id).to_json()


@router.delete("/jobs/{job_id}")
def cancel(room: RoomDep, job_id: str) -> dict[str, Any]:
    return room.jobs.cancel(job_id).to_json()
