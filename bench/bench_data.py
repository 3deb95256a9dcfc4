"""Benchmark: reading (or generating) the configured dataset and rasterising it.

Prints the time to load the data stage's drawings (by default the generator's 10,000 part-annotated sketches; the
aim: well under a minute) and the rasterisation rate of images and part masks at the default model's input size.
Any data source works (``data=quickdraw data.source.folder=DIR``); part masks are timed where the drawings name
their parts (the generator's, or ndjson drawings with a ``parts`` list), and said to be absent otherwise.

    python bench/bench_data.py [--sketches 10000] [hydra overrides]
    python bench/bench_data.py --sketches 50 data=quickdraw data.source.folder=DIR    # the smallest run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=10_000, help="drawings to generate, or at most to time")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides selecting the data (default: the generator)")
    args = parser.parse_args()

    from pipeline.config import compose
    from pipeline.data.raster import RasterSpec, rasterize, rasterize_parts
    from pipeline.stages.data import load_sketches

    cfg = compose(args.overrides)
    source = cfg.data.source
    extra = [f"data.source.num_sketches={args.sketches}"] if "num_sketches" in source else []
    extra += ["data.source.progress=false"] if "progress" in source else []
    cfg = compose([*args.overrides, *extra])
    start = time.perf_counter()
    sketches = load_sketches(cfg).sketches[:args.sketches]
    load_s = time.perf_counter() - start
    if not sketches:
        raise SystemExit(f"the {cfg.data.name} data gave no drawings")

    spec = RasterSpec(size=64, line_width=2.0)
    start = time.perf_counter()
    for sketch in sketches:
        rasterize(sketch, spec)
    raster_s = time.perf_counter() - start

    verb = "generate" if "num_sketches" in source else "read"
    strokes = sum(s.num_strokes for s in sketches) / len(sketches)
    print(f"{verb + ' ' + str(len(sketches)) + ' ' + str(cfg.data.name) + ' drawings':40s} {load_s:7.2f} s  "
          f"({len(sketches) / load_s:,.0f} drawings/s, {strokes:.1f} strokes each)")
    print(f"{'rasterise them at 64x64':40s} {raster_s:7.2f} s  ({raster_s / len(sketches) * 1e3:.2f} ms each)")
    parts = sorted({p for s in sketches for p in s.parts or ()})
    if parts:
        part_index = {name: i + 1 for i, name in enumerate(parts)}
        sample = [s for s in sketches if s.parts][:2000]
        start = time.perf_counter()
        for sketch in sample:
            rasterize_parts(sketch, spec, part_index)
        mask_s = time.perf_counter() - start
        print(f"{'part masks at 64x64':40s} {mask_s / len(sample) * 1e3:7.2f} ms each ({len(parts)} parts)")
    else:
        print(f"part masks: none timed, the {cfg.data.name} data names no parts (no 'parts' list in its drawings)")
    if verb == "generate":
        met = load_s * 10_000 / len(sketches) < 30
        print(f"target: 10,000 sketches generated well under 60 s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
