"""The `articulate` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_USER_ERROR, main


def test_show_prints_the_composed_config(project_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "experiment=tiny"]) == 0
    out = capsys.readouterr().out
    assert "num_sketches: 1000" in out and "experiment: articulate-tiny" in out


def test_layers_lists_module_paths_and_shapes(project_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "features.block3                          (1, 64, 16, 16)  <- model.layer" in out


def test_layers_of_googlenet(project_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "model=googlenet"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("inception4d "))
    assert "(1, 528, 14, 14)" in line and "<- model.layer" in line


def test_configure_writes_params_yaml(project_cwd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.copytree(project_cwd / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    assert main(["configure", "experiment=tiny", "seed=5"]) == 0
    text = (tmp_path / "params.yaml").read_text()
    assert "- experiment=tiny" in text and "seed: 5" in text
    assert main(["configure", "nope=1"]) == EXIT_USER_ERROR
    assert "error: config:" in capsys.readouterr().err
    assert "seed: 5" in (tmp_path / "params.yaml").read_text(), "a failed configure leaves params.yaml as it was"
