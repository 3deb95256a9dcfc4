"""Feature visualization on demand: what most excites a concept's or an atlas cluster's direction, or a channel, at
the round's atlas layer (``POST /api/visualize``, a job like a dream), kept on disk per round so a second look is
immediate.

It is rendered from scratch by :func:`pipeline.featurevis.render.render`, drawn as strokes (the default for sketch
models: a drawing, answered as strokes and one ndjson line, that a person can trace on ``/draw`` or open on
``/sketch``) or as pixels (Lucid's recipe: a decorrelated Fourier image, random jitter, scale and rotation, a few
regularisers). ``GET /api/visualize/options`` says which the round's model offers. The cache is keyed by the
round's network (a hash of its weights), the objective, the settings and what it is drawn as, under
``<paths.cache>/featurevis/`` (a ``.png`` picture or a ``.ndjson`` drawing).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from pathlib import Path
from typing import Any

import torch
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labeling.deps import CoachDep, DreamNetDep, EditorDep, JobsDep, SessionViewDep, SettingsDep
from labeling.directions import layer_direction
from labeling.drawn import DrawnAs, drawing_line, drawn_as, drawn_options, read_as, strokes_answer
from labeling.fields import Index
from labeling.pictures import data_url, picture_png
from labeling.settings import AppSettings, RequestLimits
from pipeline.coach.coach import Coach, DrawingError

__all__ = ["VisualizeBody", "router"]

router = APIRouter(prefix="/api")


class VisualizeBody(BaseModel):
    """What to visualize: one of a ``concept`` (name or id), an atlas ``cluster``, or a ``channel``."""

    model_config = ConfigDict(extra="forbid")
    concept: str | None = None
    cluster: Index | None = None
    channel: Index | None = None
    steps: int = Field(default=128, strict=True)  # within GET /api/limits (labeling.limits)
    as_: DrawnAs | None = Field(default=None, alias="as")  # None: the model's default (GET /api/visualize/options)


#: The image parameterisation of each way of drawing, and the file its visualization is kept in.
PARAMS = {"strokes": "strokes", "pixels": "fourier"}
KEPT_AS = {"strokes": ".ndjson", "pixels": ".png"}


@router.get("/visualize/options")
def options(coach: CoachDep) -> dict[str, Any]:
    """What the round's model's visualizations and dreams may be drawn as, and the default."""
    return drawn_options(coach.scorer.model.input_spec)


@router.post("/visualize", status_code=202)
def visualize(coach: CoachDep, editor: EditorDep, net: DreamNetDep, view: SessionViewDep, settings: SettingsDep,
              jobs: JobsDep, body: VisualizeBody) -> dict[str, Any]:
    """Start (or answer from the cache) a feature visualization; answers the job (poll ``/api/jobs/<id>``)."""
    from pipeline.featurevis.objectives import channel as channel_objective
    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.render import render

    RequestLimits.check(body.steps, settings.limits.ranges()["visualize_steps"], "steps")
    chosen = [name for name in ("concept", "cluster", "channel") if getattr(body, name) is not None]
    if len(chosen) != 1:
        raise DrawingError("visualize one of concept, cluster or channel")
    model = coach.scorer.model
    layer = model.layer
    if body.channel is not None:
        objective, what, key = channel_objective(layer, int(body.channel)), f"channel {body.channel}", \
            f"channel-{body.channel}"
    else:
        vector, what = layer_direction(view, editor, concept=body.concept, cluster=body.cluster)
        objective = direction(layer, vector)
        key = hashlib.sha256(vector.numpy().tobytes()).hexdigest()[:16]
    kind = drawn_as(body.as_, model.input_spec)
    name = f"{layer}-{key}-{body.steps}"
    file = _cache_file(settings, coach, name, kind)
    if file is not None and file.is_file():
        cached = {**_answer(file.read_bytes(), kind, what), "cached": True}
        return jobs.start(lambda progress: cached).to_json()

    def work(progress):
        result = render(net, [objective], model.input_spec, steps=body.steps, on_step=progress, param=PARAMS[kind])
        if kind == "strokes":
            word, _ = read_as(net, result.images[0], model.input_spec, coach.scorer.class_names)
            kept = drawing_line(result.strokes[0], word=word, key_id=f"visualization-{name}").encode()
        else:
            kept = picture_png(result.images[0])
        if file is not None and progress(1.0) is not False:  # a cancelled visualization is not kept
            from core.io import atomic_write_bytes

            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(file, kept)
        return {**_answer(kept, kind, what), "cached": False}

    return jobs.start(work).to_json()


def _answer(kept: bytes, kind: str, what: str) -> dict[str, Any]:
    """A visualization as the API answers it, from what is kept of it: a drawing's ndjson line or a PNG."""
    if kind == "pixels":
        return {"image": data_url(kept), "what": what, "as": "pixels",
                "explain": f"The picture that most excites {what}, optimised from noise: a texture of what it "
                           f"responds to, not a drawing."}
    record = json.loads(kept)
    explain = (f"{len(record['drawing'])} strokes drawn from scratch so that {what} responds as strongly as it can: "
               f"what the model looks for there, not a drawing anyone made. The model reads it as {record['word']}. "
               f"Trace it on the drawing page to see what the coach says.")
    return strokes_answer(kept.decode(), what=what, explain=explain)


def _cache_file(settings: AppSettings, coach: Coach, name: str, kind: str) -> Path | None:
    """Where a visualization of this round's network is kept (None: the app keeps none)."""
    if not settings.cache_dir:
        return None
    return Path(settings.cache_dir) / "featurevis" / _network_hash(coach) / f"{name}{KEPT_AS[kind]}"


#: Each network's hash, made once per network (and forgotten with it).
_HASHES: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()


def _network_hash(coach: Coach) -> str:
    """A short hash of the round's weights, made once: pictures of another network are never shown."""
    net = coach.scorer.model.net
    if net not in _HASHES:
        digest = hashlib.sha256()
        for name, tensor in net.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        _HASHES[net] = f"round_{coach.round}-{digest.hexdigest()[:16]}"
    return _HASHES[net]
