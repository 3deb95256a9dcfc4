""""Show me" in the drawing coach: for a concept the coach says the drawing lacks, a few strokes added to the person's
own drawing, optimised so that the round's model finds more of that concept in it (``POST /api/showme``, a job:
poll ``/api/jobs/<id>``). The page shows them as a ghost to trace; they are never added to the drawing.

The strokes are optimised by :func:`pipeline.featurevis.show_me.show_me` (``coach.show_me`` in conf/: how many, how
many steps) on the dream's copy of the network, on the app's one job worker, so the coach keeps answering while it
runs. A concept is one the coach speaks of (``GET /api/coach``): a named concept of the round (its id or name),
whose presence is its concept head's logit where it is highest, or, before any is named, an atlas cluster
(``cluster:<n>``), whose presence is the same with the cluster's direction in the atlas layer as the head.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from core.errors import ArticulateError
from labeling.deps import CoachDep, DreamNetDep, JobsDep, SessionViewDep
from labeling.atlas_view import AtlasView
from labeling.directions import cluster_direction
from labeling.drawn import drawing_line, strokes_answer
from labeling.fields import Strokes
from pipeline.coach.coach import Coach, DrawingError, strokes_to_sketch
from pipeline.coach.concept_set import CoachConcept
from pipeline.models.build import TrainedModel

__all__ = ["ShowMeBody", "router"]

router = APIRouter(prefix="/api")

#: An atlas cluster's id as the coach speaks of it in round 0.
CLUSTER_PREFIX = "cluster:"


class UnknownConceptError(ArticulateError):
    """A concept the coach does not speak of."""


class ShowMeBody(BaseModel):
    """The person's drawing (Quick, Draw! layout, 0..255), the concept to add (an id or name the coach speaks of)
    and the class they draw (None: the model's top class; it names the drawing)."""

    model_config = ConfigDict(extra="forbid")
    strokes: Strokes
    concept: str = Field(min_length=1, max_length=200)
    target: str | None = None


@router.post("/showme", status_code=202)
def show_me(coach: CoachDep, net: DreamNetDep, view: SessionViewDep, jobs: JobsDep,
            body: ShowMeBody) -> dict[str, Any]:
    """Start finding the strokes that would add a concept to the drawing; answers the job."""
    from pipeline.featurevis.show_me import show_me as added_strokes

    concept = coach_concept(coach, body.concept)
    coach.target_index(body.target)  # an unknown class: 400 naming the classes
    sketch = strokes_to_sketch(body.strokes, coach.limits, word=body.target or "drawing")
    if not sketch.strokes:
        raise DrawingError("strokes: draw something first: \"show me\" adds strokes to your drawing")
    model, index = _presence_model(coach, view, net, concept)

    def work(progress):
        added = added_strokes(model, sketch, index, on_step=progress)
        line = drawing_line(added, word=sketch.word, key_id=f"show-me-{concept.id}")
        explain = (f"{len(added)} strokes that would add {concept.name} to your drawing, where the model would "
                   f"look for it: trace them, and the coach reads them as yours.")
        return {**strokes_answer(line, what=concept.name, explain=explain), "concept": concept.id}

    return jobs.start(work).to_json()


def _presence_model(coach: Coach, view: AtlasView, net: torch.nn.Module,
                    concept: CoachConcept) -> tuple[TrainedModel, int]:
    """The round's model on the dream's copy of its network, with the concept head whose output is the concept's
    presence, and the concept's index in it: the round's own head for a named concept, a head of the cluster's
    direction (no bias) for an atlas cluster."""
    from pipeline.models.concept_head import ConceptHead

    model = replace(coach.scorer.model, net=net)
    if concept.kind != "cluster":
        return model, next(k for k, c in enumerate(coach.concepts) if c.id == concept.id)
    vector, _ = cluster_direction(view, int(concept.id.removeprefix(CLUSTER_PREFIX)))
    head = ConceptHead(len(vector), 1)
    with torch.no_grad():
        head.conv.weight.copy_(vector.reshape(1, -1, 1, 1))
        head.conv.bias.zero_()
    return replace(model, concept_head=head.eval()), 0


def coach_concept(coach: Coach, wanted: str) -> CoachConcept:
    """The coach's concept with this id or name.

    Raises:
        UnknownConceptError: None has it (the message lists the ones it has).
    """
    for concept in coach.concepts:
        if wanted in (concept.id, concept.name):
            return concept
    known = [f"{c.id} ({c.name})" if c.name != c.id else c.id for c in coach.concepts]
    listed = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
    raise UnknownConceptError(f"concept: the round {coach.round} coach speaks of no concept {wanted!r}; it knows "
                              f"{listed or 'none'} (GET /api/coach lists them)")
