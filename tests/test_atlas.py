"""The atlas: layout invariants, metrics on known structure, sampling, patch geometry, bad input, the stage.

Most tests lay out with PCA (fast); one uses UMAP on a small sample. Stores are synthetic
(:mod:`tests.synthetic`): Gaussian blobs per true part, so the expected clusters are known.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.activations.store import ActivationStore, LayerMeta
from pipeline.atlas import (atlas_nmi, atlas_purity, build_atlas, read_atlas, receptive_field_patch,
                            write_atlas)
from tests.defaults import AtlasGrid, AtlasParams, Clusterer, IconParams, PositionSampler, Projection
from pipeline.atlas.patches import MARK_COLOUR, PAD_GREY
from pipeline.atlas.sampling import FewerPositionsWarning
from tests.synthetic import synthetic_sketches, synthetic_store
from pipeline.data.raster import RasterSpec
from core.errors import ConfigError, InputError
from pipeline.models.build import TrainedModel, save_trained
from pipeline.models.input_spec import InputSpec
from pipeline.models.sketch_cnn import SketchCNN

NET = {"_target_": "pipeline.models.sketch_cnn.SketchCNN", "widths": [4, 8, 16, 16]}


def tiny_model() -> TrainedModel:
    """A SketchCNN whose features.block3 has 16 channels on an 8x8 grid at 32x32 input, like the store."""
    torch.manual_seed(0)
    net = SketchCNN(num_classes=3, widths=NET["widths"]).eval()
    spec = InputSpec(size=32, channels=1, mean=(0.0,), std=(1.0,), invert=False)
    return TrainedModel(net=net, class_names=["class0", "class1", "class2"], input_spec=spec,
                        raster=RasterSpec(size=32, line_width=2.0), layer="features.block3", round=0)


def params(**kw) -> AtlasParams:
    values = dict(sampler=PositionSampler(count=2000, weighting="uniform"), projection=Projection(method="pca"),
                  grid=AtlasGrid(size=6, min_count=3), clusterer=Clusterer(k=4), icons=IconParams(enabled=False),
                  exemplars=6)
    values.update(kw)
    return AtlasParams(**values)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ActivationStore:
    return synthetic_store(tmp_path_factory.mktemp("store") / "features.block3", sketches=120, noise=0.3)


def test_layout_invariants_and_files_on_disk(store: ActivationStore, tmp_path: Path) -> None:
    p = params(icons=IconParams(steps=3, batch_size=8), random_exemplars=2)
    atlas = build_atlas(store, tiny_model(), p, round_index=2, sketches=synthetic_sketches(120))
    folder = tmp_path / "atlases" / "round_2"
    write_atlas(atlas, folder)
    document, points, cells = read_atlas(folder)

    g, min_count = document["grid"]["size"], document["grid"]["min_count"]
    assert len(points) == 2000 == document["metrics"]["n_points"]
    per_cell = points.groupby("cell").size()
    assert cells.shape == (len(document["cells"]), store.meta.channels)
    for cell in document["cells"]:
        assert 0 <= cell["row"] < g and 0 <= cell["col"] < g and cell["cell"] == cell["row"] * g + cell["col"]
        assert cell["count"] >= min_count and cell["count"] == per_cell[cell["cell"]]
        assert cell["icon"] and (folder / cell["icon"]).is_file()
        assert cell["score"] is not None
    assert sum(c["count"] for c in document["cells"]) == int(points["kept"].sum())
    assert set(points.loc[points["kept"], "cell"]) == {c["cell"] for c in document["cells"]}
    assert (per_cell[~per_cell.index.isin([c["cell"] for c in document["cells"]])] < min_count).all()
    assert points["row"].between(0, g - 1).all() and points["col"].between(0, g - 1).all()
    # Cell means are the means of the points' vectors.
    first = document["cells"][0]
    members = points[points["cell"] == first["cell"]]
    expected = store.vectors(members["sketch"].to_numpy(), members["y"].to_numpy(), members["x"].to_numpy()).mean(0)
    np.testing.assert_allclose(cells[0], expected, rtol=1e-4, atol=1e-5)
    # Clusters: sizes, exemplars and sheets agree with the points.
    assert len(document["clusters"]) == document["metrics"]["n_clusters"] == 4
    sizes = points.groupby("cluster").size()
    for cluster in document["clusters"]:
        assert cluster["size"] == sizes[cluster["cluster"]]
        assert len(cluster["exemplars"]) == 8 and (folder / cluster["sheet"]).is_file()
        for e in cluster["exemplars"]:
            assert points.loc[e["point"], "cluster"] == cluster["cluster"]
            assert points.loc[e["point"], "key_id"] == e["key_id"]
    assert [c["size"] for c in document["clusters"]] == sorted(sizes, reverse=True)
    for name in ("atlas.png", "map.png", "README.md", "cells.npy", "points.parquet"):
        assert (folder / name).is_file()
    assert document["round"] == 2 and document["layer"] == "features.block3"
    assert document["geometry"]["receptive_field"] == 18


def test_purity_and_nmi_recover_separable_parts(tmp_path: Path) -> None:
    separable = synthetic_store(tmp_path / "sep", sketches=100, noise=0.02)
    atlas = build_atlas(separable, None, params(clusterer=Clusterer(k=4), grid=AtlasGrid(size=4, min_count=1)))
    assert atlas.metrics["atlas_purity"] > 0.99 and atlas.metrics["atlas_nmi"] > 0.99
    assert all(c.purity > 0.99 for c in atlas.clusters)


def test_purity_and_nmi_are_low_without_structure(tmp_path: Path) -> None:
    random = synthetic_store(tmp_path / "rand", sketches=100, structured=False)
    atlas = build_atlas(random, None, params(clusterer=Clusterer(k=4)))
    assert atlas.metrics["atlas_purity"] < 0.4 and atlas.metrics["atlas_nmi"] < 0.05


def test_metrics_by_hand_and_without_parts(tmp_path: Path) -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    parts = np.array([1, 1, 2, 2, 2, 2, 0])  # the last position has no known part
    assert atlas_purity(labels, parts) == pytest.approx(5 / 6)
    assert 0 < atlas_nmi(labels, parts) < 1
    assert atlas_purity(labels, np.zeros(7)) is None
    no_parts = synthetic_store(tmp_path / "np", sketches=60, with_parts=False)
    atlas = build_atlas(no_parts, None, params(sampler=PositionSampler(count=500)))
    assert atlas.metrics["atlas_purity"] is None and atlas.clusters[0].parts is None


def test_sampling_weighting_and_class_filter(store: ActivationStore) -> None:
    uniform = PositionSampler(count=1500, weighting="uniform", seed=1).sample(store)
    weighted = PositionSampler(count=1500, weighting="attribution", seed=1).sample(store)
    assert store.ink[uniform.positions["sketch"], uniform.positions["y"], uniform.positions["x"]].all()
    assert (weighted.positions["attribution"] > 0).all()
    assert (uniform.positions["attribution"] <= 0).any()
    assert weighted.positions["attribution"].mean() > uniform.positions["attribution"].mean()
    assert not weighted.positions.duplicated(["sketch", "y", "x"]).any()
    pos = uniform.positions
    np.testing.assert_array_equal(uniform.vectors, store.activations[pos["sketch"], pos["y"], pos["x"]].astype(np.float32))
    assert uniform.vectors.dtype == np.float32

    only = PositionSampler(count=400, class_filter="class1").sample(store)
    assert set(only.positions["word"]) == {"class1"} and set(only.positions["label"]) == {1}
    with pytest.warns(FewerPositionsWarning, match="taking all"):
        everything = PositionSampler(count=10**6, weighting="uniform").sample(store)
    assert len(everything) == int(np.asarray(store.ink).sum())
    with pytest.raises(ConfigError, match="valid classes: class0, class1, class2"):
        PositionSampler(class_filter="zebra").sample(store)
    with pytest.raises(ConfigError, match="weighting"):
        PositionSampler(weighting="bogus")


def test_patch_crop_size_and_marked_cell() -> None:
    meta = LayerMeta(layer="l", num_sketches=1, height=8, width=8, channels=1, input_size=32, stride=4.0,
                     receptive_field=18, rf_offset=1.5, split="test", classes=["a"])
    ink = np.zeros((32, 32), dtype=np.float32)
    ink[13, 21] = 1.0  # the centre pixel of position (3, 5): (1.5 + 12, 1.5 + 20) -> pixels 12..15 x 20..23
    patch = receptive_field_patch(ink, meta, 3, 5)
    assert patch.shape == (18, 18, 3) and patch.dtype == np.uint8
    # Crop origin: centre - (18 - 1) / 2 = (5, 13): the ink pixel lands at (8, 8); the cell 12..15 at 7..10.
    assert tuple(patch[8, 8]) == (0, 0, 0)
    red = np.all(patch == np.array(MARK_COLOUR, dtype=np.uint8), axis=-1)
    expected = np.zeros((18, 18), dtype=bool)
    expected[7:11, 7:11] = True
    expected[8:10, 8:10] = False  # outline only
    np.testing.assert_array_equal(red, expected)
    # A corner position: the crop runs off the image and is padded grey; still the field's size.
    corner = receptive_field_patch(ink, meta, 0, 0, scale=2)
    assert corner.shape == (36, 36, 3)
    assert (corner[:14, :, :] == PAD_GREY).all()  # rows -7..-1 of the image, 2 output pixels each
    assert np.all(corner[14:22, 14] == np.array(MARK_COLOUR, dtype=np.uint8))  # the cell 0..3 starts at patch 7


def test_fewer_points_than_cells_is_a_clear_error(store: ActivationStore) -> None:
    with pytest.raises(ConfigError, match="fewer points than cells.*smaller grid"):
        build_atlas(store, None, params(sampler=PositionSampler(count=50), grid=AtlasGrid(size=10)))


def test_corrupted_store_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "features.block3"
    synthetic_store(folder, sketches=20)
    path = folder / "activations.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="activations.npy"):
        ActivationStore(folder)


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="clusters.method"):
        Clusterer(method="dbscan")
    with pytest.raises(ConfigError, match="grid.size"):
        AtlasGrid(size=0)
    with pytest.raises(ConfigError, match="grid.clip"):
        AtlasGrid(clip=0.5)
    with pytest.raises(ConfigError, match="layout.metric"):
        Projection(metric="hamming")
    with pytest.raises(ConfigError, match="icons.steps"):
        IconParams(steps=0)


@pytest.mark.parametrize("method", ["agglomerative", "gmm"])
def test_other_cluster_methods_and_umap_space(store: ActivationStore, method: str) -> None:
    atlas = build_atlas(store, None, params(clusterer=Clusterer(method=method, k=4, space="umap")))
    assert len(atlas.clusters) == 4 and atlas.points["cluster"].between(0, 3).all()


def test_umap_layout(tmp_path: Path) -> None:
    small = synthetic_store(tmp_path / "s", sketches=40, noise=0.1)
    p = params(sampler=PositionSampler(count=400), projection=Projection(n_neighbors=10, seed=0),
               grid=AtlasGrid(size=5, min_count=2))
    atlas = build_atlas(small, None, p)
    xy = atlas.points[["umap_x", "umap_y"]].to_numpy()
    assert xy.shape == (400, 2) and np.isfinite(xy).all()
    assert atlas.metrics["atlas_nmi"] > 0.9  # clusters in activation space still find the parts
    # The layout keeps the parts apart: a point's nearest laid-out neighbour is mostly of its own part.
    parts = atlas.points["part"].to_numpy()
    distance = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    assert (parts[distance.argmin(axis=1)] == parts).mean() > 0.9


def test_the_exact_neighbour_graph_is_what_umap_starts_from() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    indices, distances, _ = Projection(n_neighbors=5, metric="euclidean")._exact_neighbours(vectors)
    brute = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    np.testing.assert_array_equal(indices[:, 0], np.arange(300))  # itself first, as UMAP expects
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], atol=1e-4)
    with pytest.raises(ConfigError, match="layout.n_epochs"):
        Projection(n_epochs=0)


def test_stage_writes_the_round_folder_and_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.data.store import write_split
    from pipeline.stages import atlas as stage

    from pipeline.config import compose

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    synthetic_store(tmp_path / "activations" / "round_1" / "features.block3", sketches=60)
    (tmp_path / "dataset").mkdir()
    write_split(tmp_path / "dataset", "test", synthetic_sketches(60))
    model = tiny_model()
    (tmp_path / "models" / "round_1").mkdir(parents=True)
    save_trained(dataclasses.replace(model, round=1, net_config=NET), tmp_path / "models" / "round_1" / "model.pt")
    cfg = compose([*(f"paths.{key}={tmp_path / key}" for key in ("activations", "models", "dataset", "atlases")),
                   f"paths.concepts={tmp_path / 'concepts.yaml'}", f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                   "mlflow.experiment=test", f"mlflow.artifact_location={tmp_path / 'artifacts'}", "round=1",
                   "atlas.seed=0", "atlas.sample.count=600", "atlas.layout.method=pca", "atlas.grid.size=6",
                   "atlas.icons.steps=2", "atlas.icons.batch_size=16", "atlas.clusters.k=4",
                   "atlas.exemplars.per_cluster=4"], targets=False)
    atlas = stage.run(cfg)
    document = json.loads((tmp_path / "atlases" / "round_1" / "atlas.json").read_text())
    assert document["metrics"]["n_points"] == 600 and document["round"] == 1
    assert atlas.metrics["atlas_purity"] is not None
    import mlflow

    runs = mlflow.search_runs(experiment_names=["test"])
    stages = runs[runs["tags.stage"] == "atlas"].reset_index()
    parents = runs[runs["tags.kind"] == "round"].reset_index()
    assert len(stages) == 1 and stages.loc[0, "tags.round"] == "1"
    assert len(parents) == 1 and parents.loc[0, "tags.round"] == "1" and parents.loc[0, "tags.concepts_hash"]
    assert stages.loc[0, "tags.mlflow.parentRunId"] == parents.loc[0, "run_id"]  # nested under the round's run
    assert stages.loc[0, "metrics.atlas_purity"] == pytest.approx(atlas.metrics["atlas_purity"])
    artifacts = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(stages.loc[0, "run_id"])}
    assert {"atlas.png", "map.png", "atlas.json"} <= artifacts


def test_unexplained_sampling_prefers_positions_no_concept_covers(tmp_path: Path) -> None:
    """A concept head that fires on part 0: `unexplained` weighting draws part 0 far less than attribution does."""
    from pipeline.models.concept_head import ConceptHead, highest_probability

    store = synthetic_store(tmp_path / "store", sketches=120, parts=4)
    sketch, y, x = np.nonzero(np.asarray(store.ink))
    part = np.asarray(store.part[sketch, y, x])
    vectors = store.vectors(sketch, y, x).astype(np.float64)
    # A linear head that separates part 0 from the rest (least squares on the true parts, as a trained head would).
    target = np.where(part == 1, 6.0, -6.0)
    design = np.hstack([vectors, np.ones((len(vectors), 1))])
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    head = ConceptHead(vectors.shape[1], 1)
    with torch.no_grad():
        head.conv.weight[0, :, 0, 0] = torch.from_numpy(solution[:-1]).float()
        head.conv.bias[0] = float(solution[-1])
    score = highest_probability(head)
    explained = score(vectors)
    assert explained[part == 1].mean() > 0.8 > 0.2 > explained[part != 1].mean()

    def share_of_part_0(weighting: str, floor: float = 0.0) -> float:
        sample = PositionSampler(count=600, weighting=weighting, seed=1, floor=floor).sample(store, score)
        return float((sample.positions["part"] == 1).mean())

    assert share_of_part_0("unexplained") < 0.5 * share_of_part_0("attribution")
    # a floor keeps some of what the concepts explain in view; floor 1 is the attribution weighting
    assert share_of_part_0("unexplained") < share_of_part_0("unexplained", 0.3) < share_of_part_0("attribution")
    assert share_of_part_0("unexplained", 1.0) == share_of_part_0("attribution")
    with pytest.raises(ConfigError, match="sample.floor must be a share in \\[0, 1\\], got 1.5"):
        PositionSampler(floor=1.5)
    sample = PositionSampler(count=600, weighting="unexplained").sample(store, score)
    np.testing.assert_allclose(sample.positions["explained"], score(sample.vectors), rtol=1e-5)
    # Without a concept head (round 0) it is the attribution weighting, and nothing is explained.
    plain = PositionSampler(count=600, weighting="unexplained", seed=1).sample(store)
    same = PositionSampler(count=600, weighting="attribution", seed=1).sample(store)
    pd.testing.assert_frame_equal(plain.positions, same.positions)
    assert (plain.positions["explained"] == 0).all()


def test_an_aligned_map_puts_unchanged_points_back_where_they_were() -> None:
    from pipeline.atlas.alignment import align_layout

    rng = np.random.default_rng(0)
    old_xy = rng.normal(size=(300, 2))
    previous = pd.DataFrame({"key_id": [f"s{i // 10}" for i in range(300)], "y": np.arange(300) % 10, "x": 3,
                             "umap_x": old_xy[:, 0], "umap_y": old_xy[:, 1]})
    # The next round sampled 200 of the same positions and 100 new ones; UMAP turned, mirrored and shrank it.
    keep = rng.permutation(300)[:200]
    new = pd.concat([previous.iloc[keep][["key_id", "y", "x"]],
                     pd.DataFrame({"key_id": [f"new{i}" for i in range(100)], "y": 0, "x": 0})], ignore_index=True)
    turn = np.array([[0.0, -1.0], [-1.0, 0.0]])  # a rotation with a reflection
    layout = np.vstack([old_xy[keep] @ turn * 0.3 + 5.0, rng.normal(size=(100, 2))])
    aligned, how = align_layout(layout, new, previous)
    assert how.applied and how.anchors == 200 and how.residual < 1e-6
    np.testing.assert_allclose(aligned[:200], old_xy[keep], atol=1e-5)
    # With too few shared positions the map is left as it is.
    alone, how = align_layout(layout[200:], new.iloc[200:], previous)
    assert not how.applied and how.anchors == 0
    np.testing.assert_array_equal(alone, layout[200:].astype(np.float32))


def test_layer_figures_measure_the_layer_whatever_the_atlas_samples(tmp_path: Path) -> None:
    """layer_purity/layer_nmi are the attribution-weighted atlas's figures, even for an unexplained-weighted atlas."""
    from pipeline.atlas.build import layer_organisation

    store = synthetic_store(tmp_path / "store", sketches=120, parts=4, noise=2.0)
    attribution = params(sampler=PositionSampler(count=800, weighting="attribution", seed=3), clusterer=Clusterer(k=4))
    unexplained = params(sampler=PositionSampler(count=800, weighting="unexplained", seed=3), clusterer=Clusterer(k=4))
    reference = build_atlas(store, None, attribution)
    purity, nmi = layer_organisation(store, unexplained)
    assert (purity, nmi) == pytest.approx((reference.metrics["atlas_purity"], reference.metrics["atlas_nmi"]))
    assert reference.metrics["layer_nmi"] == reference.metrics["atlas_nmi"]  # nothing to correct for
    # Another seed samples (and clusters) other positions: the figures follow the sample, so the test can fail.
    other = params(sampler=PositionSampler(count=800, weighting="unexplained", seed=4), clusterer=Clusterer(k=4))
    assert layer_organisation(store, other) != (purity, nmi)


def test_clipping_keeps_far_flung_points_from_squeezing_the_dense_region() -> None:
    """A dense blob and two far outliers: unclipped, the blob fits in one cell; clipped, it spans the grid."""
    rng = np.random.default_rng(0)
    layout = np.vstack([rng.normal(0.0, 1.0, size=(2000, 2)), [[300.0, 300.0], [-300.0, -300.0]]])
    vectors = rng.normal(size=(len(layout), 3)).astype(np.float32)
    plain = AtlasGrid(size=10, min_count=5).fit(layout, vectors)
    clipped = AtlasGrid(size=10, min_count=5, clip=0.01).fit(layout, vectors)
    assert len(plain.cells) <= 4 and len(clipped.cells) >= 40
    assert clipped.extent[1] < 5 and plain.extent[1] == 300.0
    assert clipped.point_cell.min() >= 0 and clipped.point_cell.max() < 100  # outliers land in border cells
    assert clipped.cells["count"].sum() + (~clipped.kept).sum() == len(layout)


@pytest.mark.parametrize("kind", ["exemplar", "featurevis"])
def test_icons_of_each_kind(store: ActivationStore, kind: str) -> None:
    """Exemplar icons show the cell member nearest its mean (a drawn fragment); featurevis renders one per cell."""
    p = params(icons=IconParams(kind=kind, steps=3, batch_size=8))
    atlas = build_atlas(store, tiny_model(), p, sketches=synthetic_sketches(120))
    cells, points = atlas.cells, atlas.points
    assert atlas.icons.shape == (len(cells), 32, 32, 3) and cells["icon"].notna().all()
    if kind == "featurevis":
        assert (cells["icon_point"] == -1).all()
        return
    vectors = store.vectors(points["sketch"].to_numpy(), points["y"].to_numpy(), points["x"].to_numpy())
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for k, cell in enumerate(cells.itertuples(index=False)):
        members = np.flatnonzero(points["cell"].to_numpy() == cell.cell)
        assert cell.icon_point in members
        centre = atlas.cell_means[k] / np.linalg.norm(atlas.cell_means[k])
        cosine = unit[members] @ centre
        assert cell.score == pytest.approx(cosine.max(), abs=1e-4) and cell.score <= 1 + 1e-6
    tile = atlas.icons[0]
    assert (tile < 100).all(axis=2).any() and (tile > 250).all(axis=2).any()  # dark ink on white paper
    assert (tile == np.array(MARK_COLOUR, dtype=np.uint8)).all(axis=2).any()  # the position is marked
    with pytest.raises(ConfigError, match="icons.kind"):
        IconParams(kind="texture")


def test_a_layout_fitted_on_a_sample_places_the_rest_by_their_neighbours() -> None:
    """Past fit_sample points, the layout is fitted on a seeded sample and the others land beside their
    nearest fitted neighbours: three well separated groups stay three groups, in batches."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    labels = rng.integers(0, 3, size=3000)
    vectors = (centres[labels] + rng.normal(size=(3000, 16))).astype(np.float32)
    whole = Projection(method="pca", metric="euclidean")
    sampled = Projection(method="pca", metric="euclidean", fit_sample=500, batch_size=700, seed=1)
    layout = sampled.fit_transform(vectors)
    assert layout.shape == (3000, 2) and np.isfinite(layout).all()
    assert sampled.get_params()["fit_sample"] == 500
    # each point is nearer its own group's centre of the layout than any other group's
    means = np.stack([layout[labels == g].mean(axis=0) for g in range(3)])
    nearest = np.argmin(((layout[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.99
    in_one = Projection(method="pca", metric="euclidean", fit_sample=500, batch_size=3000, seed=1).fit_transform(vectors)
    # batches do not change the result (but for the last bits: a matrix product's rounding follows its shape)
    np.testing.assert_allclose(layout, in_one, rtol=0, atol=1e-4 * float(np.abs(in_one).max()))
    assert whole.fit_transform(vectors).shape == (3000, 2)
    # the sampled points stay where the fit put them
    fitted_rows = np.sort(np.random.default_rng(1).choice(3000, size=500, replace=False))
    alone = Projection(method="pca", metric="euclidean", seed=1).fit_transform(vectors[fitted_rows])
    np.testing.assert_array_equal(layout[fitted_rows], alone)
    # placement on its own: a fitted point placed again lands where it was fitted (its nearest neighbour is itself)
    fitted = vectors[:200]
    placed = sampled.place(fitted, whole.fit_transform(fitted), fitted[:5])
    assert placed.shape == (5, 2)
    for bad in ({"fit_sample": 10}, {"batch_size": 0}, {"fast": "yes"}):
        with pytest.raises(ConfigError, match="layout"):
            Projection(**bad)


def test_minibatch_kmeans_clusters_like_kmeans_on_separated_groups() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 6
    labels = rng.integers(0, 4, size=5000)
    vectors = (centres[labels] + rng.normal(size=(5000, 8))).astype(np.float32)
    found = Clusterer(method="minibatch", k=4, normalize=False).fit(vectors).labels
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels, found) > 0.95
