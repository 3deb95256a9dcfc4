"""Strokes in the app, through its HTTP API on the real small round-0 project (a real uvicorn server): a feature
visualization and a dream drawn as strokes (the default for a sketch model), "show me" for a concept the coach
speaks of, each answering a drawing whose ndjson line reads back and which the coach and the sketch page open;
bad requests get one clear error. And atlas icons drawn as strokes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from core.ndjson import read_ndjson
from tests.jobs import wait_for_job

CAT = [[[40, 60, 80, 100, 120], [40, 42, 44, 46, 48]], [[60, 60, 62], [60, 120, 180]]]


def _wait(api: httpx.Client, job_id: str, timeout: float = 120.0) -> dict:
    return wait_for_job(api, job_id, timeout)


def _done(api: httpx.Client, path: str, body: dict) -> dict:
    started = api.post(path, json=body)
    assert started.status_code == 202, started.text
    state = _wait(api, started.json()["id"])
    assert state["status"] == "done", state
    return state["result"]


def _read_back(result: dict, tmp_path: Path) -> list[np.ndarray]:
    """The answer's ndjson line read by the project's reader: its strokes, which must be the answer's strokes."""
    file = tmp_path / "drawn.ndjson"
    file.write_text(result["ndjson"])
    read = read_ndjson(file)
    assert len(read.sketches) == 1 and not read.skipped
    strokes = read.sketches[0].strokes
    assert [[s[0].tolist(), s[1].tolist()] for s in strokes] == result["strokes"]
    return strokes


def _a_drawing(strokes: list) -> None:
    assert strokes and all(len(xs) == len(ys) >= 2 for xs, ys in strokes)
    assert all(0 <= v <= 255 for xs, ys in strokes for v in (*xs, *ys))


@pytest.fixture
def api(labeling_server):
    with httpx.Client(base_url=labeling_server.url, timeout=120, headers={"Origin": labeling_server.url}) as client:
        yield client


def test_a_visualization_is_a_drawing_by_default_kept_per_round(api, tmp_path: Path) -> None:
    assert api.get("/api/visualize/options").json() == {"as": ["strokes", "pixels"], "default": "strokes"}
    first = _done(api, "/api/visualize", {"cluster": 1, "steps": 16})
    assert first["as"] == "strokes" and first["cached"] is False and first["what"] == "cluster 1"
    assert "image" not in first and "strokes" in first["explain"] and "cluster 1" in first["explain"]
    _a_drawing(first["strokes"])
    _read_back(first, tmp_path)
    kept = list((tmp_path / "cache" / "featurevis").rglob("*.ndjson"))
    assert len(kept) == 1 and kept[0].read_text() == first["ndjson"]
    again = _done(api, "/api/visualize", {"cluster": 1, "steps": 16, "as": "strokes"})
    assert again["cached"] is True and again["strokes"] == first["strokes"]
    pixels = _done(api, "/api/visualize", {"cluster": 1, "steps": 16, "as": "pixels"})
    assert pixels["as"] == "pixels" and pixels["image"].startswith("data:image/png;base64,")
    assert "strokes" not in pixels and pixels["cached"] is False


def test_a_drawn_result_opens_in_the_coach_and_the_sketch_page(api) -> None:
    """What the visualization, the dream and "show me" answer is a drawing the coach reads and the sketch page
    reads at the layer (the pages send exactly these strokes)."""
    visualized = _done(api, "/api/visualize", {"channel": 3, "steps": 16, "as": "strokes"})
    dreamt = _done(api, "/api/dream", {"strokes": CAT, "channel": 2, "octaves": 1, "steps": 8, "as": "strokes"})
    shown = _done(api, "/api/showme", {"strokes": CAT, "concept": "cluster:1"})
    for strokes in (visualized["strokes"], dreamt["strokes"], CAT + shown["strokes"]):
        coach = api.post("/api/feedback", json={"strokes": strokes})
        assert coach.status_code == 200 and coach.json()["strokes"] == len(strokes), coach.text
        layer = api.post("/api/layer", json={"strokes": strokes, "channels": 4})
        assert layer.status_code == 200 and len(layer.json()["strokes"]) == len(strokes), layer.text


def test_a_dream_as_strokes_keeps_the_drawing_and_adds_strokes(api, tmp_path: Path) -> None:
    result = _done(api, "/api/dream", {"strokes": CAT, "octaves": 1, "steps": 8})  # strokes: the default
    assert result["as"] == "strokes" and result["added"] >= 1
    assert result["strokes"][:2] == CAT and len(result["strokes"]) == 2 + result["added"]
    _a_drawing(result["strokes"])
    _read_back(result, tmp_path)
    assert f"{result['added']} strokes added" in result["explain"]
    toward = _done(api, "/api/dream", {"point": 0, "target_class": "cat", "octaves": 1, "steps": 4, "as": "strokes"})
    assert toward["what"] == "class cat" and len(toward["strokes"]) > toward["added"]
    pixels = _done(api, "/api/dream", {"strokes": CAT, "octaves": 1, "steps": 2, "as": "pixels"})
    assert pixels["image"].startswith("data:image/png;base64,") and "strokes" not in pixels


def test_show_me_answers_strokes_to_trace_for_a_concept_the_coach_speaks_of(api, tmp_path: Path) -> None:
    concepts = api.get("/api/coach").json()["concepts"]
    cluster = next(c for c in concepts if c["kind"] == "cluster")
    result = _done(api, "/api/showme", {"strokes": CAT, "concept": cluster["id"], "target": "cat"})
    assert result["concept"] == cluster["id"] and result["what"] == cluster["name"]
    _a_drawing(result["strokes"])
    assert result["strokes"] != CAT[: len(result["strokes"])]  # only the added strokes, never the drawing's own
    sketch_word = json.loads(result["ndjson"])["word"]
    assert sketch_word == "cat" and cluster["name"] in result["explain"]
    _read_back(result, tmp_path)
    by_name = _done(api, "/api/showme", {"strokes": CAT, "concept": cluster["name"]})
    assert by_name["concept"] == cluster["id"]


@pytest.mark.parametrize("path, body, status, words", [
    ("/api/showme", {"strokes": CAT, "concept": "wheel"}, 400, "no concept 'wheel'"),
    ("/api/showme", {"strokes": [], "concept": "cluster:1"}, 422, "draw something first"),
    ("/api/showme", {"strokes": CAT, "concept": "cluster:1", "target": "unicorn"}, 400, "unknown target class"),
    ("/api/showme", {"strokes": CAT}, 400, "concept: Field required"),
    ("/api/showme", {"strokes": "a cat", "concept": "cluster:1"}, 400, "strokes"),
    ("/api/showme", {"strokes": CAT, "concept": "cluster:1", "colour": "red"}, 400, "colour"),
    ("/api/visualize", {"cluster": 1, "as": "vectors"}, 400, "as: Input should be 'strokes' or 'pixels'"),
    ("/api/dream", {"strokes": CAT, "as": "vectors"}, 400, "as: Input should be 'strokes' or 'pixels'"),
])
def test_bad_requests_get_one_clear_error(api, path: str, body: dict, status: int, words: str) -> None:
    answer = api.post(path, json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert "Traceback" not in answer.text


def test_atlas_icons_drawn_as_strokes_are_small_drawings() -> None:
    """atlas.icons.kind=strokes: each kept cell's icon is a few sharp strokes, dark ink on white paper."""
    from pipeline.atlas import build_atlas
    from tests.defaults import IconParams
    from tests.synthetic import synthetic_sketches, synthetic_store
    from tests.test_atlas import params, tiny_model

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        store = synthetic_store(Path(folder) / "features.block3", sketches=120, noise=0.3)
        atlas = build_atlas(store, tiny_model(), params(icons=IconParams(kind="strokes", steps=4, batch_size=8)),
                            sketches=synthetic_sketches(120))
    icons = atlas.icons
    assert icons.shape == (len(atlas.cells), 32, 32, 3) and atlas.cells["icon"].notna().all()
    for tile in icons:
        grey = tile[..., 0]
        assert (grey < 128).any() and (grey > 250).mean() > 0.5  # ink on mostly white paper: a drawing
        assert ((grey > 60) & (grey < 200)).mean() < 0.25  # sharp strokes, not a grey texture
