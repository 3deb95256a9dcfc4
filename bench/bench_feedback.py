"""Benchmark: the drawing coach's latency, and whether its events are right.

1. Latency of one feedback update (check the drawing, render it, forward and attribution, concept scores,
   canon levels, events, the JSON answer: :meth:`Coach.answer`, everything but HTTP) over a few hundred partial
   drawings (the first k strokes of a drawing), one at a time as the page sends them; p50, p95 and worst. The aim:
   p95 <= 50 ms for the default model. The drawings are those of the model's classes in the configured data where
   it reads ndjson files (``data=quickdraw``), else the real Quick, Draw! samples (``paths.quickdraw``; of the
   model's classes where they hold some), else the project's test split; ``--quickdraw DIR`` picks real ones.
   ``--googlenet`` also times GoogLeNet at ``inception4d`` (random weights: latency only). ``--browser`` also
   measures what a person sees: the app served on the round, headless Chromium drawing real drawings with the
   mouse on /draw, and the time from each finished stroke to its feedback on screen (the page's own clock,
   ``window.articulate.latencies``).
   ``--load N`` times the updates again with N CPU-bound processes beside the benchmark (busy loops, ended with
   it) and prints both in one table, with the machine's load average after each: the aim at a load of 4 on 2 cores
   is p95 <= 100 ms. ``--ablation`` times, interleaved, the ways an update can run (on the coach's own inference
   thread or the caller's, one or two intra-op threads; and the network's forward alone eagerly, under
   ``torch.inference_mode`` and as a frozen TorchScript trace: what those could save at most), idle and at load.
   ``--interop N`` sets torch's inter-op threads first (compare two runs).
2. Event rates on the dataset's test split (drawings whose strokes name their part), for the round's
   concepts matched to true parts (:mod:`pipeline.coach.accuracy`): the aim is "improved: P" at the stroke
   that adds P in >= 80% of cases, and "missing: P" said before P is drawn.
3. ``--unsure N``: whether the coach knows when it does not know. The share of N random scribbles it is unsure of
   (aim >= 90%), of real Quick, Draw! drawings of 20 classes the model does not have (``paths.quickdraw`` or
   ``--quickdraw``; aim >= 70%), of its own classes' test drawings, and of N val drawings replayed stroke by stroke
   that it is still unsure of at the last stroke (aim <= 10%); the AUROC of each familiarity (energy, msp,
   mahalanobis) between its own drawings and the others; and the frames of those replays whose sentences
   contradict each other (improved or complete and missing at once, or missing a concept of another class;
   aim 0).

Run it in a built project (after `make run`, or a loop): it reads the round's model, atlas and dataset. Hydra
overrides name the data and settings as for the stages (``data=quickdraw data.source.folder=DIR``).

    python bench/bench_feedback.py [--round R] [--drawings 300] [--events 300] [--unsure 200] [--googlenet]
        [--load N] [--ablation] [overrides ...]

Smallest run (seconds)::

    python bench/bench_feedback.py --drawings 20 --events 20 threads=1 [overrides ...]
    python bench/bench_feedback.py --drawings 20 --events 0 --load 1 --ablation threads=1 [overrides ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Real Quick, Draw! classes timed where neither the configured data nor the samples hold the model's classes.
REAL_CLASSES = ("flower", "apple", "bowtie", "lollipop", "house plant", "palm tree", "hedgehog", "panda", "parrot",
                "mushroom")
#: Drawings read per class file (enough for a few hundred partial drawings).
PER_CLASS = 100


def _read_classes(folder: Path, classes) -> list:
    """Up to ``PER_CLASS`` drawings of each of ``classes`` that has a ``<class>.ndjson`` in ``folder``."""
    from core.ndjson import read_ndjson

    drawings = []
    for name in classes:
        path = folder / f"{name}.ndjson"
        if path.is_file():
            drawings += read_ndjson(path, on_error="skip", limit=PER_CLASS).sketches
    return drawings


def timed_drawings(cfg, words: list[str], quickdraw: Path | None) -> tuple[list, str]:
    """The drawings to time, and where they come from, in this order of preference:

    1. ``quickdraw`` (``--quickdraw DIR``): the real drawings in ``DIR/ndjson``, of the model's classes (or
       ``REAL_CLASSES`` where it has none of them);
    2. the configured data when it reads ndjson files (``data=quickdraw``): its folder's files of the model's
       classes;
    3. the real Quick, Draw! samples (``paths.quickdraw``), of the model's classes, else ``REAL_CLASSES``: the
       generator's sketches are not human drawings, so real ones are timed where there are any;
    4. the test split of the project's dataset (strokes), where none of the above exist.

    Args:
        cfg: The composed configuration.
        words: The words the model knows.
        quickdraw: ``--quickdraw``, or None.

    Returns:
        The drawings (Sketch objects) and a line naming their source.
    """
    from pipeline.data.store import read_manifest, read_split

    source = cfg.data.source
    if quickdraw is None and str(source.get("_target_", "")).endswith("read_ndjson_dir"):
        folder = Path(str(source.folder))
        drawings = _read_classes(folder, words)
        if drawings:
            return drawings, f"the configured data ({folder})"
    folder = (quickdraw or Path(cfg.paths.quickdraw)) / "ndjson"
    for classes in (words, REAL_CLASSES):
        drawings = _read_classes(folder, classes)
        if drawings:
            return drawings, f"real Quick, Draw! drawings in {folder}"
    if quickdraw is not None:
        raise SystemExit(f"--quickdraw {quickdraw}: no ndjson files of the model's classes or of "
                         f"{', '.join(REAL_CLASSES)} in {folder}")
    if read_manifest(cfg.paths.dataset).kind == "strokes":
        return read_split(cfg.paths.dataset, "test"), f"the project's test split ({cfg.paths.dataset}: no real drawings)"
    raise SystemExit(f"no drawings to time: the dataset at {cfg.paths.dataset} holds bitmaps and {folder} no ndjson "
                     "files; give real ones with --quickdraw DIR (DIR/ndjson/<class>.ndjson)")


def partials(drawings: list, count: int, seed: int = 0, whole: bool = False) -> list[list]:
    """``count`` partial drawings (the first k strokes, k random; ``whole``: every stroke) of ``drawings``, as
    stroke lists."""
    rng = random.Random(seed)
    chosen = [rng.choice(drawings) for _ in range(count)]
    return [[s.tolist() for s in d.strokes[:d.num_strokes if whole else rng.randint(1, d.num_strokes)]]
            for d in chosen]


def browser_latencies(cfg, round_: int, coach, drawings: list[list]) -> np.ndarray:
    """Serve the app on the round, draw ``drawings`` with the mouse on /draw in headless Chromium, and return
    the page's milliseconds from each finished stroke to its feedback on screen."""
    import shutil
    import socket
    import tempfile
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from conceptstore.store import ConceptStore
    from labeling.app import AppSettings, create_app
    from pipeline.config import default
    from labeling.atlas_view import AtlasView

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("--browser needs Chromium on PATH (apt-get install -y chromium)")
    store = ConceptStore(Path(tempfile.mkdtemp()) / "concepts.yaml")  # the page reads it; nothing is written
    settings = default(AppSettings, port=0, cache_dir=None, evaluation_dir=None)
    app = create_app(AtlasView.load(cfg, round_), store, settings, coach=lambda: coach)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/draw"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=60_000)
            box = page.get_by_test_id("canvas").bounding_box()
            for strokes in drawings:
                clear = page.get_by_test_id("clear")
                if clear.is_enabled():
                    clear.click()
                for xs, ys in strokes:
                    points = [(box["x"] + x / 256 * box["width"], box["y"] + y / 256 * box["height"])
                              for x, y in zip(xs, ys)]
                    page.mouse.move(*points[0])
                    page.mouse.down()
                    for point in points[1:]:
                        page.mouse.move(*point)
                    page.mouse.up()
                    page.wait_for_function("window.articulate.idle === true", timeout=30_000)
            times = page.evaluate("window.articulate.latencies")
            requests = page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.includes("
                                     "'/api/feedback')).map(e => e.duration)")
            print(f"  (of which the feedback request, in the browser: p50 {np.percentile(requests, 50):.1f} ms, "
                  f"p95 {np.percentile(requests, 95):.1f} ms, n={len(requests)})")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return np.asarray(times, dtype=float)


def time_updates(coach, partials: list[list], target: str | None) -> np.ndarray:
    """Milliseconds of each update, one drawing at a time, each compared with the frame before."""
    coach.answer(partials[0], target)  # warm-up: first-call allocations (and the coach's inference thread)
    return time_calls(lambda strokes, before: coach.answer(strokes, target, before)["levels"], partials)


def time_calls(update, partials: list[list]) -> np.ndarray:
    """Milliseconds of ``update(strokes, before)`` per partial drawing, ``before`` what the previous call gave."""
    times, before = [], None
    for strokes in partials:
        start = time.perf_counter()
        before = update(strokes, before)
        times.append((time.perf_counter() - start) * 1000)
    return np.asarray(times)


def latency_line(name: str, times: np.ndarray) -> str:
    return (f"{name:<34} n={len(times):4d}  p50 {np.percentile(times, 50):7.1f} ms  p95 {np.percentile(times, 95):7.1f} ms"
            f"  worst {times.max():7.1f} ms")


def percentiles(times: np.ndarray) -> dict:
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "worst": float(times.max()),
            "n": len(times)}


#: One CPU-bound process of ``--load``: it spins until its parent (the benchmark) is gone, so that none outlives a
#: benchmark that was killed.
SPIN = ("import os, sys, time\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n"
        "    end = time.perf_counter() + 0.2\n    while time.perf_counter() < end:\n        pass\n")


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` CPU-bound processes beside the benchmark while the block runs, killed after it (after an
    exception or Ctrl-C too)."""
    spinning: list[subprocess.Popen] = []
    try:
        for _ in range(processes):
            spinning.append(subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())], stdin=subprocess.DEVNULL,
                                             start_new_session=True))  # Ctrl-C reaches the benchmark, not them
        time.sleep(1.0)  # under way before the first update is timed
        yield
    finally:
        for process in spinning:
            process.kill()
        for process in spinning:
            process.wait()


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


class LoadSampler:
    """How many tasks are runnable on the machine while a block runs (the benchmark's own included): the mean of
    ``/proc/loadavg``'s count, read every ``period`` seconds; the load averages lag a phase of seconds.

    Args:
        period: Seconds between two readings.
    """

    def __init__(self, period: float = 0.05) -> None:
        self.period, self.counts = period, []
        self._done = None

    def __enter__(self) -> LoadSampler:
        import threading

        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.after = load_average()

    def _sample(self) -> None:
        path = Path("/proc/loadavg")
        while not self._done.wait(self.period):
            if path.is_file():
                self.counts.append(int(path.read_text().split()[3].split("/")[0]))

    @property
    def runnable(self) -> float:
        return float(np.mean(self.counts)) if self.counts else float("nan")


def torch_interop() -> int:
    import torch

    return torch.get_num_interop_threads()


def coach_on(coach, threads: int | None):
    """The same coach (model, canon, rules) with its updates on its own ``threads`` (None: on the caller's)."""
    from pipeline.coach.coach import Coach

    return Coach(coach.scorer, coach.canon, coach.rules, coach.limits, coach.top_classes, coach.calibration,
                 threads=threads)


def ablation_variants(coach, partials: list[list]) -> dict:
    """The ways an update can run, each ``(caller's torch threads, update(strokes, before))``: the whole update on
    the coach's inference thread or on the caller's, with 1 or 2 intra-op threads; and the network's forward
    alone (no attribution, no scores: what ``inference_mode`` or a frozen TorchScript trace could save at most,
    since the attribution's backward pass needs autograd, which neither allows)."""
    import torch

    from pipeline.coach.coach import strokes_to_sketch
    from pipeline.models.input_spec import to_model_input

    variants: dict = {}
    for threads in (1, 2):
        own = coach_on(coach, threads)
        variants[f"coach thread, coach.threads={threads}"] = (1, lambda strokes, before, c=own: c.answer(strokes, None, before)["levels"])
    caller = coach_on(coach, None)
    for threads in (1, 2):
        variants[f"caller thread, {threads} thread{'s' * (threads > 1)}"] = (
            threads, lambda strokes, before: caller.answer(strokes, None, before)["levels"])
    scorer = coach.scorer
    net = scorer.model.net

    def model_input(strokes: list) -> torch.Tensor:
        images, _ = scorer.render([strokes_to_sketch(strokes, coach.limits)])
        return to_model_input(torch.from_numpy(images)[:, None], scorer.model.input_spec)

    def forward(run, mode):
        def update(strokes: list, before: object) -> None:
            x = model_input(strokes)
            with mode():
                run(x)
        return update

    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(net, model_input(partials[0]), check_trace=False).eval())
    variants["forward alone, no_grad"] = (1, forward(net, torch.no_grad))
    variants["forward alone, inference_mode"] = (1, forward(net, torch.inference_mode))
    variants["forward alone, jit.freeze"] = (1, forward(frozen, torch.no_grad))
    return variants


def time_interleaved(variants: dict, partials: list[list], chunk: int = 10) -> dict[str, np.ndarray]:
    """Time every variant on the same partial drawings, ``chunk`` at a time in turn, so that a change of the
    machine's load (others' work) falls on all of them alike."""
    import torch

    own = torch.get_num_threads()
    times: dict[str, list] = {name: [] for name in variants}
    try:
        for threads, update in variants.values():  # warm-up: first-call allocations, threads started
            torch.set_num_threads(threads)
            update(partials[0], None)
        for start in range(0, len(partials), chunk):
            for name, (threads, update) in variants.items():
                torch.set_num_threads(threads)
                times[name].append(time_calls(update, partials[start:start + chunk]))
    finally:
        torch.set_num_threads(own)
    return {name: np.concatenate(t) for name, t in times.items()}


def load_table(phases: dict[str, dict[str, np.ndarray]], loads: dict[str, LoadSampler]) -> list[str]:
    """Lines of a table: per variant, p50 and p95 in each phase (idle, at load); the machine's load in each."""
    names = list(next(iter(phases.values())))
    width = max(len(n) for n in [*names, "runnable tasks (mean)"]) + 2
    lines = [f"{'update latency, ms':<{width}}" + "".join(f"{phase:>20}" for phase in phases),
             f"{'':<{width}}" + "        p50     p95" * len(phases)]
    for name in names:
        lines.append(f"{name:<{width}}" + "".join(f"{np.percentile(t[name], 50):11.1f} {np.percentile(t[name], 95):7.1f}"
                                                 for t in phases.values()))
    lines.append(f"{'runnable tasks (mean)':<{width}}" + "".join(f"{loads[p].runnable:19.1f} " for p in phases))
    lines.append("load average after each (1, 5, 15 min): "
                 + "; ".join(f"{phase} {loads[phase].after}" for phase in phases))
    return lines


def googlenet_coach(threads: int):
    """A coach on GoogLeNet's inception4d with 24 random cluster directions and a flat canon (latency only)."""
    from pipeline.coach.canon import Canon
    from pipeline.coach.coach import Coach
    from pipeline.coach.concept_set import cluster_concepts
    from pipeline.coach.scorer import FrameScorer
    from pipeline.data.raster import RasterSpec
    from pipeline.models.build import TrainedModel
    from pipeline.models.input_spec import InputSpec
    from pipeline.models.torchvision_zoo import torchvision_classifier
    from pipeline.config import default

    net = torchvision_classifier("googlenet", num_classes=10)
    classes = [f"class{i}" for i in range(10)]
    model = TrainedModel(net.eval(), classes, InputSpec(size=224, channels=3, mean=(0.485, 0.456, 0.406),
                                                         std=(0.229, 0.224, 0.225), invert=True),
                         RasterSpec(size=224, line_width=3.0, invert=True), "inception4d", 0)
    rng = np.random.default_rng(0)
    concepts = cluster_concepts(np.repeat(np.arange(24), 4), rng.normal(size=(96, 528)).astype(np.float32))
    scorer = FrameScorer(model, concepts)
    k = len(concepts)
    canon = Canon(classes, [c.id for c in concepts.concepts], np.ones((10, k)), np.ones((10, k)), np.ones((10, k)),
                  np.ones((10, k)), 0.5,
                  [1] * 10)
    return default(Coach, scorer=scorer, canon=canon, threads=None)


#: Classes the model does not have read for ``--unsure``, and drawings read per class.
OTHER_CLASSES, PER_OTHER = 20, 20


def unsure_figures(cfg, coach, count: int, quickdraw: Path | None) -> dict:
    """``--unsure``: the "not sure" rates, the familiarities' AUROC and the contradictory frames (see above)."""
    from pipeline.coach.accuracy import random_scribbles, replay_unsure, unsure_rates
    from core.ndjson import read_ndjson
    from pipeline.data.store import read_split

    known = coach.scorer.class_index
    folder = (quickdraw or Path(cfg.paths.quickdraw)) / "ndjson"
    files = sorted(p for p in folder.glob("*.ndjson") if p.stem not in known) if folder.is_dir() else []
    chosen = files[::max(1, len(files) // OTHER_CLASSES)][:OTHER_CLASSES]
    others = [s for f in chosen for s in read_ndjson(f, on_error="skip", limit=PER_OTHER).sketches]
    own = [s for s in read_split(cfg.paths.dataset, "test") if s.word in known][:count]
    rates = unsure_rates(coach, own, random_scribbles(count), others)
    val = [s for s in read_split(cfg.paths.dataset, str(cfg.coach.canon_split)) if s.word in known and s.strokes][:count]
    replayed = replay_unsure(coach, val)
    real = replay_unsure(coach, _read_classes(folder, coach.scorer.class_names))
    t, (nll_1, nll_t) = coach.calibration.temperature, coach.calibration.nll
    print(f"not sure ({rates.familiarity}, threshold {coach.calibration.threshold:.3f}: {cfg.coach.unsure.val_pass} of "
          f"val pass); temperature {t:.3f} (val NLL {nll_1:.3f} at T=1, {nll_t:.3f} at T)")
    print(f"  random scribbles flagged unsure        {rates.scribbles_unsure:6.3f}  of {rates.scribbles:4d}   aim >= 0.9")
    print(f"  other classes' drawings flagged        {rates.others_unsure:6.3f}  of {rates.others:4d}   aim >= 0.7"
          f"   ({len(chosen)} classes from {folder})")
    print(f"  own test drawings flagged              {rates.own_unsure:6.3f}  of {rates.own:4d}")
    val_rates, real_rates = replayed.rates(), real.rates()
    print(f"  own val drawings unsure at last stroke {val_rates['last_unsure']:6.3f}  of {replayed.drawings:4d}")
    if real.drawings:
        print(f"  own REAL drawings unsure at last stroke {real_rates['last_unsure']:5.3f}  of {real.drawings:4d}   "
              f"aim <= 0.1   ({len(real.per_class)} classes from {folder})")
        print(f"    read right at the last stroke        {real_rates['accuracy']:6.3f}")
        print(f"    unsure when the model is wrong       {real_rates['unsure_when_wrong']:6.3f}  of {real_rates['wrong']:4d}"
              "   (higher is better)")
        print(f"    unsure when the model is right       {real_rates['unsure_when_right']:6.3f}  of {real.right:4d}"
              "   (lower is better)")
        print(f"    frames unsure, all strokes           {real_rates['frames_unsure']:6.3f}  of {real.frames:4d}")
        print("    unsure at last stroke, per class     " + ", ".join(
            f"{word} {unsure}/{n}" for word, (n, unsure) in sorted(real.per_class.items())))
    else:
        print(f"  own REAL drawings                      none: no ndjson file of the model's classes in {folder}")
    contradictory, frames = replayed.contradictory + real.contradictory, replayed.frames + real.frames
    print(f"  contradictory frames (replays above)   {contradictory:6d}  of {frames:4d}   aim 0")
    for kind, area in rates.auroc.items():
        print(f"  AUROC {kind:<12} own vs scribbles {area['scribbles']:.3f}   own vs other classes {area['others']:.3f}")
    return {"familiarity": rates.familiarity, "temperature": t, "val_nll": [nll_1, nll_t],
            "threshold": coach.calibration.threshold, "scribbles_unsure": rates.scribbles_unsure,
            "others_unsure": rates.others_unsure, "own_test_unsure": rates.own_unsure,
            "val_last_stroke_unsure": val_rates["last_unsure"], "real_own": {**real_rates, "per_class": real.per_class},
            "contradictory_frames": contradictory, "frames": frames, "auroc": rates.auroc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", type=int, default=None, help="round to coach with (default: the latest built)")
    parser.add_argument("--drawings", type=int, default=300, help="partial drawings timed")
    parser.add_argument("--events", type=int, default=300, help="test drawings replayed for event rates")
    parser.add_argument("--googlenet", action="store_true", help="also time GoogLeNet at inception4d")
    parser.add_argument("--browser", type=int, default=0, metavar="N",
                        help="also draw N real drawings on the /draw page in headless Chromium (browser-to-page latency)")
    parser.add_argument("--quickdraw", type=Path, default=None, help="time the real drawings of DIR/ndjson (default: the configured data's, see above)")
    parser.add_argument("--unsure", type=int, default=0, metavar="N",
                        help="also measure the 'not sure' rates on N scribbles, test and val drawings (see above)")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="also time the updates with N CPU-bound processes beside the benchmark (see above)")
    parser.add_argument("--ablation", action="store_true",
                        help="also time each way an update can run (threads, inference thread, forward alone), idle "
                             "and with --load")
    parser.add_argument("--interop", type=int, default=None, metavar="N", help="torch's inter-op threads (default: 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. coach.score=attribution threads=1")
    args = parser.parse_args()
    if args.load < 0 or (args.interop is not None and args.interop < 1):
        parser.error("--load takes 0 or more processes, --interop 1 or more threads")

    from pipeline.coach.accuracy import event_rates
    from pipeline.coach.coach import Coach
    from pipeline.config import compose
    from pipeline.data.store import read_split
    from pipeline.entry import setup_torch
    from pipeline.rounds import evaluation_dir, latest_round

    cfg = compose(args.overrides)
    if args.interop is not None:
        import torch

        torch.set_num_interop_threads(args.interop)  # before setup_torch, which keeps the first count set
    setup_torch(int(cfg.threads))
    r = latest_round(cfg.paths.atlases) if args.round is None else args.round
    started = time.perf_counter()
    coach = Coach.load(cfg, r, progress=True)
    print(f"round {r}: {len(coach.concepts)} {coach.concepts[0].kind}s, score={coach.scorer.score}, threads={cfg.threads},"
          f" coach.threads={cfg.coach.threads}; coach ready in {time.perf_counter() - started:.1f} s")
    figures: dict = {"round": r, "score": coach.scorer.score, "threads": int(cfg.threads),
                     "coach_threads": int(cfg.coach.threads)}

    drawings, source = timed_drawings(cfg, sorted(coach.scorer.class_index), args.quickdraw)
    print(f"timed drawings: {source}")
    partial = partials(drawings, args.drawings)
    with LoadSampler() as idle:
        times = time_updates(coach, partial, None)
    print(latency_line("feedback update (default model)", times))
    figures["latency_ms"] = percentiles(times)
    if args.load:
        phase = f"+{args.load} CPU-bound"
        with cpu_load(args.load), LoadSampler() as loaded:
            at_load = time_updates(coach, partial, None)
        name = f"update, coach.threads={cfg.coach.threads}"
        print("\n".join(load_table({"idle": {name: times}, phase: {name: at_load}}, {"idle": idle, phase: loaded})))
        figures["load"] = {"processes": args.load, "idle_ms": percentiles(times), "at_load_ms": percentiles(at_load),
                           "runnable": {"idle": idle.runnable, "at_load": loaded.runnable},
                           "loadavg": {"idle": idle.after, "at_load": loaded.after}}
    if args.ablation:
        variants = ablation_variants(coach, partial)
        phases, loads = {}, {}
        with LoadSampler() as loads["idle"]:
            phases["idle"] = time_interleaved(variants, partial)
        if args.load:
            phase = f"+{args.load} CPU-bound"
            with cpu_load(args.load), LoadSampler() as loads[phase]:
                phases[phase] = time_interleaved(variants, partial)
        print(f"ablation (interop threads {torch_interop()}; each variant on the same {len(partial)} partial drawings,"
              " in turn):")
        print("\n".join(load_table(phases, loads)))
        figures["ablation"] = {phase: {name: percentiles(t) for name, t in times_.items()}
                               for phase, times_ in phases.items()}
        figures["ablation_load"] = {phase: {"runnable": load.runnable, "loadavg": load.after}
                                    for phase, load in loads.items()}
    if args.googlenet:
        g = googlenet_coach(int(cfg.threads))
        gtimes = time_updates(g, partial[:max(20, args.drawings // 5)], None)
        print(latency_line("feedback update (GoogLeNet 4d)", gtimes))
        figures["googlenet_latency_ms"] = {"p50": float(np.percentile(gtimes, 50)),
                                           "p95": float(np.percentile(gtimes, 95))}

    if args.browser:
        page_times = browser_latencies(cfg, r, coach, partials(drawings, args.browser, seed=1, whole=True))
        print(latency_line("stroke to feedback on screen", page_times))
        figures["browser_latency_ms"] = {"p50": float(np.percentile(page_times, 50)),
                                         "p95": float(np.percentile(page_times, 95))}

    metrics_file = evaluation_dir(cfg, r) / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    matched = {c["id"]: c["matched_part"] for c in metrics.get("concepts", []) if c.get("matched_part")}
    found = {c["id"]: c["matched_part"] for c in metrics.get("concepts", [])
             if c.get("matched_part") and c.get("iou", 0.0) >= float(metrics.get("iou_discovered", 0.3))}
    test = [s for s in read_split(cfg.paths.dataset, "test") if s.parts is not None][:args.events]
    if matched and test:
        every, good = event_rates(coach, test, matched).rates(), event_rates(coach, test, found).rates()
        print(f"events on {len(test)} test drawings; concepts matched to a true part: all of them "
              f"({len(matched)}) | those that found it, IoU >= {metrics.get('iou_discovered', 0.3)} ({len(found)})")
        print(f"  (drawing, part) pairs                  {every['pairs']:>6} | {good['pairs']:>6}")
        for key, text, aim in (("improved_hit", "improved at one of P's strokes", "aim >= 0.8"),
                               ("improved_first", "improved at P's first stroke", ""),
                               ("improved_precision", "improved events on P's strokes", ""),
                               ("missing_before", "missing said before P is drawn", ""),
                               ("missing_after", "missing said after P is drawn", "lower is better")):
            print(f"  {text:<38} {every[key]:6.3f} | {good[key]:6.3f}   {aim}")
        figures["events"] = {"all": every, "found": good}
    else:
        print("events: no concept matched to a true part in this round (round 0 has clusters, or the data has no parts)")
    if args.unsure:
        figures["unsure"] = unsure_figures(cfg, coach, args.unsure, args.quickdraw)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    from pipeline.entry import guarded

    raise SystemExit(guarded(main))  # a user's mistake (no built round, a bad file) as one line
