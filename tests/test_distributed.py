"""Training across processes: the base model and a round's fine-tune under Lightning's ``ddp_spawn``
with two CPU processes (gloo) on the small round-1 project; the stage's set-up and writing run once, MLflow records
one run per stage, and rank 0's weights come back to be saved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.errors import ConfigError
from tests.test_tracking import stage_runs

TWO_PROCESSES = ["trainer.strategy=ddp_spawn", "trainer.devices=2", "trainer.accelerator=cpu",
                 "trainer.enable_progress_bar=false"]


@pytest.fixture
def project(concept_project, tmp_path: Path):
    """A copy of the round-1 project's data, base model and concepts, with its own MLflow store."""
    for part in ("dataset", "models/base", "concepts"):
        shutil.copytree(concept_project.folder / part, tmp_path / part)
    from tests.labeling_project import overrides

    return tmp_path, [*overrides(tmp_path), "finetune.progress=false"]


def test_a_fine_tune_across_two_processes(project, concept_project) -> None:
    from pipeline.models.build import load_trained
    from pipeline.stages import finetune

    folder, settings = project
    info = finetune.run(concept_project.cfg(*settings, "round=1", "finetune.epochs=1", *TWO_PROCESSES))
    assert [c["name"] for c in info["concepts"]] == concept_project.concepts
    assert 0.0 <= info["class_acc"] <= 1.0 and info["base_class_acc"] > 0
    model = load_trained(folder / "models" / "round_1" / "model.pt")
    base = load_trained(folder / "models" / "base" / "model.pt")
    changed = [k for k, v in model.net.state_dict().items() if v.is_floating_point() and
               not torch.equal(v, base.net.state_dict()[k])]
    assert changed  # rank 0's trained weights came back and were saved
    runs = stage_runs(folder, "finetune")
    assert len(runs) == 1 and "train_loss" in runs[0].data.metrics and "class_acc" in runs[0].data.metrics


def test_the_base_model_across_two_processes(project, concept_project) -> None:
    from pipeline.stages import train_base

    folder, settings = project
    shutil.rmtree(folder / "models" / "base")
    info = train_base.run(concept_project.cfg(*settings, "trainer.max_epochs=1", *TWO_PROCESSES))
    assert info["world_size"] == 2 and 0.0 <= info["test_acc"] <= 1.0
    assert json.loads((folder / "models" / "base" / "info.json").read_text())["test_acc"] == info["test_acc"]
    runs = stage_runs(folder, "train_base")
    assert len(runs) == 1 and "train_loss" in runs[0].data.metrics and "test_acc" in runs[0].data.metrics


def test_a_strategy_that_restarts_the_stage_is_refused(project, concept_project) -> None:
    from pipeline.stages import train_base

    folder, settings = project
    with pytest.raises(ConfigError, match="use trainer.strategy=ddp_spawn"):
        train_base.run(concept_project.cfg(*settings, "trainer.strategy=ddp", "trainer.devices=2"))
