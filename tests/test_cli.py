"""The `articulate` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from articulate.cli import EXIT_USER_ERROR, main
from core.errors import ConfigError
from tests.conftest import ROOT


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


def test_help_and_light_commands_import_no_torch(tmp_path: Path) -> None:
    """`articulate --help` and `concepts list` answer at once: nothing heavy is imported before parsing."""
    code = (
        "import sys\n"
        "from articulate.cli import build_parser\n"
        "parser = build_parser()\n"
        "heavy = [m for m in ('torch', 'lightning', 'mlflow', 'umap', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    listed = subprocess.run([sys.executable, "-X", "importtime", "-m", "articulate.cli", "concepts", "-o",
                             f"paths.concepts={tmp_path / 'concepts.yaml'}", "list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    imported = {line.split("|")[-1].strip() for line in listed.stderr.splitlines() if line.startswith("import time")}
    assert not imported & {"torch", "lightning", "mlflow", "umap"}, imported & {"torch", "lightning", "mlflow", "umap"}


def test_an_override_of_a_key_conf_lacks_names_the_key_and_what_was_meant(project_cwd: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "trainer.max_epoch=3"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "unknown key 'trainer.max_epoch' (did you mean 'max_epochs'?)" in err
    assert main(["show", "data.splits.newkey=3"]) == EXIT_USER_ERROR
    assert "write '+data.splits.newkey=...'" in capsys.readouterr().err


def test_one_parser_reads_the_number_lists_of_every_command() -> None:
    from articulate.commands import parse_int_list

    assert parse_int_list("0-3,8, 2", "--channels") == [0, 1, 2, 3, 8]
    assert parse_int_list("", "--untick", allow_empty=True) == []
    for bad in ("", "1-z", "5-2", "-3", "1,,x"):
        with pytest.raises(ConfigError, match="--points"):
            parse_int_list(bad, "--points")
