"""`dvc repro` as the loop runs it: its output passes through, and each stage it runs is timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from articulate.loop import dvc_repro
from core.errors import ArticulateError

STAGES = """\
stages:
  first:
    cmd: python -c "import time; time.sleep(0.6); open('a.txt', 'w').write('a')"
    outs: [a.txt]
  second:
    cmd: python -c "import time; time.sleep(0.3); print('from the stage'); open('b.txt', 'w').write('b')"
    deps: [a.txt]
    outs: [b.txt]
"""


@pytest.fixture
def dvc_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text(STAGES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_stage_that_runs_is_timed(dvc_project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    seconds = dvc_repro()
    assert set(seconds) == {"first", "second"}
    assert 0.6 <= seconds["first"] < 60 and 0.3 <= seconds["second"] < 60
    out = capfd.readouterr().out
    assert "Running stage 'first'" in out and "from the stage" in out  # DVC's and the stages' output pass through
    assert dvc_repro() == {}  # nothing ran: up to date
    (dvc_project / "dvc.yaml").write_text(STAGES.replace("time.sleep(0.3)", "time.sleep(0.2)"))
    assert set(dvc_repro()) == {"second"}


def test_a_failing_stage_is_one_clear_error(dvc_project: Path) -> None:
    (dvc_project / "dvc.yaml").write_text(STAGES.replace("open('a.txt', 'w').write('a')", "1 / 0"))
    with pytest.raises(ArticulateError, match="dvc repro failed with status"):
        dvc_repro()
