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

from labeling.deps import (CoachHost, CoachingDep, ProbesDep, SessionViewDep, SettingsDep, StoreDep, ViewDep,
                           WriteLockDep)
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
def review_queue(view: ViewDep, session: SessionViewDep, store: StoreDep, settings: SettingsDep, probes: ProbesDep,
                 coaching: CoachingDep) -> dict[str, Any]:
    """The labels most likely wrong and the concepts probably one, each with its fix (``?round=R``: that round's
    probes; the round's concept head counts on the session's own round once the drawing coach has loaded it)."""
    head = _head(coaching) if view is session else None
    return review(view, store.state(), settings.review, probes, settings.preview, head)


@router.get("/suggestions")
def suggested(view: ViewDep, store: StoreDep, settings: SettingsDep, probes: ProbesDep) -> dict[str, Any]:
    """What to look at next: unnamed regions and the uncertain borders of concepts, by the attribution they carry."""
    return suggestions(view, store.state(), settings.suggestions, probes, settings.preview)


@router.post("/review/fix")
def fix(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep,
        body: FixBody) -> dict[str, Any]:
    """Apply one item's fix as one concept-store action: ``untick`` and ``tick`` add the positions to the concept as
    negatives or (looked at and kept) positives, ``move`` and ``merge`` are the store's own."""
    return write_and_list(store, write_lock, view, lambda: apply_fix(
        store, body.fix.model_dump(), expected_version=body.expected_version, actor=settings.actor))


def _head(coaching: CoachHost) -> HeadScores | None:
    """The round's concept head (the session's round), once the coach has loaded its model (the head is not loaded
    for the review alone: the probes are enough)."""
    if coaching.status()["state"] != "ready":
        return None
    model = coaching.coach().scorer.model
    if getattr(model, "concept_head", None) is None:
        return None
    from pipeline.models.concept_head import concept_logits

    logits, ids = concept_logits(model.concept_head), [str(c["id"]) for c in model.concepts]

    def scores(vectors: np.ndarray) -> dict[str, np.ndarray]:
        chance = 1.0 / (1.0 + np.exp(-logits(vectors)))
        return {concept: chance[:, k] for k, concept in enumerate(ids)}

    return scores
