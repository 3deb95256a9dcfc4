"""Benchmark: editing the atlas layer: Predict after an edit, and the reliance table.

1. Predict: the layers after the atlas layer only, on one drawing with an edited map (a concept ablated where
   it fires), p50 and p95 over a few hundred test drawings, beside a full forward pass measured in the same run
   (the ratio). The aim: p95 <= 30 ms for the default model.
2. The reliance table (each concept ablated over the test split, :mod:`pipeline.editing.reliance`): its time
   (aim <= 20 s) and the largest drops.
3. A dream of one drawing toward a concept, 4 octaves of 20 steps (aim <= 5 s for a 64 px drawing), and a
   concept's feature visualization rendered on demand (128 steps).

Run it in a built project whose latest round has concepts (after a loop); it reads the round's model and the
dataset's test split, whatever data built them. Hydra overrides name the data and settings as for the stages
(``data=quickdraw data.source.folder=DIR``, paths of another project folder):

    python bench/bench_edit.py [--round R] [--drawings 300] [--dreams 5] [--visuals 3] [threads=1 ...]

Smallest run (seconds)::

    python bench/bench_edit.py --drawings 10 --dreams 1 --visuals 1 threads=1 [overrides ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", type=int, default=None, help="the round (default: the latest built)")
    parser.add_argument("--drawings", type=int, default=300, help="test drawings timed for Predict")
    parser.add_argument("--dreams", type=int, default=5, help="drawings dreamed toward a concept")
    parser.add_argument("--visuals", type=int, default=3, help="concepts whose feature visualization is rendered")
    parser.add_argument("--grow", type=int, default=0, help="reliance: erase this many positions around the concept")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    import torch

    from pipeline.activations.extractor import render_batch
    from pipeline.config import compose
    from pipeline.data.store import read_split
    from pipeline.editing.reliance import concept_reliance
    from pipeline.editing.surgery import Surgeon
    from pipeline.entry import setup_torch
    from pipeline.models.build import load_trained
    from pipeline.rounds import latest_round, model_path

    cfg = compose(args.overrides)
    setup_torch(int(cfg.threads))
    r = latest_round(cfg.paths.atlases) if args.round is None else args.round
    surgeon = Surgeon(load_trained(model_path(cfg, r)), threshold=float(cfg.evaluate.threshold))
    test = read_split(cfg.paths.dataset, "test")
    if not test:
        raise SystemExit(f"the test split of {cfg.paths.dataset} is empty: nothing to measure on")
    print(f"round {r}: {len(surgeon.names)} concepts on {surgeon.model.layer}; traced: {surgeon.runner.traced}; "
          f"threads={cfg.threads}")

    predict, full = [], []
    for i, sketch in enumerate(test[:args.drawings]):
        images, _ = render_batch([sketch], surgeon.model.raster, None)
        run = surgeon.prepare(images)
        k = i % len(surgeon.names)
        start = time.perf_counter()
        surgeon.edit(run, [k], 0.0, where="fires")
        predict.append((time.perf_counter() - start) * 1000)
        x = torch.from_numpy(images)[:, None]
        start = time.perf_counter()
        with torch.no_grad():
            surgeon.model.net(x)
        full.append((time.perf_counter() - start) * 1000)
    predict, full = np.asarray(predict), np.asarray(full)
    print(f"Predict after an edit (layers after {surgeon.model.layer}, concept maps before and after): "
          f"p50 {np.percentile(predict, 50):.2f} ms, p95 {np.percentile(predict, 95):.2f} ms (aim p95 <= 30 ms); "
          f"a full forward p50 {np.percentile(full, 50):.2f} ms")

    from pipeline.featurevis.dream import deepdream
    from pipeline.featurevis.objectives import Direction

    dreams = []
    for k, sketch in enumerate(test[:max(args.dreams, 1)]):
        images, _ = render_batch([sketch], surgeon.model.raster, None)
        start = time.perf_counter()
        deepdream(surgeon.model.net, torch.from_numpy(images), surgeon.model.input_spec, surgeon.model.layer,
                  objective=Direction(surgeon.model.layer, surgeon.weights[k % len(surgeon.names)]), octaves=4,
                  steps=20)
        dreams.append(time.perf_counter() - start)
    print(f"a dream toward a concept, 4 octaves x 20 steps, {surgeon.model.raster.size} px: median "
          f"{np.median(dreams):.2f} s, worst {max(dreams):.2f} s (aim <= 5 s)")

    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.render import render

    visuals = []
    for k in range(max(min(args.visuals, len(surgeon.names)), 1)):
        start = time.perf_counter()
        render(surgeon.model.net, [direction(surgeon.model.layer, surgeon.weights[k])], surgeon.model.input_spec,
               steps=128)
        visuals.append(time.perf_counter() - start)
    print(f"a concept's feature visualization on demand (128 steps, {surgeon.model.raster.size} px; the app keeps "
          f"it per round, so only the first look pays): median {np.median(visuals):.2f} s, worst {max(visuals):.2f} s")

    start = time.perf_counter()
    reliance = concept_reliance(surgeon, test, grow=args.grow)
    seconds = time.perf_counter() - start
    print(f"reliance table over {int(reliance.sketches.sum())} test drawings x {len(reliance.concepts)} concepts "
          f"(erased where each fires, grown by {args.grow}): {seconds:.1f} s (aim <= 20 s)")
    drop = reliance.drop
    for k in np.argsort(-drop.max(axis=1))[:8]:
        c = int(np.argmax(drop[k]))
        print(f"  {reliance.concepts[k]:<12} largest drop {drop[k, c]:+.3f} ({reliance.classes[c]})")


if __name__ == "__main__":
    from pipeline.entry import guarded

    raise SystemExit(guarded(main))  # a user's mistake (no concepts, no round) as one line
