"""Every benchmark answers --help, and its smallest run works on real-format data: Quick, Draw! ndjson drawings with
a ``parts`` list each (``data=quickdraw``), not only on the generator's sketches.

The dataset is the generator's drawings written as ndjson files, one a class, with their parts; each benchmark runs
as a user runs it (a new process, from the project folder) with ``data=quickdraw data.source.folder=...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_command

BENCHMARKS = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
CLASSES = ["cat", "house", "tree"]
#: A model small enough to train in seconds, on one thread.
SMALL = ["threads=1", "model.net.widths=[8,16,32,32]", "trainer.max_epochs=1", "data.batch_size=32",
         "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def ndjson_data(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A folder of ndjson files with parts (60 drawings of three classes); returns the overrides that read it."""
    from tests.defaults import SketchGenerator
    from core.ndjson import read_ndjson_dir, write_ndjson

    folder = tmp_path_factory.mktemp("quickdraw") / "ndjson"
    folder.mkdir()
    sketches = SketchGenerator(num_sketches=60, classes=CLASSES, seed=0, progress=False).load().sketches
    for name in CLASSES:
        write_ndjson(folder / f"{name}.ndjson", [s for s in sketches if s.word == name])
    assert all(s.parts for s in read_ndjson_dir(folder).sketches)  # real parts lists in the files
    return ["data=quickdraw", f"data.source.folder={folder}", "data.source.classes=null"]


def bench(name: str, *args: str, timeout: float = 600) -> str:
    """Run ``bench/<name>.py`` with ``args`` from the project folder; returns its output, failing on an error."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = run_command([sys.executable, str(ROOT / "bench" / f"{name}.py"), *args], ROOT, env, timeout=timeout)
    assert done.returncode == 0, f"{name} {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


@pytest.mark.parametrize("name", BENCHMARKS)
def test_help(name: str) -> None:
    out = bench(name, "--help", timeout=300)
    assert out.startswith("usage:") and name in out


def test_ceiling_on_ndjson_with_parts(ndjson_data: list[str], tmp_path: Path) -> None:
    out = bench("bench_ceiling", "--workdir", str(tmp_path), "--epochs", "1", "--train-sketches", "24", "--variants",
                "frozen", *ndjson_data, *SMALL)
    assert "Supervised ceiling on" in out and "parts >= 0.3" in out


def test_ceiling_says_when_the_data_has_no_parts(ndjson_data: list[str], tmp_path: Path) -> None:
    from core.ndjson import read_ndjson_dir, write_ndjson

    plain = tmp_path / "plain"
    plain.mkdir()
    folder = Path(ndjson_data[1].split("=", 1)[1])
    for name in CLASSES:
        drawings = [s.__class__(key_id=s.key_id, word=s.word, strokes=s.strokes, parts=None)
                    for s in read_ndjson_dir(folder, classes=[name]).sketches]
        write_ndjson(plain / f"{name}.ndjson", drawings)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = run_command([sys.executable, str(ROOT / "bench" / "bench_ceiling.py"), "--workdir", str(tmp_path / "w"),
                        "--epochs", "1", "--variants", "frozen", "data=quickdraw", f"data.source.folder={plain}",
                        "data.source.classes=null", *SMALL], ROOT, env)
    assert done.returncode == 2
    assert "has no part annotations" in done.stderr and "'parts' list" in done.stderr


def test_data_on_ndjson_with_parts(ndjson_data: list[str]) -> None:
    out = bench("bench_data", "--sketches", "50", *ndjson_data)
    assert "read 50 quickdraw drawings" in out and "part masks at 64x64" in out


@pytest.mark.parametrize(("name", "args"), [
    ("bench_atlas", ["--positions", "3000", "--method", "pca", "--icon-steps", "2", "--grid", "4", "--k", "4",
                     "--threads", "1", "--fit-sample", "1000"]),
    ("bench_icons", ["--steps", "2", "--one-by-one-steps", "1", "--threads", "1"]),
    ("bench_cli", ["--repeats", "1"]),
])
def test_data_free_benchmarks_smallest_run(name: str, args: list[str]) -> None:
    """These measure models and commands, not data: their smallest run, as any data's project runs them."""
    assert bench(name, *args).strip()


def test_train_base_on_ndjson_with_parts(ndjson_data: list[str]) -> None:
    out = bench("bench_train_base", *ndjson_data, *SMALL)
    assert "test accuracy" in out and "train_base stage" in out


def test_extract_on_ndjson_with_parts(ndjson_data: list[str]) -> None:
    out = bench("bench_extract", "--sketches", "48", "--batch-size", "16", "--googlenet-sketches", "0", "--repeats", "1",
                *ndjson_data)
    assert "on the quickdraw data" in out and "ratio extraction / baseline" in out
