"""bench/bench_baselines.py's methods, matching and measure on a layer whose parts are known by construction.

A made-up layer of 8x8 positions: each part's positions carry that part's own activation pattern (non-negative,
on channels of their own), so every method should find one component per part, and matching plus the evaluate
stage's measures should give those components their parts at a high IoU. The trained-project run of the whole
benchmark is in tests/test_bench_trained.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench import bench_baselines  # noqa: E402 - after the path is set
from pipeline.activations.geometry import LayerGeometry  # noqa: E402

PARTS = 3
CHANNELS = 9
#: 8x8 positions of 4x4 pixel cells on a 32-pixel input; position (y, x) centred on pixel 1.5 + 4 * (y, x).
GEOMETRY = LayerGeometry("made.up", CHANNELS, 8, 8, 32, 4.0, 4, 1.5)


def made_up_layer(sketches: int, seed: int) -> list[tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]]:
    """Batches as :func:`bench_baselines.position_batches` yields them: each sketch a few rectangles of parts 1..3
    on empty cells (part 0, activations near 0); a part-p position has channels 3(p-1)..3p-1 on, the rest near 0.

    Returns:
        (activations (B*64, C), ink cells, true part per position, pixel part masks (B, 32, 32)) per batch of 8.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(sketches // 8):
        part = np.zeros((8, 8, 8), dtype=np.int16)
        for sketch in part:
            for p in rng.permutation(PARTS)[:2] + 1:
                y, x = rng.integers(0, 6, size=2)
                sketch[y:y + rng.integers(2, 4), x:x + rng.integers(2, 4)] = p
        activations = rng.uniform(0, 0.05, size=(*part.shape, CHANNELS)).astype(np.float32)
        for p in range(1, PARTS + 1):
            where = part == p
            activations[where, 3 * (p - 1):3 * p] += rng.uniform(0.8, 1.2, size=(int(where.sum()), 3))
        masks = np.kron(part, np.ones((4, 4), dtype=np.int16))  # each cell's pixels carry its part
        batches.append((torch.from_numpy(activations.reshape(-1, CHANNELS)), part > 0, part, masks))
    return batches


@pytest.fixture(scope="module")
def encoders() -> dict[str, bench_baselines.Encoder]:
    """The three methods fitted on the made-up layer's ink positions."""
    sample = bench_baselines.train_sample(iter(made_up_layer(64, seed=0)), 3000, seed=0)
    assert sample.shape[1] == CHANNELS and sample.min() >= 0 and sample[:, :3].max() > 0.5
    return {"kmeans": bench_baselines.fit_kmeans(sample, PARTS, seed=0),
            "nmf": bench_baselines.fit_nmf(sample, PARTS, seed=0),
            "sae": bench_baselines.fit_topk_sae(sample, PARTS, top_k=1, steps=600, seed=0)}


@pytest.mark.parametrize("method", bench_baselines.METHODS)
def test_each_method_gives_each_part_a_component_of_its_own(encoders, method: str) -> None:
    activations, _ink, part, _masks = made_up_layer(8, seed=1)[0]
    scores = encoders[method](activations).numpy()
    assert scores.shape == (len(activations), PARTS) and scores.min() >= 0 and scores.max() <= 1
    ink = part.reshape(-1) > 0
    strongest = scores[ink].argmax(1)
    truth = part.reshape(-1)[ink]
    # the component that is strongest on a part's positions is the same for all of them, and differs per part
    owner = {p: np.bincount(strongest[truth == p], minlength=PARTS).argmax() for p in range(1, PARTS + 1)}
    assert sorted(owner.values()) == list(range(PARTS))
    agreement = np.mean([owner[p] == s for p, s in zip(truth, strongest)])
    assert agreement > 0.95, f"{method}: {agreement:.2f} of the ink positions on their part's component"


@pytest.mark.parametrize("resolution", ["cell", "pixel"])
def test_matching_and_measure_find_every_part(encoders, resolution: str) -> None:
    """Matched on one made-up split and measured on another with the evaluate stage's functions: every part
    found, each component's IoU high, the val-matched mean never above the evaluate stage's (test-matched) mean."""
    from omegaconf import OmegaConf

    matched = bench_baselines.match_components(encoders, iter(made_up_layer(32, seed=2)), PARTS, GEOMETRY, resolution)
    for name, m in matched.items():
        assert sorted(m.parts) == list(range(PARTS)), f"{name}: one component per part, got {m.parts}"
        assert set(m.levels) <= set(bench_baselines.LEVELS) and (m.iou > 0.5).all()
    settings = OmegaConf.create({"threshold": 0.5, "iou_discovered": 0.3, "iou_resolution": resolution})
    names = ["head", "tail", "wing"]
    results = bench_baselines.measure(encoders, matched, iter(made_up_layer(32, seed=3)), names, GEOMETRY, settings)
    least = 0.9 if resolution == "cell" else 0.6  # upsampled maps blur a cell's edges
    for name, r in results.items():
        assert r["parts_discovered"] == r["parts_total"] == PARTS, name
        assert sorted(r["matched_part"]) == names and min(r["iou"]) > least, (name, r["iou"])
        assert r["mean_iou"] <= r["mean_concept_iou"] + 1e-9 and r["mean_part_iou"] > least


def test_a_component_that_overlaps_no_part_matches_none() -> None:
    """A component that never fires: no part, its IoU 0, the mean counts it as 0 (as evaluate counts an unmatched
    concept)."""
    from omegaconf import OmegaConf

    def never(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 2)

    matched = bench_baselines.match_components({"never": never}, iter(made_up_layer(8, seed=4)), PARTS, GEOMETRY,
                                               "cell")
    assert list(matched["never"].parts) == [-1, -1] and not matched["never"].iou.any()
    settings = OmegaConf.create({"threshold": 0.5, "iou_discovered": 0.3, "iou_resolution": "cell"})
    result = bench_baselines.measure({"never": never}, matched, iter(made_up_layer(8, seed=5)), ["a", "b", "c"],
                                     GEOMETRY, settings)["never"]
    assert result["mean_iou"] == 0 and result["matched_part"] == [None, None] and result["parts_discovered"] == 0


def test_aims_compare_the_loop_with_the_best_baseline() -> None:
    baselines = {"kmeans": {"mean_concept_iou": 0.20, "parts_discovered": 9},
                 "nmf": {"mean_concept_iou": 0.25, "parts_discovered": 12}}
    met = bench_baselines.aims({"mean_concept_iou": 0.41, "parts_discovered": 13}, baselines)
    assert list(met.values()) == [True, True] and "nmf, 0.250" in next(iter(met))
    met = bench_baselines.aims({"mean_concept_iou": 0.39, "parts_discovered": 12}, baselines)
    assert list(met.values()) == [False, False]


def test_a_kept_run_is_read_with_the_settings_it_recorded(tmp_path) -> None:
    """--from: the overrides and evaluate settings of the folder's params.yaml (its conf/ may be older than this
    code), the command line's overrides over them, its relative paths read from the folder."""
    import shutil

    import yaml

    from core.errors import InputError

    folder = tmp_path / "kept"
    shutil.copytree(ROOT / "conf", folder / "conf")
    (folder / "params.yaml").write_text(yaml.safe_dump({"overrides": ["seed=3", "labeling.artist.noise=0.2"],
                                                        "evaluate": {"iou_resolution": "cell", "threshold": 0.4,
                                                                     "reliance": {"enabled": False}}}))
    project = bench_baselines.load_project(folder, [])
    assert project.cfg.seed == 3 and project.label == "loop (artist noise 0.2)"
    assert project.cfg.evaluate.iou_resolution == "cell" and project.cfg.evaluate.threshold == 0.4
    assert project.path(project.cfg.paths.dataset) == folder.resolve() / "data" / "dataset"
    project = bench_baselines.load_project(folder, ["evaluate.iou_resolution=pixel", "seed=4"])
    assert project.cfg.evaluate.iou_resolution == "pixel" and project.cfg.seed == 4
    with pytest.raises(InputError, match="not a project folder"):
        bench_baselines.load_project(tmp_path, [])
