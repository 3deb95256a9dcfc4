"""MLflow stores: each stage's run goes to the store its own config names, even after another store was used in
the same process (MLflow 3's set_tracking_uri also writes $MLFLOW_TRACKING_URI, which outranks the config)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

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
