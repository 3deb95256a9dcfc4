"""Dreaming in the app: DeepDream a drawing toward a concept, an atlas cluster, a channel, a class or a whole layer, as a job with progress
and cancel (``POST /api/dream`` starts it; ``GET /api/jobs/<id>`` polls it; ``DELETE`` cancels it).

A dream runs on a copy of the round's network (:data:`~labeling.deps.DreamNetDep`), on the app's one job worker,
so the drawing coach and the editor keep answering while it runs. "Dream at layer" is any layer of the model
(``layer``, a module path): early layers change strokes, later ones add parts.

Drawn as strokes (``as: "strokes"``, the default for sketch models) a dream keeps the person's strokes as they are
and adds a few strokes of its own, optimised toward the same objective (``octaves`` x ``steps`` steps): the answer
is a drawing, the person's strokes followed by the added ones, as strokes and one ndjson line. Drawn as pixels it
is DeepDream's picture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from fastapi import APIRouter
from pydantic import Field

from labeling.deps import CoachDep, DreamNetDep, EditorDep, JobsDep, SessionViewDep, SettingsDep
from core.sketch import Sketch
from labeling.directions import layer_direction
from labeling.drawn import DrawnAs, drawing_line, drawn_as, read_as, strokes_answer
from labeling.fields import Index
from labeling.drawing import Drawing, sketch_of
from labeling.pictures import data_url, picture_png
from labeling.routes.limits import OCTAVE_SCALE, request_limits
from labeling.settings import RequestLimits
from pipeline.coach.coach import DrawingError
from pipeline.data.raster import rasterize
from pipeline.models.layers import get_layer

if TYPE_CHECKING:
    from pipeline.featurevis.objectives import Objective

__all__ = ["DreamBody", "router"]

router = APIRouter(prefix="/api")


class DreamBody(Drawing):
    """What to dream toward: a ``concept`` of the round or an atlas ``cluster`` (their directions in the atlas
    layer), a ``channel`` of ``layer``, a class (``target_class``: its logit), or, with none of them, the whole
    ``layer``."""

    concept: str | None = None
    cluster: Index | None = None
    channel: Index | None = None
    target_class: str | None = None
    layer: str | None = None
    octaves: int = Field(default=3, strict=True)  # within GET /api/limits (labeling.limits)
    steps: int = Field(default=10, strict=True)
    lr: float = Field(default=0.02, gt=0.0, le=1.0, strict=True)
    as_: DrawnAs | None = Field(default=None, alias="as")  # None: the model's default (GET /api/visualize/options)


@router.post("/dream", status_code=202)
def dream(coach: CoachDep, editor: EditorDep, net: DreamNetDep, view: SessionViewDep, settings: SettingsDep,
          jobs: JobsDep, body: DreamBody) -> dict[str, Any]:
    """Start a dream; answers the job (poll ``/api/jobs/<id>``)."""
    from pipeline.featurevis.dream import deepdream
    from pipeline.featurevis.objectives import OUTPUT, DeepDream, Direction, class_logit

    model = coach.scorer.model
    spans = request_limits(settings.limits, coach)
    RequestLimits.check(body.octaves, spans["dream_octaves"], "octaves")
    RequestLimits.check(body.steps, spans["dream_steps"], "steps")
    sketch = sketch_of(body, view, coach.limits)
    chosen = [name for name in ("concept", "cluster", "channel", "target_class") if getattr(body, name) is not None]
    if len(chosen) > 1:
        raise DrawingError(f"dream toward one of concept, cluster, channel or target_class, not {' and '.join(chosen)}")
    if body.layer and chosen and chosen[0] in ("concept", "cluster", "target_class"):
        raise DrawingError(f"a {chosen[0].replace('target_', '')} is dreamt toward on its own layer; leave layer out")
    layer = body.layer or model.layer
    get_layer(net, layer, key="layer")  # an unknown layer: 400 listing the layer names
    objective, what = None, f"{layer}" if body.channel is None else f"{layer} ch {body.channel}"
    if body.concept is not None or body.cluster is not None:
        vector, what = layer_direction(view, editor, concept=body.concept, cluster=body.cluster)
        objective = Direction(layer, vector)
    elif body.target_class is not None:
        objective, layer, what = class_logit(coach.target_index(body.target_class)), OUTPUT, \
            f"class {body.target_class}"
    if drawn_as(body.as_, model.input_spec) == "strokes":
        objective = objective if objective is not None else DeepDream(layer, body.channel)
        return jobs.start(lambda progress: _dream_strokes(net, model, coach.scorer.class_names, sketch, objective,
                                                          body.octaves * body.steps, what, progress)).to_json()
    image = torch.from_numpy(rasterize(sketch, model.raster))[None]

    def work(progress):
        dreamed = deepdream(net, image, model.input_spec, layer, channel=body.channel, objective=objective,
                            octaves=body.octaves, octave_scale=OCTAVE_SCALE, steps=body.steps, lr=body.lr,
                            progress=progress)[0]
        return {"image": data_url(picture_png(dreamed)), "what": what, "as": "pixels",
                "explain": f"Your drawing's pixels pushed toward {what}: what the model sees in it, amplified."}

    return jobs.start(work).to_json()


def _dream_strokes(net: torch.nn.Module, model: Any, classes: list[str], sketch: Sketch, objective: Objective,
                   steps: int, what: str, progress: Callable[[float], bool]) -> dict[str, Any]:
    """A dream drawn as strokes: the drawing kept, a few strokes added toward the objective (a job's work).

    Args:
        net: The dream's copy of the network.
        model: The round's model (its input spec and raster).
        classes: Its class names.
        sketch: The person's drawing.
        objective: What the added strokes raise.
        steps: Optimisation steps.
        what: The objective in words.
        progress: The job's progress report.
    """
    from pipeline.featurevis.render import render

    result = render(net, [objective], model.input_spec, steps=steps, on_step=progress, param="strokes",
                    raster=model.raster, fixed=sketch)
    added = result.strokes[0]
    word, _ = read_as(net, result.images[0], model.input_spec, classes)
    line = drawing_line([*sketch.strokes, *added], word=word, key_id=f"dream-{sketch.key_id}")
    explain = (f"Your {sketch.num_strokes} strokes, kept as they are, and {len(added)} strokes added so that {what} "
               f"responds more strongly: what the model would have you draw. The model reads it as {word}.")
    return {**strokes_answer(line, what=what, explain=explain), "added": len(added)}


@router.get("/jobs/{job_id}")
def job(jobs: JobsDep, job_id: str) -> dict[str, Any]:
    return jobs.get(job_id).to_json()


@router.delete("/jobs/{job_id}")
def cancel(jobs: JobsDep, job_id: str) -> dict[str, Any]:
    return jobs.cancel(job_id).to_json()
