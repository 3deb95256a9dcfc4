"""Reading and editing a drawing's atlas layer through the app (``POST /api/layer``, ``POST /api/edit``) on the
real small round-0 project: channel and whole-position edits in round 0, concept edits on the same model with a
concept head added, stacked edits, and bad requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from torch import nn

from pipeline.data.store import read_split

CAT = [[[40, 60, 80, 100, 120], [40, 42, 44, 46, 48]], [[60, 60, 62], [60, 120, 180]]]


@pytest.fixture
def api(labeling_server):
    with httpx.Client(base_url=labeling_server.url, timeout=60, headers={"Origin": labeling_server.url}) as client:
        yield client


def test_the_layer_of_a_drawing(api, labeling_project) -> None:
    layer = api.post("/api/layer", json={"strokes": CAT, "channels": 5}).json()
    assert layer["round"] == 0 and layer["layer"] == "features.block3" and layer["chosen"] == "model"
    assert layer["concepts"] == [] and len(layer["channels"]) == 5 and len(layer["classes"]) == 5
    attributions = [c["attribution"] for c in layer["channels"]]
    assert attributions == sorted(attributions, reverse=True)  # strongest first
    assert np.asarray(layer["channels"][0]["map"]).shape == (16, 16) and layer["strokes"] == CAT
    # the attribution is activation x gradient of the target logit, summed over a channel's positions
    from pipeline.editing.runner import LayerRunner
    from pipeline.data.raster import rasterize
    from pipeline.models.input_spec import to_model_input
    from pipeline.coach.coach import strokes_to_sketch

    model = labeling_project.coach().scorer.model
    x = to_model_input(torch.from_numpy(rasterize(strokes_to_sketch(CAT), model.raster))[None, None],
                       model.input_spec)
    leaf = LayerRunner(model.net, model.layer).run(x).activations.requires_grad_(True)
    runner = LayerRunner(model.net, model.layer)
    logits = runner.resume_with_grad(runner.run(x), leaf)
    target = model.class_names.index(layer["target"])
    grad, = torch.autograd.grad(logits[0, target], leaf)
    expected = (leaf * grad)[0].sum((1, 2)).detach()
    top = layer["channels"][0]
    assert top["attribution"] == pytest.approx(float(expected[top["channel"]]), abs=1e-3)
    assert top["attribution"] == pytest.approx(float(expected.max()), abs=1e-3)
    of_point = api.post("/api/layer", json={"point": 0, "target": "cat", "channels": 2}).json()
    assert of_point["target"] == "cat" and of_point["chosen"] == "person" and of_point["strokes"]


def test_channel_and_position_edits_in_round_0(api) -> None:
    same = api.post("/api/edit", json={"strokes": CAT, "edits": [{"channel": 3, "factor": 1.0}]})
    assert same.status_code == 200, same.text
    body = same.json()
    assert body["before"] == body["after"] and body["concepts"] == [] and body["edit"] == "channel 3 x 1"
    stacked = api.post("/api/edit", json={"point": 0, "edits": [
        {"channel": 3, "factor": 0.0, "cells": [[2, 2], [2, 3]]}, {"all": True, "factor": 0.0, "cells": [[5, 5]]}]})
    answer = stacked.json()
    assert answer["edited_positions"] == 3 and answer["edit"] == "channel 3 x 0; all channels x 0"
    erased = api.post("/api/edit", json={"strokes": CAT, "edits": [{"all": True, "factor": 0.0}]}).json()
    assert erased["edited_positions"] == 256 and erased["after"] != erased["before"]
    refused = api.post("/api/edit", json={"strokes": CAT, "edits": [{"concept": "ear"}]})
    assert refused.status_code == 422 and "round 0 model has no concepts to edit" in refused.json()["error"]


@pytest.mark.parametrize("body, status, words", [
    ({"strokes": CAT, "point": 0, "edits": [{"channel": 1}]}, 422, "strokes or as an atlas point"),
    ({"strokes": CAT, "edits": [{}]}, 422, "edit 1: give one of concept"),
    ({"strokes": CAT, "edits": [{"channel": 1, "all": True}]}, 422, "edit 1: give one of"),
    ({"strokes": CAT, "edits": []}, 400, "edits"),
    ({"strokes": CAT, "edits": [{"channel": 99999}]}, 400, "channels 0.."),
    ({"strokes": CAT, "edits": [{"channel": 1, "factor": 1e9}]}, 400, "factor"),
    ({"strokes": CAT, "edits": [{"channel": 1, "cells": [[99, 0]]}]}, 422, "outside the layer"),
    ({"point": 10 ** 8, "edits": [{"channel": 1}]}, 404, "point"),
    ({"strokes": CAT, "edits": [{"channel": 1, "mode": "paint"}]}, 422, "mode must be one of"),
])
def test_bad_edits_get_a_clear_4xx(api, body: dict, status: int, words: str) -> None:
    answer = api.post("/api/edit", json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_concept_edits(labeling_project, tmp_path: Path) -> None:
    """The same model with a two-concept head: ablating a concept everywhere leaves it at its bias."""
    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from pipeline.coach.canon import build_canon
    from tests.defaults import CanonSettings
    from pipeline.coach.coach import Coach
    from pipeline.config import default
    from pipeline.coach.concept_set import head_concepts
    from pipeline.coach.scorer import FrameScorer
    from pipeline.models.concept_head import ConceptHead
    from tests.conftest import RunningServer

    base = labeling_project.coach().scorer.model
    torch.manual_seed(0)
    head = ConceptHead(channels=32, concepts=2)
    nn.init.normal_(head.conv.weight, std=1.0)
    model = replace(base, concepts=[{"id": "c1", "name": "ear"}, {"id": "c2", "name": "roof"}],
                    concept_head=head.eval(), round=1)
    scorer = FrameScorer(model, head_concepts(head, model.concepts))
    val = read_split(labeling_project.folder / "dataset", "val")
    coach = default(Coach, scorer=scorer, canon=build_canon(scorer, val, CanonSettings(max_per_class=3)), threads=None)
    app = create_app(labeling_project.view, ConceptStore(tmp_path / "c.yaml"), AppSettings(port=0), coach=lambda: coach)
    server = RunningServer(app, labeling_project, None)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ablated = client.post("/api/edit", json={"strokes": CAT, "edits": [{"concept": "ear", "factor": 0.0}]})
            ablated = ablated.json()
            ear = next(c for c in ablated["concepts"] if c["name"] == "ear")
            assert ear["after"] == pytest.approx(torch.sigmoid(head.conv.bias[0]).item(), abs=1e-3)
            assert ablated["edited_positions"] == 16 * 16 and ablated["round"] == 1 and ablated["edit"] == "ear x 0"
            boosted = client.post("/api/edit", json={"strokes": CAT, "edits": [
                {"concept": "c2", "factor": 3.0, "mode": "positions", "grow": 1}]}).json()
            assert boosted["edit"] == "roof x 3" and len(boosted["concepts"]) == 2
            some = client.post("/api/edit", json={"strokes": CAT, "edits": [
                {"concept": "ear", "factor": 0.0, "cells": [[3, 3]]}]}).json()
            assert some["edited_positions"] == 1
            unknown = client.post("/api/edit", json={"strokes": CAT, "edits": [{"concept": "tail"}]})
            assert unknown.status_code == 400 and "unknown concept 'tail'" in unknown.json()["error"]
            layer = client.post("/api/layer", json={"strokes": CAT, "channels": 3}).json()
            assert [c["name"] for c in layer["concepts"]] == ["ear", "roof"]
            assert np.asarray(layer["concepts"][0]["map"]).shape == (16, 16)
    finally:
        server.stop()


def test_shift_and_rotate_edits(api) -> None:
    before = api.post("/api/edit", json={"strokes": CAT, "edits": [{"channel": 1, "factor": 1.0}]}).json()
    moved = api.post("/api/edit", json={"strokes": CAT, "edits": [
        {"channel": 1, "shift": [1, -2]}, {"all": True, "rotate": 90}]})
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert answer["edit"] == "channel 1 shifted by (1, -2); all channels rotated by 90°"
    assert answer["edited_positions"] == 16 * 16 and answer["before"] == before["before"]
    assert answer["after"] != answer["before"]  # a quarter turn of the whole layer changes what the model reads
    # a full turn of every channel is the identity: the answer after equals the answer before
    same = api.post("/api/edit", json={"strokes": CAT, "edits": [{"all": True, "rotate": 360}]}).json()
    assert same["after"] == same["before"]


@pytest.mark.parametrize("edit, status, words", [
    ({"channel": 1, "shift": [1, 1], "rotate": 90}, 422, "shift or rotate, not both"),
    ({"channel": 1, "shift": [1, 1], "cells": [[0, 0]]}, 422, "leave cells out"),
    ({"channel": 1, "shift": [16, 0]}, 422, "off the grid"),
    ({"concept": "ear", "rotate": 90}, 422, "no concepts to edit"),
])
def test_bad_moves_get_a_clear_4xx(api, edit: dict, status: int, words: str) -> None:
    answer = api.post("/api/edit", json={"strokes": CAT, "edits": [edit]})
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert api.post("/api/edit", json={"strokes": CAT, "edits": [{"all": True, "rotate": 400}]}).status_code == 400


def test_an_atlas_clusters_direction_is_edited_in_any_round(api, labeling_project) -> None:
    """Round 0 has no concepts, but its atlas clusters have directions: ablated, scaled at cells, or moved."""
    direction = torch.from_numpy(labeling_project.view.cluster_direction(1)).float()
    ablated = api.post("/api/edit", json={"strokes": CAT, "edits": [{"cluster": 1, "factor": 0.0}]})
    assert ablated.status_code == 200, ablated.text
    assert ablated.json()["edit"] == "cluster 1 x 0" and ablated.json()["edited_positions"] == 16 * 16
    # the edit removes the component along the cluster's direction: the same as scaling that direction by hand
    from pipeline.data.raster import rasterize
    from pipeline.coach.coach import strokes_to_sketch
    from pipeline.editing.edits import scale_direction
    from pipeline.models.input_spec import to_model_input

    from pipeline.editing.runner import LayerRunner

    model = labeling_project.coach().scorer.model  # the app's model
    layer_runner = LayerRunner(model.net, model.layer)
    image = rasterize(strokes_to_sketch(CAT), model.raster)[None]
    run = layer_runner.run(to_model_input(torch.from_numpy(image)[:, None], model.input_spec))
    expected = torch.softmax(layer_runner.resume(run, scale_direction(run.activations, direction, 0.0)), 1)[0]
    top = ablated.json()["after"][0]
    assert top["p"] == pytest.approx(float(expected[model.class_names.index(top["name"])]), abs=1e-3)
    moved = api.post("/api/edit", json={"strokes": CAT, "edits": [{"cluster": 1, "shift": [0, 2]},
                                                                   {"cluster": 2, "factor": 3, "cells": [[4, 4]]}]})
    assert moved.json()["edit"] == "cluster 1 shifted by (0, 2); cluster 2 x 3"
    missing = api.post("/api/edit", json={"strokes": CAT, "edits": [{"cluster": 999, "factor": 0}]})
    assert missing.status_code == 404 and "no cluster 999" in missing.json()["error"]
    both = api.post("/api/edit", json={"strokes": CAT, "edits": [{"cluster": 1, "channel": 2}]})
    assert both.status_code == 422 and "give one of concept (name or id), cluster, channel, or all" in both.text
