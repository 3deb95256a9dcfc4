"""The benchmarks that need a trained project (feedback, edit, finetune, page, baselines) and the loop's benchmark,
in their smallest configuration, on real-format data: Quick, Draw! ndjson drawings with a ``parts`` list each.

One small project is built for the module from such files through the data stage (``data=quickdraw
data.source.folder=...``): round 0 (tests/labeling_project.py: ``build``) and, in a copy, round 1 with two
concepts (``build_round_1``). Each benchmark runs as a user runs it, a new process from the project folder, pointed
at the project by Hydra overrides of its paths and at the ndjson files by those of its data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_SEED, fixture_threads
from tests.test_bench_any_data import bench

CLASSES = ["cat", "face", "house", "tree"]
#: Drawings of the project: enough for an atlas of 1500 positions on the val split and two concepts.
DRAWINGS = 300


@dataclass
class TrainedProjects:
    """Round 0 and round 1 of one project built from ndjson files: the overrides of its data, those that point at
    each round's folder, and the parts its dataset names."""

    data: list[str]
    round_0: list[str]
    round_1: list[str]
    parts: list[str]


@pytest.fixture(scope="module")
def ndjson_data(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A folder of ndjson files with parts, one a class; returns the overrides that read it."""
    from tests.defaults import SketchGenerator
    from core.ndjson import write_ndjson

    ndjson = tmp_path_factory.mktemp("bench_ndjson")
    drawn = SketchGenerator(num_sketches=DRAWINGS, classes=CLASSES, seed=TEST_SEED, progress=False).load().sketches
    for name in CLASSES:
        write_ndjson(ndjson / f"{name}.ndjson", [s for s in drawn if s.word == name])
    return ["data=quickdraw", f"data.source.folder={ndjson}", "data.source.classes=null"]


@pytest.fixture(scope="module")
def trained(ndjson_data: list[str], tmp_path_factory: pytest.TempPathFactory) -> TrainedProjects:
    """The project (a minute and a half to three minutes, with the machine's load)."""
    from tests import labeling_project as builder

    folder = tmp_path_factory.mktemp("bench_trained")
    data = ndjson_data
    with fixture_threads():
        round_0 = builder.build(folder / "round_0", seed=TEST_SEED, data=data)
        round_1, _ = builder.build_round_1(folder / "round_0", folder / "round_1", seed=TEST_SEED)
    manifest = json.loads((folder / "round_0" / "dataset" / "manifest.json").read_text())
    assert manifest["name"] == "quickdraw" and manifest["parts"], "the dataset came from the ndjson files, parts too"
    return TrainedProjects(data, round_0, [*round_1, *data], manifest["parts"])


def test_feedback_times_the_configured_drawings(trained: TrainedProjects) -> None:
    out = bench("bench_feedback", "--round", "1", "--drawings", "20", "--events", "20", "--load", "1", "--ablation",
                "threads=1", *trained.round_1)
    folder = trained.data[1].split("=", 1)[1]
    assert f"timed drawings: the configured data ({folder})" in out
    assert "round 1: 2 concepts" in out and "feedback update (default model)    n=  20" in out
    # --load: idle and beside one CPU-bound process, in one table; --ablation: each way an update can run.
    assert "update, coach.threads=1" in out and "+1 CPU-bound" in out and "runnable tasks (mean)" in out
    for variant in ("coach thread, coach.threads=2", "caller thread, 2 threads", "forward alone, inference_mode",
                    "forward alone, jit.freeze"):
        assert variant in out


def test_feedback_times_real_samples_where_the_data_is_generated(trained: TrainedProjects, tmp_path: Path) -> None:
    """Generated data: the real Quick, Draw! drawings of the model's classes (``--quickdraw``), as a user expects."""
    from core.ndjson import read_ndjson_dir, write_ndjson

    real = tmp_path / "samples" / "ndjson"
    real.mkdir(parents=True)
    drawings = read_ndjson_dir(Path(trained.data[1].split("=", 1)[1]), classes=["cat"]).sketches[:5]
    write_ndjson(real / "cat.ndjson", drawings)
    generated = [o for o in trained.round_1 if not o.startswith("data")]
    out = bench("bench_feedback", "--round", "1", "--drawings", "5", "--events", "0", "threads=1",
                f"paths.quickdraw={real.parent}", *generated)
    assert f"timed drawings: real Quick, Draw! drawings in {real}" in out


def test_edit_on_the_ndjson_project(trained: TrainedProjects) -> None:
    out = bench("bench_edit", "--round", "1", "--drawings", "10", "--dreams", "1", "--visuals", "1", "threads=1",
                *trained.round_1)
    assert "round 1: 2 concepts" in out and "Predict after an edit" in out and "reliance table over" in out


def test_finetune_on_the_ndjson_project(trained: TrainedProjects, tmp_path: Path) -> None:
    out = bench("bench_finetune", "--scratch", str(tmp_path), "--budget", "16", "finetune.epochs=1", "threads=1",
                *trained.round_0)
    result = json.loads((tmp_path / "bench_finetune.json").read_text())
    assert result["n_concepts"] >= 1 and len(result["epochs"]) == 1 and set(result["layer_clusters"]) == {
        "base", "round_1"}
    assert result["iou"] and set(result["iou"]) <= set(trained.parts), "concepts named after the files' parts"
    assert '"mean_iou"' in out


def test_page_on_the_ndjson_project(trained: TrainedProjects) -> None:
    import shutil

    if shutil.which("chromium") is None:
        pytest.skip("no system Chromium ('chromium' on PATH) for the page benchmark")
    out = bench("bench_page", "--loads", "1", "--round", "1", "threads=1", *trained.round_1)
    assert "atlas page of round 1" in out and "navigation start to atlas and map drawn" in out


def test_preview_on_the_ndjson_project(trained: TrainedProjects) -> None:
    """The promote -> preview benchmark on the project's round 1 (its concept store is a scratch one)."""
    out = bench("bench_preview", "--promotes", "2", "--round", "1", "threads=1", *trained.round_1)
    assert "p95" in out and "preview" in out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_loop_on_ndjson_with_parts(ndjson_data: list[str], tmp_path: Path) -> None:
    """Round 0 and one round of the tiny preset on the ndjson files, in a scratch copy of the project (about
    seven minutes at a load of 6)."""
    report = tmp_path / "loop.json"
    out = bench("bench_loop", "--rounds", "1", "--no-ceiling", "--json", str(report), "experiment=tiny",
                *ndjson_data, timeout=1400)
    rounds = json.loads(report.read_text())["rounds"]
    assert len(rounds) == 2 and rounds[1]["n_concepts"] >= 1 and rounds[0]["parts_total"] > 0
    assert "aim: class accuracy within" in out


def test_baselines_beside_the_round_on_the_ndjson_project(trained: TrainedProjects, tmp_path: Path) -> None:
    """Automatic concept discovery on round 1's base model: as many components as the round's concepts, measured on
    the split the round was measured on (val here, so matched on train), beside a ceiling and another run's round."""
    evaluation = Path(next(o.split("=", 1)[1] for o in trained.round_1 if o.startswith("paths.evaluation=")))
    metrics = json.loads((evaluation / "round_1" / "metrics.json").read_text())
    ceiling = tmp_path / "loop.json"  # bench_loop.py's --json holds the ceiling's pixel figures
    ceiling.write_text(json.dumps({"ceiling": {"parts_discovered": 7, "parts_total": 9, "mean_concept_iou": 0.5,
                                               "mean_part_iou": 0.45}}))
    report = tmp_path / "baselines.json"
    out = bench("bench_baselines", "--round", "1", "--train-sketches", "40", "--positions", "2000", "--sae-steps", "50",
                "--ceiling", str(ceiling), "--loop", f"again={evaluation.parent}", "--json", str(report), "threads=1",
                *trained.round_1)
    result = json.loads(report.read_text())
    assert result["concepts"] == metrics["n_concepts"] == 2
    assert (result["split"], result["match_split"]) == ("val", "train")
    assert result["loop"]["mean_concept_iou"] == metrics["mean_concept_iou"]
    assert result["loops"]["again"] == result["loop"]
    assert set(result["baselines"]) == {"kmeans", "nmf", "sae"}
    for name, found in result["baselines"].items():
        assert len(found["iou"]) == 2 and found["parts_total"] == metrics["parts_total"], name
        assert 0 <= found["mean_iou"] <= found["mean_concept_iou"] <= 1, name
        assert set(filter(None, found["matched_part"])) <= set(trained.parts), name
    for row in ("ceiling", "7/9", "loop (again)", "k-means (ACE-like)", "NMF (CRAFT-like)", "top-1 SAE",
                "aim: loop's mean IoU >= the best baseline's"):
        assert row in out


def test_baselines_name_a_round_that_was_not_evaluated(trained: TrainedProjects, tmp_path: Path) -> None:
    """One clear line, before anything is fitted, and no report."""
    import os
    import sys

    from tests.conftest import ROOT, run_command

    report = tmp_path / "baselines.json"
    done = run_command([sys.executable, str(ROOT / "bench" / "bench_baselines.py"), "--round", "4", "--json",
                        str(report), "threads=1", *trained.round_1], ROOT, {**os.environ, "OMP_NUM_THREADS": "1"},
                       timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "round_4/metrics.json: no evaluation of round 4 (rounds evaluated there: round_1" in done.stderr
    assert not report.exists()
