"""Stage ``atlas``: build the activation atlas of a round and write ``paths.atlases/round_<r>/``.

Reads the round's activation store (``paths.activations/round_<r>/<layer>/``, written by the extract stage),
its trained model (``paths.models/round_<r>/model.pt``) for the icons, and the dataset (``paths.dataset``)
for the exemplar patches. Settings: the ``atlas`` config group (``conf/atlas/default.yaml``); the layer is the
model's atlas layer (``model.layer``, recorded in ``model.pt``: one key for every stage, so concepts named on
the atlas are on the layer the next round's concept head reads). The folder layout is described in
:mod:`pipeline.atlas.build` and in the ``README.md`` written into it. Logged to MLflow as the stage run
"atlas" (tag ``round``): metrics ``atlas_purity`` and ``atlas_nmi`` (where the data has true parts),
``n_points``, ``n_cells``, ``n_clusters``, ``seconds``; artifacts ``atlas.png``, ``map.png``, ``atlas.json``.

Extra layers (``atlas.layers``, extracted by the extract stage too) get an atlas each, built with the same
settings and written with the atlas layer's in one atomic write, as complete atlas folders in
``paths.atlases/round_<r>/layers/<layer>/``; their metrics are logged as ``<layer>/atlas_purity`` and so on, their
figures under the artifact folder ``layers/<layer>``. Only the atlas layer's atlas weights its sample by what the
round's concept head leaves unexplained (the head reads that layer); the others weight by attribution.
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
from pipeline.atlas.build import Atlas, AtlasParams, atlas_params, build_atlas, read_atlas, write_atlas
from pipeline.stages import stage_main
from pipeline.rounds import (LAYERS_FOLDER, activations_dir, atlas_dir, configured_extra_layers, layer_atlas_dir,
                             model_path, round_index)
from pipeline.data.store import read_split
from pipeline.models.build import load_trained

log = logging.getLogger(__name__)


def _previous_points(cfg: DictConfig, r: int, layer: str, extra: bool) -> pd.DataFrame | None:
    """The previous round's atlas points of the same layer (``extra``: one of the extra layers, in ``layers/``),
    to align the new map with (None in round 0 or when that atlas is not on disk). Read outside DVC's
    dependencies: once built, a round's atlas never changes."""
    folder = layer_atlas_dir(atlas_dir(cfg, r - 1), layer if extra else None) if r > 0 else None
    if folder is None or not (folder / "points.parquet").is_file():
        return None
    document, points, _ = read_atlas(folder)
    return points if document.get("layer") == layer else None


def _build(cfg: DictConfig, r: int, model: Any, params: AtlasParams, layer: str,
           split_sketches: dict[str, list]) -> Atlas:
    """The atlas of one layer of round ``r``, from its activation store (``split_sketches``: the splits read so
    far, by name, so that several layers read their split once)."""
    store = ActivationStore(layer_folder(activations_dir(cfg, r), layer))
    split = store.meta.split
    if split not in split_sketches:
        split_sketches[split] = read_split(cfg.paths.dataset, split)
    previous = _previous_points(cfg, r, layer, extra=layer != model.layer) if cfg.atlas.layout.align else None
    return build_atlas(store, model, params, round_index=r, layer=layer, sketches=split_sketches[split],
                       previous=previous)


def run(cfg: DictConfig) -> Atlas:
    """Build, write and log the atlas of round ``cfg.round`` (and of its extra layers); returns the atlas
    layer's."""
    r = round_index(cfg)
    params = atlas_params(cfg)
    model = load_trained(model_path(cfg, r))
    layer = model.layer
    extra = configured_extra_layers(cfg, layer)
    read: dict[str, list] = {}
    with tracking.stage_run(cfg, "atlas", tags={"round": str(r), "layer": layer}):
        atlas = _build(cfg, r, model, params, layer, read)
        others = [_build(cfg, r, model, params, other, read) for other in extra]
        started = time.perf_counter()
        folder = atlas_dir(cfg, r)
        write_atlas(atlas, folder, layers=others)
        atlas.timings["writing"] = round(time.perf_counter() - started, 3)
        metrics: dict[str, Any] = {k: v for k, v in atlas.metrics.items() if v is not None}
        metrics["seconds"] = round(metrics["seconds"] + atlas.timings["writing"], 3)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_metrics({f"seconds_{k}": float(v) for k, v in atlas.timings.items()})
        for name in ("atlas.png", "map.png", "atlas.json"):
            mlflow.log_artifact(str(folder / name))
        for other in others:
            mlflow.log_metrics({f"{other.layer}/{k}": float(v) for k, v in other.metrics.items() if v is not None})
            for name in ("atlas.png", "map.png", "atlas.json"):
                mlflow.log_artifact(str(layer_atlas_dir(folder, other.layer) / name),
                                    f"{LAYERS_FOLDER}/{other.layer}")
    for shown in (atlas, *others):
        log.info("round %d atlas of %s: purity %s, NMI %s", r, shown.layer, text.metric(shown.metrics["atlas_purity"]),
                 text.metric(shown.metrics["atlas_nmi"]))
    log.info("round %d atlas: %s", r, folder)
    return atlas


if __name__ == "__main__":
    raise SystemExit(stage_main(run, targets=False))  # builds no _target_: its model comes from model.pt
