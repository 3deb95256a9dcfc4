"""Benchmark: which layer of a trained model shows which parts, from a round's atlases of several layers.

Builds one round's atlases of several layers the way the loop does (the extract and atlas stages with
``atlas.layers``: the model's atlas layer in ``atlases/round_<r>/``, the others in ``layers/<layer>/``) from a kept
project's dataset and model, copied to ``--workdir`` first (the project is only read), and prints per layer:

- its geometry (positions, channels, receptive field);
- ``purity`` and ``NMI`` of its clusters against the true parts, on the attribution-weighted sample every layer's
  atlas draws (``layer_purity``, ``layer_nmi`` of ``atlas.json``: comparable across layers and rounds);
- ``class``: the class purity of its atlas's clusters (the share of the points whose cluster's most common class is
  their own): high where the layer's clusters are whole objects rather than parts or strokes;
- ``parts found``: the parts some cluster of the layer is mostly made of (its majority part, at cluster purity
  >= ``--found``), and per part the purest such cluster of each layer: which layer shows which part;
- where the drawings record their attributes, the attribute metrics the atlas stage adds (``attribute_*``).

The layout is PCA by default (``atlas.layout.method=pca``): the clusters, and so every figure here, are made in
activation space, and UMAP would only add minutes. Extra arguments are Hydra overrides of the composition::

    python bench/bench_layers.py --project DIR [--round 0]
        [--layers features.block1,features.block2,features.block3,features.block4] [--found 0.6]
        [--workdir DIR] [--json OUT] [atlas.sample.count=10000 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.rounds import extra_layers, layer_atlas_dir  # noqa: E402

#: The atlas metrics a row shows, as atlas.json names them.
FIGURES = ("layer_purity", "layer_nmi")


def layer_rows(folder: Path, found: float = 0.6) -> list[dict[str, Any]]:
    """Per layer of a round's atlas folder (the atlas layer first): its geometry, figures and the parts its clusters
    find.

    Args:
        folder: A round's atlas folder (``atlases/round_<r>``).
        found: The least cluster purity at which a cluster's majority part counts as found by the layer.

    Returns:
        One dict per layer: ``layer``, ``positions`` (HxW), ``channels``, ``receptive_field``, the
        :data:`FIGURES`, ``class_purity``, ``attributes`` (the ``attribute_*`` metrics, where there are any) and
        ``parts`` (part -> the purest cluster's purity, for the parts found).
    """
    rows = []
    for layer in [None, *extra_layers(folder)]:
        document = json.loads((layer_atlas_dir(folder, layer) / "atlas.json").read_text())
        geometry, metrics = document["geometry"], document["metrics"]
        parts: dict[str, float] = {}
        for cluster in document["clusters"]:
            part, purity = cluster.get("majority_part"), cluster.get("purity")
            if part and purity is not None and purity >= found:
                parts[part] = max(parts.get(part, 0.0), round(float(purity), 3))
        sizes = sum(int(c["size"]) for c in document["clusters"])
        by_class = sum(max(c.get("classes", {}).values(), default=0) for c in document["clusters"])
        rows.append({"layer": document["layer"], "positions": f"{geometry['height']}x{geometry['width']}",
                     "channels": geometry.get("channels"), "receptive_field": geometry.get("receptive_field"),
                     **{name: metrics.get(name) for name in FIGURES},
                     "class_purity": round(by_class / sizes, 3) if sizes else None,
                     "attributes": {k: v for k, v in metrics.items() if k.startswith("attribute_") and v is not None},
                     "parts": dict(sorted(parts.items(), key=lambda item: -item[1]))})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table: one line per layer, then one line per part with each layer's purest cluster."""
    number = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"{'layer':<18} {'positions':>9} {'C':>4} {'RF':>4} {'purity':>7} {'NMI':>6} {'class':>6} "
             f"{'parts found':>11}"]
    for row in rows:
        lines.append(f"{row['layer']:<18} {row['positions']:>9} {row['channels'] or '-':>4} "
                     f"{row['receptive_field'] or '-':>4} {number(row['layer_purity']):>7} "
                     f"{number(row['layer_nmi']):>6} {number(row['class_purity']):>6} {len(row['parts']):>11}")
    every = sorted({part for row in rows for part in row["parts"]})
    if every:
        lines += ["", "purest cluster of each part, per layer (- : no cluster of the layer is mostly that part)",
                  f"{'part':<16} " + " ".join(f"{row['layer'][-16:]:>16}" for row in rows)]
        lines += [f"{part:<16} " + " ".join(f"{number(row['parts'].get(part)):>16}" for row in rows)
                  for part in every]
    for row in rows:
        if row["attributes"]:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(row["attributes"].items()))
            lines.append(f"{row['layer']}: {shown}")
    return "\n".join(lines)


def build(project: Path, workdir: Path, round_: int, layers: list[str], overrides: Sequence[str]) -> Path:
    """Copy the project's dataset and round model to ``workdir`` and run the extract and atlas stages there with
    ``atlas.layers``; returns the round's atlas folder."""
    from pipeline.config import compose
    from pipeline.models.build import load_trained
    from pipeline.stages import atlas as atlas_stage
    from pipeline.stages import extract as extract_stage

    for part in ("data/dataset", f"models/round_{round_}"):
        if not (workdir / part).exists():
            shutil.copytree(project / part, workdir / part)
    primary = load_trained(workdir / f"models/round_{round_}/model.pt").layer
    extra = [layer for layer in layers if layer != primary]
    cfg = compose([f"paths.dataset={workdir / 'data/dataset'}", f"paths.models={workdir / 'models'}",
                   f"paths.activations={workdir / 'activations'}", f"paths.atlases={workdir / 'atlases'}",
                   f"paths.cache={workdir / 'cache'}", f"paths.concepts={workdir / 'concepts/concepts.yaml'}",
                   f"mlflow.tracking_uri=sqlite:///{workdir / 'mlflow.db'}",
                   f"mlflow.artifact_location={workdir / 'artifacts'}", "mlflow.experiment=bench-layers",
                   f"round={round_}", f"atlas.layers=[{','.join(extra)}]", "atlas.layout.method=pca",
                   "extract.progress=false", *overrides])
    extract_stage.run(cfg)
    atlas_stage.run(cfg)
    return workdir / "atlases" / f"round_{round_}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="a built project (read only)")
    parser.add_argument("--round", type=int, default=0, help="the round whose model is mapped (default 0)")
    parser.add_argument("--layers", default="features.block1,features.block2,features.block3,features.block4",
                        help="comma-separated module paths (the model's atlas layer is mapped whether listed or not)")
    parser.add_argument("--found", type=float, default=0.6, help="least cluster purity of a part found (0.6)")
    parser.add_argument("--workdir", type=Path, help="where the copy and the atlases go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. atlas.sample.count=5000")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_layers_") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        layers = [layer.strip() for layer in args.layers.split(",") if layer.strip()]
        folder = build(args.project.resolve(), workdir.resolve(), args.round, layers, args.overrides)
        # in the order asked for (the atlas layer where it is listed, else first)
        rows = sorted(layer_rows(folder, args.found), key=lambda r: layers.index(r["layer"]) if r["layer"] in layers
                      else -1)
    print(f"round {args.round} of {args.project}: {len(rows)} layers in {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"round": args.round, "project": str(args.project), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
