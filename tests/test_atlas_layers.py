"""Atlases of several layers a round (``atlas.layers``): the extract and atlas stages of a two-layer round of the
small test project, the app's layer switch (HTTP API and Chromium), a concept promoted on the second layer, and the
fine-tune's refusal of it (a round trains one concept head, on the atlas layer)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from conceptstore.store import ConceptStore
from core.errors import ConfigError
from pipeline.config import compose
from tests.conftest import ROOT, RunningServer, fixture_threads, opened_page

sys.path.insert(0, str(ROOT))  # the benchmark's table: bench/bench_layers.py

ATLAS_LAYER, EXTRA = "features.block3", "features.block2"


class TwoLayers:
    """The test project's round 0 again, with ``atlas.layers=[features.block2]``: its extract and atlas stages run
    for real in a folder of its own (dataset and models copied)."""

    def __init__(self, folder: Path, overrides: list[str], source: Any) -> None:
        self.folder, self.overrides, self.source = folder, overrides, source

    def cfg(self, *extra: str) -> Any:
        return compose([*self.overrides, *extra])

    @property
    def atlases(self) -> Path:
        return self.folder / "atlases" / "round_0"


@pytest.fixture(scope="module")
def two_layers(labeling_project: Any, tmp_path_factory: pytest.TempPathFactory) -> TwoLayers:
    from pipeline.stages import atlas as atlas_stage
    from pipeline.stages import extract as extract_stage
    from tests import labeling_project as builder

    folder = tmp_path_factory.mktemp("two_layers")
    for part in ("dataset", "models/base", "models/round_0"):
        shutil.copytree(labeling_project.folder / part, folder / part)
    # the tiny preset's sizes, where the test project's own overrides leave them (these win)
    settings = ["experiment=tiny", *builder.overrides(folder), f"atlas.layers=[{EXTRA}]"]
    with fixture_threads():
        cfg = compose(settings)
        extract_stage.run(cfg)
        atlas_stage.run(cfg)
    return TwoLayers(folder, settings, labeling_project)


# --- the stages ----------------------------------------------------------------------------------------------

def test_a_two_layer_round_extracts_both_and_maps_each_in_its_folder(two_layers: TwoLayers) -> None:
    import mlflow

    info = json.loads((two_layers.folder / "activations/round_0/info.json").read_text())
    assert info["layers"] == [ATLAS_LAYER, EXTRA]
    primary = json.loads((two_layers.atlases / "atlas.json").read_text())
    extra = json.loads((two_layers.atlases / "layers" / EXTRA / "atlas.json").read_text())
    assert primary["layer"] == ATLAS_LAYER and extra["layer"] == EXTRA and extra["round"] == 0
    # block2 is a finer grid than block3: the extra atlas is of its own layer's positions
    assert extra["geometry"]["height"] > primary["geometry"]["height"]
    assert extra["geometry"]["channels"] != primary["geometry"]["channels"]
    points = pd.read_parquet(two_layers.atlases / "layers" / EXTRA / "points.parquet")
    assert int(points["y"].max()) >= primary["geometry"]["height"]  # positions only block2's grid has
    for name in ("atlas.png", "map.png", "README.md", "cells.npy"):
        assert (two_layers.atlases / "layers" / EXTRA / name).is_file(), name
    assert not (two_layers.atlases / "layers" / EXTRA / "layers").exists()
    assert extra["metrics"]["atlas_purity"] is not None and extra["metrics"]["atlas_nmi"] is not None
    # the atlas layer's atlas is the one the round had without the extra layer (same place, same points)
    alone = pd.read_parquet(two_layers.source.folder / "atlases/round_0/points.parquet")
    mapped = pd.read_parquet(two_layers.atlases / "points.parquet")
    for column in ("key_id", "y", "x", "cluster"):
        np.testing.assert_array_equal(mapped[column].to_numpy(), alone[column].to_numpy())
    mlflow.set_tracking_uri(str(two_layers.cfg().mlflow.tracking_uri))
    runs = mlflow.search_runs(experiment_names=[str(two_layers.cfg().mlflow.experiment)])
    run = runs[runs["tags.stage"] == "atlas"].iloc[0]
    assert run[f"metrics.{EXTRA}/atlas_purity"] == pytest.approx(extra["metrics"]["atlas_purity"])
    assert run["metrics.atlas_purity"] == pytest.approx(primary["metrics"]["atlas_purity"])


def test_a_later_round_aligns_each_layer_onto_the_same_layer_of_the_round_before(two_layers: TwoLayers,
                                                                                   tmp_path: Path) -> None:
    """Round 1 with round 0's model and activations: each layer's map is aligned onto round 0's map of that layer,
    so it lands where it was."""
    import dataclasses

    from pipeline.models.build import load_trained, save_trained
    from pipeline.stages import atlas as atlas_stage

    model = load_trained(two_layers.folder / "models/round_0/model.pt")
    (tmp_path / "models/round_1").mkdir(parents=True)
    save_trained(dataclasses.replace(model, round=1), tmp_path / "models/round_1/model.pt")
    shutil.copytree(two_layers.folder / "activations/round_0", tmp_path / "activations/round_1")
    shutil.copytree(two_layers.atlases, tmp_path / "atlases/round_0")
    with fixture_threads():
        atlas_stage.run(two_layers.cfg("round=1", f"paths.models={tmp_path / 'models'}",
                                       f"paths.activations={tmp_path / 'activations'}",
                                       f"paths.atlases={tmp_path / 'atlases'}",
                                       f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"))
    for folder in (Path(), Path("layers") / EXTRA):
        before = pd.read_parquet(tmp_path / "atlases/round_0" / folder / "points.parquet")
        after = pd.read_parquet(tmp_path / "atlases/round_1" / folder / "points.parquet")
        metrics = json.loads((tmp_path / "atlases/round_1" / folder / "atlas.json").read_text())["metrics"]
        assert metrics["alignment_anchors"] == len(before) == len(after), folder
        np.testing.assert_allclose(after[["umap_x", "umap_y"]].to_numpy(), before[["umap_x", "umap_y"]].to_numpy(),
                                   atol=1e-3)


@pytest.mark.parametrize("value, message", [("[a/b]", "'a/b' is not a layer path"),
                                            ("['']", "'' is not a layer path")])
def test_a_bad_layer_list_is_one_clear_error(value: str, message: str) -> None:
    from pipeline.rounds import configured_extra_layers

    cfg = compose([f"atlas.layers={value}"], targets=False)
    with pytest.raises(ConfigError, match=f"atlas.layers: {message}"):
        configured_extra_layers(cfg, ATLAS_LAYER)


def test_the_extra_layers_leave_out_the_atlas_layer_and_repeats() -> None:
    from pipeline.rounds import configured_extra_layers

    cfg = compose([f"atlas.layers=[{EXTRA},{ATLAS_LAYER},{EXTRA}]"], targets=False)
    assert configured_extra_layers(cfg, ATLAS_LAYER) == [EXTRA]
    assert configured_extra_layers(compose([], targets=False), ATLAS_LAYER) == []


# --- the app -------------------------------------------------------------------------------------------------

@pytest.fixture
def server(two_layers: TwoLayers, tmp_path: Path) -> Iterator[RunningServer]:
    """The app on the two-layer round 0, with an empty concept store of the test's own."""
    from labeling.app import create_app
    from labeling.atlas_view import AtlasView
    from tests.defaults import AppSettings

    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    app = create_app(AtlasView.load(two_layers.cfg(), 0), store, AppSettings(port=0, cache_dir=str(tmp_path / "c")))
    running = RunningServer(app, two_layers, store)
    try:
        yield running
    finally:
        running.stop()


def _promote(api: httpx.Client, name: str, layer: str | None) -> dict[str, Any]:
    """Promote the largest cluster of ``layer``'s atlas (None: the atlas layer's) through the API."""
    params = {"layer": layer} if layer else {}
    cluster = api.get("/api/atlas", params=params).json()["clusters"][0]["cluster"]
    chosen = api.post("/api/selection", params=params, json={"cluster": cluster}).json()
    version = api.get("/api/concepts", params=params).json()["version"]
    answer = api.post("/api/concepts", params=params, json={
        "name": name, "points": chosen["points"], "source": {"kind": "cluster", "cluster": cluster},
        "expected_version": version})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_the_api_switches_layers_and_a_concept_records_the_layer_it_was_named_on(server: RunningServer) -> None:
    store, atlases = server.store, server.project.atlases
    with httpx.Client(base_url=server.url, timeout=60) as api:
        own = api.get("/api/atlas").json()
        assert own["layer"] == own["atlas_layer"] == ATLAS_LAYER and own["layers"] == [ATLAS_LAYER, EXTRA]
        other = api.get("/api/atlas", params={"layer": EXTRA}).json()
        assert other["layer"] == EXTRA and other["atlas_layer"] == ATLAS_LAYER and other["layers"] == own["layers"]
        assert api.get("/api/atlas", params={"layer": ATLAS_LAYER}).json()["layer"] == ATLAS_LAYER
        extra_doc = json.loads((atlases / "layers" / EXTRA / "atlas.json").read_text())
        points = api.get("/api/points", params={"layer": EXTRA}).json()
        assert len(points["x"]) == extra_doc["metrics"]["n_points"]
        # the files are the layer's own
        served = api.get("/atlas/atlas.json", params={"layer": EXTRA}).json()
        assert served["layer"] == EXTRA
        icon = next(c["icon"] for c in other["cells"] if c["icon"])
        assert api.get(icon, params={"layer": EXTRA}).status_code == 200
        missing = api.get("/api/atlas", params={"layer": "features.block9"})
        assert missing.status_code == 404
        assert missing.json()["error"].startswith(f"round 0 has no atlas of layer 'features.block9' (its layers: "
                                                  f"{ATLAS_LAYER}, {EXTRA};")

        made = _promote(api, "stroke piece", EXTRA)
        concept = store.state().get("stroke piece")
        assert concept.layer == EXTRA and concept.born_round == 0
        assert made["concepts"][0]["layer"] == EXTRA and made["concepts"][0]["points"]
        # its positions are block2's: those of the layer's atlas points selected
        assert set(concept.positives) == {(k, int(y), int(x)) for k, y, x in zip(
            *(np.asarray(points[c])[made["concepts"][0]["points"]] for c in ("key_id", "py", "px")), strict=True)}
        _promote(api, "whole part", None)
        assert store.state().get("whole part").layer == ATLAS_LAYER

        # on the atlas layer's page, the block2 concept has no points, and it cannot be shown or added to there
        listed = {c["name"]: c for c in api.get("/api/concepts").json()["concepts"]}
        assert listed["stroke piece"]["points"] == [] and listed["whole part"]["points"]
        refused = api.post("/api/selection", json={"concept": concept.id})
        assert refused.status_code == 400
        assert refused.json()["error"] == (f"'stroke piece' is a concept of layer {EXTRA}, and this atlas shows "
                                           f"{ATLAS_LAYER}: switch the page's layer to {EXTRA} to see or change it")
        version = store.state().version
        added = api.post(f"/api/concepts/{concept.id}/add", json={"points": [0], "expected_version": version})
        assert added.status_code == 400 and store.state().version == version
        assert api.get(f"/api/concepts/{concept.id}/preview").status_code == 400
        # on its own layer it is a selection of its points
        shown = api.post("/api/selection", params={"layer": EXTRA}, json={"concept": concept.id})
        assert shown.status_code == 200 and shown.json()["size"] == len(listed_points(api, concept.id, EXTRA))


def listed_points(api: httpx.Client, concept_id: str, layer: str) -> list[int]:
    concepts = api.get("/api/concepts", params={"layer": layer}).json()["concepts"]
    return next(c["points"] for c in concepts if c["id"] == concept_id)


def test_the_page_switches_layers_and_promotes_on_the_layer_shown(browser: Any, server: RunningServer,
                                                                     tmp_path: Path) -> None:
    from tests.test_labeling_browser import Ui

    with opened_page(browser, lambda page: Ui(page, server, tmp_path), 30_000) as ui:
        menu = ui.tid("layer-switch")
        assert menu.locator("option").all_inner_texts() == [f"{ATLAS_LAYER} (atlas layer)", EXTRA]
        assert menu.input_value() == ATLAS_LAYER and ui.text("layer").startswith(ATLAS_LAYER)
        menu.select_option(EXTRA)
        ui.page.wait_for_url(f"**/?layer={EXTRA}")
        ui.page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=30_000)
        ui.idle()
        assert ui.text("layer").startswith(EXTRA) and ui.tid("layer-switch").input_value() == EXTRA
        assert f"This is the atlas of layer {EXTRA}" in ui.status()[1]
        # the grid's icons are the layer's files
        ui.page.wait_for_function("() => [...document.querySelectorAll('#atlas-grid image')].length > 0")
        hrefs = [h for h in ui.js("[...document.querySelectorAll('#atlas-grid image')].map(i => i.getAttribute('href'))")
                 if not h.startswith("data:")]
        assert hrefs and all(h.endswith(f"?layer={EXTRA}") for h in hrefs), hrefs[:3]
        summary = ui.js(f"fetch('/api/atlas?layer={EXTRA}').then(r => r.json())")
        ui.select_cluster(summary["clusters"][0]["cluster"])
        made = ui.promote("fine stroke")
        assert made.layer == EXTRA
        ui.shot("layer-block2")
        ui.tid("layer-switch").select_option(ATLAS_LAYER)   # back to the atlas layer: no layer in the address
        ui.page.wait_for_url(f"{server.url}/")
        ui.page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=30_000)
        assert ui.text("layer").startswith(ATLAS_LAYER)
        assert ui.text(f"concept-layer-{made.id}") == f" · layer {EXTRA}"  # named on the other layer
        assert ui.text(f"concept-on-atlas-{made.id}") == " (0 on this atlas)"


def test_the_commands_promote_on_a_layer_and_refuse_another_layers_concept(two_layers: TwoLayers, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    from articulate.cli import main

    concepts = tmp_path / "concepts.yaml"
    overrides = [a for o in [*two_layers.overrides, f"paths.concepts={concepts}"] for a in ("-o", o)]
    assert main(["concepts", *overrides, "promote", "fine", "--cluster", "0", "--layer", EXTRA]) == 0
    store = ConceptStore(concepts)
    assert store.state().get("fine").layer == EXTRA
    capsys.readouterr()
    assert main(["concepts", *overrides, "add", "fine", "--cluster", "1"]) != 0
    assert f"'fine' is a concept of layer {EXTRA}, and this atlas shows {ATLAS_LAYER}" in capsys.readouterr().err
    assert main(["concepts", *overrides, "add", "fine", "--cluster", "1", "--layer", EXTRA]) == 0
    assert main(["concepts", *overrides, "promote", "x", "--cluster", "0", "--layer", "features.block9"]) != 0
    assert "round 0 has no atlas of layer 'features.block9'" in capsys.readouterr().err
    assert store.state().version == 2


# --- the fine-tune -------------------------------------------------------------------------------------------

def test_the_fine_tune_refuses_concepts_of_another_layer_and_says_what_to_do(two_layers: TwoLayers,
                                                                               tmp_path: Path) -> None:
    from labeling.atlas_view import AtlasView
    from pipeline.stages import finetune as finetune_stage

    concepts = tmp_path / "concepts" / "concepts.yaml"
    cfg = two_layers.cfg(f"paths.concepts={concepts}", "round=1", "finetune.progress=false")
    view = AtlasView.load(cfg, 0).at_layer(EXTRA)
    store = ConceptStore(concepts)
    store.promote("fine stroke", view.positions(view.select(cluster=0).points), layer=view.layer, born_round=0,
                  source=view.source("cluster", 0))
    with pytest.raises(ConfigError) as refused:
        finetune_stage.run(cfg)
    message = str(refused.value)
    assert f"concepts on another layer than the atlas layer: 'fine stroke' (c1, layer {EXTRA});" in message
    assert f"this round trains a concept head only on the atlas layer '{ATLAS_LAYER}'" in message
    assert "articulate concepts delete NAME" in message
    assert not (two_layers.folder / "models" / "round_1").exists()  # nothing half-written


# --- the benchmark's table -----------------------------------------------------------------------------------

def test_the_layer_bench_reads_every_layer_of_a_round(two_layers: TwoLayers) -> None:
    from bench.bench_layers import layer_rows, table

    rows = layer_rows(two_layers.atlases, found=0.0)
    assert [r["layer"] for r in rows] == [ATLAS_LAYER, EXTRA]
    for row in rows:
        folder = two_layers.atlases if row["layer"] == ATLAS_LAYER else two_layers.atlases / "layers" / EXTRA
        document = json.loads((folder / "atlas.json").read_text())
        assert row["layer_nmi"] == document["metrics"]["layer_nmi"]
        assert row["positions"] == f"{document['geometry']['height']}x{document['geometry']['width']}"
        # at purity 0 every cluster's majority part is found, with its purest cluster
        majority = {c["majority_part"] for c in document["clusters"] if c.get("majority_part")}
        assert set(row["parts"]) == majority
        assert all(0 < p <= 1 for p in row["parts"].values())
    assert set(layer_rows(two_layers.atlases, found=1.01)[0]["parts"]) == set()
    text = table(rows)
    assert text.splitlines()[1].startswith(ATLAS_LAYER) and text.splitlines()[2].startswith(EXTRA)
    assert "purest cluster of each part" in text
