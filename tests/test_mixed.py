"""``data=mixed``: generated drawings (with parts) and real ones (without) in one dataset, split, trained on, looked
into and measured, the part metrics and the simulated artist over the drawings that name their parts only."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import compose
from pipeline.data.datamodule import SketchDataset, real_drawings, real_share_sampler
from pipeline.data.raster import RasterSpec
from pipeline.data.store import UNKNOWN_PART, read_manifest, read_split
from core.errors import ConfigError, InputError
from pipeline.stages import data as data_stage
from tests.conftest import ROOT

CLASSES = ["apple", "flower", "sun"]
#: Real drawings a class copied from the shared samples.
REAL = 8


@pytest.fixture
def real_dir(tmp_path: Path, quickdraw_dir: Path) -> Path:
    """A user's folder: the first REAL real drawings of each of CLASSES, one <class>.ndjson a class."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in CLASSES:
        lines = (quickdraw_dir / "ndjson" / f"{name}.ndjson").read_text().splitlines()[:REAL]
        (folder / f"{name}.ndjson").write_text("\n".join(lines) + "\n")
    return folder


def _settings(folder: Path, real: Path, *extra: str) -> list[str]:
    return [f"paths.dataset={folder / 'dataset'}", f"mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}",
            f"mlflow.artifact_location={folder / 'artifacts'}", "data=mixed", "data.source.num_sketches=60",
            "data.source.progress=false", f"data.source.classes=[{','.join(CLASSES)}]",
            f"data.source.real.folder={real}", *extra]


def _data(folder: Path, real: Path, *extra: str):
    return data_stage.run(compose(_settings(folder, real, *extra), config_dir=ROOT / "conf"))


def test_mixed_splits_real_drawings_by_count_reproducibly(tmp_path: Path, real_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    manifest = _data(tmp_path / "a", real_dir, "data.source.real.splits={train: 5, test: null}")
    assert manifest.name == "mixed" and manifest.classes == CLASSES and manifest.parts
    assert manifest.real["per_class"] == {c: {"train": 5, "test": REAL - 5} for c in CLASSES}
    assert manifest.real["share"] == 0.5 and manifest.real["augment"] == {"rotation": 15.0, "scale": 0.15, "shift": 0.05}
    splits = {name: read_split(tmp_path / "a" / "dataset", name) for name in manifest.splits}
    real = {name: Counter(s.word for s in items if s.parts is None) for name, items in splits.items()}
    assert real["train"] == {c: 5 for c in CLASSES} and real["test"] == {c: REAL - 5 for c in CLASSES}
    assert not real["val"]
    assert sum(s.parts is not None for items in splits.values() for s in items) == 60, "every generated drawing, parts kept"
    # The same drawings train whatever the order of the lines in the files: the split is by seed and content.
    for path in real_dir.glob("*.ndjson"):
        lines = path.read_text().splitlines()
        random.Random(1).shuffle(lines)
        path.write_text("\n".join(lines) + "\n")
    _data(tmp_path / "b", real_dir, "data.source.real.splits={train: 5, test: null}")
    train = {s.key_id for s in read_split(tmp_path / "a" / "dataset", "train") if s.parts is None}
    assert train == {s.key_id for s in read_split(tmp_path / "b" / "dataset", "train") if s.parts is None}
    # Another seed draws other training drawings.
    _data(tmp_path / "c", real_dir, "data.source.real.splits={train: 5, test: null}", "seed=3")
    assert train != {s.key_id for s in read_split(tmp_path / "c" / "dataset", "train") if s.parts is None}


def test_fewer_real_drawings_than_asked_all_train(tmp_path: Path, real_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    manifest = _data(tmp_path, real_dir, f"data.source.real.splits={{train: {REAL + 5}, test: null}}")
    assert manifest.real["per_class"]["sun"] == {"train": REAL, "test": 0}


@pytest.mark.parametrize("override, expected", [
    ("data.source.real.classes=[apple,banana]", "'banana' is not among the generator's classes"),
    ("data.source.real.share=1.5", "data.source.real.share must be a share in (0, 1)"),
    ("+data.source.real.splits.holdout=2", "data.source.real.splits.holdout: data.splits has no 'holdout' split"),
    ("data.source.real.splits={train: null, test: null}", "at most one split takes the rest"),
    ("data.source.real.splits={train: -1}", "data.source.real.splits.train must be a count >= 0"),
    ("+data.source.real.colour=red", "unknown key 'data.source.real.colour'"),
    ("+data.source.wobbles=2", "unknown key 'data.source.wobbles'"),
    ("data.source.augment.scale=2", "data.source.augment.scale must be a number from 0 to 0.9"),
    ("data.source.augment=7", "data.source.augment must hold rotation, scale, shift"),
])
def test_bad_mixed_settings_say_which_key(tmp_path: Path, real_dir: Path, override: str, expected: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="") as caught:
        _data(tmp_path, real_dir, override)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "dataset").exists(), "nothing half-written"


def test_a_folder_with_none_of_the_generators_classes_is_one_error(tmp_path: Path, real_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(InputError, match="no <class>.ndjson for any class of the generator"):
        _data(tmp_path, real_dir, "data.source.classes=[cat,dog]")


def test_the_train_sampler_draws_the_real_share(tmp_path: Path, real_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    folder = tmp_path / "dataset"
    manifest = _data(tmp_path, real_dir, "data.source.real.share=0.5", "data.source.num_sketches=600")
    train = SketchDataset(read_split(folder, "train"), manifest.class_index, RasterSpec(size=32))
    real = np.array([s.parts is None for s in train.sketches])
    assert real.mean() < 0.1, "left alone, the few real drawings would hardly be seen"
    assert (real_drawings(manifest, train.sketches) == real).all()
    drawn = np.concatenate([list(real_share_sampler(real, manifest.real["share"], seed)) for seed in range(10)])
    assert abs(real[drawn].mean() - 0.5) < 0.05
    assert real_share_sampler(real, None, 0) is None


@pytest.mark.slow
def test_mixed_trains_and_the_loop_uses_parts_only_where_known(tmp_path: Path, real_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny mix through every stage: trained, extracted (the real drawings' positions: unknown part), an atlas
    whose purity counts the generated drawings only, the simulated artist judging only what it can, a fine-tune on
    its concepts and an evaluation whose part metrics leave the real drawings out and say how the real ones did."""
    from conceptstore.store import ConceptStore
    from tests.defaults import SimulatedArtist
    from labeling.atlas_view import AtlasView
    from pipeline.activations.store import ActivationStore
    from pipeline.stages import atlas as atlas_stage
    from pipeline.stages import evaluate as evaluate_stage
    from pipeline.stages import extract as extract_stage
    from pipeline.stages import finetune as finetune_stage
    from tests import labeling_project as builder

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = ["data=mixed", "data.source.num_sketches=240", "data.source.progress=false",
            f"data.source.classes=[{','.join(CLASSES)}]", f"data.source.real.folder={real_dir}",
            "data.source.real.splits.train=4", "+data.source.real.splits.val=2", "data.splits={train: 0.6, val: 0.2, test: 0.2}"]
    settings = builder.build(tmp_path, data=data)
    manifest = read_manifest(tmp_path / "dataset")
    val = read_split(tmp_path / "dataset", "val")
    info = json.loads((tmp_path / "models" / "base" / "info.json").read_text())
    assert info["test_acc"] > 1 / len(CLASSES), "it learnt something of the mix"

    cfg = compose(settings)
    store = ActivationStore(Path(cfg.paths.activations) / "round_0" / cfg.model.layer)
    unknown = np.array([s.parts is None for s in val])
    assert unknown.sum() == 2 * len(CLASSES)
    parts = np.asarray(store.part)
    assert (parts[unknown] == UNKNOWN_PART).all(), "a real drawing's parts are unknown, not absent"
    assert (parts[~unknown] >= 0).all() and (parts[~unknown] > 0).any()

    view = AtlasView.load(cfg, 0)
    assert view.parts == manifest.parts
    assert min(view.columns()["part"]) >= -1, "the page gets -1 for no or an unknown part"
    if not (view.points["part"] == UNKNOWN_PART).any():
        pytest.skip("the atlas sampled no position of a real drawing")
    purity = view.document["metrics"]["atlas_purity"]
    assert purity is not None and 0 < purity <= 1

    concepts = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    artist = SimulatedArtist(budget=16, min_exemplars=4, max_actions=40)
    report = artist.play(view, concepts, progress=False)
    assert report.actions > 0 and report.concepts
    real_keys = {s.key_id for s in val if s.parts is None}
    judged = artist.judged_parts(view)
    for concept in concepts.state().concepts:
        assert not {str(p[0]) for p in concept.verified} & real_keys, "it verifies only what it could judge"
        unticked = {str(p[0]) for p in concept.negatives}
        assert not unticked & real_keys, "it unticks nothing it cannot judge"
    assert (judged[view.points["part"].to_numpy() == UNKNOWN_PART] == UNKNOWN_PART).all()

    round_1 = compose([*settings, "round=1", "finetune.epochs=1", "finetune.progress=false", "evaluate.progress=false",
                       "evaluate.reliance.enabled=false"])
    for stage in (finetune_stage, extract_stage, atlas_stage, evaluate_stage):
        stage.run(round_1)
    metrics = json.loads((tmp_path / "evaluation" / "round_1" / "metrics.json").read_text())
    test = read_split(tmp_path / "dataset", "test")
    assert metrics["n_real"] == sum(s.parts is None for s in test) == (REAL - 6) * len(CLASSES)
    assert 0 <= metrics["class_acc_real"] <= 1 and 0 <= metrics["class_acc_generated"] <= 1
    assert metrics["mean_concept_iou"] is not None and metrics["parts_total"] > 0
    generated = [s for s in test if s.parts is not None]
    assert all(p["sketches"] <= len(generated) for p in metrics["parts"]), "parts are counted on generated drawings"


def test_augment_redraws_about_the_centre() -> None:
    from pipeline.data.mixed import Augment
    from core.sketch import Sketch

    sketch = Sketch("k", "sun", (np.array([[127.5, 227.5], [127.5, 127.5]], dtype=np.float32),))
    same = Augment(15.0, 0.15, 0.05)(sketch, [0.5] * 5)
    np.testing.assert_allclose(same.strokes[0], sketch.strokes[0], atol=1e-4)
    turned = Augment(90.0, 0.0, 0.0)(sketch, [1.0, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(turned.strokes[0], [[127.5, 127.5], [127.5, 227.5]], atol=1e-3)
    moved = Augment(0.0, 0.0, 0.1)(sketch, [0.5, 0.5, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(moved.strokes[0] - sketch.strokes[0], [[25.5, 25.5], [-25.5, -25.5]], atol=1e-3)
    with pytest.raises(ConfigError, match="data.source.augment.rotation must be a number from 0 to 180"):
        Augment(200.0, 0.1, 0.1)
