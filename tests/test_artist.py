"""The simulated artist on a real round-0 atlas: what it promotes, what it unticks, and how it counts."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from labeling.artist import SimulatedArtist
from conceptstore.store import ConceptStore
from pipeline.errors import ConfigError, InputError
from pipeline.text import plural
from tests.conftest import ROOT


def test_a_session_promotes_majority_parts_and_unticks_the_rest(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    artist = SimulatedArtist(budget=12, min_share=0.4)
    report = artist.play(view, store, progress=False)

    assert len(report.decisions) == len(view.document["clusters"])
    taken = [d for d in report.decisions if d.action != "skip"]
    assert taken, report.table()
    for decision in report.decisions:
        seen = view.exemplars(view.select(cluster=decision.cluster), 12)
        parts = Counter(int(p) for p in view.points["part"].to_numpy()[seen] if p > 0)
        top, count = parts.most_common(1)[0]
        assert decision.part == view.parts[top - 1] and decision.share == pytest.approx(count / len(seen))
        assert (decision.action != "skip") == (count / len(seen) >= 0.4)
        if decision.action != "skip":
            assert decision.unticked == len(seen) - count

    state = store.state()
    names = [c.name for c in state.concepts]
    assert sorted(names) == sorted(set(d.part for d in taken)) and len(names) == len(set(names))
    assert sum(len(c.negatives) for c in state.concepts) == sum(d.unticked for d in taken)
    positions = sum(len(view.select(cluster=d.cluster).points) - d.unticked for d in taken)
    assert sum(len(c.positives) for c in state.concepts) == positions  # clusters are disjoint
    # What it looked at and kept is verified; the rest of each cluster is not.
    kept = sum(len(view.exemplars(view.select(cluster=d.cluster), 12)) - d.unticked for d in taken)
    assert sum(len(c.verified) for c in state.concepts) == kept
    assert all(set(c.verified) <= set(c.positives) for c in state.concepts)
    assert report.actions == len(taken) + sum(d.unticked for d in taken) == store.human_actions()
    assert "promoted" in report.table() and f"; {plural(report.actions, 'action')};" in report.table()

    # A second session on the same atlas adds to the concepts it already named; nothing new is promoted.
    again = artist.play(view, store, progress=False)
    assert {d.action for d in again.decisions} <= {"add", "skip"}
    assert [c.name for c in store.state().concepts] == names
    store.verify()


def test_budget_and_threshold(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    strict = SimulatedArtist(budget=3, min_share=1.0, min_exemplars=5).play(
        view, ConceptStore(tmp_path / "a.yaml"), progress=False)
    assert all(d.action == "skip" and d.seen == 3 for d in strict.decisions)  # too few exemplars seen
    for bad in ({"budget": 0}, {"min_share": 0}, {"min_share": 1.5}, {"min_exemplars": 0}):
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
    assert state.concepts and all(c.source["kind"] == "cluster" for c in state.concepts)
    assert {e["actor"] for e in ConceptStore(concepts).events()} == {"simulated-artist"}


def test_a_round_that_is_not_built_names_the_built_rounds(labeling_project) -> None:
    from labeling.atlas_view import AtlasView

    with pytest.raises(InputError, match=r"no atlas for round 99 \(built rounds: 0\)"):
        AtlasView.from_config(labeling_project.cfg(), 99)
