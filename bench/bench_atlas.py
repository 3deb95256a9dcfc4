"""Benchmark: the atlas steps on 200,000 positions, with wall time and peak memory, and where the time goes.

Builds a synthetic activation store (SketchCNN's ``features.block3`` geometry: 16x16 positions, C=64,
float16) with about 200,000 ink positions, samples 200,000 of them and runs every atlas step: sampling and
reading the vectors from the memory map, UMAP, grid, clustering, icons (the trained round-0 model when
``models/round_0/model.pt`` exists, else an untrained SketchCNN), statistics, exemplar patches and writing
the folder. Prints seconds per step, the resident memory at the end of each step and the process peak
(``ru_maxrss``), plus the peak RSS sampled every 20 ms by a background thread.

    python bench/bench_atlas.py [--positions 200000] [--method umap] [--icon-steps 128]
    python bench/bench_atlas.py --positions 1000000 --cluster-method minibatch    # a million-position atlas
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.atlas import build as build_module  # noqa: E402
from pipeline.atlas import (AtlasGrid, AtlasParams, Clusterer, IconParams, PositionSampler, Projection,  # noqa: E402
                            write_atlas)
from tests.synthetic import synthetic_sketches, synthetic_store  # noqa: E402
from pipeline.data.raster import RasterSpec  # noqa: E402
from pipeline.models.build import TrainedModel, load_trained  # noqa: E402
from pipeline.models.input_spec import InputSpec  # noqa: E402
from pipeline.models.sketch_cnn import SketchCNN  # noqa: E402
from pipeline.config import default  # noqa: E402


class PeakRss:
    """Samples the resident set size in a background thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.process, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def model() -> TrainedModel:
    path = ROOT / "models" / "round_0" / "model.pt"
    if path.is_file():
        return load_trained(path)
    net = SketchCNN(num_classes=10).eval()
    return TrainedModel(net=net, class_names=[f"class{i}" for i in range(10)],
                        input_spec=InputSpec(size=64, channels=1, mean=(0.0,), std=(1.0,), invert=False),
                        raster=RasterSpec(size=64, line_width=2.0), layer="features.block3", round=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200_000)
    parser.add_argument("--method", choices=["umap", "pca"], default="umap")
    parser.add_argument("--grid", type=int, default=14)
    parser.add_argument("--k", type=int, default=24)
    parser.add_argument("--icon-steps", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fit-sample", type=int, default=20_000,
                        help="fit the layout on this many positions, place the rest (atlas.layout.fit_sample)")
    parser.add_argument("--cluster-method", default="kmeans", help="kmeans, minibatch, ... (atlas.clusters.method)")
    parser.add_argument("--fast", action="store_true", help="UMAP unseeded on every core (atlas.layout.fast)")
    parser.add_argument("--icon-kind", default="exemplar", help="exemplar or featurevis (atlas.icons.kind)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    ink, size = 0.4, 16
    # About 73% of synthetic attributions are positive (only those can be drawn with attribution weighting).
    sketches = int(np.ceil(args.positions / (ink * size * size * 0.70) * 1.02))
    with tempfile.TemporaryDirectory() as tmp, PeakRss() as peak:
        start = time.perf_counter()
        store = synthetic_store(Path(tmp) / "features.block3", sketches=sketches, size=size, channels=64, parts=12,
                                classes=10, ink=ink, noise=0.6, seed=0)
        made = time.perf_counter() - start
        eligible = int(np.asarray(store.ink).sum())
        print(f"synthetic store: {sketches} sketches, {eligible} ink positions, C=64 float16 "
              f"({store.activations.nbytes / 1e6:.0f} MB), built in {made:.1f} s")
        trained = model()
        # Exemplar patches need drawings with the store's key ids and the model's raster size.
        drawings = synthetic_sketches(sketches, classes=10)
        params = default(
            AtlasParams, sampler=default(PositionSampler, count=args.positions, weighting="attribution"),
            projection=default(Projection, method=args.method, seed=0, fit_sample=args.fit_sample, fast=args.fast,
                               n_epochs=None),
            grid=default(AtlasGrid, size=args.grid, min_count=5, clip=0.0),
            clusterer=default(Clusterer, method=args.cluster_method, k=args.k),
            icons=default(IconParams, steps=args.icon_steps, batch_size=64, kind=args.icon_kind, fragment=True),
            exemplars=40)

        memory: dict[str, float] = {}
        original = build_module._Clock.lap

        def lap(self: build_module._Clock, name: str) -> None:  # record the RSS at the end of every step
            original(self, name)
            memory[name] = psutil.Process().memory_info().rss / 2**20

        build_module._Clock.lap = lap
        start = time.perf_counter()
        atlas = build_module.build_atlas(store, trained, params, sketches=drawings)
        built = time.perf_counter() - start
        start = time.perf_counter()
        writing = write_atlas(atlas, Path(tmp) / "atlas")
        written = time.perf_counter() - start
    total = built + written
    print(f"\natlas of {len(atlas.points)} positions: {len(atlas.cells)} cells, {len(atlas.clusters)} clusters, "
          f"purity {atlas.metrics['atlas_purity']:.3f}, NMI {atlas.metrics['atlas_nmi']:.3f}")
    print(f"{'step':28s} {'seconds':>8s} {'share':>6s} {'RSS after (MiB)':>16s}")
    names = {"sampling": "sampling + reading vectors", "projection": f"{args.method.upper()} 2-D layout",
             "icons": f"icons ({len(atlas.cells)}, {args.icon_steps} steps)", "patches": "exemplar patches"}
    for name, seconds in atlas.timings.items():
        print(f"{names.get(name, name):28s} {seconds:8.2f} {seconds / total:6.1%} {memory.get(name, 0):16.0f}")
    for name, seconds in writing.items():
        print(f"{'writing ' + name:28s} {seconds:8.2f} {seconds / total:6.1%}")
    print(f"{'total':28s} {total:8.2f}")
    print(f"peak memory: ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"sampled peak RSS {peak.peak / 2**20:.0f} MiB (store on disk, memory-mapped)")


if __name__ == "__main__":
    main()
