"""Benchmark: the supervised ceiling of part localisation on the atlas layer.

The loop's concepts come from a person's (or the simulated artist's) few labels. This measures what the same
head can reach with perfect labels: every position of every train sketch labelled with its true part (the
majority part of its stride cell, as extraction defines it), one concept per part
(:func:`pipeline.finetune.targets.part_codes`: positive on the part, "other" weight 1 on every other part's
ink, the configured background weight on empty cells), trained with the project's own concept head and
fine-tune module (:class:`pipeline.finetune.module.ConceptFinetuner`, the ``finetune`` config's learning
rates and loss weights) in two variants:

- ``frozen``: the backbone fixed (weights, BatchNorm statistics): a linear probe of the layer;
- ``finetuned``: the backbone trained too, with the class loss on, as the finetune stage does.

Both are measured on the test split with the evaluate stage's code (:func:`pipeline.evaluation.inference.run_split`,
``concept_results``, ``part_results``): per part its IoU (the best concept's, as ``parts_discovered`` counts
it), the parts at IoU >= ``evaluate.iou_discovered`` and ``mean_concept_iou``, each with two metrics:

- ``cell``: the evaluate stage's IoU over the layer's positions against each cell's majority part;
- ``pixel``: IoU over the ink pixels at input resolution, the maps upsampled bilinearly
  (:func:`pipeline.evaluation.metrics.ink_pixel_predictions`).

Beside them, ``oracle pixel``: the pixel IoU of the *true* cell map (one-hot of each cell's majority part, read
through the same upsampling), the most a perfect map on this layer's grid can score at input resolution.

Measured (6 epochs, the default model, pixel IoU: parts >= 0.3, mean): on the default data the fine-tuned ceiling
on ``features.block3`` is 20/32, 0.38 (frozen 4/32, 0.12) against an oracle of 0.84: what limits it is the
layer's 18 px receptive field, not its 16x16 grid or the metric. The head on ``features.block4`` (8x8, 38 px)
gives 29/32, 0.66 (its oracle: 0.69); a head on block3 plus block4 upsampled 31/32, 0.76; a block3 widened to a
66 px field by two dilated convolutions 31/32, 0.76 (class accuracy 99.9% both). 12 epochs instead of 6 give
30/32, 0.52. With 6 of the classes (another seed) the same ceiling is 23/24, 0.63.

Everything is written under ``--workdir`` (a temporary folder by default): the dataset (data stage), the base
model (train_base stage) unless ``--model`` names one, an MLflow store; the project's own data/, models/ and
mlflow.db are not touched. Hydra overrides select the data and model: any data whose drawings name their parts (the
generator's, or Quick, Draw! ndjson with a ``parts`` list per drawing, ``data=quickdraw data.source.folder=DIR``),
e.g. a second dataset::

    python bench/bench_ceiling.py [--workdir DIR] [--model PATH] [--epochs N] [--train-sketches N]
        [--layer MODULE] [--variants frozen,finetuned] [--json OUT] [hydra overrides]
    python bench/bench_ceiling.py seed=1 'data.source.classes=[cat,bird,fish,car,house,face]'

The smallest run (seconds): ``--epochs 1 --train-sketches 32 --variants frozen experiment=tiny``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("frozen", "finetuned")
#: Concept-labelled sketches train the class loss too, so the class loader only adds this many per step.
CLASS_BATCH = 8
_START = time.perf_counter()


def say(message: str) -> None:
    """Progress, with the time since the start."""
    print(f"[{time.perf_counter() - _START:6.0f} s] {message}", flush=True)


def _hash(tree: Any) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:12]


def workdir_config(overrides: Sequence[str], workdir: Path) -> Any:
    """The composed config with every output under ``workdir``: the dataset and base model in folders named by a
    hash of the settings that shape them, so a rerun reuses them and other settings never do."""
    from pipeline.config import compose, to_container
    from pipeline.stages.train_base import config_hash

    cfg = compose(overrides)
    data = _hash({"data": to_container(cfg.data), "seed": int(cfg.seed)})
    paths = [f"paths.dataset={workdir / f'data-{data}'}", f"paths.models={workdir / f'models-{config_hash(cfg)}'}",
             f"paths.checkpoints={workdir / 'checkpoints'}", f"mlflow.tracking_uri=sqlite:///{workdir / 'mlflow.db'}",
             f"mlflow.artifact_location={workdir / 'mlartifacts'}", "trainer.enable_progress_bar=false"]
    if "progress" in cfg.data.source:  # the generator's progress bar; readers of files have none
        paths.append("data.source.progress=false")
    return compose([*overrides, *paths])


def _stage(name: str, output: Path, cfg: Any, seconds: dict[str, float], doing: str) -> None:
    """Run stage ``name`` unless its ``output`` file is already there; its time goes into ``seconds``."""
    import importlib

    if output.is_file():
        say(f"{name}: reusing {output.parent}")
        return
    say(f"{name}: {doing}")
    start = time.perf_counter()
    stage = importlib.import_module(f"pipeline.stages.{name}")
    quiet_libraries()
    stage.run(cfg)
    seconds[name] = time.perf_counter() - start


def prepare(cfg: Any, model_file: Path | None) -> tuple[Path, Any, dict[str, float]]:
    """The dataset and the base model: made by the data and train_base stages unless already there.

    Returns:
        (the base model's file, the manifest, seconds per stage run).
    """
    from pipeline.data.store import read_manifest
    from core.errors import InputError
    from pipeline.rounds import base_model_path

    seconds: dict[str, float] = {}
    dataset = Path(cfg.paths.dataset)
    _stage("data", dataset / "manifest.json", cfg, seconds, f"generating into {dataset}")
    manifest = read_manifest(dataset)
    if not manifest.parts:
        raise InputError(dataset, f"the {cfg.data.name} data has no part annotations: the ceiling needs true parts",
                         hint="use data whose drawings name their parts (data=generated, or ndjson drawings with a "
                              "'parts' list, one part name per stroke)")
    say(f"data: {len(manifest.classes)} classes, {len(manifest.parts)} parts, splits {manifest.splits}")
    if model_file is None:
        model_file = base_model_path(cfg)
        _stage("train_base", model_file, cfg, seconds,
               f"training the base model ({int(cfg.trainer.max_epochs)} epochs) into {model_file.parent}")
    return model_file, manifest, seconds


def cell_parts(sketches: Sequence[Any], raster: Any, part_index: dict[str, int], geometry: Any,
               batch_size: int = 256) -> Any:
    """(N, H, W) int16: the true part of every position of every sketch (extraction's definition)."""
    import numpy as np

    from pipeline.activations.extractor import part_cells, rendered_batches

    out = [part_cells(masks, geometry) for _batch, (_images, masks) in
           rendered_batches(sketches, batch_size, raster, part_index)]
    return np.concatenate(out) if out else np.zeros((0, geometry.height, geometry.width), dtype=np.int16)


def oracle_pixel_counts(sketches: Sequence[Any], raster: Any, part_index: dict[str, int], geometry: Any,
                        part_ids: Sequence[int], threshold: float, batch_size: int = 128) -> Any:
    """Pixel overlaps of the true cell map (one-hot per part) read at input resolution like a concept map."""
    import numpy as np

    from pipeline.activations.extractor import part_cells, rendered_batches
    from pipeline.evaluation.metrics import OverlapCounts, ink_pixel_predictions

    ids = np.asarray(part_ids).reshape(1, -1, 1, 1)
    counts = OverlapCounts(len(part_ids), len(part_index))
    for _batch, (_images, masks) in rendered_batches(sketches, batch_size, raster, part_index):
        perfect = (part_cells(masks, geometry)[:, None] == ids).astype(np.float32)
        counts.update(ink_pixel_predictions(perfect, masks, geometry, threshold), masks)
    return counts


def console() -> None:
    """A benchmark's console: the project's progress at INFO, others' warnings only, run from the project's root."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", message=r".*treespec")
    os.chdir(ROOT)


def quiet_libraries() -> None:
    """Their banners, not our progress. Called once they are imported: importing them sets their levels."""
    for noisy in ("lightning.pytorch", "pytorch_lightning", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def train_variant(variant: str, model_file: Path, layer: str, names: Sequence[str], codes: Any,
                  sketches: Sequence[Any], cfg: Any, epochs: int, workdir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Train the per-part head (and the backbone unless frozen) from the base model with the finetune module.

    Returns:
        (the net, the head, what the training did: epochs' history, seconds).
    """
    import lightning as L

    from pipeline.config import build
    from pipeline.data.datamodule import SketchDataset
    from pipeline.activations.geometry import LayerGeometry
    from pipeline.finetune.data import ConceptDataset, combined_loader
    from pipeline.finetune.module import ConceptFinetuner
    from pipeline.finetune.targets import TargetWeights
    from pipeline.config import default
    from pipeline.models.build import load_trained
    from pipeline.models.callbacks import EpochSummary
    from pipeline.models.concept_head import ConceptHead
    from pipeline.schema import configured

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    model = dataclasses.replace(load_trained(model_file), layer=layer)  # a fresh copy of the base weights
    net = model.net.train()
    settings = cfg.finetune
    # Every ink position is labelled: another part's position is a sure negative, weighted like a positive.
    weights = default(TargetWeights, negative=settings.negative_weight, other=1.0,
                      background=settings.background_weight, unlabeled=0.0)
    module = configured(  # stem=(): every layer trains, the first block too
        ConceptFinetuner, cfg, net=net, layer=layer, head=ConceptHead(LayerGeometry.of(model).channels, len(names)),
        concept_names=names, input_spec=model.input_spec, weights=weights, stem=())
    if variant == "frozen":
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        module.frozen = [name for name, _ in net.named_children()]  # kept in eval mode: BatchNorm statistics fixed
    class_index = {c: i for i, c in enumerate(model.class_names)}
    concept_set = ConceptDataset(sketches, [class_index[s.word] for s in sketches], codes, [True] * len(sketches),
                                 model.raster)
    batch = int(settings.concept_batch_size)
    steps = math.ceil(len(sketches) / batch)
    class_set = SketchDataset(sketches[:steps * CLASS_BATCH], class_index, model.raster)  # one epoch's worth
    loader = combined_loader(class_set, concept_set, CLASS_BATCH, batch, seed=int(cfg.seed),
                             num_workers=int(cfg.data.get("num_workers", 0)))
    quiet_libraries()
    trainer = build(cfg.trainer, "trainer", max_epochs=epochs, logger=False, callbacks=[EpochSummary()],
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0, default_root_dir=str(workdir / "checkpoints" / "ceiling"))
    say(f"{variant}: training {len(names)} part heads on {layer} from {len(sketches)} sketches, {epochs} epochs "
        f"of {steps} steps{' (backbone frozen)' if variant == 'frozen' else ''}")
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    seconds = time.perf_counter() - start
    say(f"{variant}: trained in {seconds:.0f} s")
    return module.net.eval(), module.head.eval(), {"epochs": module.history, "seconds": seconds}


def evaluate_variant(net: Any, head: Any, base: Any, names: Sequence[str], sketches: Sequence[Any],
                     parts: Sequence[str], cfg: Any) -> dict[str, Any]:
    """The evaluate stage's metrics of one variant on the test sketches, over positions and over ink pixels."""
    from pipeline.evaluation.inference import Evaluator, run_split

    model = dataclasses.replace(base, net=net, concepts=[{"id": n, "name": n} for n in names], concept_head=head)
    settings = cfg.evaluate
    threshold = float(settings.threshold)
    result = run_split(Evaluator(model), sketches, parts, threshold=threshold, batch_size=int(settings.batch_size),
                       pixels=True)
    out: dict[str, Any] = {"class_acc": result.class_acc}
    for metric, counts in (("cell", result.counts), ("pixel", result.pixel_counts)):
        out[metric] = summarise(model.concepts, parts, counts, result.contains, float(settings.iou_discovered),
                                result.presence, threshold)
    return out


def summarise(concepts: Sequence[dict[str, Any]], parts: Sequence[str], counts: Any, contains: Any,
              iou_discovered: float, presence: Any = None, threshold: float = 0.5) -> dict[str, Any]:
    """Per part its best IoU (``part_results``), the parts discovered and, given the presence scores,
    ``mean_concept_iou`` (as the evaluate stage computes them)."""
    import numpy as np

    from pipeline.evaluation.metrics import concept_results, part_results

    found = part_results(concepts, parts, counts, contains, iou_discovered)
    out: dict[str, Any] = {
        "per_part": {p.part: p.best_iou for p in found},
        "best_concept": {p.part: p.best_concept for p in found},
        "parts_discovered": sum(p.discovered for p in found), "parts_total": len(found),
        "mean_part_iou": float(np.mean([p.best_iou for p in found])) if found else 0.0,
    }
    if presence is not None and concepts:
        scored = concept_results(concepts, parts, counts, presence, contains, threshold)
        out["mean_concept_iou"] = float(np.mean([c.iou for c in scored]))
    return out


def table(results: dict[str, Any], oracle: dict[str, Any], positions: dict[str, int]) -> str:
    """The per-part IoU of each variant and metric, then the counts, means and class accuracy."""
    columns = [(v, m) for v in results for m in ("cell", "pixel")]
    parts = list(oracle["per_part"])
    width = max(12, *(len(p) for p in parts))
    head = f"{'part':<{width}} {'cells':>6} " + " ".join(f"{f'{v}:{m}':>15}" for v, m in columns) + \
        f" {'oracle:pixel':>13}"
    lines = [head, "-" * len(head)]
    for part in parts:
        values = []
        for v, m in columns:
            entry = results[v][m]
            mark = "*" if entry["best_concept"][part] not in (part, None) else " "
            values.append(f"{entry['per_part'][part]:>14.3f}{mark}")
        lines.append(f"{part:<{width}} {positions[part]:>6} " + " ".join(values) +
                     f" {oracle['per_part'][part]:>13.3f}")
    lines.append("-" * len(head))

    def row(label: str, cell: Any, last: str) -> str:
        return f"{label:<{width + 7}} " + " ".join(f"{cell(results[v][m]):>15}" for v, m in columns) + f" {last:>13}"

    lines.append(row("parts >= 0.3", lambda e: f"{e['parts_discovered']}/{e['parts_total']}",
                     f"{oracle['parts_discovered']}/{oracle['parts_total']}"))
    lines.append(row("mean IoU (concepts)", lambda e: f"{e['mean_concept_iou']:.3f}", "-"))
    lines.append(row("mean IoU (parts)", lambda e: f"{e['mean_part_iou']:.3f}", f"{oracle['mean_part_iou']:.3f}"))
    lines.append("(* the part's best IoU is another part's head; cells: test positions whose true part it is)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the dataset, base model and MLflow store go (default: a temporary folder)")
    parser.add_argument("--model", type=Path, default=None, help="a trained model.pt to use as the base model")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs of each variant (default 6)")
    parser.add_argument("--train-sketches", type=int, default=0,
                        help="label only the first N train sketches (default 0: all)")
    parser.add_argument("--layer", default=None, help="the layer of the head (default: the model's atlas layer)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: frozen, finetuned")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (data, model, finetune, evaluate, seed)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - set(VARIANTS):
        parser.error(f"--variants: expected some of {', '.join(VARIANTS)}, got {args.variants!r}")

    import numpy as np
    import torch

    from pipeline.data.store import read_split
    from core.errors import ArticulateError
    from pipeline.activations.geometry import LayerGeometry
    from pipeline.finetune.targets import part_codes
    from pipeline.models.build import load_trained

    console()
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")  # the frozen backbone, deliberately
    scratch = tempfile.TemporaryDirectory(prefix="articulate-ceiling-") if args.workdir is None else None
    workdir = Path(scratch.name) if scratch else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = workdir_config(args.overrides, workdir)
        threads = int(cfg.threads) or (os.cpu_count() or 1)
        torch.set_num_threads(threads)
        say(f"workdir {workdir}; {threads} torch threads; overrides: {' '.join(args.overrides) or 'none'}")
        model_file, manifest, seconds = prepare(cfg, args.model.resolve() if args.model else None)
        base = load_trained(model_file)
        if base.class_names != manifest.classes:
            raise ArticulateError(f"{model_file} was trained on classes {base.class_names}, the dataset has "
                                  f"{manifest.classes}: pass the model of this dataset, or none")
        base = dataclasses.replace(base, layer=args.layer or base.layer)
        geometry = LayerGeometry.of(base)
        say(f"layer {base.layer}: {geometry.height}x{geometry.width} positions, {geometry.channels} channels, "
            f"stride {geometry.stride:g} px, receptive field {geometry.receptive_field} px of {geometry.input_size}")

        parts = list(manifest.parts)
        part_index = {p: i + 1 for i, p in enumerate(parts)}
        # only the drawings that name their parts (mixed data's real drawings do not)
        train = [s for s in read_split(cfg.paths.dataset, "train") if s.parts is not None]
        train = train[:args.train_sketches] if args.train_sketches > 0 else train
        test = [s for s in read_split(cfg.paths.dataset, "test") if s.parts is not None]
        start = time.perf_counter()
        train_parts = cell_parts(train, base.raster, part_index, geometry)
        ids = [i for i in range(1, len(parts) + 1) if (train_parts == i).any()]  # a head per part seen in training
        names = [parts[i - 1] for i in ids]
        codes = part_codes(train_parts, ids)
        say(f"targets: {len(names)} parts on {len(train)} train sketches, {int((train_parts > 0).sum())} labelled "
            f"positions ({time.perf_counter() - start:.0f} s)")
        test_parts = cell_parts(test, base.raster, part_index, geometry)
        positions = {p: int((test_parts == i + 1).sum()) for i, p in enumerate(parts)}
        contains = np.zeros((len(test), len(parts) + 1), dtype=bool)
        np.put_along_axis(contains, test_parts.reshape(len(test), -1).astype(np.int64), True, axis=1)
        oracle = summarise([{"id": n, "name": n} for n in names], parts,
                           oracle_pixel_counts(test, base.raster, part_index, geometry, ids,
                                               float(cfg.evaluate.threshold)),
                           contains, float(cfg.evaluate.iou_discovered))
        say(f"oracle (true cell map at input resolution): {oracle['parts_discovered']}/{oracle['parts_total']} "
            f"parts >= 0.3, mean pixel IoU {oracle['mean_part_iou']:.3f}")

        results: dict[str, Any] = {}
        training: dict[str, Any] = {}
        for variant in variants:
            net, head, training[variant] = train_variant(variant, model_file, base.layer, names, codes, train, cfg,
                                                         args.epochs, workdir)
            say(f"{variant}: evaluating on {len(test)} test sketches")
            start = time.perf_counter()
            results[variant] = evaluate_variant(net, head, base, names, test, parts, cfg)
            training[variant]["eval_seconds"] = time.perf_counter() - start
            r = results[variant]
            say(f"{variant}: class_acc {r['class_acc']:.4f}; cell IoU: {r['cell']['parts_discovered']}/"
                f"{r['cell']['parts_total']} parts >= 0.3, mean {r['cell']['mean_concept_iou']:.3f}; pixel IoU: "
                f"{r['pixel']['parts_discovered']}/{r['pixel']['parts_total']}, mean "
                f"{r['pixel']['mean_concept_iou']:.3f}")
        total = time.perf_counter() - _START

        print()
        print(f"Supervised ceiling on {base.layer} ({geometry.height}x{geometry.width}, receptive field "
              f"{geometry.receptive_field} px, stride {geometry.stride:g} px), test split ({len(test)} sketches), "
              f"{len(train)} labelled train sketches, {args.epochs} epochs; threshold {cfg.evaluate.threshold}")
        print(table(results, oracle, positions))
        print()
        base_acc = results["frozen"]["class_acc"] if "frozen" in results else None
        print("class accuracy (test): " + ", ".join(f"{v} {results[v]['class_acc']:.4f}" for v in results) +
              ("  (frozen = the base model)" if base_acc is not None else ""))
        times = {**{f"{k} stage": v for k, v in seconds.items()},
                 **{f"{v} train": training[v]["seconds"] for v in training},
                 **{f"{v} evaluate": training[v]["eval_seconds"] for v in training}}
        print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + f"; total {total:.0f} s")
        if args.json:
            document = {"overrides": args.overrides, "layer": base.layer, "geometry": dataclasses.asdict(geometry),
                        "epochs": args.epochs, "train_sketches": len(train), "test_sketches": len(test),
                        "classes": manifest.classes, "parts": names, "positions": positions, "oracle": oracle,
                        "results": results, "training": training, "seconds": {**times, "total": total},
                        "model": str(model_file)}
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(document, indent=2) + "\n")
            say(f"wrote {args.json}")
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if scratch:
            scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
