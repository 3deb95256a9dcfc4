"""A fallible simulated artist: wrong judgments at a given rate, deterministic per seed, and synonyms that give one
part several concept names; noise 0 and no synonyms are the oracle as before."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conceptstore.store import ConceptStore
from labeling.artist import SYNONYMS
from tests.defaults import SimulatedArtist
from labeling.selections import Selections
from core.errors import ConfigError

#: How far the share of wrong judgments may stray from ``noise`` (a binomial share of about 1,000 positions
#: strays by about 0.015 at one standard deviation; these are over 4 of them).
MARGIN = 0.06


def _parts_by_class(view) -> dict[str, set[int]]:
    truth = view.points["part"].to_numpy()
    words = view.points["word"].astype(str).to_numpy()
    return {str(w): {int(p) for p in truth[words == w] if p > 0} for w in np.unique(words)}


@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_wrong_judgments_come_at_the_given_rate_and_are_parts_of_the_same_class(labeling_project, noise: float) -> None:
    view = labeling_project.view
    truth = view.points["part"].to_numpy()
    known = truth > 0
    judged = SimulatedArtist(noise=noise, seed=3).judged_parts(view)
    wrong = judged != truth
    assert not wrong[~known].any()  # a position with no part is judged as none
    assert abs(wrong[known].mean() - noise) < MARGIN, wrong[known].mean()
    of_class = _parts_by_class(view)
    words = view.points["word"].astype(str).to_numpy()
    single = {w for w, parts in of_class.items() if len(parts) < 2}
    for i in np.flatnonzero(wrong):  # taken for another part of its drawing's class (where it has another)
        assert judged[i] > 0 and judged[i] != truth[i]
        if words[i] not in single:
            assert judged[i] in of_class[words[i]]


def test_the_same_seed_makes_the_same_mistakes(labeling_project) -> None:
    view = labeling_project.view
    one = SimulatedArtist(noise=0.2, seed=5).judged_parts(view)
    assert np.array_equal(one, SimulatedArtist(noise=0.2, seed=5).judged_parts(view))
    other = SimulatedArtist(noise=0.2, seed=6).judged_parts(view)
    truth = view.points["part"].to_numpy()
    assert not np.array_equal((one != truth), (other != truth))  # another seed errs elsewhere
    # a higher rate keeps the mistakes of the lower one (the same hash, a higher bar)
    more = SimulatedArtist(noise=0.4, seed=5).judged_parts(view)
    assert ((one != truth) <= (more != truth)).all()


def test_noise_zero_is_the_oracle(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    assert np.array_equal(SimulatedArtist(seed=9).judged_parts(view), view.points["part"].to_numpy())
    oracle = SimulatedArtist(budget=12, min_share=0.4, split_depth=1).play(
        view, ConceptStore(tmp_path / "a.yaml", actor="test"), progress=False)
    seeded = SimulatedArtist(budget=12, min_share=0.4, split_depth=1, noise=0.0, seed=11).play(
        view, ConceptStore(tmp_path / "b.yaml", actor="test"), progress=False)
    assert oracle.decisions == seeded.decisions
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="labeling.artist.noise"):
            SimulatedArtist(noise=bad)


def test_a_noisy_session_judges_exemplars_by_its_mistakes(labeling_project, tmp_path: Path) -> None:
    """What it unticks and names follows its judgments, not the truth: each whole cluster's majority part and
    unticks are those of the judged parts of the exemplars it saw."""
    view = labeling_project.view
    artist = SimulatedArtist(budget=12, min_share=0.4, split_depth=1, noise=0.3, seed=2)
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    report = artist.play(view, store, progress=False)
    judged = artist.judged_parts(view)
    truth = view.points["part"].to_numpy()
    differ = 0
    for decision in (d for d in report.decisions if d.piece is None):
        seen = Selections(view).exemplars(view.select(cluster=decision.cluster), 12)
        counts = Counter(int(p) for p in judged[seen] if p > 0)
        top, count = counts.most_common(1)[0]
        assert decision.part == view.parts[top - 1] and decision.share == pytest.approx(count / len(seen))
        if decision.action != "skip":
            assert decision.unticked == len(seen) - count
        true_top = Counter(int(p) for p in truth[seen] if p > 0).most_common(1)[0][1]
        differ += true_top != count
    assert differ, report.table()  # the mistakes changed what it saw in some cluster
    assert report.actions == store.human_actions()
    store.verify()


def test_synonyms_give_one_part_two_concept_names(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    artist = SimulatedArtist(budget=12, min_share=0.4, split_depth=2, synonyms=True, seed=4)
    report = artist.play(view, store, progress=False)
    taken = [d for d in report.decisions if d.action != "skip"]
    names_of: dict[str, set[str]] = {}
    for d in taken:
        assert d.name == d.part or d.name in SYNONYMS[d.part]
        names_of.setdefault(d.part, set()).add(d.name)
    # a part it named more than once (and that has synonyms) got at least two names, each its own concept
    twice = [p for p, n in Counter(d.part for d in taken).items() if n > 1 and p in SYNONYMS]
    assert twice, report.table()
    concepts = {c.name for c in store.state().concepts}
    for part in twice:
        assert len(names_of[part]) >= 2 and names_of[part] <= concepts
    assert SimulatedArtist(synonyms=True, seed=4).name_for("ear", 0) == artist.name_for("ear", 0)
    assert SimulatedArtist(synonyms=False, seed=4).name_for("ear", 1) == "ear"
    assert report.concepts == list(dict.fromkeys(d.name for d in taken))
