"""The evaluate stage: IoU, matching, parts discovered and presence AP by hand on tiny arrays; safe metric keys;
and the stage end to end on a small real project (round 0 without concepts, round 1 with a hand-made concept
head checked against the activation store), with its files, its MLflow run and its errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import _validate_metric_name
from PIL import Image

from pipeline.activations.geometry import LayerGeometry
from pipeline.activations.store import ActivationStore
from core.errors import ConfigError, InputError
from pipeline.evaluation.figures import cell_outline
from pipeline.evaluation.metrics import (OverlapCounts, concept_results, iou_matrix, match_concepts, metric_key,
                                         part_results, presence_ap, presence_aps)

# --- metrics by hand ------------------------------------------------------------------------------------------

# Three sketches on a 2x2 grid, parts 1..3 (part 3 never occurs), four concepts.
PART = np.array([[[1, 1], [2, 0]],
                 [[1, 0], [0, 0]],
                 [[0, 0], [0, 0]]])
PRED = np.zeros((3, 4, 2, 2), dtype=bool)
PRED[0, 0] = [[1, 1], [0, 0]]  # concept 0: both part-1 cells of sketch 0, plus a background cell of sketch 1
PRED[1, 0] = [[0, 0], [0, 1]]
PRED[0, 1] = [[0, 0], [1, 0]]  # concept 1: the part-2 cell of sketch 0 and the part-1 cell of sketch 1
PRED[1, 1] = [[1, 0], [0, 0]]
# concept 2 fires nowhere
PRED[:, 3] = True              # concept 3 fires everywhere
CONCEPTS = [{"id": "c1", "name": "top"}, {"id": "c2", "name": "wheel"}, {"id": "c3", "name": "<b>a/b</b>"},
            {"id": "c4", "name": "all"}]
PARTS = ["p1", "p2", "p3"]


def _counts(batches: int = 1) -> OverlapCounts:
    counts = OverlapCounts(4, 3)
    for rows in np.array_split(np.arange(3), batches):
        counts.update(PRED[rows], PART[rows])
    return counts


def test_iou_by_hand_over_all_positions() -> None:
    counts = _counts()
    assert counts.positions == 12
    assert counts.area.tolist() == [8, 3, 1, 0]
    assert counts.predicted.tolist() == [3, 2, 0, 12]
    assert counts.intersection.tolist() == [[1, 2, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [8, 3, 1, 0]]
    assert counts.occurring.tolist() == [True, True, False]
    iou = iou_matrix(counts)
    # concept 0: 2 / (3 + 3 - 2); concept 1: 1 / (2 + 3 - 1) and 1 / (2 + 1 - 1); concept 3: area / 12
    np.testing.assert_allclose(iou, [[0.5, 0.0, 0.0], [0.25, 0.5, 0.0], [0.0, 0.0, 0.0], [3 / 12, 1 / 12, 0.0]])
    for batches in (2, 3):  # batch by batch gives the same counts
        np.testing.assert_array_equal(_counts(batches).intersection, counts.intersection)
        np.testing.assert_array_equal(_counts(batches).area, counts.area)
    with pytest.raises(ValueError, match="part ids"):
        OverlapCounts(4, 1).update(PRED, PART)


def test_matching_ties_and_a_concept_that_matches_nothing() -> None:
    matched, best = match_concepts(iou_matrix(_counts()))
    assert matched.tolist() == [0, 1, -1, 0] and best.tolist() == [0.5, 0.5, 0.0, 0.25]
    # A tie goes to the part listed first.
    matched, best = match_concepts(np.array([[0.2, 0.2, 0.1], [0.0, 0.3, 0.3]]))
    assert matched.tolist() == [0, 1] and best.tolist() == [0.2, 0.3]
    # The same through counts: one position of each of two equal parts.
    counts = OverlapCounts(1, 2)
    counts.update(np.ones((1, 1, 1, 2), dtype=bool), np.array([[[2, 1]]]))
    assert iou_matrix(counts).tolist() == [[0.5, 0.5]] and match_concepts(iou_matrix(counts))[0].tolist() == [0]
    assert match_concepts(np.zeros((2, 0)))[0].tolist() == [-1, -1]


def test_presence_ap_by_hand() -> None:
    # ranking: +, -, +, -: precision 1 at the first positive, 2/3 at the second
    assert presence_ap([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert presence_ap([0.1, 0.9], [True, True]) == 1.0
    assert presence_ap([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0]) == pytest.approx(0.25)  # constant scores: the base rate
    assert presence_ap([0.3, 0.2], [0, 0]) is None
    # every column in one call: the same as one call per column
    rng = np.random.default_rng(0)
    scores, contains = rng.random((200, 5)), rng.random((200, 5)) < 0.3
    contains[:, 2] = False
    assert presence_aps(scores, contains) == [presence_ap(scores[:, k], contains[:, k]) for k in range(5)]
    assert presence_aps(scores, contains)[2] is None


def test_concept_and_part_results_by_hand() -> None:
    counts = _counts()
    presence = np.array([[0.9, 0.8, 0.1, 1.0],
                         [0.6, 0.9, 0.1, 1.0],
                         [0.7, 0.1, 0.1, 1.0]])
    contains = np.zeros((3, 4), dtype=bool)
    for n in range(3):
        contains[n, np.unique(PART[n])] = True
    results = concept_results(CONCEPTS, PARTS, counts, presence, contains, threshold=0.5)
    top, wheel, none, everything = results
    assert (top.matched_part, top.iou) == ("p1", 0.5)
    assert top.ap == pytest.approx((1 + 2 / 3) / 2)  # p1 in sketches 0 and 1; ranking 0 (+), 2 (-), 1 (+)
    assert top.iou_by_part == [{"part": "p1", "iou": 0.5}]
    assert top.predicted_fraction == 3 / 12 and top.present_fraction == 1.0
    assert (wheel.matched_part, wheel.iou, wheel.ap) == ("p2", 0.5, 0.5)  # p2 only in sketch 0, ranked second
    assert wheel.iou_by_part == [{"part": "p2", "iou": 0.5}, {"part": "p1", "iou": 0.25}]
    assert (none.matched_part, none.iou, none.ap, none.iou_by_part) == (None, 0.0, 0.0, [])
    assert none.present_fraction == 0.0 and none.iou_key == "concept_iou/b_a_b_b_c3"
    assert (everything.matched_part, everything.iou) == ("p1", 0.25)
    assert everything.ap == pytest.approx(2 / 3)  # constant presence: the share of sketches with p1

    parts = part_results(CONCEPTS, PARTS, counts, contains, iou_discovered=0.5)
    assert [(p.part, p.positions, p.sketches, p.best_concept, p.best_iou, p.discovered) for p in parts] == [
        ("p1", 3, 2, "top", 0.5, True), ("p2", 1, 1, "wheel", 0.5, True)]  # p3 is absent from the split
    assert [p.discovered for p in part_results(CONCEPTS, PARTS, counts, contains, iou_discovered=0.51)] == [False] * 2
    # Round 0: no concepts, nothing discovered, the parts still counted.
    empty = OverlapCounts(0, 3)
    empty.update(np.zeros((3, 0, 2, 2), dtype=bool), PART)
    assert [(p.part, p.best_concept, p.discovered) for p in part_results([], PARTS, empty, contains)] == [
        ("p1", None, False), ("p2", None, False)]


def test_metric_keys_are_safe_and_unique() -> None:
    assert metric_key("concept_iou", "<b>a/b</b>", "c3") == "concept_iou/b_a_b_b_c3"
    assert metric_key("concept_ap", "wheel (front)", "c1") == "concept_ap/wheel_front_c1"
    assert metric_key("concept_iou", "\u8033", "c7") == "concept_iou/c7"  # nothing ASCII: the id alone
    assert metric_key("concept_iou", "ear", "c1") != metric_key("concept_iou", "ear!", "c2")
    for name in ("<b>a/b</b>", "../..", "a\nb $x$", " ", "x" * 300, "caf\u00e9 \u00e0 la cr\u00e8me"):
        key = metric_key("concept_iou", name, "c12")
        _validate_metric_name(key)  # MLflow's own check
        assert key.count("/") == 1 and len(key) < 100


def test_cell_outline() -> None:
    geometry = LayerGeometry("l", 1, 2, 3, 12, 4.0, 9, 1.5)  # cells start at -0.5, 4 px each
    assert cell_outline(np.zeros((2, 3), dtype=bool), geometry) == []
    one = np.zeros((2, 3), dtype=bool)
    one[0, 0] = True
    assert sorted(cell_outline(one, geometry)) == sorted([
        [(-0.5, -0.5), (3.5, -0.5)], [(-0.5, 3.5), (3.5, 3.5)], [(-0.5, -0.5), (-0.5, 3.5)], [(3.5, -0.5), (3.5, 3.5)]])
    one[0, 1] = True  # two neighbours: their shared edge is not drawn
    assert len(cell_outline(one, geometry)) == 6


# --- the stage end to end -------------------------------------------------------------------------------------

def _store_reference(folder: Path) -> dict:
    """The val split's activations and true parts (round 0's store), and the channel and part of best IoU."""
    store = ActivationStore(folder / "activations" / "round_0" / "features.block3")
    acts = np.asarray(store.activations, dtype=np.float32)  # (N, H, W, C)
    part = np.asarray(store.part, dtype=np.int64)
    nparts = len(store.meta.parts)
    thresholds = np.quantile(acts.reshape(-1, acts.shape[-1]), 0.97, axis=0)
    best = (-1.0, 0, 0)  # (IoU, channel, part id)
    area = np.bincount(part.ravel(), minlength=nparts + 1)
    for c, t in enumerate(thresholds):
        pred = acts[..., c] > t
        inter = np.bincount(part[pred], minlength=nparts + 1)
        iou = inter[1:] / (pred.sum() + area[1:] - inter[1:])
        if iou.max() > best[0]:
            best = (float(iou.max()), c, int(iou.argmax()) + 1)
    return {"acts": acts, "part": part, "parts": list(store.meta.parts), "split": store.meta.split,
            "channel": best[1], "threshold": float(thresholds[best[1]]), "part_id": best[2], "iou": best[0]}


def _reference_iou(pred: np.ndarray, part: np.ndarray, nparts: int) -> np.ndarray:
    """IoU of a (N, H, W) prediction with each part 1..nparts, plainly."""
    return np.array([(pred & (part == p)).sum() / max((pred | (part == p)).sum(), 1) for p in range(1, nparts + 1)])


def _write_round_1(folder: Path, ref: dict) -> list[dict]:
    from pipeline.models.concept_head import ConceptHead

    from pipeline.models.build import load_trained, save_trained

    model = load_trained(folder / "models/round_0/model.pt")
    channels = ref["acts"].shape[-1]
    head = ConceptHead(channels, 3)
    # fires where the known channel exceeds its threshold; a slope that keeps the sigmoid below 1.0 in float32
    # everywhere, so its presence ranks sketches as the channel's maximum does (saturated scores would tie)
    slope = 8.0 / max(float(ref["acts"][..., ref["channel"]].max()) - ref["threshold"], 1e-3)
    with torch.no_grad():
        head.conv.weight.zero_()
        head.conv.bias.zero_()
        head.conv.weight[0, ref["channel"]] = slope
        head.conv.bias[0] = -slope * ref["threshold"]
        head.conv.bias[1] = -30.0                   # never fires
        head.conv.bias[2] = 30.0                    # fires everywhere
    name = ref["parts"][ref["part_id"] - 1]
    concepts = [{"id": "c1", "name": name, "born_round": 0}, {"id": "c2", "name": "<b>a/b</b>", "born_round": 0},
                {"id": "c3", "name": "everything $x$", "born_round": 0}]
    (folder / "models/round_1").mkdir(parents=True)
    save_trained(dataclasses.replace(model, concepts=concepts, concept_head=head, round=1),
                 folder / "models/round_1/model.pt")
    shutil.copytree(folder / "atlases/round_0", folder / "atlases/round_1")
    return concepts


def _label(folder: Path) -> None:
    """Two labeling rounds in the concept store: 1 + 3 actions and an edit in round 0, 1 + 1 actions in round 1."""
    from conceptstore.store import ConceptStore

    store = ConceptStore(folder / "concepts" / "concepts.yaml", actor="test")
    source = {"kind": "cluster", "cluster": 1, "atlas": "atlases/round_0", "round": 0}
    store.promote("wall", [("k1", 1, 2)], [("k2", 3, 4)], layer="features.block3", born_round=0, source=source,
                  unticked=3)
    store.set_notes("wall", "brick", round=0)  # an edit: not an action
    store.promote("roof", [("k1", 2, 2)], layer="features.block3", born_round=1, source={**source, "round": 1},
                  unticked=1)


class Project:
    def __init__(self, folder: Path, overrides: list[str]) -> None:
        self.folder, self.overrides = folder, overrides

    def cfg(self, round_: int, **settings):
        from pipeline.config import compose

        chosen = {"progress": "false", "batch_size": 32, **settings}
        return compose([*self.overrides, f"round={round_}", *(f"evaluate.{k}={v}" for k, v in chosen.items())])


@pytest.fixture(scope="module")
def project(labeling_project, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the labeling tests' round-0 project, with a hand-made round-1 model and a labeled store, and
    the stage run for rounds 0 and 1."""
    from tests import labeling_project as builder

    folder = tmp_path_factory.mktemp("evaluate_project")
    for name in ("dataset", "models", "atlases", "activations"):
        shutil.copytree(labeling_project.folder / name, folder / name)
    overrides = [*builder.overrides(folder), f"paths.evaluation={folder / 'evaluation'}"]
    ref = _store_reference(folder)
    concepts = _write_round_1(folder, ref)
    _label(folder)
    from pipeline.stages import evaluate

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = Project(folder, overrides)
        result.ref, result.concepts = ref, concepts
        result.round0 = evaluate.run(result.cfg(0))
        # Round 1 on the split of the activation store, to check it against the stored activations; the model is
        # weak (trained briefly), so "discovered" is set below the channel concept's IoU.
        ref["discovered"] = round(max(0.02, ref["iou"] - 0.03), 4)
        result.round1_pixel = evaluate.run(result.cfg(1, split=ref["split"], iou_discovered=ref["discovered"]))
        result.round1 = evaluate.run(result.cfg(1, split=ref["split"], iou_discovered=ref["discovered"],
                                                iou_resolution="cell"))  # last: its files stay on disk
        yield result


def _png(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_round_0_without_concepts(project) -> None:
    out = project.folder / "evaluation/round_0"
    document = json.loads((out / "metrics.json").read_text())
    assert document == project.round0
    assert (document["round"], document["split"], document["layer"]) == (0, "test", "features.block3")
    assert document["n_concepts"] == 0 and document["concepts"] == []
    assert document["parts_discovered"] == 0 and document["parts_discovered_fraction"] == 0.0
    assert 0 < document["parts_total"] <= len(project.ref["parts"])
    assert len(document["parts"]) == document["parts_total"]
    assert all(p["best_concept"] is None for p in document["parts"])
    assert document["mean_concept_iou"] is None and not any(k.startswith("concept_") for k in document)
    atlas = json.loads((project.folder / "atlases/round_0/atlas.json").read_text())["metrics"]
    assert document["atlas_purity"] == atlas["atlas_purity"] and document["atlas_nmi"] == atlas["atlas_nmi"]
    assert (document["human_actions"], document["human_actions_total"]) == (0, 6)
    assert (document["human_edits"], document["human_edits_total"]) == (0, 1)
    assert 0 <= document["class_acc"] <= 1 and document["n_sketches"] == 80
    for name in ("concept_maps.png", "iou_matrix.png"):
        assert _png(out / "figures" / name)[0] > 300  # a figure that says there are no concepts yet
    assert not list(project.folder.glob("evaluation/.round_0*")), "no temporary folder is left"
    info = json.loads((out / "info.json").read_text())
    assert info["model"] == str(project.folder / "models/round_0/model.pt") and info["seconds"] > 0

    client = MlflowClient(f"sqlite:///{project.folder / 'mlflow.db'}")
    run = client.get_run(info["mlflow_run_id"])
    assert run.data.tags["stage"] == "evaluate" and run.data.tags["round"] == "0"
    metrics = run.data.metrics
    assert metrics["class_acc"] == document["class_acc"] and metrics["atlas_nmi"] == pytest.approx(atlas["atlas_nmi"])
    assert metrics["seconds"] == info["seconds"]
    assert (metrics["parts_discovered"], metrics["n_concepts"], metrics["human_actions"]) == (0, 0, 0)
    assert "mean_concept_iou" not in metrics and not any(k.startswith("concept_") for k in metrics)


def test_round_1_against_the_activation_store(project) -> None:
    ref, document = project.ref, project.round1
    out = project.folder / "evaluation/round_1"
    assert json.loads((out / "metrics.json").read_text()) == document
    acts, part, nparts = ref["acts"], ref["part"], len(ref["parts"])
    assert document["n_concepts"] == 3 and document["split"] == ref["split"] and document["n_sketches"] == len(part)
    channel, named, nothing, everything = ref["channel"], *document["concepts"]

    # The channel concept: sigmoid(s (a - t)) >= 0.5 where a >= t (the store holds float16 activations, so a few
    # positions at the threshold may differ: IoUs agree to 0.02).
    pred = acts[..., channel] >= ref["threshold"]
    iou = _reference_iou(pred, part, nparts)
    assert named["name"] == ref["parts"][ref["part_id"] - 1] and named["iou_key"] == f"concept_iou/{named['name']}_c1"
    assert iou[ref["parts"].index(named["matched_part"])] >= iou.max() - 0.02  # the best part (up to near ties)
    assert named["iou"] == pytest.approx(iou.max(), abs=0.02) and named["iou"] > 0.05
    assert named["iou_by_part"][0] == {"part": named["matched_part"], "iou": named["iou"]}
    assert len(named["iou_by_part"]) == 3 and named["iou_by_part"][2]["iou"] <= named["iou_by_part"][1]["iou"]
    contains = np.stack([(part == p).any((1, 2)) for p in range(nparts + 1)], axis=1)
    from sklearn.metrics import average_precision_score

    matched = ref["parts"].index(named["matched_part"]) + 1
    expected_ap = average_precision_score(contains[:, matched], acts[..., channel].max((1, 2)))
    assert named["ap"] == pytest.approx(expected_ap, abs=0.03)

    # The silent concept matches nothing; its exact name is in the JSON, a safe key in MLflow.
    assert (nothing["name"], nothing["matched_part"], nothing["iou"], nothing["ap"]) == ("<b>a/b</b>", None, 0.0, 0.0)
    assert nothing["iou_key"] == "concept_iou/b_a_b_b_c2" and nothing["ap_key"] == "concept_ap/b_a_b_b_c2"
    # The concept that fires everywhere: IoU(p) = area of p / all positions, matched to the largest part;
    # its constant presence gives the share of sketches with that part as AP.
    area = np.bincount(part.ravel(), minlength=nparts + 1)[1:]
    biggest = int(area.argmax())
    assert everything["matched_part"] == ref["parts"][biggest]
    assert everything["iou"] == pytest.approx(area[biggest] / part.size)
    assert everything["ap"] == pytest.approx(contains[:, biggest + 1].mean())
    assert everything["predicted_fraction"] == 1.0 and everything["present_fraction"] == 1.0

    # Parts discovered (at the threshold set for this weak model) and the means.
    best = np.stack([iou, np.zeros(nparts), area / part.size]).max(0)
    occurs, at = area > 0, ref["discovered"]
    assert document["iou_discovered"] == at and document["parts_total"] == int(occurs.sum())
    assert 1 <= int(((best >= at + 0.02) & occurs).sum()) <= document["parts_discovered"] <= \
        int(((best >= at - 0.02) & occurs).sum())
    assert sum(p["discovered"] for p in document["parts"]) == document["parts_discovered"]
    assert document["parts_discovered_fraction"] == pytest.approx(document["parts_discovered"] / occurs.sum())
    assert document["mean_concept_iou"] == pytest.approx((named["iou"] + everything["iou"]) / 3)
    assert document["mean_concept_ap"] == pytest.approx((named["ap"] + everything["ap"]) / 3)
    assert (document["human_actions"], document["human_actions_total"]) == (4, 6)  # round 0's labeling made round 1
    assert (document["human_edits"], document["human_edits_total"]) == (1, 1)

    # The same net as round 0: the class accuracy of round 0's model on this split.
    from pipeline.activations.extractor import render_batch
    from pipeline.data.store import read_split
    from pipeline.models.build import load_trained
    from pipeline.models.input_spec import to_model_input

    model = load_trained(project.folder / "models/round_0/model.pt")
    sketches = read_split(project.folder / "dataset", ref["split"])
    images, _ = render_batch(sketches, model.raster, None)
    with torch.no_grad():
        predicted = model.net(to_model_input(torch.from_numpy(images)[:, None], model.input_spec)).argmax(1).numpy()
    labels = np.array([model.class_names.index(s.word) for s in sketches])
    # the stage reads the drawings in batches of another size: a drawing on a near tie may tip (one drawing)
    assert document["class_acc"] == pytest.approx((predicted == labels).mean(), abs=1.01 / len(labels))

    width, height = _png(out / "figures/concept_maps.png")
    assert height > 500 and width > 600, "three rows of four examples"
    assert _png(out / "figures/iou_matrix.png")[0] > 800, "a column per part"

    client = MlflowClient(f"sqlite:///{project.folder / 'mlflow.db'}")
    run = client.get_run(json.loads((out / "info.json").read_text())["mlflow_run_id"])
    assert run.data.tags["round"] == "1"
    metrics = run.data.metrics
    for key in (named["iou_key"], named["ap_key"], "concept_iou/b_a_b_b_c2", "concept_ap/everything_x_c3",
                "class_acc", "parts_discovered", "atlas_purity", "human_actions", "mean_concept_iou"):
        assert metrics[key] == pytest.approx(document[key]), key
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"metrics.json", "figures", "concepts"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "figures")} == {
        "figures/concept_maps.png", "figures/iou_matrix.png", "figures/reliance.png"}
    # Which concepts the model relies on: the table, one metric per concept (the largest drop), the figure.
    reliance = document["reliance"]
    assert reliance["classes"] == model.class_names and reliance["grow"] == 2
    assert set(reliance["drop"]) == {c["id"] for c in document["concepts"]}
    for concept in document["concepts"]:
        key = concept["iou_key"].replace("concept_iou/", "concept_reliance/")
        assert metrics[key] == pytest.approx(max(reliance["drop"][concept["id"]].values()), abs=1e-4)
        assert all(-1.0 <= v <= 1.0 for v in reliance["drop"][concept["id"]].values())
    assert _png(out / "figures/reliance.png")[0] > 400
    snapshot = client.download_artifacts(run.info.run_id, "concepts/concepts.yaml", str(project.folder / "dl"))
    assert "roof" in Path(snapshot).read_text()


def test_stage_errors(project) -> None:
    from pipeline.stages import evaluate

    with pytest.raises(InputError, match=r"models/round_2/model.pt: no round 2 model here.*finetune round=2"):
        evaluate.run(project.cfg(2))
    (project.folder / "models/round_3").mkdir()
    shutil.copy(project.folder / "models/round_1/model.pt", project.folder / "models/round_3/model.pt")
    with pytest.raises(InputError, match=r"atlases/round_3/atlas.json: no round 3 atlas.*stages.atlas round=3"):
        evaluate.run(project.cfg(3))
    with pytest.raises(ConfigError, match="evaluate.threshold"):
        evaluate.run(project.cfg(1, threshold=1.5))
    with pytest.raises(InputError, match="no 'nope' split"):
        evaluate.run(project.cfg(1, split="nope"))
    assert sorted(p.name for p in (project.folder / "evaluation").iterdir()) == ["round_0", "round_1"]


def test_data_without_true_parts(project, tmp_path: Path) -> None:
    """Quick, Draw! data has no part annotations: the part metrics are undefined, not zero."""
    from pipeline.data.store import Manifest, read_manifest, write_manifest
    from pipeline.stages import evaluate

    dataset = tmp_path / "dataset"
    shutil.copytree(project.folder / "dataset", dataset)
    manifest = read_manifest(dataset)
    write_manifest(dataset, Manifest(**{**vars(manifest), "parts": None}))
    cfg = project.cfg(1, examples=2)
    cfg.paths.dataset, cfg.paths.evaluation = str(dataset), str(tmp_path / "evaluation")
    document = evaluate.run(cfg)
    assert document["n_concepts"] == 3 and document["parts"] is None
    assert all(document[k] is None for k in ("parts_discovered", "parts_total", "mean_concept_iou", "mean_concept_ap"))
    assert [(c["matched_part"], c["iou"], c["ap"]) for c in document["concepts"]] == [(None, None, None)] * 3
    assert not any(k.startswith(("concept_iou", "concept_ap")) for k in document)
    # reliance needs classes only: it is measured without true parts too
    assert sum(k.startswith("concept_reliance/") for k in document) == 3 and document["reliance"]["drop"]
    assert document["class_acc"] == pytest.approx(project.round0["class_acc"])  # same net, same test split
    assert _png(tmp_path / "evaluation/round_1/figures/concept_maps.png")[0] > 400


def test_iou_at_input_resolution_is_the_headline(project) -> None:
    """By default IoU is Network Dissection's: maps upsampled, over the ink pixels; the cell figures stay beside."""
    from pipeline.activations.extractor import render_batch
    from pipeline.data.store import read_manifest, read_split
    from pipeline.evaluation.inference import Evaluator
    from pipeline.evaluation.metrics import ink_pixel_predictions
    from pipeline.models.build import load_trained

    cell, pixel = project.round1, project.round1_pixel
    assert pixel["mean_concept_iou_cell"] == pytest.approx(cell["mean_concept_iou"])
    assert pixel["parts_discovered_cell"] == cell["parts_discovered"]
    model = load_trained(project.folder / "models/round_1/model.pt")
    parts = read_manifest(project.folder / "dataset").parts
    index = {p: i + 1 for i, p in enumerate(parts)}
    sketches = read_split(project.folder / "dataset", project.ref["split"])
    named = pixel["concepts"][0]
    part = index[named["matched_part"]]
    inter = union = 0
    evaluator, geometry = Evaluator(model), LayerGeometry.of(model)
    for start in range(0, len(sketches), 64):
        images, masks = render_batch(sketches[start:start + 64], model.raster, index)
        _, maps = evaluator.forward(images)
        predicted = ink_pixel_predictions(maps.numpy(), masks, geometry, 0.5)[:, 0]
        inter += int((predicted & (masks == part)).sum())
        union += int((predicted | (masks == part)).sum())
    # batches of another size than the stage's: a map value on the 0.5 threshold may tip a few cells' pixels
    assert named["iou"] == pytest.approx(inter / union, abs=max(1e-6, 64 / union))
    assert named["iou"] != pytest.approx(cell["concepts"][0]["iou"], abs=1e-3)  # a different measure
    with pytest.raises(ConfigError, match="iou_resolution"):
        from pipeline.stages import evaluate

        evaluate.run(project.cfg(1, iou_resolution="voxel"))
