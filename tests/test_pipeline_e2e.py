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

from tests.conftest import COMMAND_TIMEOUT, ROOT, kill_group, run_command

# The module's fixture runs two tiny rounds (four commands); each command has COMMAND_TIMEOUT, and the test
# that sets the fixture up may take all four: the pytest timeout must be longer than the commands' own.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(4 * COMMAND_TIMEOUT + 120)]


def project_files() -> list[str]:
    """The files a clone of the project has: tracked ones plus new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [name for name in listed if name and (ROOT / name).is_file()]


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    completed = run_command(args, cwd, env)
    if check and completed.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    return completed


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with two rounds of the tiny preset: `dvc repro` (round 0), the simulated artist
    labels round 0's atlas, `dvc repro` again (round 1). Each state is committed to the copy's git."""
    folder = _copy_project(tmp_path_factory.mktemp("project"))
    run(["git", "init", "-q"], folder)
    run(["articulate", "configure", "experiment=tiny"], folder)
    _commit(folder, "the project")
    run(["dvc", "repro"], folder)
    _commit(folder, "round 0")
    run(["articulate", "artist", "experiment=tiny", "labeling.artist.budget=12", "labeling.artist.min_share=0.4"],
        folder)
    _commit(folder, "labeled round 0")
    run(["dvc", "repro"], folder)
    _commit(folder, "round 1")
    return folder


def _commit(folder: Path, message: str) -> None:
    run(["git", "add", "-A"], folder)
    run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org", "commit", "-q", "-m", message], folder)


def _store(project: Path) -> dict:
    return yaml.safe_load((project / "concepts/concepts.yaml").read_text())


def test_round_0_outputs_on_disk(project: Path) -> None:
    manifest = json.loads((project / "data/dataset/manifest.json").read_text())
    assert manifest["splits"]["train"] + manifest["splits"]["val"] + manifest["splits"]["test"] == 1000
    assert len(manifest["classes"]) == 10 and len(manifest["parts"]) >= 15
    for name in ("model.pt", "info.json", "confusion_matrix.png"):
        assert (project / "models/base" / name).is_file(), name
    saved = torch.load(project / "models/round_0/model.pt", weights_only=True)
    assert saved["layer"] == "features.block3" and saved["class_names"] == manifest["classes"]
    assert "concept_head" not in saved, "round 0 is the base model as it is"
    store = project / "activations/round_0/features.block3"
    for name in ("activations.npy", "attribution.npy", "ink.npy", "part.npy", "index.parquet", "meta.json"):
        assert (store / name).is_file(), name
    atlas = project / "atlases/round_0"
    for name in ("atlas.json", "atlas.png", "map.png", "points.parquet", "README.md"):
        assert (atlas / name).is_file(), name
    described = json.loads((atlas / "atlas.json").read_text())
    assert described["layer"] == "features.block3" and described["round"] == 0 and described["split"] == "val"
    assert 0.0 <= described["metrics"]["atlas_purity"] <= 1.0
    metrics = json.loads((project / "evaluation/round_0/metrics.json").read_text())
    assert metrics["n_concepts"] == 0 and metrics["human_actions"] == 0 and 0 < metrics["class_acc"] <= 1


def test_round_1_has_concepts_and_a_concept_head(project: Path) -> None:
    from pipeline.models.build import load_trained

    store = _store(project)
    assert store["concepts"] and store["next_round"] == 1
    names = [c["name"] for c in store["concepts"]]
    model = load_trained(project / "models/round_1/model.pt")
    assert model.round == 1 and [c["name"] for c in model.concepts] == names
    assert model.concept_head is not None
    with torch.no_grad():
        out = model.concept_model()(torch.zeros(2, 1, 64, 64))
    assert out.concept_logits.shape == (2, len(names), 16, 16)
    atlas = json.loads((project / "atlases/round_1/atlas.json").read_text())
    assert atlas["round"] == 1
    metrics = json.loads((project / "evaluation/round_1/metrics.json").read_text())
    assert metrics["n_concepts"] == len(names) and metrics["human_actions"] > 0
    assert {c["name"] for c in metrics["concepts"]} == set(names)
    assert 0 <= metrics["mean_concept_iou"] <= 1 and metrics["parts_discovered"] >= 0
    base = json.loads((project / "models/base/info.json").read_text())["test_acc"]
    assert metrics["class_acc"] >= base - 0.1, "fine-tuning on concepts keeps the classes (tiny preset: loose)"
    for name in ("concept_maps.png", "iou_matrix.png"):
        assert (project / "evaluation/round_1/figures" / name).stat().st_size > 5_000


def test_mlflow_holds_both_rounds(project: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("articulate-tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = {r.data.tags["round"]: r for r in runs if r.data.tags.get("kind") == "round"}
    assert set(parents) == {"0", "1"}
    commit = run(["git", "rev-parse", "HEAD~1"], project).stdout.strip()  # round 1 was built on "labeled round 0"
    for round_, parent in parents.items():
        children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
        assert {"finetune", "extract", "atlas", "evaluate"} <= set(children), round_
        for child in children.values():
            assert child.data.tags["round"] == round_
            assert child.data.tags["concepts_hash"] == parent.data.tags["concepts_hash"]
            assert child.data.tags.get("mlflow.source.git.commit")
        assert {"class_acc", "atlas_purity", "atlas_nmi", "parts_discovered", "human_actions"} <= set(parent.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert {"atlas.png", "metrics.json", "concepts"} <= artifacts, artifacts
        assert {"atlas_purity", "atlas_nmi"} <= set(children["atlas"].data.metrics)
    assert parents["1"].data.tags["mlflow.source.git.commit"] == commit
    assert parents["0"].data.tags["concepts_hash"] != parents["1"].data.tags["concepts_hash"]
    assert any(k.startswith("concept_iou/") for k in parents["1"].data.metrics)

    train = next(r for r in runs if r.info.run_name == "train_base")
    assert train.data.params["trainer.max_epochs"] == "4"
    history = client.get_metric_history(train.info.run_id, "val_acc")
    assert len(history) == 4, "one val_acc a epoch"
    assert {"config.yaml", "confusion_matrix.png"} <= {a.path for a in client.list_artifacts(train.info.run_id)}

    base = client.get_model_version_by_alias("articulate-sketch_cnn", "base")
    assert base.run_id == train.info.run_id
    assert client.get_model_version_by_alias("articulate-sketch_cnn", "round-0").version == base.version
    round1 = client.get_model_version_by_alias("articulate-sketch_cnn", "round-1")
    assert round1.version != base.version
    model = mlflow.pytorch.load_model("models:/articulate-sketch_cnn@round-1")
    with torch.no_grad():
        logits, concept_logits = model(torch.zeros(2, 1, 64, 64))
    assert logits.shape == (2, 10) and concept_logits.shape == (2, len(_store(project)["concepts"]), 16, 16)

    run(["articulate", "champion", "1", "experiment=tiny"], project)
    assert client.get_model_version_by_alias("articulate-sketch_cnn", "champion").version == round1.version


def test_going_back_to_round_0_and_forward_again(project: Path) -> None:
    """`git checkout <round 0 commit> -- concepts dvc.lock && dvc checkout` restores round 0 from DVC's cache."""
    from pipeline.rounds import latest_round

    round0_atlas = (project / "atlases/round_0/atlas.json").read_bytes()
    try:
        run(["git", "checkout", "HEAD~2", "--", "concepts", "dvc.lock"], project)
        run(["dvc", "checkout"], project)
        assert _store(project)["concepts"] == [] and _store(project)["next_round"] == 0
        assert "Running stage" not in run(["dvc", "repro"], project).stdout, "round 0 is what is built"
        assert latest_round(project / "atlases", project / "dvc.lock") == 0, "the app shows round 0 again"
        assert (project / "atlases/round_0/atlas.json").read_bytes() == round0_atlas
    finally:
        run(["git", "checkout", "HEAD", "--", "concepts", "dvc.lock"], project)
        run(["dvc", "checkout"], project)
    assert latest_round(project / "atlases", project / "dvc.lock") == 1
    assert "Running stage" not in run(["dvc", "repro"], project).stdout


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
        completed = run(["dvc", "repro", "train_base"], project)  # not the round after it: minutes, nothing new
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
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(project.glob(".checkpoints/*/last.ckpt")) and time.monotonic() < deadline:
            assert process.poll() is None, "training ended before its first checkpoint"
            time.sleep(0.2)
    finally:
        kill_group(process)
    checkpoint = next(project.glob(".checkpoints/*/last.ckpt"))
    epoch_done = torch.load(checkpoint, weights_only=True, map_location="cpu")["epoch"]
    assert epoch_done < 3, "killed before the end"

    completed = run([sys.executable, "-m", "pipeline.stages.train_base", *overrides], project)
    assert f"resuming the interrupted training from {checkpoint.relative_to(project)}" in completed.stderr
    assert json.loads((project / "models/base/info.json").read_text())["round"] == 0
    assert not checkpoint.exists(), "checkpoints of a finished training are removed"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("articulate-tiny")
    finished = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "train_base"
                and "class_acc" in r.data.metrics]
    assert len(finished) == 1
    epochs = [m.value for m in client.get_metric_history(finished[0].info.run_id, "epoch")]
    assert epochs and min(epochs) >= epoch_done + 1 > 0, "the resumed run did not train the finished epochs again"
