"""Benchmark: feature visualizations drawn as strokes, their speed and whether they read as their concept.

(a) Speed: the seconds of one stroke visualization (a concept's direction, 256 steps at the model's 64 px) and of
"show me" (``coach.show_me``: strokes added to a test drawing that lacks a concept), with 1 and with 2 torch threads,
and the machine's load average before and after each (the machine is shared: the figures move with it); beside them
the pixel (Fourier) visualization of the same objective, the model's own share of the time.

(b) Readability: a recogniser that never saw a visualization, the supervised part head of ``bench_ceiling.py``
(trained on every position's true part, with that benchmark's own functions), looks at each concept's visualization
and names the part it finds most present (the highest maximum over positions of its part maps). A visualization
*reads* as its concept when that part is the part the concept found (evaluate's ``metrics.json``: the concepts whose
matched part has IoU >= ``iou_discovered``). Reported: the share of those concepts whose stroke visualization reads
(the strokes drawn by the project's own rasteriser, as a person would redraw them) and, for comparison, the share for
the pixel (Fourier) visualization the app shows today; also the part's rank among all parts (top 3).

A kept project (a round with concepts, e.g. the loop's round 3) is read, never written: its dataset, base model,
round model and metrics are copied into ``--workdir`` first. Pictures of the stroke visualizations (a labelled
PNG grid, and the drawings as ndjson) are written there too. Hydra overrides change the stroke settings, for
ablations::

    python bench/bench_strokes.py --project /work/runs/d-n0-held --round 3 [--workdir /tmp/strokes]
        [--epochs 6] [--variant finetuned] [--steps 256] [--objective direction|presence] [--skip-speed]
        [--skip-readability] [--tag NAME] [--json OUT]
        [atlas.icons.strokes.count=6 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_ceiling  # noqa: E402  (its training and targets are reused, not copied)
from bench_ceiling import say  # noqa: E402

#: Concepts' visualizations are rendered this many to a batch (one batched optimisation each).
BATCH = 32


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the timings' context."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def copy_project(project: Path, round_: int, workdir: Path) -> dict[str, Path]:
    """Copy what the benchmark reads from a kept project into ``workdir`` (once); returns where each went."""
    wanted = {"dataset": project / "data" / "dataset", "base": project / "models" / "base" / "model.pt",
              "model": project / "models" / f"round_{round_}" / "model.pt",
              "metrics": project / "evaluation" / f"round_{round_}" / "metrics.json"}
    copies = {"dataset": workdir / "dataset", "base": workdir / "base.pt", "model": workdir / f"round_{round_}.pt",
              "metrics": workdir / f"metrics_round_{round_}.json"}
    for name, source in wanted.items():
        if copies[name].exists():
            continue
        if not source.exists():
            raise SystemExit(f"error: {source} is missing: --project must be a built project with round {round_}")
        if source.is_dir():
            shutil.copytree(source, copies[name])
        else:
            shutil.copy2(source, copies[name])
    return copies


def speed(model: Any, settings: Any, steps: int, drawing: Any, concept: int) -> dict[str, Any]:
    """(a): seconds of one stroke visualization and of show me, at 1 and 2 threads."""
    import torch

    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.render import render
    from pipeline.featurevis.show_me import show_me

    objective = direction(model.layer, model.concept_head.conv.weight[concept, :, 0, 0].detach())
    out: dict[str, Any] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        render(model.net, [objective], model.input_spec, steps=4, param="strokes", strokes=settings,
               raster=model.raster)  # warm-up
        before = load()
        start = time.perf_counter()
        render(model.net, [objective], model.input_spec, steps=steps, param="strokes", strokes=settings,
               raster=model.raster)
        visualize = time.perf_counter() - start
        start = time.perf_counter()
        show_me(model, drawing, concept, settings=settings)
        shown = time.perf_counter() - start
        start = time.perf_counter()
        render(model.net, [objective], model.input_spec, steps=steps)  # the pixel path, for the machine's pace
        pixels = time.perf_counter() - start
        out[threads] = {"visualization_s": visualize, "show_me_s": shown, "pixels_s": pixels, "before": before,
                        "after": load()}
        say(f"{threads} thread(s): stroke visualization ({steps} steps) {visualize:.2f} s, show me {shown:.2f} s, "
            f"pixel visualization {pixels:.2f} s ({before} before, {out[threads]['after']} after)")
    torch.set_num_threads(1)
    return out


def part_recogniser(copies: dict[str, Path], cfg: Any, variant: str, epochs: int,
                    workdir: Path) -> tuple[Any, Any, list[str]]:
    """The supervised part head of ``bench_ceiling.py`` on the project's train split (trained once, then cached)."""
    import torch

    from pipeline.activations.geometry import LayerGeometry
    from pipeline.data.store import read_manifest, read_split
    from pipeline.finetune.targets import part_codes
    from pipeline.models.build import load_trained
    from pipeline.models.concept_head import ConceptHead

    base = load_trained(copies["base"])
    geometry = LayerGeometry.of(base)
    key = hashlib.sha256(f"{variant}-{epochs}-{copies['base'].stat().st_size}".encode()).hexdigest()[:10]
    cache = workdir / f"part-head-{key}.pt"
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        base.net.load_state_dict(saved["net"])
        head = ConceptHead(geometry.channels, len(saved["names"]))
        head.load_state_dict(saved["head"])
        say(f"part head: reusing {cache}")
        return base.net.eval(), head.eval(), list(saved["names"])
    manifest = read_manifest(copies["dataset"])
    parts = list(manifest.parts)
    part_index = {p: i + 1 for i, p in enumerate(parts)}
    train = [s for s in read_split(copies["dataset"], "train") if s.parts is not None]
    train_parts = bench_ceiling.cell_parts(train, base.raster, part_index, geometry)
    ids = [i for i in range(1, len(parts) + 1) if (train_parts == i).any()]
    names = [parts[i - 1] for i in ids]
    net, head, _ = bench_ceiling.train_variant(variant, copies["base"], base.layer, names,
                                               part_codes(train_parts, ids), train, cfg, epochs, workdir)
    torch.save({"net": net.state_dict(), "head": head.state_dict(), "names": names}, cache)
    return net.eval(), head.eval(), names


def part_scores(net: Any, head: Any, layer: str, spec: Any, images: Any) -> Any:
    """(N, parts) each part's presence (the maximum of its map over positions) in render-space images."""
    import torch

    from pipeline.featurevis.render import LayerCapture
    from pipeline.models.concept_head import presence
    from pipeline.models.input_spec import to_model_input

    with torch.no_grad(), LayerCapture(net, [layer]) as capture:
        return presence(head(capture(to_model_input(images, spec))[layer])).numpy()


def concept_objectives(model: Any, found: list[dict[str, Any]], kind: str) -> list[Any]:
    """Each found concept's objective: ``direction`` (its concept-head weight at every position, what the app's
    Visualize draws) or ``presence`` (its head logit at its strongest position, what show me raises)."""
    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.show_me import ConceptPresence

    index = {c["id"]: i for i, c in enumerate(model.concepts)}
    weights, biases = model.concept_head.conv.weight.detach()[:, :, 0, 0], model.concept_head.conv.bias.detach()
    if kind == "direction":
        return [direction(model.layer, weights[index[c["id"]]]) for c in found]
    return [ConceptPresence(model.layer, weights[index[c["id"]]], float(biases[index[c["id"]]]), index[c["id"]])
            for c in found]


def readability(model: Any, settings: Any, steps: int, found: list[dict[str, Any]],
                recogniser: tuple[Any, Any, list[str]],
                pictures: Path, seed: int, objective: str, kinds_wanted: tuple[str, ...]) -> dict[str, Any]:
    """(b): the share of the found concepts whose visualization the part head reads as their part."""
    import numpy as np
    import torch

    from core.ndjson import write_ndjson
    from pipeline.data.raster import rasterize_batch
    from pipeline.featurevis.render import render
    from pipeline.featurevis.strokes import strokes_sketch

    net, head, names = recogniser
    objectives = concept_objectives(model, found, objective)
    kinds: dict[str, Any] = {}
    sketches = []
    for kind in kinds_wanted:
        start = time.perf_counter()
        images = []
        for first in range(0, len(objectives), BATCH):
            chunk = objectives[first:first + BATCH]
            if kind == "strokes":
                result = render(model.net, chunk, model.input_spec, steps=steps, param="strokes", strokes=settings,
                                raster=model.raster, seed=seed + first)
                drawn = [strokes_sketch(s, c["name"], key_id=c["id"]) for s, c in
                         zip(result.strokes, found[first:first + BATCH])]
                sketches.extend(drawn)
                images.append(torch.from_numpy(rasterize_batch(drawn, model.raster))[:, None])  # the drawings
            else:
                images.append(render(model.net, chunk, model.input_spec, steps=steps, seed=seed + first).images)
        batch = torch.cat(images)
        scores = part_scores(net, head, model.layer, model.input_spec, batch)
        order = np.argsort(-scores, axis=1)
        ranks = [int(np.nonzero(order[i] == names.index(c["matched_part"]))[0][0]) for i, c in enumerate(found)]
        kinds[kind] = {"read": [r == 0 for r in ranks], "ranks": ranks, "seen_as": [names[o[0]] for o in order],
                       "seconds": time.perf_counter() - start, "images": batch}
        say(f"{kind}: {sum(r == 0 for r in ranks)}/{len(found)} read as their part (top 3: "
            f"{sum(r < 3 for r in ranks)}), {kinds[kind]['seconds']:.0f} s")
    write_ndjson(pictures / "strokes.ndjson", sketches)
    picture(pictures / "visualizations.png", found, kinds)
    return kinds


def picture(path: Path, found: list[dict[str, Any]], kinds: dict[str, Any]) -> None:
    """A labelled grid: per concept its stroke drawing and its pixel visualization (dark ink on white), what the
    part head saw in each."""
    import numpy as np
    from PIL import Image, ImageDraw

    tile, label = 96, 26
    columns = 8
    rows = (len(found) + columns - 1) // columns
    sheet = Image.new("L", (columns * tile * 2 + columns * 6, rows * (tile + label)), 255)
    draw = ImageDraw.Draw(sheet)
    for i, concept in enumerate(found):
        x, y = (i % columns) * (tile * 2 + 6), (i // columns) * (tile + label)
        for j, kind in enumerate(kinds):
            image = kinds[kind]["images"][i, 0].numpy()
            ink = Image.fromarray(np.uint8(255 - 255 * np.clip(image, 0, 1))).resize((tile, tile), Image.NEAREST)
            sheet.paste(ink, (x + j * tile, y))
        mark = "ok" if kinds["strokes"]["read"][i] else kinds["strokes"]["seen_as"][i]
        draw.text((x + 2, y + tile + 2), f"{concept['name']}: {mark}", fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    say(f"wrote {path}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a kept project with a round that has concepts")
    parser.add_argument("--round", type=int, default=3, help="its round (default 3)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/strokes"), help="copies, caches and pictures")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the part head (default 6)")
    parser.add_argument("--variant", default="finetuned", choices=bench_ceiling.VARIANTS,
                        help="the part head's training, as bench_ceiling.py (default finetuned)")
    parser.add_argument("--steps", type=int, default=256, help="optimisation steps of a visualization (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the visualizations")
    parser.add_argument("--objective", default="direction", choices=("direction", "presence"),
                        help="a concept's visualization drives its direction at every position (the app's Visualize, "
                             "default) or its presence at its strongest position (show me's)")
    parser.add_argument("--skip-speed", action="store_true", help="skip (a), the timings")
    parser.add_argument("--skip-readability", action="store_true", help="skip (b), the readability")
    parser.add_argument("--strokes-only", action="store_true", help="(b) without the pixel visualizations")
    parser.add_argument("--tag", default="latest", help="pictures go to WORKDIR/pictures/TAG/ (default latest)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (atlas.icons.strokes.*, coach.show_me.*)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from pipeline.config import compose
    from pipeline.data.store import read_split
    from pipeline.featurevis.show_me import ShowMeSettings, concept_presence
    from pipeline.featurevis.strokes import StrokeSettings
    from pipeline.models.build import load_trained
    from pipeline.schema import configured

    bench_ceiling.console()
    torch.set_num_threads(1)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    copies = copy_project(args.project.resolve(), args.round, workdir)
    cfg = compose([*args.overrides, f"paths.checkpoints={workdir / 'checkpoints'}",
                   f"mlflow.tracking_uri=sqlite:///{workdir / 'mlflow.db'}",
                   f"mlflow.artifact_location={workdir / 'mlartifacts'}", "trainer.enable_progress_bar=false"])
    settings = configured(StrokeSettings, cfg)
    say(f"{settings}; {configured(ShowMeSettings, cfg)}; {load()}")
    model = load_trained(copies["model"])
    metrics = json.loads(copies["metrics"].read_text())
    found = [c for c in metrics["concepts"] if c.get("matched_part") and c["iou"] >= metrics["iou_discovered"]]
    document: dict[str, Any] = {"settings": dataclasses.asdict(settings), "overrides": args.overrides,
                                "objective": args.objective,
                                "concepts_found": len(found), "concepts": len(metrics["concepts"])}
    if not args.skip_speed:
        test = read_split(copies["dataset"], "test")[:64]
        presence = concept_presence(model, test)
        drawing = test[int(np.argmin(presence[:, 0]))]
        document["speed"] = speed(model, settings, args.steps, drawing, 0)
    if not args.skip_readability:
        recogniser = part_recogniser(copies, cfg, args.variant, args.epochs, workdir)
        kinds = readability(model, settings, args.steps, found, recogniser, workdir / "pictures" / args.tag, args.seed,
                            args.objective, ("strokes",) if args.strokes_only else ("strokes", "pixels"))
        print()
        print(f"Readability: {len(found)} concepts of round {args.round} found their part (IoU >= "
              f"{metrics['iou_discovered']}); the {args.variant} part head ({args.epochs} epochs) reads each "
              f"visualization ({args.objective} objective, {args.steps} steps)")
        print(f"{'concept':<12} {'part':<12} " + " ".join(f"{k:<12}" for k in kinds))
        for i, c in enumerate(found):
            cells = ["ok" if kinds[k]["read"][i] else f"{kinds[k]['seen_as'][i]} ({kinds[k]['ranks'][i] + 1})"
                     for k in kinds]
            print(f"{c['name']:<12} {c['matched_part']:<12} " + " ".join(f"{cell:<12}" for cell in cells))
        for kind in kinds:
            read, ranks = kinds[kind]["read"], kinds[kind]["ranks"]
            print(f"{kind}: {sum(read)}/{len(found)} = {100 * sum(read) / len(found):.0f}% read as their part; top 3 "
                  f"{sum(r < 3 for r in ranks)}/{len(found)}")
        document["readability"] = {k: {key: v[key] for key in ("read", "ranks", "seen_as", "seconds")}
                                   for k, v in kinds.items()}
        document["readability"]["concepts"] = [c["name"] for c in found]
    if "speed" in document:
        print()
        for threads, row in document["speed"].items():
            print(f"speed, {threads} thread(s): stroke visualization {row['visualization_s']:.2f} s ({args.steps} "
                  f"steps, 64 px), show me {row['show_me_s']:.2f} s, pixel (Fourier) visualization "
                  f"{row['pixels_s']:.2f} s; {row['before']} before, {row['after']} after")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
