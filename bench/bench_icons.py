"""Benchmark: 64 feature-visualization icons (directions of features.block3) in one batched optimisation.

Measures, in one run on the default SketchCNN (models/round_0/model.pt if present, else a fresh SketchCNN(10)):
  (a) the bare forward+backward rate of the whole model at batch 64 on 64x64 inputs (images/s), the baseline;
      with parameter gradients, as in training (also shown: input gradients only, weights frozen);
  (b) rendering 64 direction icons in one batched optimisation (images/s, each step of each image counting
      as one image), and its ratio to the baseline (target >= 0.6);
  (c) the same 64 icons rendered one by one, and the batched/one-by-one speed-up.

    python bench/bench_icons.py [--steps 64] [--one-by-one-steps 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
LAYER, BATCH, TARGET = "features.block3", 64, 0.6


def _rate(fn, images_per_call: int, repeats: int) -> float:
    fn()  # warm-up (oneDNN kernel selection)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return images_per_call * repeats / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="optimisation steps of the batched render")
    parser.add_argument("--one-by-one-steps", type=int, default=16, help="steps per icon when rendering one by one")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import sys

    sys.path.insert(0, str(ROOT))
    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.render import render, render_one_by_one
    from pipeline.models.sketch_cnn import SketchCNN

    path = ROOT / "models/round_0/model.pt"
    if path.exists():
        from pipeline.models.build import load_trained

        trained = load_trained(path)
        net, spec, source = trained.net, trained.input_spec, str(path.relative_to(ROOT))
    else:
        net = SketchCNN(10)
        spec, source = net.input_spec, "fresh SketchCNN(10), random weights"
    net.eval()
    x = torch.rand(BATCH, spec.channels, spec.size, spec.size)

    def train_step() -> None:
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    baseline = _rate(train_step, BATCH, 10)
    for p in net.parameters():
        p.requires_grad_(False)
    xi = x.clone().requires_grad_(True)

    def input_step() -> None:
        xi.grad = None
        net(xi).sum().backward()

    input_rate = _rate(input_step, BATCH, 10)
    for p in net.parameters():
        p.requires_grad_(True)

    channels = 64
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(BATCH, channels, generator=generator).relu()  # atlas-like: non-negative mean activations
    objectives = [direction(LAYER, v, cos_power=1.0) for v in vectors]
    render(net, objectives[:2], spec, steps=2)  # warm-up
    start = time.perf_counter()
    render(net, objectives, spec, steps=args.steps)
    batched_s = time.perf_counter() - start
    batched = BATCH * args.steps / batched_s

    start = time.perf_counter()
    render_one_by_one(net, objectives, spec, steps=args.one_by_one_steps)
    single_s = time.perf_counter() - start
    single = BATCH * args.one_by_one_steps / single_s

    print(f"model: {source}; layer {LAYER}; batch {BATCH} at {spec.size}x{spec.size}; {args.threads} threads")
    print(f"(a) bare forward+backward, whole model, weight grads   {baseline:10.0f} images/s   (baseline)")
    print(f"    bare forward+backward, whole model, input grads    {input_rate:10.0f} images/s")
    print(f"(b) 64 direction icons, one batched optimisation        {batched:10.0f} images/s   "
          f"({args.steps} steps in {batched_s:.1f} s)")
    ratio = batched / baseline
    print(f"    ratio to baseline: {ratio:.2f} x  (vs input-grad pass: {batched / input_rate:.2f} x); "
          f"target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}")
    print(f"(c) the same icons one by one                           {single:10.0f} images/s   "
          f"({args.one_by_one_steps} steps each, {single_s:.1f} s)")
    print(f"    batched / one-by-one speed-up: {batched / single:.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
