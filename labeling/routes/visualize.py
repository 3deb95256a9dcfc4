"""Feature visualization on demand: the image that most excites a concept's or an atlas cluster's direction, or a
channel, at the round's atlas layer (``POST /api/visualize``, a job like a dream), kept on disk per round so a
second look is immediate.

The picture is rendered from noise by :func:`pipeline.featurevis.render.render` (Lucid's recipe: a decorrelated
Fourier image, random jitter, scale and rotation, a few regularisers). The cache is keyed by the round's network
(a hash of its weights), the objective and the settings, under ``<paths.cache>/featurevis/``.
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any

import torch

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labeling.deps import CoachDep, DreamNetDep, EditorDep, JobsDep, SessionViewDep, SettingsDep
from labeling.directions import layer_direction
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
    file = _cache_file(settings, coach, f"{layer}-{key}-{body.steps}")
    if file is not None and file.is_file():
        cached = {"image": data_url(file.read_bytes()), "what": what, "cached": True}
        return jobs.start(lambda progress: cached).to_json()

    def work(progress):
        result = render(net, [objective], model.input_spec, steps=body.steps, on_step=progress)
        png = picture_png(result.images[0])
        if file is not None and progress(1.0) is not False:  # a cancelled picture is not kept
            from core.io import atomic_write_bytes

            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(file, png)
        return {"image": data_url(png), "what": what, "cached": False}

    return jobs.start(work).to_json()


def _cache_file(settings: AppSettings, coach: Coach, name: str) -> Path | None:
    """Where a picture of this round's network is kept (None: the app keeps none)."""
    if not settings.cache_dir:
        return None
    return Path(settings.cache_dir) / "featurevis" / _network_hash(coach) / f"{name}.png"


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
