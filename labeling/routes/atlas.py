"""Reading the round's atlas: its summary, its points, and selections of them with their exemplars."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from conceptstore.concepts import Concept
from conceptstore.store import ConceptStore
from labeling.atlas_view import AtlasView, Selection, SelectionError
from labeling.deps import AtlasesDep, SelectionsDep, SettingsDep, StoreDep, ViewDep
from labeling.fields import Index, Whole

__all__ = ["SelectionBody", "SubclusterBody", "concept_selection", "router", "selection_of"]

router = APIRouter(prefix="/api")


class SelectionBody(BaseModel):
    """One of a cluster, a cell, points (a lasso) or a concept; how many exemplars to show."""

    model_config = ConfigDict(extra="forbid")
    cluster: Whole | None = None
    cell: Whole | None = None
    points: list[Index] | None = None
    concept: str | None = None
    exemplars: int | None = Field(default=None, ge=1, le=500)


class SubclusterBody(SelectionBody):
    """A selection to cut into ``k`` sub-clusters (default ``labeling.split_k``)."""

    k: int | None = Field(default=None, ge=2, le=12)


@router.get("/atlas")
def atlas(view: ViewDep, store: StoreDep) -> dict[str, Any]:
    return {**view.summary(), "store": store.path.as_posix()}


@router.get("/rounds")
def rounds(atlases: AtlasesDep) -> dict[str, Any]:
    """The rounds whose atlas the page can show (``?round=R``), and the one the server was started on."""
    return {"rounds": atlases.built(), "session": atlases.view.round}


@router.get("/points")
def points(view: ViewDep) -> dict[str, list]:
    return view.columns()


@router.post("/selection")
def selection(view: ViewDep, selections: SelectionsDep, store: StoreDep, body: SelectionBody) -> dict[str, Any]:
    if body.concept is None:
        return selections.describe(selection_of(view, store, body), body.exemplars)
    concept = store.state().get(body.concept)  # read once: the store parses its file on every read
    answer = selections.describe(concept_selection(view, concept), body.exemplars)
    # the concept's points in the previous round too, on its map: what fine-tuning moved
    answer["previous"] = view.previous_points(concept.positives)
    return answer


@router.post("/selection/subclusters")
def subclusters(view: ViewDep, selections: SelectionsDep, store: StoreDep, settings: SettingsDep,
                body: SubclusterBody) -> dict[str, Any]:
    """A mixed selection cut by what the layer tells apart: its sub-clusters, each with its points and what it is
    made of, largest first; selecting one of them is a selection of ``points``."""
    chosen = selection_of(view, store, body)
    k = body.k or settings.split_k
    pieces = selections.subcluster_points(chosen, k)
    return {"k": k, "of": {"kind": chosen.kind, "key": chosen.key, "size": int(len(chosen.points))},
            "pieces": [{"size": int(len(ids)), "points": ids.tolist(), **selections.composition(ids)}
                       for ids in pieces]}


def selection_of(view: AtlasView, store: ConceptStore, body: SelectionBody) -> Selection:
    """The points a selection request names (a concept's: those of its positives in this atlas).

    Raises:
        SelectionError: A concept with no points in this atlas, or a bad cluster, cell or point list.
    """
    if body.concept is not None:
        return concept_selection(view, store.state().get(body.concept))
    return view.select(cluster=body.cluster, cell=body.cell, points=body.points)


def concept_selection(view: AtlasView, concept: Concept) -> Selection:
    """A concept's points: those of its positives in this atlas.

    Raises:
        SelectionError: A concept of another layer, or none of its positives is in this atlas.
    """
    view.check_layer(concept)
    ids = view.points_of(concept.positives)
    if not ids:
        raise SelectionError(f"'{concept.name}' has no points in the round {view.round} atlas")
    return Selection("concept", concept.id, view.check_points(ids))
