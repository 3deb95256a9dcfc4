"""Fine-tuning on concepts: targets by hand, the Lightning module on a synthetic case, and the finetune stage end to
end on a small real project (round 1 and round 0), with its errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch.utils.data import TensorDataset

from conceptstore.drawings import DrawingBook, drawings_path
from conceptstore.store import ConceptStore
from pipeline.activations.extractor import Extractor, ink_cells, part_cells, render_batch
from pipeline.entry import EXIT_USER_ERROR
from pipeline.stages import stage_main
from pipeline.config import compose
from core.sketch import Sketch
from pipeline.data.store import read_split
from core.errors import ArticulateError, ConfigError, InputError
from pipeline.finetune.data import combined_loader
from pipeline.finetune.module import modules_after
from pipeline.finetune.targets import (BACKGROUND, NEGATIVE, OTHER, OTHER_UNVERIFIED, POSITIVE, UNLABELED,
                                       UNVERIFIED, build_targets, concept_loss)
from tests.defaults import ConceptFinetuner, TargetWeights
from pipeline.models.build import load_trained
from pipeline.models.concept_head import ConceptHead
from pipeline.models.input_spec import InputSpec
from pipeline.models.sketch_cnn import SketchCNN
from pipeline.stages import finetune as finetune_stage
from tests import labeling_project as builder


@dataclass
class _Concept:
    id: str
    name: str
    positives: list
    negatives: list
    verified: list = field(default_factory=list)


# --- targets --------------------------------------------------------------------------------------------------

def test_positives_nobody_looked_at_weigh_what_the_settings_say() -> None:
    """Verified positives (exemplars kept) weigh 1, the rest of a promoted cluster ``unverified_weight``; another
    concept's verified positives are ``other`` negatives, its unverified ones ``other_unverified``."""
    ink = {"a": np.ones((1, 4), dtype=bool)}
    concepts = [
        _Concept("c1", "ear", positives=[("a", 0, 0), ("a", 0, 1)], negatives=[], verified=[("a", 0, 0), ("b", 0, 0)]),
        _Concept("c2", "eye", positives=[("a", 0, 2), ("a", 0, 3)], negatives=[], verified=[("a", 0, 3)]),
    ]
    codes = build_targets(concepts, ink, height=1, width=4).codes[0, :, 0]
    np.testing.assert_array_equal(codes, [[POSITIVE, UNVERIFIED, OTHER_UNVERIFIED, OTHER],
                                          [OTHER, OTHER_UNVERIFIED, UNVERIFIED, POSITIVE]])
    weights = TargetWeights(unverified=0.3, other=0.9, other_unverified=0.2)
    target, weight = weights.apply(codes)
    np.testing.assert_array_equal(target, [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_allclose(weight, [[1, 0.3, 0.2, 0.9], [0.9, 0.2, 0.3, 1]])
    # Without any verified position recorded, a concept trusts all its positives (older stores, bare lassos).
    plain = build_targets([_Concept("c1", "ear", [("a", 0, 0), ("a", 0, 1)], [])], ink, 1, 4).codes[0, 0, 0]
    np.testing.assert_array_equal(plain[:2], [POSITIVE, POSITIVE])


def test_targets_by_hand() -> None:
    ink = {"a": np.array([[1, 1, 0], [1, 1, 0]], dtype=bool), "b": np.array([[0, 0, 0], [0, 0, 1]], dtype=bool)}
    concepts = [
        _Concept("c1", "ear", positives=[("a", 0, 0), ("a", 0, 1), ("zz", 0, 0), ("a", 5, 5)], negatives=[("a", 1, 1)]),
        _Concept("c2", "eye", positives=[("a", 0, 1), ("b", 1, 2)], negatives=[("a", 0, 0), ("b", 0, -1)]),
    ]
    targets = build_targets(concepts, ink, height=2, width=3)
    assert targets.key_ids == ["a", "b"] and targets.concept_ids == ["c1", "c2"]
    assert (targets.skipped_unknown, targets.skipped_outside) == (1, 2)
    P, N, O, B, U = POSITIVE, NEGATIVE, OTHER, BACKGROUND, UNLABELED
    expected = np.array([
        [[[P, P, B], [U, N, B]],    # ear on a: its positives, its negative, no ink -> background, (1,0) unknown ink
         [[N, P, B], [U, U, B]]],   # eye on a: its negative beats "positive of ear"; ear's negative means nothing here
        [[[B, B, B], [B, B, O]],    # ear on b: eye's positive counts as "other"
         [[B, B, B], [B, B, P]]],
    ], dtype=np.uint8)
    np.testing.assert_array_equal(targets.codes, expected)
    assert targets.positives == [2, 2] and targets.negatives == [1, 1]

    weights = TargetWeights(negative=1.0, other=0.5, background=0.2, unlabeled=0.0)
    target, weight = targets.targets(weights)
    np.testing.assert_array_equal(target, (expected == P).astype(np.float32))
    lut = {P: 1.0, N: 1.0, O: 0.5, B: 0.2, U: 0.0}
    np.testing.assert_allclose(weight, np.vectorize(lut.get)(expected).astype(np.float32))

    # The loss is sum(w * BCE) / sum(w): at logit 0 every counted position costs log 2.
    codes = torch.from_numpy(targets.codes)
    assert float(concept_loss(torch.zeros(codes.shape), codes, weights)) == pytest.approx(math.log(2))
    logits = torch.randn(codes.shape)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(target), reduction="none")
    manual = float((torch.from_numpy(weight) * bce).sum() / weight.sum())
    assert float(concept_loss(logits, codes, weights)) == pytest.approx(manual, rel=1e-5)
    # Unlabeled ink counted too when asked; nothing counted at all is a zero loss, not a NaN.
    assert TargetWeights(unlabeled=0.3).apply(np.array([U]))[1][0] == pytest.approx(0.3)
    nothing = torch.full((1, 1, 2, 2), U, dtype=torch.uint8)
    assert float(concept_loss(torch.randn(1, 1, 2, 2), nothing, weights)) == 0.0
    for bad in ({"negative": -1.0}, {"background": float("nan")}, {"balanced": "yes"}):
        with pytest.raises(ConfigError, match="finetune"):
            TargetWeights(**bad)


def test_the_balanced_loss_gives_a_concepts_few_positives_half_of_its_loss() -> None:
    """One positive among 99 negatives: plain, the loss hardly sees it; balanced, it is half of the loss."""
    O, P = OTHER, POSITIVE
    codes = torch.full((1, 1, 10, 10), O, dtype=torch.uint8)
    codes[0, 0, 0, 0] = P
    logits = torch.zeros(codes.shape)
    logits[0, 0, 0, 0] = -4.0  # the positive badly missed, the negatives right at logit 0
    miss, hit = float(torch.nn.functional.softplus(torch.tensor(4.0))), math.log(2)
    plain, balanced = TargetWeights(other=1.0), TargetWeights(other=1.0, balanced=True)
    assert float(concept_loss(logits, codes, plain)) == pytest.approx((miss + 99 * hit) / 100, rel=1e-5)
    assert float(concept_loss(logits, codes, balanced)) == pytest.approx((miss + hit) / 2, rel=1e-5)
    # a concept without a positive in the batch is judged on its negatives alone, not diluted by a missing side
    assert float(concept_loss(torch.zeros(1, 1, 3, 3), torch.full((1, 1, 3, 3), O, dtype=torch.uint8),
                              balanced)) == pytest.approx(hit)
    # the gradient reaches the positive 99 times harder than in the plain loss
    for weights, factor in ((plain, 1.0), (balanced, 99.0)):
        x = logits.clone().requires_grad_(True)
        concept_loss(x, codes, weights).backward()
        if factor == 1.0:
            reference = float(x.grad[0, 0, 0, 0])
        else:
            assert float(x.grad[0, 0, 0, 0]) == pytest.approx(reference * 100 / 2, rel=1e-4)


# --- the module on a synthetic case -----------------------------------------------------------------------------

SPEC32 = InputSpec(size=32, channels=1, mean=(0.0,), std=(1.0,), invert=False)


def _synthetic(n: int = 64, seed: int = 0):
    """Class 0: a horizontal line, class 1: a vertical one; every other image also has a 6x6 square ("blob")."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 32, 32), dtype=np.float32)
    squares = np.zeros_like(images)
    labels = np.arange(n) % 2
    for i in range(n):
        at = rng.integers(4, 28)
        if labels[i]:
            images[i, 3:29, at] = 1.0
        else:
            images[i, at, 3:29] = 1.0
        if i % 4 < 2:
            y, x = rng.integers(2, 24, size=2)
            squares[i, y:y + 6, x:x + 6] = 1.0
    return np.maximum(images, squares), squares, labels


def _module(layer: str, freeze: bool = False, **kwargs) -> tuple[ConceptFinetuner, Extractor]:
    torch.manual_seed(0)
    net = SketchCNN(2, widths=[4, 8, 8])
    geometry = Extractor(net, [layer], SPEC32).geometry[layer]
    net.train()  # the extractor put it in eval mode
    module = ConceptFinetuner(net=net, layer=layer, head=ConceptHead(geometry.channels, 1), concept_names=["blob"],
                              input_spec=SPEC32, freeze_after_layer=freeze, **kwargs)
    return module, geometry


def _fit(module: ConceptFinetuner, geometry, epochs: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    import lightning as L

    images, squares, labels = _synthetic()
    ink = ink_cells(images, geometry)
    blob = ink_cells(squares, geometry)
    keys = [str(i) for i in range(len(images))]
    concept = _Concept("c1", "blob", [(k, y, x) for i, k in enumerate(keys) for y, x in zip(*np.nonzero(blob[i]))],
                       [(k, y, x) for i, k in enumerate(keys) if not blob[i].any()
                        for y, x in zip(*np.nonzero(ink[i]))])
    targets = build_targets([concept], dict(zip(keys, ink)), geometry.height, geometry.width)
    order = [int(k) for k in targets.key_ids]
    x = torch.from_numpy(images)[:, None]
    y = torch.from_numpy(labels).long()
    concept_set = TensorDataset(x[order], y[order], torch.from_numpy(targets.codes),
                                torch.ones(len(order), dtype=torch.bool))
    loader = combined_loader(TensorDataset(x, y), concept_set, batch_size=16, concept_batch_size=16)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=loader)
    module.eval()
    with torch.no_grad():
        presence = module(x).presence[:, 0]
    return images, squares, presence


def test_module_learns_concept_presence_on_a_synthetic_case() -> None:
    module, geometry = _module("features.block3", lr=3e-3, head_lr=0.05)
    _, squares, presence = _fit(module, geometry, epochs=6)
    history = module.history
    assert len(history) == 6 and not module.frozen
    assert history[-1]["concept_loss"] < 0.5 * history[0]["concept_loss"], history
    has = torch.from_numpy(squares.reshape(len(squares), -1).max(1) > 0)
    # Presence (max over positions) separates the sketches with the concept from those without.
    auc = (presence[has][:, None] > presence[~has][None, :]).float().mean()
    assert auc > 0.9 and presence[has].mean() > presence[~has].mean() + 1.0, (auc, presence)


def test_layers_after_the_atlas_layer_can_be_frozen() -> None:
    net = SketchCNN(2, widths=[4, 8, 8])
    assert modules_after(net, "features.block2", (1, 1, 32, 32)) == [
        "features.block3.conv", "features.block3.bn", "classifier.fc"]
    assert modules_after(net, "features.block3", (1, 1, 32, 32)) == ["classifier.fc"]

    module, geometry = _module("features.block2", freeze=True, lr=3e-3, head_lr=0.05)
    assert module.frozen == ["features.block3.conv", "features.block3.bn", "classifier.fc"]
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    _fit(module, geometry, epochs=1)
    after = module.net.state_dict()
    for key in before:
        if key.startswith(("features.block3", "classifier")):
            assert torch.equal(before[key], after[key]), f"{key} is frozen"  # weights and BatchNorm statistics
    assert not torch.equal(before["features.block1.conv.weight"], after["features.block1.conv.weight"])
    assert not torch.equal(before["features.block2.bn.running_mean"], after["features.block2.bn.running_mean"])


def test_the_stem_stays_as_the_base_trained_it() -> None:
    module, geometry = _module("features.block3", lr=3e-3, head_lr=0.05, stem=["features.block1"])
    assert module.frozen == ["features.block1"]
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    _, squares, presence = _fit(module, geometry, epochs=2)
    after = module.net.state_dict()
    for key in before:
        if key.startswith("features.block1."):
            assert torch.equal(before[key], after[key]), f"{key} is the stem's"  # weights and BatchNorm statistics
    assert not torch.equal(before["features.block2.conv.weight"], after["features.block2.conv.weight"])
    assert not torch.equal(before["features.block3.bn.running_mean"], after["features.block3.bn.running_mean"])
    has = torch.from_numpy(squares.reshape(len(squares), -1).max(1) > 0)
    assert presence[has].mean() > presence[~has].mean()  # the layers after the stem still learn the concept
    with pytest.raises(ConfigError, match=r"finetune.stem: 'features.block9' is not a module"):
        _module("features.block3", stem=["features.block9"])


# --- the stage end to end ---------------------------------------------------------------------------------------

PARTS = ["wheel", "window", "eye"]


@pytest.fixture(scope="module")
def project(labeling_project, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the test run's trained project (tests/labeling_project.py): its dataset and the base model the
    train_base stage trained and registered in its MLflow store, which the copy's rounds keep using."""
    import shutil

    folder = tmp_path_factory.mktemp("finetune_project")
    for name in ("dataset", "models/base", "artifacts"):
        shutil.copytree(labeling_project.folder / name, folder / name)
    shutil.copy(labeling_project.folder / "mlflow.db", folder / "mlflow.db")
    overrides = [
        f"paths.dataset={folder / 'dataset'}", f"paths.models={folder / 'models'}", f"paths.checkpoints={folder / 'ckpt'}",
        f"paths.concepts={folder / 'concepts' / 'concepts.yaml'}",
        f"mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}", f"mlflow.artifact_location={folder / 'artifacts'}",
        "mlflow.experiment=finetune-tests",
    ]
    return folder, overrides


def _cfg(overrides: list[str], round_: int, *extra: str):
    return compose([*overrides, f"round={round_}", "finetune.epochs=2", "finetune.batch_size=32",
                    "finetune.concept_batch_size=16", "finetune.progress=false", "finetune.examples=2", *extra])


def _promote_true_parts(folder: Path, store: ConceptStore, layer: str = "features.block3") -> int:
    """Concepts from the val split's true parts (as the simulated artist would name them), a few negatives each,
    and positions on a drawing made in the app; returns how many of those."""
    model = load_trained(folder / "models" / "base" / "model.pt")
    geometry = Extractor(model.net, [model.layer], model.input_spec).geometry[model.layer]
    sketches = read_split(folder / "dataset", "val")
    parts = sorted({p for s in sketches for p in s.parts})
    _, masks = render_batch(sketches, model.raster, {p: i + 1 for i, p in enumerate(parts)})
    cells = part_cells(masks, geometry)
    rng = np.random.default_rng(0)
    for name in PARTS:
        n, y, x = np.nonzero(cells == parts.index(name) + 1)
        take = rng.choice(len(n), size=min(60, len(n)), replace=False)
        other = np.nonzero((cells > 0) & (cells != parts.index(name) + 1))
        off = rng.choice(len(other[0]), size=5, replace=False)
        store.promote(name, [(sketches[n[i]].key_id, int(y[i]), int(x[i])) for i in take],
                      [(sketches[other[0][i]].key_id, int(other[1][i]), int(other[2][i])) for i in off],
                      layer=layer, born_round=0, source={"kind": "manual"})
    # A position of a sketch the dataset does not have, and one outside the grid: skipped with a warning.
    store.add(PARTS[0], [("no-such-sketch", 1, 1), (sketches[0].key_id, 40, 3)], source={"kind": "manual"})
    # A drawing made on the drawing page, kept beside the store, marked "this is <PARTS[0]>" where that part is.
    row = int(np.nonzero((cells == parts.index(PARTS[0]) + 1).any(axis=(1, 2)))[0][0])
    mine = sketches[row]
    key = DrawingBook(drawings_path(store.path)).add(Sketch("page", mine.word, mine.strokes))
    ys, xs = np.nonzero(cells[row] == parts.index(PARTS[0]) + 1)
    store.add(PARTS[0], [(key, int(y), int(x)) for y, x in zip(ys, xs)], source={"kind": "drawing", "round": 0})
    return len(ys)


def test_stage_round_1_and_round_0(project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    folder, overrides = project
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    base_info = json.loads((folder / "models/base/info.json").read_text())
    store = ConceptStore(folder / "concepts" / "concepts.yaml")
    drawn = _promote_true_parts(folder, store)

    info = finetune_stage.run(_cfg(overrides, 1))
    out = folder / "models/round_1"
    assert json.loads((out / "info.json").read_text()) == info
    assert "concept positions are of sketches the dataset" in caplog.text and "outside the 16x16 grid" in caplog.text
    model = load_trained(out / "model.pt")
    assert model.round == 1 and model.layer == "features.block3"
    assert [c["name"] for c in model.concepts] == PARTS
    assert [c["id"] for c in model.concepts] == [c.id for c in store.state().concepts]
    assert all(c["born_round"] == 0 for c in model.concepts)
    concept_model = model.concept_model()
    output = concept_model(torch.zeros(2, 1, 64, 64))
    assert output.concept_logits.shape == (2, 3, 16, 16) and output.logits.shape == (2, len(builder.CLASSES))
    # the stem (SketchCNN.stem: finetune.stem null) is the base model's, the layers after it moved
    base_state, state = load_trained(folder / "models/base/model.pt").net.state_dict(), model.net.state_dict()
    assert all(torch.equal(base_state[k], state[k]) for k in state if k.startswith("features.block1."))
    assert not torch.equal(base_state["features.block2.conv.weight"], state["features.block2.conv.weight"])
    # each concept's 60 labelled positives, those on the drawing made in the app, and the positions its labels
    # spread to (finetune.spread)
    assert info["spread_positions"] > 0 and all(c["positives"] >= 60 for c in info["concepts"])
    assert info["concepts"][0]["positives"] >= 60 + drawn > 60
    assert sum(c["positives"] for c in info["concepts"]) == 180 + drawn + info["spread_positions"]
    assert [c["negatives"] for c in info["concepts"]] == [5, 5, 5]
    assert info["skipped_positions"] == {"unknown_sketch": 1, "outside_grid": 1}
    tested = len(read_split(folder / "dataset", "test"))  # measured twice, in batches: one drawing may tip
    assert info["base_class_acc"] == pytest.approx(base_info["test_acc"], abs=1.01 / tested)
    assert info["class_acc"] >= info["base_class_acc"] - 0.05, info
    assert len(info["epochs"]) == 2 and info["epochs"][-1]["concept_loss"] < info["epochs"][0]["concept_loss"]
    assert (out / "concept_maps.png").stat().st_size > 10_000
    assert not list(folder.glob("models/.round_1*")), "no temporary folder is left"

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    run = client.get_run(info["mlflow_run_id"])
    assert run.data.tags["stage"] == "finetune" and run.data.tags["round"] == "1"
    metrics = {"class_acc", "base_class_acc", "concept_loss", "train_class_loss", "train_concept_loss"}
    assert metrics <= set(run.data.metrics)
    assert len(client.get_metric_history(run.info.run_id, "train_concept_loss")) == 2
    assert "concept_maps.png" in [a.path for a in client.list_artifacts(run.info.run_id)]
    name = base_info["registered_model"]
    version = client.get_model_version_by_alias(name, "round-1")
    assert int(version.version) == info["model_version"] != base_info["model_version"]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    logits, maps = mlflow.pytorch.load_model(f"models:/{name}@round-1")(torch.zeros(3, 1, 64, 64))
    assert logits.shape == (3, len(builder.CLASSES)) and maps.shape == (3, 3, 16, 16)

    # Round 0: the base model as it is, with the alias round-0 on the base's version.
    info0 = finetune_stage.run(_cfg(overrides, 0))
    zero = load_trained(folder / "models/round_0/model.pt")
    assert zero.round == 0 and zero.concept_head is None
    base = load_trained(folder / "models/base/model.pt")
    assert all(torch.equal(a, b) for a, b in zip(zero.net.state_dict().values(), base.net.state_dict().values()))
    assert info0["class_acc"] == base_info["test_acc"] and info0["model_version"] == base_info["model_version"]
    assert int(client.get_model_version_by_alias(name, "round-0").version) == base_info["model_version"]
    assert json.loads((folder / "models/round_0/info.json").read_text())["round"] == 0


def test_stage_errors(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    folder, overrides = project
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    empty = tmp_path / "concepts.yaml"
    with pytest.raises(InputError, match=f"{empty}: the concept store has no concepts.*articulate label.*artist"):
        finetune_stage.run(_cfg([*overrides, f"paths.concepts={empty}"], 2))
    # From the command line: one line, exit status 2.
    assert stage_main(finetune_stage.run, [*overrides, f"paths.concepts={empty}", "round=2"]) == EXIT_USER_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"error: {empty}: the concept store has no concepts")
    assert not any(line.startswith("Traceback") for line in lines)

    store = ConceptStore(tmp_path / "other" / "concepts.yaml")
    store.promote("stroke", [("x", 1, 1)], layer="features.block2", born_round=0, source={"kind": "manual"})
    store.promote("loop", [("x", 1, 1)], layer="features.block3", born_round=0, source={"kind": "manual"})
    with pytest.raises(ConfigError, match="'stroke' \\(c1, layer features.block2\\).*'features.block3'") as err:
        finetune_stage.run(_cfg([*overrides, f"paths.concepts={store.path}"], 2))
    assert "loop" not in str(err.value)

    with pytest.raises(InputError, match="no trained model here"):
        finetune_stage.run(_cfg([*overrides, f"paths.models={tmp_path / 'none'}"], 2))
    assert not (folder / "models/round_2").exists()
    assert issubclass(ConfigError, ArticulateError) and issubclass(InputError, ArticulateError)
