"""The review queue and the suggestions through the page: what is likely wrong (with its one-click fix), and what to
look at next (labeling/review.py, labeling/suggestions.py).

A fix is one concept-store action (one event, undone by Undo), written as every other write: it names the store
version the page read (``expected_version``; a stale one answers 409) and answers the new concept list.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labeling.atlas_view import AtlasView
from labeling.deps import Room, RoomDep, ViewDep
from labeling.review import HeadScores, apply_fix, review
from labeling.routes.concepts import VersionedBody, write_and_list
from labeling.suggestions import suggestions

__all__ = ["router"]

router = APIRouter(prefix="/api")


class Fix(BaseModel):
    """One item's fix, as the queue lists it (its ``label`` is the button's words, ignored here)."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["untick", "tick", "move", "merge"]
    concept: str | None = None
    to: str | None = None
    ids: list[str] | None = None
    name: str | None = None
    positions: list[tuple[str, int, int]] = Field(default=[], max_length=10_000)
    label: str | None = None


class FixBody(VersionedBody):
    fix: Fix


@router.get("/review")
def review_queue(room: RoomDep, view: ViewDep) -> dict[str, Any]:
    """The labels most likely wrong and the concepts probably one, each with its fix (``?round=R``: that round's
    probes; the round's concept head counts on the session's own round once the drawing coach has loaded it)."""
    settings = room.settings
    return review(view, room.store.state(), settings.review, room.probes, settings.preview, _head(room, view))


@router.get("/suggestions")
def suggested(room: RoomDep, view: ViewDep) -> dict[str, Any]:
    """What to look at next: unnamed regions and the uncertain borders of concepts, by the attribution they carry."""
    settings = room.settings
    return suggestions(view, room.store.state(), settings.suggestions, room.probes, settings.preview)


@router.post("/review/fix")
def fix(room: RoomDep, view: ViewDep, body: FixBody) -> dict[str, Any]:
    """Apply one item's fix as one concept-store action: ``untick`` and ``tick`` add the positions to the concept as
    negatives or (looked at and kept) positives, ``move`` and ``merge`` are the store's own."""
    return write_and_list(room, lambda: apply_fix(room.store, body.fix.model_dump(), expected_version=body.expected_version,
                                                  actor=room.settings.actor), view)


def _head(room: Room, view: AtlasView) -> HeadScores | None:
    """The round's concept head, where the page shows the session's round and the coach has loaded its model (the
    head is not loaded for the review alone: the probes are enough)."""
    if view is not room.view or room.coach_status()["state"] != "ready":
        return None
    model = room.coach().scorer.model
    if getattr(model, "concept_head", None) is None:
        return None
    from pipeline.models.concept_head import concept_logits

    logits, ids = concept_logits(model.concept_head), [str(c["id"]) for c in model.concepts]

    def scores(vectors: np.ndarray) -> dict[str, np.ndarray]:
        chance = 1.0 / (1.0 + np.exp(-logits(vectors)))
        return {concept: chance[:, k] for k, concept in enumerate(ids)}

    return scores
