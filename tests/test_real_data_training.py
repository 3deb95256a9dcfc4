"""The real Quick, Draw! samples go through the data and train_base stages, and a model learns from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import compose
from pipeline.stages import data as data_stage
from pipeline.stages import train_base
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _cfg(tmp_path: Path, quickdraw_dir: Path, overrides: list[str]):
    return compose([
        f"paths.dataset={tmp_path / 'dataset'}", f"paths.models={tmp_path / 'models'}",
        f"paths.checkpoints={tmp_path / 'ckpt'}", f"paths.quickdraw={quickdraw_dir}",
        f"mlflow.artifact_location={tmp_path / 'artifacts'}", "mlflow.experiment=real-data",
        f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}", "trainer.enable_progress_bar=false",
        *overrides,
    ], config_dir=ROOT / "conf")


def test_ndjson_samples_train(tmp_path: Path, quickdraw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = _cfg(tmp_path, quickdraw_dir, [
        "data=quickdraw", "data.source.classes=[apple,wheel,envelope,star,moon]", "data.batch_size=16",
        "model.net.widths=[8,16,32,32]", "trainer.max_epochs=8", "model.optimizer.lr=0.01",
    ])
    manifest = data_stage.run(cfg)
    assert manifest.kind == "strokes" and manifest.classes == ["apple", "envelope", "moon", "star", "wheel"]
    assert sum(manifest.splits.values()) == 125 and manifest.parts is None
    info = train_base.run(cfg)
    assert json.loads((tmp_path / "models/base/info.json").read_text())["model_version"] == 1
    # 15 drawings a class are too few to generalise from; the model must at least learn them.
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    losses = [m.value for m in client.get_metric_history(info["mlflow_run_id"], "train_loss")]
    accuracy = [m.value for m in client.get_metric_history(info["mlflow_run_id"], "train_acc")]
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0]
    assert accuracy[-1] > 0.5, "well above the 0.2 of chance on five classes"


def test_default_quickdraw_classes_exist(tmp_path: Path, quickdraw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`data=quickdraw` as configured reads the shared samples (some common classes are absent there)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    manifest = data_stage.run(_cfg(tmp_path, quickdraw_dir, ["data=quickdraw"]))
    assert len(manifest.classes) == 10 and sum(manifest.splits.values()) == 250


def test_bitmap_samples_train(tmp_path: Path, quickdraw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = _cfg(tmp_path, quickdraw_dir, [
        "data=bitmap", "data.source.max_per_class=300", "model.net.widths=[8,16,32,32]", "trainer.max_epochs=4",
        "data.batch_size=32", "model.optimizer.lr=0.01",
    ])
    manifest = data_stage.run(cfg)
    assert manifest.kind == "bitmap" and manifest.classes == ["bowtie", "lollipop", "rainbow"]
    info = train_base.run(cfg)
    assert info["test_acc"] > 0.7, "three distinct classes are easy"
