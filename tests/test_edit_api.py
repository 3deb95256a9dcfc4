"""Editing a drawing's atlas layer through the app (``POST /api/edit``) on the real small round-0 project: a
channel edit in round 0, concept edits on the same model with a concept head added, and bad requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import torch
from torch import nn

from pipeline.data.store import read_split

CAT = [[[40, 60, 80, 100, 120], [40, 42, 44, 46, 48]], [[60, 60, 62], [60, 120, 180]]]


@pytest.fixture
def api(labeling_server):
    with httpx.Client(base_url=labeling_server.url, timeout=60, headers={"Origin": labeling_server.url}) as client:
        yield client


def test_a_channel_edit_in_round_0(api) -> None:
    same = api.post("/api/edit", json={"strokes": CAT, "channel": 3, "factor": 1.0})
    assert same.status_code == 200, same.text
    body = same.json()
    assert body["before"] == body["after"] and body["concepts"] == [] and body["edit"] == "channel 3 x 1"
    erased = api.post("/api/edit", json={"point": 0, "channel": 3, "factor": 0.0, "cells": [[2, 2], [2, 3]]}).json()
    assert erased["edited_positions"] == 2 and len(erased["after"]) == 5
    assert api.post("/api/edit", json={"strokes": CAT, "concept": "ear"}).json()["error"].startswith(
        "the round 0 model has no concepts to edit")


@pytest.mark.parametrize("body, status, words", [
    ({"strokes": CAT, "point": 0, "channel": 1}, 422, "strokes or as an atlas point"),
    ({"strokes": CAT}, 422, "one edit"),
    ({"strokes": CAT, "channel": 99999}, 400, "channels 0.."),
    ({"strokes": CAT, "channel": 1, "factor": 1e9}, 400, "factor"),
    ({"strokes": CAT, "channel": 1, "cells": [[99, 0]]}, 422, "outside the layer"),
    ({"point": 10 ** 8, "channel": 1}, 404, "point"),
    ({"strokes": CAT, "channel": 1, "mode": "paint"}, 422, "mode must be one of"),
])
def test_bad_edits_get_a_clear_4xx(api, body: dict, status: int, words: str) -> None:
    answer = api.post("/api/edit", json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_concept_edits(labeling_project, tmp_path: Path) -> None:
    """The same model with a two-concept head: ablating a concept everywhere leaves it at its bias."""
    from conceptstore.store import ConceptStore
    from labeling.app import AppSettings, create_app
    from pipeline.coach.canon import CanonSettings, build_canon
    from pipeline.coach.coach import Coach
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
    coach = Coach(scorer, build_canon(scorer, val, CanonSettings(max_per_class=3)))
    app = create_app(labeling_project.view, ConceptStore(tmp_path / "c.yaml"), AppSettings(port=0), coach=lambda: coach)
    server = RunningServer(app, labeling_project, None)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ablated = client.post("/api/edit", json={"strokes": CAT, "concept": "ear", "factor": 0.0}).json()
            bias = torch.sigmoid(head.conv.bias[0]).item()
            ear = next(c for c in ablated["concepts"] if c["name"] == "ear")
            assert ear["after"] == pytest.approx(bias, abs=1e-3) and ablated["edited_positions"] == 16 * 16
            assert ablated["round"] == 1 and ablated["edit"] == "ear x 0"
            boosted = client.post("/api/edit", json={"strokes": CAT, "concept": "c2", "factor": 3.0,
                                                     "mode": "positions", "grow": 1}).json()
            assert boosted["edit"] == "roof x 3" and len(boosted["concepts"]) == 2
            some = client.post("/api/edit", json={"strokes": CAT, "concept": "ear", "factor": 0.0,
                                                  "cells": [[3, 3]]}).json()
            assert some["edited_positions"] == 1
            unknown = client.post("/api/edit", json={"strokes": CAT, "concept": "tail"})
            assert unknown.status_code == 400 and "unknown concept 'tail'" in unknown.json()["error"]
    finally:
        server.stop()
