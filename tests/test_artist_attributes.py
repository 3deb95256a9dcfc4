"""The simulated artist names drawing attributes (labeling.artist.attributes): where one value dominates a
selection's exemplars' drawings well above its base rate, it promotes a drawing-level concept ("facing left")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conceptstore.store import ConceptStore
from core.errors import ConfigError
from core.sketch import Sketch
from labeling.artist import attribute_name, attribute_rates
from labeling.atlas_view import AtlasView
from labeling.selections import Selections
from tests.defaults import SimulatedArtist

SESSION = {"budget": 12, "min_share": 0.4, "split_depth": 1, "max_actions": 40}


@pytest.fixture
def constructed(labeling_project) -> tuple[AtlasView, int, set[str]]:
    """The test project's round-0 atlas (a view of its own) whose drawings face right, but for the drawings of its
    largest cluster's exemplars: they face left."""
    view = AtlasView.load(labeling_project.cfg(), 0)
    cluster = max(view.document["clusters"], key=lambda c: int(c["size"]))["cluster"]
    seen = Selections(view).exemplars(view.select(cluster=int(cluster)), SESSION["budget"])
    left = {str(k) for k in view.points["key_id"].to_numpy()[seen]}
    for key, sketch in list(view.patches.by_key.items()):
        view.patches.by_key[key] = dataclasses.replace(
            sketch, attributes={"facing": "left" if key in left else "right", "order": "template"})
    return view, int(cluster), left


def test_the_artist_names_the_value_that_dominates_a_selection(constructed, tmp_path: Path) -> None:
    view, cluster, left = constructed
    store = ConceptStore(tmp_path / "concepts.yaml")
    report = SimulatedArtist(attributes=True, **SESSION).play(view, store, progress=False)

    concept = store.state().get("facing left")
    assert concept.level == "drawing" and concept.layer == view.layer
    assert set(concept.verified) == left  # the exemplars' drawings it looked at
    assert left <= set(concept.positives) and concept.negatives == ()
    assert concept.source["attribute"] == "facing" and concept.source["value"] == "left"
    first, *more = [d for d in report.decisions if d.name == "facing left"]
    assert first.action == "promote" and first.cluster == cluster and first.unticked == 0
    assert all(d.action == "add" for d in more)  # other selections it dominates, with drawings not yet held
    # facing right is most drawings' (no lift), order is every drawing's: neither is named
    assert {c.name for c in store.state().concepts if c.level == "drawing"} == {"facing left"}
    assert any(c.level == "position" for c in store.state().concepts)  # the parts were named too
    assert report.actions <= SESSION["max_actions"]


def test_without_the_setting_or_attributes_the_artist_names_parts_only(constructed, tmp_path: Path) -> None:
    view, _, _ = constructed
    plain = ConceptStore(tmp_path / "plain.yaml")
    SimulatedArtist(**SESSION).play(view, plain, progress=False)
    assert all(c.level == "position" for c in plain.state().concepts) and plain.state().concepts

    for key, sketch in list(view.patches.by_key.items()):  # real drawings record no attributes
        view.patches.by_key[key] = dataclasses.replace(sketch, attributes=None)
    real = ConceptStore(tmp_path / "real.yaml")
    SimulatedArtist(attributes=True, **SESSION).play(view, real, progress=False)
    assert [c.name for c in real.state().concepts] == [c.name for c in plain.state().concepts]


def test_attribute_rates_and_names() -> None:
    drawings = [Sketch("a", "cat", attributes={"facing": "left"}), Sketch("b", "cat", attributes={"facing": "right"}),
                Sketch("c", "cat", attributes={"facing": "right", "omitted": "none"}), Sketch("d", "cat")]
    assert attribute_rates(drawings) == {"facing": {"left": 1 / 3, "right": 2 / 3}, "omitted": {"none": 1.0}}
    assert attribute_name("facing", "left") == "facing left"
    assert attribute_name("order", "template_order") == "order template order"
    with pytest.raises(ConfigError, match="labeling.artist.attribute_share"):
        SimulatedArtist(attribute_share=0.0)
    with pytest.raises(ConfigError, match="labeling.artist.attribute_lift"):
        SimulatedArtist(attribute_lift=1.0)
