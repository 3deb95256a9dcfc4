"""A concept's preview: the linear probe on the round's atlas layer claims what the label means on drawings it was
not labelled on, says how well it agrees with the label, and answers over HTTP (404 for an unknown concept)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from conceptstore.store import ConceptStore
from labeling.preview import preview
from tests.defaults import ProbeSettings
from core.errors import ConfigError

#: The least share of the probe's claims that must be the planted cluster's points (chance: the cluster's held-out
#: points among the candidates, about 1 in 25 on the test project; the probe reaches about a half).
PURE_ENOUGH = 0.3


def _planted(view) -> tuple[str, np.ndarray, np.ndarray]:
    """The purest cluster's part name, its points on half of its drawings (labelled) and on the other half (held
    out). The test model's clusters are far from pure parts, so what the probe must find is the cluster."""
    best = max((c for c in view.document["clusters"] if c.get("majority_part")), key=lambda c: float(c["purity"]))
    points = view.select(cluster=int(best["cluster"])).points
    keys = view.points["key_id"].astype(str).to_numpy()
    drawings = sorted(set(keys[points].tolist()))
    labelled = set(drawings[::2])
    mine = np.isin(keys[points], list(labelled))
    return str(best["majority_part"]), points[mine], points[~mine]


def test_the_probe_claims_a_planted_concept_on_drawings_it_was_not_labelled_on(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    part, labelled, held_out = _planted(view)
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    store.promote(part, view.positions(labelled), layer=view.layer, born_round=0, source={"kind": "lasso"})
    answer = preview(view, store.state().get(part), ProbeSettings())
    keys = view.points["key_id"].astype(str).to_numpy()
    claimed = np.array(answer["points"], dtype=np.int64)
    assert answer["claimed"] == len(claimed) > 0, answer
    assert not set(keys[claimed]) & set(keys[labelled])  # only drawings it holds no label on
    share = np.isin(claimed, held_out).mean()
    chance = len(held_out) / answer["candidates"]
    assert share >= max(PURE_ENOUGH, 5 * chance), (part, share, chance, answer["claimed"])
    # it finds most of the held-out half of the cluster the labels came from
    assert np.isin(held_out, claimed).mean() >= 0.5, (len(held_out), np.isin(held_out, claimed).mean())
    # it agrees with its own label, cross-validated by drawing
    assert answer["agreement"] is not None and answer["agreement"] >= 0.75, answer
    assert answer["folds"] >= 2 and answer["trained"]["positives"] == len(labelled)
    assert answer["trained"]["background"] > 0 and answer["candidates"] == int((~np.isin(keys, keys[labelled])).sum())
    # the strips: the surest claims (most sure first), then the points nearest its threshold
    sure = [e["probability"] for e in answer["surest"]]
    assert sure == sorted(sure, reverse=True) and min(sure) >= 0.5 and len(sure) == min(8, answer["claimed"])
    assert {e["point"] for e in answer["surest"]} <= set(claimed.tolist())
    edge = [abs(e["probability"] - 0.5) for e in answer["borderline"]]
    assert edge == sorted(edge) and len(edge) == 8
    assert all(e["context"] == f"/api/sketch/{e['point']}.png" for e in answer["surest"] + answer["borderline"])


def test_too_little_to_fit_says_so(labeling_project, tmp_path: Path) -> None:
    view = labeling_project.view
    store = ConceptStore(tmp_path / "concepts.yaml", actor="test")
    store.promote("dot", view.positions([0]), layer=view.layer, born_round=0, source={"kind": "lasso"})
    answer = preview(view, store.state().get("dot"), ProbeSettings())
    assert answer["agreement"] is None and answer["claimed"] == 0 and "too little" in answer["message"]
    for bad in ({"folds": 1}, {"threshold": 1.0}, {"exemplars": 0}, {"background": 0}):
        with pytest.raises(ConfigError, match="labeling.preview"):
            ProbeSettings(**bad)


def test_preview_over_http(labeling_server, labeling_project) -> None:
    with httpx.Client(base_url=labeling_server.url, timeout=60) as api:
        version = api.get("/api/concepts").json()["version"]
        chosen = api.post("/api/selection", json={"cluster": 0}).json()
        made = api.post("/api/concepts", json={"name": "thing", "points": chosen["points"],
                                               "unticked": [e["point"] for e in chosen["exemplars"][:3]],
                                               "source": {"kind": "cluster", "cluster": 0},
                                               "expected_version": version})
        assert made.status_code == 201, made.text
        ref = made.json()["changed"][0]
        answer = api.get(f"/api/concepts/{ref}/preview")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) >= {"concept", "name", "round", "trained", "agreement", "positives_agreement",
                             "negatives_agreement", "folds", "candidates", "claimed", "points", "surest",
                             "borderline", "seconds", "message"}
        assert body["concept"] == ref and body["name"] == "thing" and body["trained"]["negatives"] == 3
        assert api.get("/api/concepts/thing/preview").json()["concept"] == ref  # by name too
        missing = api.get("/api/concepts/c999/preview")
        assert missing.status_code == 404 and "c999" in missing.text
