"""The app on a round with concepts (round 1 of a small project, fine-tuned for real): the reliance table per
concept, a concept's feature visualization kept per round, a concept moved or ablated in the layer."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.test_dream_api import CAT, _wait


@pytest.fixture
def api(concept_server):
    with httpx.Client(base_url=concept_server.url, timeout=60, headers={"Origin": concept_server.url}) as client:
        yield client


def test_reliance_per_concept(api, concept_server) -> None:
    answer = api.get("/api/reliance").json()
    assert answer["available"] is True and answer["round"] == 1 and answer["message"] is None
    assert answer["classes"] == ["bicycle", "car", "cat", "dog", "face", "house"] and answer["grow"] == 2
    assert [c["name"] for c in answer["concepts"]] == concept_server.project.concepts
    for concept in answer["concepts"]:
        assert set(concept["drop"]) == set(answer["classes"])
        assert concept["max_drop"] == max(concept["drop"].values())
        if concept["max_drop"] > 0:
            assert concept["drop"][concept["worst_class"]] == concept["max_drop"]
        else:  # no class loses accuracy without it
            assert concept["worst_class"] is None


def test_a_concepts_feature_visualization_is_kept_for_the_round(api, concept_server) -> None:
    name = concept_server.project.concepts[0]
    first = _wait(api, api.post("/api/visualize", json={"concept": name, "steps": 16, "as": "pixels"}).json()["id"])
    assert first["status"] == "done" and first["result"]["what"] == f"concept {name}" and not first["result"]["cached"]
    again = _wait(api, api.post("/api/visualize", json={"concept": "c1", "steps": 16,  # by id
                                                         "as": "pixels"}).json()["id"])
    assert again["result"]["cached"] is True and again["result"]["image"] == first["result"]["image"]
    other = _wait(api, api.post("/api/visualize", json={"concept": "c2", "steps": 16, "as": "pixels"}).json()["id"])
    assert other["result"]["cached"] is False and other["result"]["image"] != first["result"]["image"]
    unknown = api.post("/api/visualize", json={"concept": "unicorn"})
    assert unknown.status_code in (400, 404) and "unicorn" in unknown.json()["error"]


def test_a_concept_moved_or_ablated(api, concept_server) -> None:
    name = concept_server.project.concepts[0]
    rotated = api.post("/api/edit", json={"point": 0, "edits": [{"concept": name, "rotate": 90}]})
    assert rotated.status_code == 200 and rotated.json()["edit"] == f"{name} rotated by 90°"
    ablated = api.post("/api/edit", json={"strokes": CAT, "edits": [{"concept": name, "factor": 0.0}]}).json()
    presence = {c["name"]: c for c in ablated["concepts"]}[name]
    assert presence["after"] <= presence["before"]  # nothing left along its direction: the head reads less of it
    dreamt = _wait(api, api.post("/api/dream", json={"strokes": CAT, "concept": name, "octaves": 2,
                                                      "steps": 2}).json()["id"])
    assert dreamt["status"] == "done" and dreamt["result"]["what"] == f"concept {name}"


def test_a_concepts_points_in_the_previous_round(api, concept_server) -> None:
    """A concept's selection answers where its positions were on round 0's map: the round-0 atlas points among its
    positives, with their coordinates there; other selections do not."""
    from pipeline.atlas.build import read_atlas

    concept = api.get("/api/concepts").json()["concepts"][0]
    answer = api.post("/api/selection", json={"concept": concept["id"]}).json()
    _, points, _ = read_atlas(concept_server.project.folder / "atlases" / "round_0")
    positives = {tuple(p) for p in concept_server.store.state().get(concept["id"]).positives}
    mine = points[[(str(k), int(y), int(x)) in positives for k, y, x in zip(points["key_id"], points["y"], points["x"])]]
    assert answer["previous"]["round"] == 0 and len(mine) > 0
    got = np.array(sorted(zip(answer["previous"]["x"], answer["previous"]["y"])))
    want = np.array(sorted(zip(mine["umap_x"].astype(float).round(4), mine["umap_y"].astype(float).round(4))))
    np.testing.assert_allclose(got, want, atol=2e-4)
    assert "previous" not in api.post("/api/selection", json={"cluster": 0}).json()
