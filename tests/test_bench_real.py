"""bench/bench_real.py: a model trained on generated drawings, measured on real Quick, Draw! drawings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_command

sys.path.insert(0, str(ROOT))
from bench import bench_real  # noqa: E402 - after the path is set

#: The smallest training run: two classes with real drawings and one (cat) without.
SMALLEST = ["experiment=tiny", "data.source.classes=[flower,apple,cat]", "data.source.num_sketches=60",
            "trainer.max_epochs=1", "threads=1"]
REAL = ROOT / "../shared/data/quickdraw/ndjson"


def bench(*args: str, expect: int = 0) -> tuple[str, str]:
    """Run the benchmark as a user does; returns (stdout, stderr), failing unless it exits with ``expect``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = run_command([sys.executable, str(ROOT / "bench" / "bench_real.py"), *args], ROOT, env, timeout=600)
    assert done.returncode == expect, f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout, done.stderr


@pytest.fixture(scope="module")
def smallest(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    """The smallest run: train, then test on 3 real drawings a class, with the realism figure."""
    if not (REAL / "apple.ndjson").is_file():
        pytest.skip(f"no real Quick, Draw! drawings in {REAL}")
    work = tmp_path_factory.mktemp("bench_real")
    out, _ = bench("--train", "--workdir", str(work / "work"), "--per-class", "3", "--realism", "--out",
                   str(work / "out"), "--json", str(work / "real.json"), *SMALLEST)
    return out, json.loads((work / "real.json").read_text()), work


def test_help() -> None:
    out, _ = bench("--help")
    assert out.startswith("usage:") and "--realism" in out and "--train" in out


def test_smallest_run_prints_the_table_and_writes_the_figure(smallest: tuple[str, dict, Path]) -> None:
    out, document, work = smallest
    assert "Generated to real" in out and "ECE (15 bins)" in out and "no real drawings: cat" in out
    assert document["no_real_drawings"] == ["cat"]
    per_class = document["per_class"]
    assert set(per_class) == {"apple", "flower"} and all(row["drawings"] == 3 for row in per_class.values())
    # The confusion matrix agrees with the accuracies: its diagonal counts the right answers of each class.
    names, confusion = document["confusion_classes"], np.array(document["confusion"])
    for name, row in per_class.items():
        i = names.index(name)
        assert confusion[i, i] == round(row["accuracy"] * row["drawings"])
        assert confusion[i].sum() == row["drawings"]
    assert document["drawings"] == 6 and 0.0 <= document["ece"] <= 1.0
    assert (work / "out" / "confusion_real.png").stat().st_size > 1000
    realism = document["realism"]
    assert set(realism) == {"pixels", "penultimate"} and all(0.0 <= r["accuracy"] <= 1.0 for r in realism.values())
    assert "Realism: real vs generated (6 each, apple, flower)" in out


def test_a_given_model_and_a_folder_of_real_drawings(smallest: tuple[str, dict, Path], tmp_path: Path) -> None:
    """--model reuses a trained model; --real names the folder; classes without a file there are listed."""
    _, _, work = smallest
    model = next((work / "work").glob("models-*/base/model.pt"))
    folder = tmp_path / "real"
    folder.mkdir()
    lines = (REAL / "flower.ndjson").read_text().splitlines()[:2]
    (folder / "flower.ndjson").write_text("\n".join(lines) + "\n")
    out, _ = bench("--model", str(model), "--real", str(folder), "--out", str(tmp_path / "out"))
    assert "on 2 real Quick, Draw! drawings" in out and "no real drawings: apple, cat" in out


def test_a_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    out, err = bench("--model", str(tmp_path / "none.pt"), expect=2)
    assert err.startswith("error: ") and "none.pt" in err and "Traceback" not in err
    assert "Generated to real" not in out


def test_calibration_error_and_metrics() -> None:
    # Always 90% sure, right half of the time: ECE 0.4; the confident wrong answers show in their mean.
    probs = np.tile([[0.9, 0.05, 0.05]], (4, 1))
    labels = np.array([0, 0, 1, 2])
    metrics = bench_real.real_metrics(probs, labels, ["a", "b", "c"])
    assert metrics["ece"] == pytest.approx(0.4, abs=1e-6)
    assert metrics["accuracy"] == 0.5 and metrics["mean_top_prob_wrong"] == pytest.approx(0.9)
    assert metrics["per_class"]["a"]["accuracy"] == 1.0 and metrics["per_class"]["b"]["most_often_taken_for"] == "a"
    assert metrics["confusion"] == [[2, 0, 0], [1, 0, 0], [1, 0, 0]]


@pytest.mark.parametrize("data", ["generated_human", "mixed"])
def test_realism_draws_with_the_configured_generator(data: str) -> None:
    """The generated side of the realism figures is drawn as the configured data draws (mixed: its generator's part)."""
    from pipeline.config import compose

    def points(overrides: list[str]) -> float:
        sketches = bench_real.generated_like(compose(overrides), ["apple", "sun"], 20)
        return float(np.mean([s.shape[1] for sketch in sketches for s in sketch.strokes]))

    assert points([f"data={data}"]) < 0.6 * points([])  # simplified as Quick, Draw! did: far fewer points a stroke


def test_stroke_statistics_of_a_drawing_of_dots() -> None:
    """A drawing whose strokes are single points (dots) has no segment: its segment length is 0, not nan."""
    from core.sketch import Sketch

    dots = Sketch(key_id="dots", word="x", strokes=(np.array([[5.0], [5.0]], dtype=np.float32),
                                                     np.array([[9.0], [9.0]], dtype=np.float32)))
    line = Sketch(key_id="line", word="x", strokes=(np.array([[0.0, 30.0, 30.0], [0.0, 0.0, 40.0]], dtype=np.float32),))
    rows = bench_real.stroke_statistics([dots, line])
    assert np.isfinite(rows).all()
    assert rows[0].tolist() == [2, 1, 0, 0, 4, 0]
    assert rows[1].tolist() == [1, 3, 35, 70, 30, 50 / 70]
