"""MLflow stores: each stage's run goes to the store its own config names, even after another store was used in
the same process (MLflow 3's set_tracking_uri also writes $MLFLOW_TRACKING_URI, which outranks the config); a
round's run spans its stages; a copied project keeps its artifacts to itself."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mlflow
import pytest

from pipeline import tracking
from pipeline.config import compose


def stage_runs(folder: Path, name: str | None = None) -> list:
    """The runs in ``folder/mlflow.db`` (named ``name``, when given), read without touching MLflow's global URI."""
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return [r for r in runs if name is None or r.info.run_name == name]


def test_each_run_goes_to_its_own_configs_store(project_cwd, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        cfg = compose([f"mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}",
                       f"mlflow.artifact_location={folder / 'artifacts'}"])
        with tracking.stage_run(cfg, "extract", tags={"round": "0"}):
            pass
        assert os.environ.get("MLFLOW_TRACKING_URI") is None  # not left behind for the next stage
    assert stage_runs(first, "extract") and stage_runs(second, "extract")


def test_a_rounds_run_spans_its_stages(project_cwd, tmp_path: Path) -> None:
    """The round's parent run starts with its first stage and ends with its last; a failed stage fails it, and
    the stage run again finishes it."""
    cfg = compose([f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                   f"mlflow.artifact_location={tmp_path / 'artifacts'}", f"paths.concepts={tmp_path / 'none.yaml'}"])
    children = []
    for stage in ("finetune", "extract", "atlas", "evaluate"):
        with tracking.stage_run(cfg, stage, tags={"round": "1"}) as run:
            parent = run.data.tags["mlflow.parentRunId"]
            assert mlflow.MlflowClient().get_run(parent).info.status == "RUNNING"  # open while a stage runs
        children.append(run.info.run_id)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    infos = [client.get_run(child).info for child in children]
    round_ = client.get_run(parent).info
    assert round_.status == "FINISHED"
    assert round_.start_time <= infos[0].start_time
    assert round_.end_time >= max(info.end_time for info in infos)
    assert round_.end_time - round_.start_time >= infos[-1].end_time - infos[0].start_time

    with pytest.raises(RuntimeError), tracking.stage_run(cfg, "evaluate", tags={"round": "1"}):
        raise RuntimeError("the stage failed")
    assert client.get_run(parent).info.status == "FAILED"
    with tracking.stage_run(cfg, "evaluate", tags={"round": "1"}) as rerun:
        assert rerun.data.tags["mlflow.parentRunId"] == parent
    assert client.get_run(parent).info.status == "FINISHED"


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_copied_project_keeps_its_artifacts_to_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store records an absolute artifact folder: a copy of the project (store and artifacts together) writes
    into its own folder, its earlier runs read from it, and the original is left as it was."""
    from tests.conftest import ROOT

    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(ROOT / "conf", original / "conf")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(original)
    cfg = compose(["paths.concepts=none.yaml"])  # the defaults: mlflow.db and mlartifacts/ in the project
    with tracking.stage_run(cfg, "extract", tags={"round": "0"}) as run:
        mlflow.log_dict({"where": "original"}, "note.json")
    first = run.info.run_id
    shutil.copytree(original, copy)
    before = _files(original)

    monkeypatch.chdir(copy)
    with tracking.stage_run(compose(["paths.concepts=none.yaml"]), "atlas", tags={"round": "0"}) as run:
        mlflow.log_dict({"where": "copy"}, "note.json")
    assert _files(original) == before  # nothing written into the original, its store included
    client = mlflow.MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    for run_id, where in ((run.info.run_id, "copy"), (first, "original")):
        uri = client.get_run(run_id).info.artifact_uri
        assert uri.startswith((copy / "mlartifacts").as_uri() + "/"), uri
        assert json.loads(Path(mlflow.artifacts.download_artifacts(f"{uri}/note.json")).read_text())["where"] == where
    experiment = client.get_experiment(client.get_run(first).info.experiment_id)
    assert experiment.artifact_location == (copy / "mlartifacts").as_uri()
    # The original's store still names its own folder.
    original_client = mlflow.MlflowClient(f"sqlite:///{original / 'mlflow.db'}")
    assert original_client.get_run(first).info.artifact_uri.startswith((original / "mlartifacts").as_uri() + "/")
