"""Benchmark: generating and rasterising the default dataset.

Prints the time to generate 10,000 part-annotated sketches (issue 3 asks for well under a minute) and the
rasterisation rate of images and part masks at the default model's input size.

    python bench/bench_data.py [--sketches 10000]
"""

from __future__ import annotations

import argparse
import time

from pipeline.data.generator import SketchGenerator
from pipeline.data.raster import RasterSpec, rasterize, rasterize_parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=10_000)
    args = parser.parse_args()

    generator = SketchGenerator(num_sketches=args.sketches, progress=False)
    start = time.perf_counter()
    sketches = generator.load().sketches
    generate_s = time.perf_counter() - start

    spec = RasterSpec(size=64, line_width=2.0)
    start = time.perf_counter()
    for sketch in sketches:
        rasterize(sketch, spec)
    raster_s = time.perf_counter() - start

    part_index = {name: i + 1 for i, name in enumerate(generator.part_names())}
    sample = sketches[:2000]
    start = time.perf_counter()
    for sketch in sample:
        rasterize_parts(sketch, spec, part_index)
    mask_s = time.perf_counter() - start

    strokes = sum(s.num_strokes for s in sketches) / len(sketches)
    print(f"{'generate ' + str(len(sketches)) + ' sketches':32s} {generate_s:7.2f} s  ({len(sketches) / generate_s:,.0f} sketches/s, {strokes:.1f} strokes each)")
    print(f"{'rasterise them at 64x64':32s} {raster_s:7.2f} s  ({raster_s / len(sketches) * 1e3:.2f} ms each)")
    print(f"{'part masks at 64x64':32s} {mask_s / len(sample) * 1e3:7.2f} ms each")
    print(f"target: 10,000 sketches generated well under 60 s: {'met' if generate_s * 10_000 / len(sketches) < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
