"""Benchmark: fine-tuning round 1 on the default project's data, with concepts from the simulated artist.

Needs a built round 0 in the project (`make run`: data/dataset, models/base or models/round_0, activations/ and
atlases/round_0). Everything it writes goes to a scratch folder (default: a temporary one): the base model is
copied there, the simulated artist labels the round-0 atlas into a scratch concept store, the finetune stage
trains round 1, and then it measures on a split with no labelled sketch (val, or test when the atlas was built
on val):

- training time per epoch, class accuracy against the base model's;
- per concept: localisation IoU of the predicted map (probability > 0.5) against the true part's positions
  (a position's true part: the majority part of its stride cell, as the extract stage defines it), and the mean;
- how well k-means clusters (k=24) of the atlas layer's ink positions line up with the true parts (purity and
  NMI, as the atlas computes them, without UMAP), for the base model and for round 1.

    python bench/bench_finetune.py [--scratch DIR] [hydra overrides, e.g. finetune.epochs=3]

It works on whatever data built round 0, as long as the drawings name their parts (the artist judges by them):
Hydra overrides name the data and the project's paths as for the stages (``data=quickdraw
data.source.folder=DIR``, ``paths.models=...``). Smallest run (about half a minute on a small project)::

    python bench/bench_finetune.py --budget 16 finetune.epochs=1 threads=1 [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure_iou(model, sketches, parts: list[str], names: list[str], batch_size: int = 256) -> dict[str, float]:
    """Per concept whose name is a true part: IoU of (probability > 0.5) with the part's positions."""
    import torch

    from pipeline.activations.extractor import part_cells, render_batch
    from pipeline.activations.geometry import LayerGeometry
    from pipeline.models.input_spec import to_model_input

    geometry = LayerGeometry.of(model)
    cm = model.concept_model()
    part_index = {p: i + 1 for i, p in enumerate(parts)}
    wanted = {k: part_index[n] for k, n in enumerate(names) if n in part_index}
    inter = {k: 0 for k in wanted}
    union = {k: 0 for k in wanted}
    with torch.no_grad():
        for start in range(0, len(sketches), batch_size):
            batch = sketches[start:start + batch_size]
            images, masks = render_batch(batch, model.raster, part_index)
            true = part_cells(masks, geometry)
            x = to_model_input(torch.from_numpy(images)[:, None], model.input_spec)
            pred = (cm(x).concept_logits > 0).numpy()
            for k, pid in wanted.items():
                t = true == pid
                inter[k] += int((pred[:, k] & t).sum())
                union[k] += int((pred[:, k] | t).sum())
    return {names[k]: inter[k] / max(union[k], 1) for k in wanted}


def layer_purity(model, sketches, parts: list[str], count: int = 10000, k: int = 24, seed: int = 0,
                 batch_size: int = 256) -> dict[str, float]:
    """How well k-means clusters of the atlas layer's ink positions line up with true parts (the atlas's
    ``atlas_purity`` and ``atlas_nmi``, on ``count`` uniformly sampled ink positions, without UMAP)."""
    import numpy as np

    from pipeline.activations.extractor import Extractor, render_batch
    from pipeline.atlas.clustering import Clusterer
    from pipeline.config import default
    from pipeline.atlas.stats import atlas_nmi, atlas_purity

    extractor = Extractor(model.net, [model.layer], model.input_spec, dtype="float32")
    index = {c: i for i, c in enumerate(model.class_names)}
    part_index = {p: i + 1 for i, p in enumerate(parts)}
    vectors, labels = [], []
    for start in range(0, len(sketches), batch_size):
        batch = sketches[start:start + batch_size]
        images, masks = render_batch(batch, model.raster, part_index)
        result = extractor.run(images, np.array([index[s.word] for s in batch]), masks, invert=model.raster.invert)
        out = result[model.layer]
        vectors.append(out.activations[out.ink])
        labels.append(out.part[out.ink])
    vectors, labels = np.concatenate(vectors), np.concatenate(labels)
    rng = np.random.default_rng(seed)
    take = rng.choice(len(vectors), size=min(count, len(vectors)), replace=False)
    clusters = default(Clusterer, k=k, seed=seed).fit(vectors[take]).labels
    return {"purity": float(atlas_purity(clusters, labels[take])), "nmi": float(atlas_nmi(clusters, labels[take]))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, default=None, help="where to write (default: a temporary folder)")
    parser.add_argument("--budget", type=int, default=40,
                        help="the artist's exemplars per cluster (at least 10: it skips a cluster it saw less of)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)

    import os

    import torch
    from labeling.artist import SimulatedArtist
    from pipeline.config import default
    from labeling.atlas_view import AtlasView
    from conceptstore.store import ConceptStore
    from pipeline.entry import configure_logging
    from core.errors import ArticulateError
    from pipeline.config import compose
    from pipeline.data.store import read_manifest, read_split
    from pipeline.models.build import load_trained
    from pipeline.stages import finetune

    configure_logging()
    os.chdir(ROOT)
    cfg0 = compose(args.overrides)
    torch.set_num_threads(int(cfg0.threads) or (os.cpu_count() or 1))
    scratch_ctx = tempfile.TemporaryDirectory(prefix="articulate-bench-ft-") if args.scratch is None else None
    scratch = Path(scratch_ctx.name) if scratch_ctx else args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    models = ROOT / cfg0.paths.models
    built = [models / name for name in ("base", "round_0") if (models / name / "model.pt").is_file()]
    if not built:
        raise ArticulateError(f"no base model in {models} (no base/model.pt or round_0/model.pt): build round 0 first "
                              "(`articulate repro` with the same overrides)")
    for name in ("base", "round_0"):  # round 0 is the base as it is; the atlas view reads its raster
        if not (scratch / "models" / name / "model.pt").is_file():
            shutil.copytree(models / name if models / name in built else built[0], scratch / "models" / name,
                            dirs_exist_ok=True)
    overrides = [*args.overrides, f"paths.models={scratch / 'models'}",
                 f"paths.concepts={scratch / 'concepts/concepts.yaml'}",
                 f"paths.checkpoints={scratch / 'checkpoints'}",
                 f"mlflow.tracking_uri=sqlite:///{scratch / 'mlflow.db'}",
                 f"mlflow.artifact_location={scratch / 'mlartifacts'}"]
    cfg = compose([*overrides, "finetune.progress=false"])

    store = ConceptStore(cfg.paths.concepts, actor="bench")
    if not store.state().concepts:
        artist = default(SimulatedArtist, budget=args.budget, name_unticked=0, novel="part", held_at=0)
        report = artist.play(AtlasView.load(cfg, 0), store, progress=False)
        print(report.table())
    concepts = store.state().concepts
    print(f"{len(concepts)} concepts: {', '.join(c.name for c in concepts)}")

    cfg.round = 1
    start = time.perf_counter()
    info = finetune.run(cfg)
    total = time.perf_counter() - start

    manifest = read_manifest(cfg.paths.dataset)
    labelled = {str(p[0]) for c in concepts for p in c.positives}
    val = read_split(cfg.paths.dataset, "val")
    split = "val" if not labelled & {s.key_id for s in val} else "test"
    sketches = val if split == "val" else read_split(cfg.paths.dataset, "test")
    model = load_trained(scratch / "models/round_1/model.pt")
    names = [c["name"] for c in model.concepts]
    sketches = [s for s in sketches if s.parts is not None]  # the part IoU needs true parts (mixed data: not all)
    iou = measure_iou(model, sketches, manifest.parts or [], names)
    base_model = load_trained(scratch / "models/base/model.pt")
    clusters = {"base": layer_purity(base_model, sketches, manifest.parts or []),
                "round_1": layer_purity(model, sketches, manifest.parts or [])}
    result = {
        "settings": info["settings"], "n_concepts": len(names), "labelled_sketches": info["labelled_sketches"],
        "stage_seconds": round(total, 1), "fit_seconds": info["fit_seconds"],
        "seconds_per_epoch": [round(e["seconds"], 1) for e in info["epochs"]],
        "epochs": info["epochs"], "class_acc": info["class_acc"], "base_class_acc": info["base_class_acc"],
        "concept_loss": info["concept_loss"], "iou_split": split, "iou": iou,
        "mean_iou": sum(iou.values()) / max(len(iou), 1), "frozen": info["frozen_modules"],
        "layer_clusters": clusters,
    }
    print(json.dumps(result, indent=2))
    (scratch / "bench_finetune.json").write_text(json.dumps(result, indent=2) + "\n")
    if scratch_ctx:
        scratch_ctx.cleanup()
    return 0


if __name__ == "__main__":
    from pipeline.entry import guarded

    status: list[int] = [0]
    code = guarded(lambda: status.__setitem__(0, main(sys.argv[1:])))  # a user's mistake as one line
    raise SystemExit(code or status[0])
