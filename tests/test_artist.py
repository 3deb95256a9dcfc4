"""The simulated artist on a real round-0 atlas: what it promotes, what it unticks, and how it counts."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.defaults import SimulatedArtist
from labeling.selections import Selections
from conceptstore.store import ConceptStore
from core.errors import ConfigError, InputError
from core.text import plural
from tests.conftest import ROOT


def test_a_session_promotes_majority_parts_and_unticks_the_rest(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    artist = SimulatedArtist(budget=12, min_share=0.4, split_depth=1)
    report = artist.play(view, store, progress=False)

    whole = [d for d in report.decisions if d.piece is None]
    assert len(whole) == len(view.document["clusters"])
    taken = [d for d in report.decisions if d.action != "skip"]
    assert taken, report.table()
    for decision in whole:
        seen = Selections(view).exemplars(view.select(cluster=decision.cluster), 12)
        parts = Counter(int(p) for p in view.points["part"].to_numpy()[seen] if p > 0)
        top, count = parts.most_common(1)[0]
        assert decision.part == view.parts[top - 1] and decision.share == pytest.approx(count / len(seen))
        if count / len(seen) < 0.4:
            assert decision.action == "skip"
        if count / len(seen) >= artist.clear_share:  # clear: labelled whole (the budget is not reached here)
            assert decision.action != "skip"
        if decision.action != "skip":
            assert decision.unticked == len(seen) - count
    assert report.actions + 12 < artist.max_actions
    # A cluster is labelled whole or in pieces, never both; the clearest selections (fewest unticks) first.
    for cluster in {d.cluster for d in taken}:
        kinds = {d.piece is None for d in taken if d.cluster == cluster}
        assert len(kinds) == 1, report.table()
    # What is new first (a part no concept is named after yet), the clearest first; then more of what is named.
    assert [d.new for d in taken] == sorted((d.new for d in taken), reverse=True), report.table()
    for new in (True, False):
        shares = [d.share for d in taken if d.new == new]
        assert shares == sorted(shares, reverse=True), report.table()
    named: set[str | None] = set()
    for decision in taken:
        assert decision.new == (decision.part not in named), report.table()
        named.add(decision.part)

    state = store.state()
    names = [c.name for c in state.concepts]
    assert sorted(names) == sorted(set(d.part for d in taken)) and len(names) == len(set(names))
    assert sum(len(c.negatives) for c in state.concepts) == sum(d.unticked for d in taken)
    positions = sum(d.size - d.unticked for d in taken)
    assert sum(len(c.positives) for c in state.concepts) == positions  # clusters and their pieces are disjoint
    # What it looked at and kept is verified; the rest of each cluster is not.
    kept = sum(d.seen - d.unticked for d in taken)
    assert sum(len(c.verified) for c in state.concepts) == kept
    assert all(set(c.verified) <= set(c.positives) for c in state.concepts)
    assert report.actions == len(taken) + sum(d.unticked for d in taken) == store.human_actions()
    assert "promoted" in report.table() and f"; {plural(report.actions, 'action')};" in report.table()

    # A second session on the same atlas sees the same selections and judges them alike. What it names anew can
    # only be a selection the first session passed over although it was clear enough: one that overlapped a
    # selection taken before it (in a new session, the parts already named wait behind it); everything else it
    # takes adds to the concepts it named before, after every new name.
    again = artist.play(view, store, progress=False)
    before = {(d.cluster, d.piece): d for d in report.decisions}
    assert len(again.decisions) == len(before) and all((d.cluster, d.piece) in before for d in again.decisions)
    for d in again.decisions:
        first = before[(d.cluster, d.piece)]
        assert (d.part, d.share, d.seen, d.size) == (first.part, first.share, first.seen, first.size)
        if d.action == "promote":
            assert d.part not in names and first.action == "skip" and first.share >= artist.min_share, again.table()
    promoted = [d.part for d in again.decisions if d.action == "promote"]
    assert [c.name for c in store.state().concepts] == names + promoted
    held = [d.part in names for d in again.decisions if d.action != "skip"]
    assert any(held) and held == sorted(held), again.table()
    store.verify()


def test_budget_and_threshold(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    strict = SimulatedArtist(budget=3, min_share=1.0, min_exemplars=5).play(
        view, ConceptStore(tmp_path / "a.yaml"), progress=False)
    assert all(d.action == "skip" and d.seen == 3 for d in strict.decisions)  # too few exemplars seen
    for bad in ({"budget": 0}, {"min_share": 0}, {"min_share": 1.5}, {"min_exemplars": 0}, {"split_k": -1},
                {"max_actions": 0}, {"clear_share": 0}):
        with pytest.raises(ConfigError):
            SimulatedArtist(**bad)


def test_data_without_parts_is_a_clear_error(labeling_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    view = labeling_project.view
    monkeypatch.setattr(view, "parts", None)
    with pytest.raises(InputError, match="no true part labels"):
        SimulatedArtist().play(view, ConceptStore(tmp_path / "c.yaml"), progress=False)


def test_artist_command(labeling_project, tmp_path: Path) -> None:
    concepts = tmp_path / "concepts" / "concepts.yaml"
    done = subprocess.run([sys.executable, "-m", "articulate.cli", "artist", *labeling_project.overrides,
                           f"paths.concepts={concepts}", "labeling.artist.budget=10", "labeling.artist.min_share=0.4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "actions" in done.stdout and str(concepts) in done.stdout
    state = ConceptStore(concepts).state()
    kinds = {c.source["kind"] for c in state.concepts}
    assert state.concepts and "cluster" in kinds and kinds <= {"cluster", "lasso"}  # whole clusters, and pieces
    assert {e["actor"] for e in ConceptStore(concepts).events()} == {"simulated-artist"}


def test_a_round_that_is_not_built_names_the_built_rounds(labeling_project) -> None:
    from labeling.atlas_view import AtlasView

    with pytest.raises(InputError, match=r"no atlas for round 99 \(built rounds: 0\)"):
        AtlasView.load(labeling_project.cfg(), 99)


def test_an_atlas_without_its_model_file_is_drawn_as_the_configured_model_reads(labeling_project,
                                                                                 tmp_path: Path) -> None:
    """An atlas folder copied without ``models/`` still opens: its sketches are drawn at the configured input."""
    from labeling.atlas_view import AtlasView
    from pipeline.models.build import raster_spec

    cfg = labeling_project.cfg(f"paths.models={tmp_path / 'no_models'}")
    view = AtlasView.load(cfg, 0)
    assert view.patches.raster == raster_spec(cfg.model)
    assert len(view.points) > 0


@pytest.mark.parametrize("split", ["map", "subclusters"])
def test_a_mixed_cluster_is_cut_into_pieces_and_the_pure_ones_are_promoted(labeling_project, tmp_path: Path,
                                                                          split: str) -> None:
    """A cluster whose exemplars are mixed is cut into pieces with a tool of the page (regions of the map a lasso
    takes, or the Sub-clusters button's groups of alike activations); each piece is judged on its own exemplars,
    and the pieces of a cluster never overlap."""
    view = labeling_project.view
    artist = SimulatedArtist(budget=12, min_share=0.6, split_k=3, split=split)
    report = artist.play(view, ConceptStore(tmp_path / "concepts.yaml", actor="test"), progress=False)
    pieces = [d for d in report.decisions if d.piece is not None]
    mixed = {d.cluster for d in report.decisions
             if d.piece is None and d.share < artist.clear_share and d.part is not None}
    assert pieces and {d.cluster for d in pieces} <= mixed, report.table()
    # what the pieces are near each other in: the map, or the layer
    space = view.points[["umap_x", "umap_y"]].to_numpy() if split == "map" else view.vectors()
    for cluster in {d.cluster for d in pieces}:
        cut = artist._cut(view, view.select(cluster=cluster))
        assert sorted(i for p in cut for i in p) == sorted(view.select(cluster=cluster).points.tolist())
        centres = [space[p].mean(axis=0) for p in cut]
        for k, p in enumerate(cut):  # each point is nearest its own piece's centre
            nearest = np.argmin([np.linalg.norm(space[p] - c, axis=1) for c in centres], axis=0)
            assert (nearest == k).mean() > 0.9
    for d in pieces:
        if d.share < 0.6:
            assert d.action == "skip"
    assert "." in report.table().split("\n")[1 + report.decisions.index(pieces[0])].split()[0]


def test_an_unknown_split_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="labeling.artist.split: expected one of map, subclusters, got 'lasso'"):
        SimulatedArtist(split="lasso")
    with pytest.raises(ConfigError, match="labeling.artist.split_depth: expected >= 1, got 0"):
        SimulatedArtist(split_depth=0)
    with pytest.raises(ConfigError, match="labeling.artist.name_unticked: expected >= 0"):
        SimulatedArtist(name_unticked=-1)
    with pytest.raises(ConfigError, match="labeling.artist.review: expected 0 .* fewer items than max_actions"):
        SimulatedArtist(review=10, max_actions=10)  # it keeps its review's actions out of max_actions


def test_a_piece_still_mixed_is_cut_again(labeling_project, tmp_path: Path) -> None:
    """split_depth 2: the pieces of a mixed cluster that are still mixed are cut into pieces of their own, each
    a part of its piece; depth 1 looks at the cluster's pieces only."""
    view = labeling_project.view
    once = SimulatedArtist(budget=12, min_share=0.6, split_k=2, split="subclusters", clear_share=1.0, split_depth=1)
    twice = SimulatedArtist(budget=12, min_share=0.6, split_k=2, split="subclusters", clear_share=1.0, split_depth=2)
    one = once.play(view, ConceptStore(tmp_path / "one.yaml", actor="test"), progress=False)
    two = twice.play(view, ConceptStore(tmp_path / "two.yaml", actor="test"), progress=False)
    for cluster in {d.cluster for d in one.decisions}:
        first = [d for d in one.decisions if d.cluster == cluster and d.piece is not None]
        both = [d for d in two.decisions if d.cluster == cluster and d.piece is not None]
        assert len(first) <= 2 and len(both) >= len(first), two.table()
        if any(d.share < 1.0 and d.size >= 2 * once.min_exemplars for d in first):
            assert len(both) > len(first), two.table()  # a mixed piece big enough was cut again
    assert sum(d.piece is not None for d in two.decisions) > sum(d.piece is not None for d in one.decisions)


def test_a_session_stops_at_its_action_budget(labeling_project, tmp_path: Path) -> None:
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    artist = SimulatedArtist(budget=12, min_share=0.3, max_actions=10)
    report = artist.play(labeling_project.view, store, progress=False)
    assert 0 < report.actions <= 10 and store.human_actions() == report.actions
    # the budget went to the clearest selections: none left unlabelled was clearer than one taken of what was as
    # new (a part no concept named yet, or more of a named one)
    taken = [d for d in report.decisions if d.action != "skip"]
    passed_over = [d for d in report.decisions if d.action == "skip" and d.part is not None and d.share >= 0.3
                   and d.seen >= 10]
    assert any(d.new for d in taken), report.table()
    for new in (True, False):
        shares = [t.share for t in taken if t.new == new]
        assert all(d.share <= min(shares) for d in passed_over if d.new == new and shares), report.table()


def test_a_later_session_names_new_parts_before_adding_to_named_ones(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    first = SimulatedArtist(budget=12, min_share=0.4, max_actions=4).play(view, store, progress=False)
    named = set(first.concepts)
    second = SimulatedArtist(budget=12, min_share=0.4, max_actions=8).play(view, store, progress=False)
    actions = [d for d in second.decisions if d.action != "skip"]
    new = [d.part not in named for d in actions]
    assert any(new), second.table()
    assert new == sorted(new, reverse=True), second.table()  # every new name before any add


def test_a_named_part_in_a_class_it_has_no_positions_from_counts_as_new(labeling_project, tmp_path: Path) -> None:
    """novel=class: "wheel" named from bicycles only is still new in cars, so car wheels come before more of what
    the concepts hold; novel=part keeps them behind every unnamed part."""
    view = labeling_project.view
    rows = view.points
    bicycle_wheels = np.flatnonzero((rows["part"].to_numpy() == view.parts.index("wheel") + 1)
                                    & (rows["word"].astype(str).to_numpy() == "bicycle"))

    def session(novel: str, name: str) -> tuple[ConceptStore, Any]:
        store = ConceptStore(tmp_path / f"{name}.yaml", actor="test")
        store.promote("wheel", view.positions(bicycle_wheels), layer=view.layer, born_round=0,
                      source={"kind": "lasso"})
        assert view.classes_of(store.state().get("wheel").positives) == {"bicycle": len(bicycle_wheels)}
        report = SimulatedArtist(budget=12, min_share=0.4, max_actions=40, novel=novel).play(view, store,
                                                                                             progress=False)
        return store, report

    # The decisions are in the order the selections were judged, skipped ones too (what the budget reached
    # depends on how clear the selections of this machine's model are; the order does not).
    store, by_class = session("class", "by_class")
    new = [d.new for d in by_class.decisions]
    assert new == sorted(new, reverse=True), by_class.table()  # everything new judged before what is held
    assert not any(d.new for d in by_class.decisions if d.part == "wheel" and d.word == "bicycle")
    car_wheels = [i for i, d in enumerate(by_class.decisions) if d.part == "wheel" and d.word == "car"]
    assert car_wheels, by_class.table()  # the cars' wheels make selections of their own
    taken = [by_class.decisions[i] for i in car_wheels if by_class.decisions[i].action != "skip"]
    assert all(d.action == "add" for d in taken), by_class.table()  # to the concept named in bicycles
    assert bool(taken) == (view.classes_of(store.state().get("wheel").positives).get("car", 0) > 0)

    _, by_part = session("part", "by_part")
    new = [d.new for d in by_part.decisions]
    assert new == sorted(new, reverse=True), by_part.table()  # any wheel only after every unnamed part
    assert not any(d.new for d in by_part.decisions if d.part == "wheel") and any(new), by_part.table()
    later = [i for i, d in enumerate(by_part.decisions) if d.part == "wheel" and d.word == "car"]
    assert min(later) > min(car_wheels) and by_part.decisions != by_class.decisions
    with pytest.raises(ConfigError, match="labeling.artist.novel: expected one of part, class"):
        SimulatedArtist(novel="classes")

    # held_at: a class is held from that many positions of it looked at for the concept (kept or unticked)
    store = ConceptStore(tmp_path / "held.yaml", actor="test")
    wheels = view.positions(bicycle_wheels)
    store.promote("wheel", wheels, layer=view.layer, born_round=0, source={"kind": "lasso"}, verified=wheels[:4])
    assert ("wheel", "bicycle") in SimulatedArtist(novel="class")._held(view, store)  # 0: any 10 positions
    assert ("wheel", "bicycle") not in SimulatedArtist(novel="class", held_at=5)._held(view, store)
    assert ("wheel", "bicycle") not in SimulatedArtist(novel="class", held_at=6)._held(view, store)
    store.add("wheel", wheels[4:5], verified=wheels[4:5], source={"kind": "lasso"})
    assert ("wheel", "bicycle") in SimulatedArtist(novel="class", held_at=5)._held(view, store)
    store.add("wheel", (), wheels[5:6], unticked=1, source={"kind": "lasso"})  # looked at and unticked
    assert ("wheel", "bicycle") in SimulatedArtist(novel="class", held_at=6)._held(view, store)
    with pytest.raises(ConfigError, match="labeling.artist.held_at: expected >= 0"):
        SimulatedArtist(held_at=-1)


def test_exemplars_it_unticked_are_named_in_turn(labeling_project, tmp_path: Path) -> None:
    """name_unticked: after labelling a selection, its unticked exemplars of one part (enough of them) become a
    selection of their own, named after that part in one action; never with 0."""
    view = labeling_project.view
    parts = view.points["part"].to_numpy()
    off = SimulatedArtist(budget=12, min_share=0.4, split_depth=1).play(
        view, ConceptStore(tmp_path / "off.yaml", actor="test"), progress=False)
    store = ConceptStore(tmp_path / "on.yaml", actor="test")
    on = SimulatedArtist(budget=12, min_share=0.4, split_depth=1, name_unticked=2).play(view, store, progress=False)
    groups = [d for d in on.decisions if d.action != "skip" and d.unticked == 0 and d.share == 1.0 and d.seen == d.size
              and d.seen <= 12 and d.size < 12]
    assert groups, on.table()
    taken = [d for d in on.decisions if d.action != "skip"]
    for d in groups:
        source = taken[taken.index(d) - 1]  # what it was unticked from, labelled just before (or a sibling group)
        assert source.cluster == d.cluster and d.part != (source.part if source.unticked else None)
        assert 2 <= d.size
    assert on.actions == len(taken) + sum(d.unticked for d in taken) == store.human_actions()
    assert len(taken) > len([d for d in off.decisions if d.action != "skip"])
    # each group is verified positives of the concept named after its part
    state = store.state()
    for concept in state.concepts:
        rows = view.points_of(concept.verified)
        assert all(view.parts[parts[i] - 1] == concept.name for i in rows if parts[i] > 0)
