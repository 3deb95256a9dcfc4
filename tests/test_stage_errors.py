"""A user's mistake at a stage's command line: one clear line, exit status 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.entry import EXIT_USER_ERROR
from pipeline.stages import stage_main
from pipeline.stages import data as data_stage
from pipeline.stages import train_base


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Overrides that keep every output of a stage inside tmp_path."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return [f"paths.dataset={tmp_path / 'dataset'}", f"paths.models={tmp_path / 'models'}",
            f"paths.checkpoints={tmp_path / 'ckpt'}", f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"mlflow.artifact_location={tmp_path / 'artifacts'}", "trainer.enable_progress_bar=false"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "an error message is printed"
    assert not any(line.startswith("Traceback") for line in err)
    return err[-1]


def test_malformed_ndjson_names_file_and_line_and_keeps_the_old_dataset(
        tmp_path: Path, scratch: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "quickdraw" / "ndjson"
    folder.mkdir(parents=True)
    good = '{"word": "cat", "key_id": "1", "drawing": [[[0, 10, 20], [0, 5, 9]]]}'
    (folder / "cat.ndjson").write_text(f"{good}\n{good.replace(chr(34) + '1' + chr(34), chr(34) + '2' + chr(34))}\n{{not json\n")
    old = tmp_path / "dataset"
    old.mkdir()
    (old / "manifest.json").write_text('{"old": true}')
    overrides = [*scratch, "data=quickdraw", f"paths.quickdraw={tmp_path / 'quickdraw'}", "data.source.classes=null"]

    assert stage_main(data_stage.run, overrides) == EXIT_USER_ERROR
    line = _error_line(capsys)
    assert line.startswith(f"error: {folder / 'cat.ndjson'}:3: ")
    assert "data.source.on_error=skip" in line
    assert json.loads((old / "manifest.json").read_text()) == {"old": True}, "the previous dataset is intact"
    assert not list(tmp_path.glob("dataset?*")), "no half-written folder is left"


def test_skip_mode_counts_bad_lines(tmp_path: Path, scratch: list[str]) -> None:
    folder = tmp_path / "quickdraw" / "ndjson"
    folder.mkdir(parents=True)
    lines = [json.dumps({"word": "cat", "key_id": str(i), "drawing": [[[0, 10 + i, 40], [i, 30, 9]]]}) for i in range(30)]
    lines[4] = '{"word": "cat", "key_id": "x", "drawing": []}'  # an empty drawing
    lines[9] = lines[9].replace("[[[0, ", "[[[NaN, ")
    (folder / "cat.ndjson").write_text("\n".join(lines) + "\n")
    dogs = [json.dumps({"word": "dog", "key_id": f"d{i}", "drawing": [[[5, 10 + i, 40], [i, 30, 9]]]}) for i in range(9)]
    (folder / "dog.ndjson").write_text("\n".join(dogs) + "\n")
    overrides = [*scratch, "data=quickdraw", f"paths.quickdraw={tmp_path / 'quickdraw'}", "data.source.classes=null",
                 "data.source.on_error=skip"]
    assert stage_main(data_stage.run, overrides) == 0
    manifest = json.loads((tmp_path / "dataset/manifest.json").read_text())
    assert manifest["skipped"] == 2 and sum(manifest["splits"].values()) == 28 + 9


def test_datasets_that_cannot_be_trained_stop_at_the_data_stage(tmp_path: Path, scratch: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "quickdraw" / "ndjson"
    folder.mkdir(parents=True)
    lines = [json.dumps({"word": "cat", "key_id": str(i), "drawing": [[[0, 10 + i, 40], [i, 30, 9]]]}) for i in range(20)]
    (folder / "cat.ndjson").write_text("\n".join(lines) + "\n")
    overrides = [*scratch, "data=quickdraw", f"paths.quickdraw={tmp_path / 'quickdraw'}", "data.source.classes=null"]
    assert stage_main(data_stage.run, overrides) == EXIT_USER_ERROR
    assert "1 class (cat): a classifier needs at least two" in _error_line(capsys)
    (folder / "dog.ndjson").write_text("\n".join(lines).replace('"cat"', '"dog"').replace('"key_id": "', '"key_id": "d')
                                       + "\n")
    assert stage_main(data_stage.run, [*overrides, "data.splits.test=0", "data.splits.val=0.4"]) == EXIT_USER_ERROR
    assert "data.splits: the test split would be empty" in _error_line(capsys)
    assert not (tmp_path / "dataset").exists(), "nothing is written"


def test_missing_data_folder(tmp_path: Path, scratch: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    overrides = [*scratch, "data=quickdraw", f"paths.quickdraw={tmp_path / 'nowhere'}"]
    assert stage_main(data_stage.run, overrides) == EXIT_USER_ERROR
    assert str(tmp_path / "nowhere" / "ndjson") in _error_line(capsys)


def test_training_without_a_dataset(scratch: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert stage_main(train_base.run, [*scratch, "experiment=tiny"]) == EXIT_USER_ERROR
    line = _error_line(capsys)
    assert "manifest.json: no dataset here" in line and "run the data stage first" in line


def test_bad_model_settings_and_weights(tmp_path: Path, scratch: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    scratch = [*scratch, "experiment=tiny"]
    assert stage_main(data_stage.run, [*scratch, "data.source.num_sketches=60"]) == 0
    capsys.readouterr()
    assert stage_main(train_base.run, [*scratch, "data.source.num_sketches=60", "model.net.dropout=1.5"]) == EXIT_USER_ERROR
    assert "dropout" in _error_line(capsys)

    missing = tmp_path / "weights" / "googlenet.pth"
    overrides = [*scratch, "data.source.num_sketches=60", "model=googlenet", f"model.net.weights_path={missing}"]
    assert stage_main(train_base.run, overrides) == EXIT_USER_ERROR
    assert str(missing) in _error_line(capsys)

    corrupt = tmp_path / "sketch.pt"
    corrupt.write_bytes(b"not a checkpoint")
    assert stage_main(train_base.run, [*scratch, "data.source.num_sketches=60", f"model.checkpoint={corrupt}"]) == EXIT_USER_ERROR
    assert str(corrupt) in _error_line(capsys)

    wrong = tmp_path / "wrong.pt"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    assert stage_main(train_base.run, [*scratch, "data.source.num_sketches=60", f"model.checkpoint={wrong}"]) == EXIT_USER_ERROR
    assert str(wrong) in _error_line(capsys)
