"""End to end: `dvc repro` of the tiny preset in a fresh copy of the project, then what MLflow holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def project_files() -> list[str]:
    """The files a clone of the project has: tracked ones plus new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [name for name in listed if name and (ROOT / name).is_file()]


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    completed = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and completed.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    return completed


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project in which `articulate repro experiment=tiny` has run."""
    folder = tmp_path_factory.mktemp("project")
    for name in project_files():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    run(["git", "init", "-q"], folder)
    run(["articulate", "configure", "experiment=tiny"], folder)
    run(["dvc", "repro"], folder)
    return folder


def test_outputs_on_disk(project: Path) -> None:
    manifest = json.loads((project / "data/dataset/manifest.json").read_text())
    assert manifest["splits"]["train"] + manifest["splits"]["val"] + manifest["splits"]["test"] == 600
    assert len(manifest["classes"]) == 10 and len(manifest["parts"]) >= 15
    round0 = project / "models/round_0"
    for name in ("model.pt", "info.json", "confusion_matrix.png"):
        assert (round0 / name).is_file(), name
    saved = torch.load(round0 / "model.pt", weights_only=True)
    assert saved["layer"] == "features.block3" and saved["class_names"] == manifest["classes"]
    store = project / "activations/round_0/features.block3"
    for name in ("activations.npy", "attribution.npy", "ink.npy", "part.npy", "index.parquet", "meta.json"):
        assert (store / name).is_file(), name
    atlas = project / "atlases/round_0"
    for name in ("atlas.json", "atlas.png", "map.png", "points.parquet", "README.md"):
        assert (atlas / name).is_file(), name
    described = json.loads((atlas / "atlas.json").read_text())
    assert described["layer"] == "features.block3" and described["round"] == 0
    assert 0.0 <= described["metrics"]["atlas_purity"] <= 1.0


def test_mlflow_holds_runs_metrics_artifacts_and_the_registered_model(project: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("articulate-tiny")
    assert experiment is not None
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert {"data", "train_base", "extract", "atlas"} <= set(runs)
    assert {"atlas_purity", "atlas_nmi"} <= set(runs["atlas"].data.metrics)
    assert "atlas.png" in {a.path for a in client.list_artifacts(runs["atlas"].info.run_id)}
    train = runs["train_base"]
    assert train.data.params["trainer.max_epochs"] == "2"
    assert train.data.tags["round"] == "0"
    history = client.get_metric_history(train.info.run_id, "val_acc")
    assert len(history) == 2, "one val_acc a epoch"
    assert 0.0 <= train.data.metrics["class_acc"] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(train.info.run_id)}
    assert {"config.yaml", "confusion_matrix.png"} <= artifacts
    assert runs["data"].data.metrics["n_train"] > 0
    assert "samples.png" in {a.path for a in client.list_artifacts(runs["data"].info.run_id)}

    version = client.get_model_version_by_alias("articulate-sketch_cnn", "round-0")
    assert version.run_id == train.info.run_id
    model = mlflow.pytorch.load_model("models:/articulate-sketch_cnn@round-0")
    with torch.no_grad():
        logits = model(torch.zeros(2, 1, 64, 64))
    assert logits.shape == (2, 10)


def test_repro_again_is_up_to_date(project: Path) -> None:
    completed = run(["dvc", "repro"], project)
    assert "Running stage" not in completed.stdout


def test_stale_params_yaml_cannot_win(project: Path) -> None:
    model = project / "conf/model/sketch_cnn.yaml"
    original = model.read_text()
    try:
        model.write_text(original.replace("dropout: 0.2", "dropout: 0.3"))
        completed = run(["dvc", "repro"], project, check=False)
        assert completed.returncode != 0
        assert "params.yaml is stale" in completed.stderr + completed.stdout
        assert "Traceback" not in completed.stderr
        assert "Running stage 'train_base'" not in completed.stdout
        # After `articulate configure` the new setting is in params.yaml and the model is retrained.
        run(["articulate", "configure", "experiment=tiny"], project)
        assert yaml.safe_load((project / "params.yaml").read_text())["model"]["net"]["dropout"] == 0.3
        completed = run(["dvc", "repro"], project)
        assert "Running stage 'train_base'" in completed.stdout
        assert "Running stage 'data'" not in completed.stdout
    finally:
        model.write_text(original)


def _copy_project(folder: Path) -> Path:
    for name in project_files():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return folder


def test_a_killed_training_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Kill train_base after its first checkpoint; running it again resumes instead of starting over."""
    project = _copy_project(tmp_path)
    overrides = ["experiment=tiny", "trainer.max_epochs=4", "data.source.num_sketches=300"]
    run([sys.executable, "-m", "pipeline.stages.data", *overrides], project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    process = subprocess.Popen([sys.executable, "-m", "pipeline.stages.train_base", *overrides], cwd=project, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(project.glob(".checkpoints/*/last.ckpt")) and time.monotonic() < deadline:
            assert process.poll() is None, "training ended before its first checkpoint"
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()
    checkpoint = next(project.glob(".checkpoints/*/last.ckpt"))
    epoch_done = torch.load(checkpoint, weights_only=True, map_location="cpu")["epoch"]
    assert epoch_done < 3, "killed before the end"

    completed = run([sys.executable, "-m", "pipeline.stages.train_base", *overrides], project)
    assert f"resuming the interrupted training from {checkpoint.relative_to(project)}" in completed.stderr
    assert json.loads((project / "models/round_0/info.json").read_text())["round"] == 0
    assert not checkpoint.exists(), "checkpoints of a finished training are removed"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("articulate-tiny")
    finished = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "train_base"
                and "class_acc" in r.data.metrics]
    assert len(finished) == 1
    epochs = [m.value for m in client.get_metric_history(finished[0].info.run_id, "epoch")]
    assert epochs and min(epochs) >= epoch_done + 1 > 0, "the resumed run did not train the finished epochs again"
