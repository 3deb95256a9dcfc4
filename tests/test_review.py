"""The review queue and the suggestions: the store's move, the queue's items and fixes (one store event each,
undoable), synonyms proposed to merge, the simulated artist following suggestions and working through the queue,
and the routes (GET /api/review, GET /api/suggestions, POST /api/review/fix) on a real server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from conceptstore.store import ConceptError, ConceptStore
from tests.defaults import SimulatedArtist
from tests.defaults import Guides
from labeling.preview import ProbeCache
from labeling.review import ReviewSettings, apply_fix, name_likeness, review
from labeling.suggestions import suggestions
from core.errors import ConfigError

GUIDES = Guides()
#: Every item the queue finds (the route lists conf's ``items``, the likeliest).
ALL = dataclasses.replace(GUIDES.review, items=100_000)


def _queue(view, store: ConceptStore, probes: ProbeCache | None = None) -> list[dict]:
    return review(view, store.state(), ALL, probes or ProbeCache(), GUIDES.probe)["items"]


def _synonym_session(view, folder: Path, **changes) -> tuple[ConceptStore, SimulatedArtist]:
    """An artist that names parts by their synonyms in turn (and errs on some exemplars) labels the round."""
    store = ConceptStore(folder / "concepts.yaml")
    artist = SimulatedArtist(budget=16, min_share=0.4, synonyms=True, noise=0.15, seed=1, **changes)
    artist.play(view, store, progress=False)
    return store, artist


@pytest.fixture(scope="module")
def session(labeling_project, tmp_path_factory) -> ConceptStore:
    """One fallible artist's session on the round-0 atlas (synonyms and noise), read-only for the tests: a test
    that writes copies it."""
    store, _ = _synonym_session(labeling_project.view, tmp_path_factory.mktemp("review_session"))
    return store


def _copy(store: ConceptStore, folder: Path) -> ConceptStore:
    import shutil

    shutil.copytree(store.path.parent, folder / "concepts")
    return ConceptStore(folder / "concepts" / store.path.name)


# --- the store's move ----------------------------------------------------------------------------------------

def _two(tmp_path: Path) -> ConceptStore:
    store = ConceptStore(tmp_path / "concepts.yaml")
    store.promote("ear", [("k", 1, 1), ("k", 1, 2)], layer="L", born_round=0, source={"kind": "manual"})
    store.promote("eye", [("k", 2, 2)], [("k", 3, 3)], layer="L", born_round=0, source={"kind": "manual"})
    return store


def test_a_move_is_one_event_and_undo_brings_both_concepts_back(tmp_path: Path) -> None:
    store = _two(tmp_path)
    before = store.state()
    change = store.move("ear", "eye", [("k", 1, 2)], expected_version=2)
    assert change.concept_ids == ("c1", "c2") and store.state().version == 3 == len(store.events())
    ear, eye = store.state().get("ear"), store.state().get("eye")
    assert ear.positives == (("k", 1, 1),) and ("k", 1, 2) in ear.negatives
    assert ("k", 1, 2) in eye.positives and ("k", 1, 2) not in eye.negatives
    assert store.events()[-1]["op"] == "move" and store.human_actions() == 3
    store.undo()
    assert store.state().concepts == before.concepts
    store.verify()  # the log replays to the file, the move included


@pytest.mark.parametrize("args, message", [
    (("ear", "ear", [("k", 1, 1)]), "to itself"),
    (("ear", "eye", [("k", 9, 9)]), "not a positive example"),
    (("ear", "eye", [("k", 1, 1), ("k", 1, 2)]), "no positive example"),
    (("ear", "eye", []), "which positions"),
])
def test_a_move_that_cannot_be_made_says_why_and_writes_nothing(tmp_path: Path, args, message: str) -> None:
    store = _two(tmp_path)
    with pytest.raises(ConceptError, match=message):
        store.move(*args)
    assert store.state().version == 2


# --- names ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("one, other, least, most", [
    ("ear", "ears", 1.0, 1.0), ("Leaves", "leaf", 1.0, 1.0), ("cat ear", "ear", 0.9, 0.9),
    ("ear", "eye", 0.0, 0.5), ("wheel", "window", 0.0, 0.6), ("glass", "glasses", 1.0, 1.0)])
def test_name_likeness_sets_plurals_and_word_order_aside(one: str, other: str, least: float, most: float) -> None:
    assert least <= name_likeness(one, other) <= most
    assert name_likeness(one, other) == name_likeness(other, one)


def test_bad_review_settings_are_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match="labeling.review"):
        dataclasses.replace(GUIDES.review, disagree=0.3)
    with pytest.raises(ConfigError, match="labeling.artist.follow"):
        SimulatedArtist(follow="everything")


# --- the queue --------------------------------------------------------------------------------------------------

def test_synonyms_make_two_concepts_the_queue_proposes_to_merge(labeling_project, session: ConceptStore,
                                                                tmp_path: Path) -> None:
    view = labeling_project.view
    names = [c.name for c in session.state().concepts]
    items = _queue(view, session)
    merges = [i for i in items if i["kind"] == "pair"]
    plural_pairs = {frozenset((a, b)) for a in names for b in names if a != b and name_likeness(a, b) == 1.0}
    assert plural_pairs, f"the synonym session named no part twice by its plural: {names}"
    proposed = {frozenset(i["names"]) for i in merges}
    assert plural_pairs <= proposed, (plural_pairs, proposed)
    # the merge fix keeps the larger concept and is one event; Undo brings both back
    store = _copy(session, tmp_path)
    pair = next(i for i in merges if frozenset(i["names"]) in plural_pairs)
    keep, other = (store.state().get(ref) for ref in pair["fix"]["ids"])
    assert len(keep.positives) >= len(other.positives)
    before = store.state()
    apply_fix(store, pair["fix"], expected_version=before.version)
    after = store.state()
    assert after.version == before.version + 1 and len(after.concepts) == len(before.concepts) - 1
    assert set(after.get(keep.id).positives) == set(keep.positives) | set(other.positives)
    store.undo()
    assert store.state().concepts == before.concepts


def test_each_kind_of_fix_is_one_store_event_and_undoable(labeling_project, session: ConceptStore,
                                                          tmp_path: Path) -> None:
    view = labeling_project.view
    store = _copy(session, tmp_path)
    items = _queue(view, store)
    kinds = {}
    for item in items:
        kinds.setdefault(item["fix"]["op"], item)
    assert {"untick", "merge"} <= set(kinds), sorted(kinds)  # the noisy session's queue has both at least
    for op, item in kinds.items():
        before = store.state()
        events = len(store.events())
        change = apply_fix(store, item["fix"], expected_version=before.version)
        assert change.op == {"untick": "add", "tick": "add"}.get(op, op)
        assert store.state().version == before.version + 1 and len(store.events()) == events + 1
        if op in ("untick", "tick", "move"):
            position = tuple(item["fix"]["positions"][0])
            concept = store.state().get(item["fix"]["concept"])
            assert (position in concept.positives) == (op == "tick"), op
        store.undo()
        assert store.state().concepts == before.concepts, op


def test_a_label_item_says_why_with_the_held_out_probability(labeling_project, session: ConceptStore) -> None:
    items = [i for i in _queue(labeling_project.view, session) if i["kind"] == "label"]
    assert items
    for item in items:
        probability = item["probe"] if item["probe"] is not None else item["head"]
        assert probability is not None and f"{probability:.2f}" in item["why"]
        doubt = 1 - probability if item["positive"] else probability
        assert doubt >= ALL.disagree - 1e-4 and item["score"] >= ALL.disagree - 1e-4
        assert item["fix"]["op"] in (("untick", "move") if item["positive"] else ("tick",))
    scores = [i["score"] for i in _queue(labeling_project.view, session)]
    assert scores == sorted(scores, reverse=True)


def test_a_position_in_two_concepts_is_unticked_from_the_one_it_fits_least(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml")
    clusters = [int(c["cluster"]) for c in view.document["clusters"]][:2]
    first, second = (view.positions(view.select(cluster=c).points) for c in clusters)
    store.promote("one", first, layer=view.layer, born_round=0, source={"kind": "manual"})
    store.promote("two", [*second, first[0]], layer=view.layer, born_round=0, source={"kind": "manual"})
    shared = [i for i in _queue(view, store) if i["kind"] == "shared"]
    assert len(shared) == 1 and tuple(shared[0]["position"]) == first[0]
    assert shared[0]["fix"]["op"] == "untick" and set(shared[0]["names"]) == {"one", "two"}
    apply_fix(store, shared[0]["fix"])
    owners = [c.name for c in store.state().concepts if first[0] in c.positives]
    assert len(owners) == 1


# --- suggestions ----------------------------------------------------------------------------------------------

def test_suggestions_rank_unnamed_regions_and_concept_borders(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml")
    empty = suggestions(view, store.state(), GUIDES.suggestions, ProbeCache(), GUIDES.probe)
    regions = [i for i in empty["items"] if i["kind"] == "region"]
    assert regions and empty["found"]["border"] == 0  # nothing named: every cluster is an unnamed region
    top = regions[0]
    store.promote("top", view.positions(top["points"]), layer=view.layer, born_round=0, source={"kind": "manual"})
    named = suggestions(view, store.state(), GUIDES.suggestions, ProbeCache(), GUIDES.probe)
    assert top["cluster"] not in [i.get("cluster") for i in named["items"]]  # named now: no longer suggested
    scores = [i["score"] for i in named["items"]]
    assert scores == sorted(scores, reverse=True) and all(i["size"] >= GUIDES.suggestions.least for i in named["items"])
    for item in named["items"]:
        if item["kind"] == "border":
            assert item["concept"] == store.state().get("top").id
            assert not set(view.positions(item["points"])) & set(store.state().get("top").positives)


# --- the simulated artist ----------------------------------------------------------------------------------------

def test_the_artist_following_suggestions_looks_at_fewer_selections(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    reports = {}
    for follow in ("clusters", "suggestions"):
        store = ConceptStore(tmp_path / follow / "concepts.yaml")
        reports[follow] = SimulatedArtist(budget=16, min_share=0.4, follow=follow).play(view, store, progress=False)
        assert store.state().concepts and reports[follow].actions == store.human_actions()
    assert len(reports["suggestions"].decisions) < len(reports["clusters"].decisions)


def test_the_artist_works_through_the_queue_one_event_a_fix(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store, artist = _synonym_session(view, tmp_path, review=20)
    report = artist.play(view, ConceptStore(tmp_path / "again" / "concepts.yaml"), progress=False)  # the same again
    labelled = sum(d.action != "skip" for d in report.decisions)
    taken = [f for f in report.fixes if f.taken]
    assert len(report.fixes) <= 20 and taken and all(f.op in ("untick", "tick", "move", "merge") for f in taken)
    assert report.actions - len(taken) <= artist.max_actions - 20  # labelling kept the review's actions for it
    assert len(store.events()) == labelled + len(taken)  # one store event a fix it took
    assert {e["op"] for e in store.events()[labelled:]} <= {"add", "move", "merge"}
    assert "review:" in report.table()
    names = [c.name for c in store.state().concepts]
    # the parts it named twice by their plural are one concept now
    assert not [(a, b) for a in names for b in names if a != b and name_likeness(a, b) == 1.0], names


# --- the routes -------------------------------------------------------------------------------------------------

@pytest.fixture
def api(labeling_server) -> httpx.Client:
    with httpx.Client(base_url=labeling_server.url, timeout=120) as client:
        yield client


def _promote_cluster(api: httpx.Client, name: str, cluster: int) -> None:
    chosen = api.post("/api/selection", json={"cluster": cluster}).json()
    answer = api.post("/api/concepts", json={"name": name, "points": chosen["points"],
                                             "source": {"kind": "cluster", "cluster": cluster},
                                             "expected_version": api.get("/api/concepts").json()["version"]})
    assert answer.status_code == 201, answer.text


def test_the_review_route_lists_a_merge_and_its_fix_is_one_write(api: httpx.Client, labeling_server) -> None:
    _promote_cluster(api, "wheel", 0)
    _promote_cluster(api, "wheels", 1)
    queue = api.get("/api/review").json()
    assert queue["version"] == 2 and queue["round"] == 0 and queue["head"] is False
    pair = next(i for i in queue["items"] if i["kind"] == "pair")
    assert set(pair["names"]) == {"wheel", "wheels"} and pair["fix"]["op"] == "merge"
    stale = api.post("/api/review/fix", json={"fix": pair["fix"], "expected_version": 1})
    assert stale.status_code == 409 and labeling_server.store.state().version == 2
    done = api.post("/api/review/fix", json={"fix": pair["fix"], "expected_version": 2})
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["version"] == 3 and len(answer["concepts"]) == 1 and set(answer["changed"]) == set(pair["fix"]["ids"])
    assert labeling_server.store.events()[-1]["op"] == "merge"
    assert not [i for i in api.get("/api/review").json()["items"] if i["kind"] == "pair"]
    undone = api.post("/api/undo", json={"expected_version": 3})
    assert undone.status_code == 200 and len(undone.json()["concepts"]) == 2


@pytest.mark.parametrize("fix, message", [
    ({"op": "merge"}, "needs \"ids\""),
    ({"op": "untick", "concept": "c1"}, "needs \"concept\" and \"positions\""),
    ({"op": "move", "concept": "c1", "positions": [["k", 0, 0]]}, "needs \"to\""),
    ({"op": "rename", "concept": "c1"}, "fix.op"),
])
def test_a_malformed_fix_answers_one_sentence_and_writes_nothing(api: httpx.Client, labeling_server, fix: dict,
                                                                 message: str) -> None:
    _promote_cluster(api, "wheel", 0)
    answer = api.post("/api/review/fix", json={"fix": fix, "expected_version": 1})
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    assert labeling_server.store.state().version == 1


def test_the_suggestions_route_ranks_regions_and_follows_the_round(api: httpx.Client) -> None:
    answer = api.get("/api/suggestions").json()
    assert answer["round"] == 0 and answer["items"] and answer["items"][0]["kind"] == "region"
    selected = api.post("/api/selection", json={"points": answer["items"][0]["points"]})
    assert selected.status_code == 200  # a suggestion is a selection the page can make
    for route in ("/api/suggestions", "/api/review"):
        missing = api.get(route, params={"round": 7})
        assert missing.status_code == 404 and "no atlas for round 7" in missing.json()["error"]
