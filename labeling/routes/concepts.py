"""The concept store through the page: the list, recent changes, a concept's preview, and every write (promote,
add, rename, notes, merge, split, delete, undo).

Every write names the store version the page read (``expected_version``); a stale one answers 409 and nothing
is written. Writes answer the new concept list and the ids they changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from conceptstore.events import describe_event
from conceptstore.store import ConceptError, ConceptStore
from labeling.atlas_view import AtlasView
from labeling.deps import SettingsDep, StoreDep, ViewDep, WriteLockDep
from labeling.fields import MAX_INDEX, Index, Whole
from labeling.preview import preview
from labeling.selections import Selections

__all__ = ["VersionedBody", "concept_list", "router", "split_groups", "write_and_list"]

router = APIRouter(prefix="/api")


class VersionedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: Index  # required: a write without it could silently overwrite what another writer did


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "lasso"
    cluster: Whole | None = None
    cell: Whole | None = None


class PromoteBody(VersionedBody):
    name: str
    points: list[Index]
    unticked: list[Index] = []
    seen: list[Index] = []  # the exemplars the page showed: those kept are the concept's verified positives
    source: Source = Source()
    notes: str = ""


class AddBody(VersionedBody):
    points: list[Index]
    unticked: list[Index] = []
    seen: list[Index] = []
    source: Source = Source()


class RenameBody(VersionedBody):
    name: str


class NotesBody(VersionedBody):
    notes: str = Field(max_length=10_000)


class MergeBody(VersionedBody):
    ids: list[str]
    name: str | None = None


class SplitBody(VersionedBody):
    points: list[Index] | None = None
    name: str | None = None
    k: int | None = Field(default=None, ge=2, le=20)


# --- reading ------------------------------------------------------------------------------------------------

@router.get("/concepts")
def concepts(view: ViewDep, store: StoreDep) -> dict[str, Any]:
    return concept_list(view, store)


@router.get("/concepts/{ref}/preview")
def concept_preview(view: ViewDep, store: StoreDep, settings: SettingsDep, ref: str) -> dict[str, Any]:
    """What the label does at once: a linear probe on the round's layer (labeling/preview.py); 404 for an unknown
    concept."""
    concept = store.state().get(ref)
    view.check_layer(concept)
    return preview(view, concept, settings.preview)


@router.get("/events")
def events(store: StoreDep, limit: int = Query(default=20, ge=1, le=1000)) -> dict[str, Any]:
    recent = store.events()[-limit:][::-1]
    return {"version": store.state().version,
            "events": [{"version": e.get("version"), "time": e.get("time"), "actor": e.get("actor"),
                        "op": e.get("op"), "summary": describe_event(e)} for e in recent]}


# --- writes -------------------------------------------------------------------------------------------------

def write_and_list(store: ConceptStore, write_lock: threading.Lock, view: AtlasView,
                   action: Callable[[], Any]) -> dict[str, Any]:
    """Run one write under the app's write lock.

    Args:
        store: The concept store written.
        write_lock: One write at a time in this process.
        view: The atlas the answer lists the concepts on.
        action: The write; answers the store's change.

    Returns:
        The concepts as the page lists them on ``view``, and the ids the write changed.
    """
    with write_lock:
        change = action()
    return {**concept_list(view, store), "changed": list(change.concept_ids)}


def _source(view: AtlasView, source: Source) -> dict[str, Any]:
    key = source.cluster if source.kind == "cluster" else source.cell if source.kind == "cell" else None
    return view.source(source.kind, key)


@router.post("/concepts", status_code=201)
def promote(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep,
            body: PromoteBody) -> dict[str, Any]:
    actor = settings.actor
    judged = view.judged_positions(body.points, body.unticked, body.seen)
    return write_and_list(store, write_lock, view, lambda: store.promote(
        body.name, judged.positives, judged.negatives, layer=view.layer, born_round=view.round,
        source=_source(view, body.source), notes=body.notes, unticked=len(judged.negatives),
        verified=judged.verified, expected_version=body.expected_version, actor=actor))


@router.post("/concepts/merge")
def merge(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep,
          body: MergeBody) -> dict[str, Any]:
    return write_and_list(store, write_lock, view, lambda: store.merge(
        body.ids, body.name, expected_version=body.expected_version, actor=settings.actor))


@router.post("/concepts/{ref}/add")
def add(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep, ref: str,
        body: AddBody) -> dict[str, Any]:
    view.check_layer(store.state().get(ref))
    judged = view.judged_positions(body.points, body.unticked, body.seen)
    return write_and_list(store, write_lock, view, lambda: store.add(
        ref, judged.positives, judged.negatives, source=_source(view, body.source), unticked=len(judged.negatives),
        verified=judged.verified, expected_version=body.expected_version, actor=settings.actor))


@router.post("/concepts/{ref}/rename")
def rename(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep, ref: str,
           body: RenameBody) -> dict[str, Any]:
    return write_and_list(store, write_lock, view, lambda: store.rename(
        ref, body.name, expected_version=body.expected_version, actor=settings.actor))


@router.post("/concepts/{ref}/notes")
def notes(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep, ref: str,
          body: NotesBody) -> dict[str, Any]:
    return write_and_list(store, write_lock, view, lambda: store.set_notes(
        ref, body.notes, expected_version=body.expected_version, actor=settings.actor))


@router.post("/concepts/{ref}/split")
def split(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep, ref: str,
          body: SplitBody) -> dict[str, Any]:
    groups = split_groups(view, store, ref, points=body.points, name=body.name,
                          k=body.k if body.points is None else None, default_k=settings.split_k)
    return write_and_list(store, write_lock, view, lambda: store.split(
        ref, groups, expected_version=body.expected_version, actor=settings.actor))


@router.delete("/concepts/{ref}")
def delete(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep, ref: str,
           expected_version: Annotated[int, Query(ge=0, le=MAX_INDEX)]) -> dict[str, Any]:
    return write_and_list(store, write_lock, view, lambda: store.delete(
        ref, expected_version=expected_version, actor=settings.actor))


@router.post("/undo")
def undo(view: ViewDep, store: StoreDep, write_lock: WriteLockDep, settings: SettingsDep,
         body: VersionedBody) -> dict[str, Any]:
    return write_and_list(store, write_lock, view, lambda: store.undo(
        expected_version=body.expected_version, actor=settings.actor))


def concept_list(view: AtlasView, store: ConceptStore) -> dict[str, Any]:
    """The concepts as the page lists them, with the atlas points among each concept's positives (none for a
    concept of another layer: its positions are on that layer's grid)."""
    state = store.state()
    return {"version": state.version,
            "concepts": [{"id": c.id, "name": c.name, "born_round": c.born_round, "layer": c.layer, "level": c.level,
                          "source": c.source, "notes": c.notes, "n_positives": len(c.positives),
                          "n_negatives": len(c.negatives),
                          "points": view.points_of(c.positives) if c.layer == view.layer else [],
                          "classes": view.classes_of(c.positives)}
                         for c in state.concepts]}


def split_groups(view: AtlasView, store: ConceptStore, ref: str, *, points: list[int] | None = None,
                 name: str | None = None, k: int | None = None, default_k: int = 2) -> list[tuple[str, list]]:
    """The groups a split makes: chosen atlas points (a lasso) as one new concept, or sub-clusters.

    By sub-clustering (``k`` groups by k-means on the activations of the concept's positives in this round's
    store), the largest group stays and every other becomes a new concept named ``<name> (2)``, ``(3)``...

    Raises:
        ConceptError: Nothing of the concept among the points.
        SelectionError: Too few of its positions in this round's store for ``k`` groups.
    """
    concept = store.state().get(ref)
    view.check_layer(concept)
    if points is not None:
        moving = set(view.positions(points)) & set(concept.positives)
        if not moving:
            raise ConceptError(f"none of the selected points belong to '{concept.name}': lasso some of its points")
        return [(name or f"{concept.name} (split)", sorted(moving))]
    groups = Selections(view).subclusters(concept.positives, k or default_k)
    return [(f"{concept.name} ({i + 2})", sorted(group)) for i, group in enumerate(groups[1:])]
