"""Stage ``atlas``: build the activation atlas of a round and write ``paths.atlases/round_<r>/``.

Reads the round's activation store (``paths.activations/round_<r>/<layer>/``, written by the extract stage),
its trained model (``paths.models/round_<r>/model.pt``) for the icons, and the dataset (``paths.dataset``)
for the exemplar patches. Settings: the ``atlas`` config group (``conf/atlas/default.yaml``); the layer is the
model's atlas layer (``model.layer``, recorded in ``model.pt``: one key for every stage, so concepts named on
the atlas are on the layer the next round's concept head reads). The folder layout is described in
:mod:`pipeline.atlas.build` and in the ``README.md`` written into it. Logged to MLflow as the stage run
"atlas" (tag ``round``): metrics ``atlas_purity`` and ``atlas_nmi`` (where the data has true parts),
``n_points``, ``n_cells``, ``n_clusters``, ``seconds``; artifacts ``atlas.png``, ``map.png``, ``atlas.json``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
import pandas as pd
from omegaconf import DictConfig

from core import text
from pipeline import tracking
from pipeline.activations.store import ActivationStore, layer_folder
from pipeline.atlas.build import Atlas, atlas_params, build_atlas, read_atlas, write_atlas
from pipeline.stages import stage_main
from pipeline.rounds import activations_dir, atlas_dir, model_path, round_index
from pipeline.data.store import read_split
from pipeline.models.build import load_trained

log = logging.getLogger(__name__)


def _previous_points(cfg: DictConfig, r: int, layer: str) -> pd.DataFrame | None:
    """The previous round's atlas points of the same layer, to align the new map with (None in round 0 or
    when that atlas is not on disk). Read outside DVC's dependencies: once built, a round's atlas never changes."""
    folder = atlas_dir(cfg, r - 1) if r > 0 else None
    if folder is None or not (folder / "points.parquet").is_file():
        return None
    document, points, _ = read_atlas(folder)
    return points if document.get("layer") == layer else None


def run(cfg: DictConfig) -> Atlas:
    """Build, write and log the atlas of round ``cfg.round``; returns it."""
    r = round_index(cfg)
    params = atlas_params(cfg)
    model = load_trained(model_path(cfg, r))
    layer = model.layer
    store = ActivationStore(layer_folder(activations_dir(cfg, r), layer))
    sketches = read_split(cfg.paths.dataset, store.meta.split)
    with tracking.stage_run(cfg, "atlas", tags={"round": str(r), "layer": layer}):
        atlas = build_atlas(store, model, params, round_index=r, layer=layer, sketches=sketches,
                            previous=_previous_points(cfg, r, layer) if cfg.atlas.layout.align else None)
        started = time.perf_counter()
        folder = atlas_dir(cfg, r)
        write_atlas(atlas, folder)
        atlas.timings["writing"] = round(time.perf_counter() - started, 3)
        metrics: dict[str, Any] = {k: v for k, v in atlas.metrics.items() if v is not None}
        metrics["seconds"] = round(metrics["seconds"] + atlas.timings["writing"], 3)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_metrics({f"seconds_{k}": float(v) for k, v in atlas.timings.items()})
        for name in ("atlas.png", "map.png", "atlas.json"):
            mlflow.log_artifact(str(folder / name))
    log.info("round %d atlas: %s (purity %s, NMI %s)", r, folder, text.metric(atlas.metrics["atlas_purity"]),
             text.metric(atlas.metrics["atlas_nmi"]))
    return atlas


if __name__ == "__main__":
    raise SystemExit(stage_main(run, targets=False))  # builds no _target_: its model comes from model.pt
