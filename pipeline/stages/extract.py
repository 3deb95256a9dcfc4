"""Stage ``extract``: spatial activations, ink, true parts and attribution of every sketch of a split.

Reads the trained model of round ``round`` (``paths.models/round_<r>/model.pt``) and the dataset
(``paths.dataset``), and writes ``paths.activations/round_<r>/`` atomically::

    info.json                 round, split, layers, counts, timing, the MLflow run
    <layer>/                  one activation store per layer (layout: pipeline/activations/store.py)
        ...                   meta.json, activations.npy, attribution.npy, ink.npy, part.npy, *.parquet
        attribution.png       a few sketches with their attribution and activation-strength maps

Settings: ``extract.split``, ``extract.layers`` (null: the model's atlas layer; the extra layers of
``atlas.layers`` are extracted as well, for their atlases), ``extract.batch_size``,
``extract.dtype``, ``extract.ink_threshold``, ``extract.examples``, ``extract.progress``, ``extract.engine``
(``local``, or ``ray``: shards over Ray actors, :mod:`pipeline.activations.ray_engine`) and ``extract.ray``
(``conf/extract/default.yaml``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from matplotlib.figure import Figure
from omegaconf import DictConfig, ListConfig

from pipeline import tracking, viz
from pipeline.activations.extractor import ExtractionSummary, extract, resolve_device
from pipeline.activations.store import ActivationStore, LayerMeta, layer_folder
from pipeline.stages import stage_main
from pipeline.rounds import activations_dir, configured_extra_layers, model_path, round_index
from pipeline.data.raster import RasterSpec, rasterize
from core.sketch import Sketch
from pipeline.data.store import read_manifest, read_split
from core.errors import ConfigError, InputError
from core.io import atomic_dir
from pipeline.models.build import load_trained
from pipeline.schema import configured

log = logging.getLogger(__name__)

INFO_FILE = "info.json"
ENGINES = ("local", "ray")
FIGURE_FILE = "attribution.png"


def configured_layers(cfg: DictConfig) -> list[str] | None:
    layers = cfg.extract.layers
    if layers is None:
        return None
    if isinstance(layers, str):
        return [layers]
    if not isinstance(layers, (list, tuple, ListConfig)) or not layers:
        raise ConfigError(f"extract.layers: expected null or a non-empty list of layer paths, got {layers!r}")
    return [str(layer) for layer in layers]


def run(cfg: DictConfig) -> dict[str, Any]:
    """Extract the configured split into ``paths.activations/round_<r>/``; returns the contents of ``info.json``."""
    round_ = round_index(cfg)
    settings = cfg.extract
    if settings.engine not in ENGINES:
        raise ConfigError(f"extract.engine: expected one of {', '.join(ENGINES)}, got {settings.engine!r}")
    split = str(settings.split)
    model = load_trained(model_path(cfg, round_))
    manifest = read_manifest(cfg.paths.dataset)
    sketches = read_split(cfg.paths.dataset, split)
    if not sketches:
        raise InputError(Path(cfg.paths.dataset), f"the '{split}' split is empty",
                         hint=f"choose another split with extract.split= (splits: {', '.join(manifest.splits)})")
    layers = configured_layers(cfg) or [model.layer]
    layers += [layer for layer in configured_extra_layers(cfg, model.layer) if layer not in layers]
    device = resolve_device(str(settings.device))
    out = activations_dir(cfg, round_)
    with tracking.stage_run(cfg, "extract", tags={"round": str(round_)}) as active:
        mlflow.log_params({"extract.layers_resolved": ",".join(layers), "n_sketches": len(sketches)})
        mlflow.log_param("extract.engine_resolved", str(settings.engine))
        mlflow.log_param("extract.device_resolved", device if settings.engine == "local" else "cpu")
        with atomic_dir(out) as folder:
            common = dict(layers=layers, parts=manifest.parts, split=split, batch_size=int(settings.batch_size),
                          dtype=str(settings.dtype), ink_threshold=float(settings.ink_threshold),
                          progress=bool(settings.progress),
                          extra={"round": round_, "model": str(model_path(cfg, round_)),
                                 "dataset": str(cfg.paths.dataset), "engine": str(settings.engine)})
            if settings.engine == "ray":
                from pipeline.activations.ray_engine import RaySettings, extract_on_ray

                ray_settings = configured(RaySettings, cfg)
                summary = extract_on_ray(model_path(cfg, round_), sketches, folder, ray_settings, **common)
            else:
                summary = extract(model, sketches, folder, device=device, **common)
            _log_metrics(summary)
            for name, meta in summary.layers.items():
                store = ActivationStore(layer_folder(folder, name))  # what the atlas will read: check it opens
                fig = attribution_figure(store, sketches, model.raster, summary.mean_abs_attribution[name],
                                         count=int(settings.examples))
                tracking.save_figure(fig, layer_folder(folder, name) / FIGURE_FILE, dpi=110, artifact_dir=name)
                viz.close(fig)
                mlflow.log_dict(_meta_dict(meta), f"{name}/meta.json")
            info = {
                "round": round_, "split": split, "layers": list(summary.layers), "n_sketches": summary.num_sketches,
                "n_positions": summary.num_positions, "ink_fraction": round(summary.ink_fraction, 6),
                "seconds": round(summary.seconds, 3), "positions_per_s": round(summary.positions_per_s, 1),
                "mlflow_run_id": active.info.run_id,
            }
            (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    log.info("round %d: extracted %d sketches of '%s' at %s in %.1f s (%.0f positions/s, %.1f%% with ink) -> %s",
             round_, summary.num_sketches, split, ", ".join(layers), summary.seconds, summary.positions_per_s,
             100 * summary.ink_fraction, out)
    return info


def _log_metrics(summary: ExtractionSummary) -> None:
    metrics = {"n_positions": summary.num_positions, "ink_fraction": summary.ink_fraction,
               "seconds": summary.seconds, "positions_per_s": summary.positions_per_s,
               "sketches_per_s": summary.num_sketches / max(summary.seconds, 1e-9)}
    if len(summary.layers) > 1:
        for name, meta in summary.layers.items():
            metrics[f"n_positions/{name}"] = meta.num_sketches * meta.height * meta.width
    mlflow.log_metrics(metrics)


def _meta_dict(meta: LayerMeta) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(meta)


def _examples(store: ActivationStore, count: int) -> list[int]:
    """Up to ``count`` sketch rows, one per class in turn, so the figure shows many classes."""
    labels = store.sketches["label"].to_numpy()
    by_class = [np.nonzero(labels == c)[0] for c in np.unique(labels)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(count, len(labels)):
        for rows in by_class:
            if depth < len(rows) and len(chosen) < count:
                chosen.append(int(rows[depth]))
        depth += 1
    return chosen


def attribution_figure(store: ActivationStore, sketches: list[Sketch], raster: RasterSpec,
                       mean_abs: np.ndarray | None = None, count: int = 8) -> Figure:
    """Sketches with their attribution (red: supports the class, blue: against) and activation strength.

    Row 1: each sketch over its attribution map; row 2: over the L2 norm of its activation vectors. A last panel shows the mean |attribution| of each position over the split.
    """
    import matplotlib.pyplot as plt

    meta = store.meta
    rows = _examples(store, count)
    columns = len(rows) + (1 if mean_abs is not None else 0)
    fig, axes = plt.subplots(2, columns, figsize=(1.9 * columns, 4.3), squeeze=False)
    extent = meta.geometry.extent
    spec = RasterSpec(size=meta.input_size, line_width=raster.line_width, padding=raster.padding,
                      supersample=raster.supersample, invert=False)
    for column, row in enumerate(rows):
        ink = rasterize(sketches[row], spec)
        attribution = np.asarray(store.attribution[row], dtype=np.float32)
        strength = np.linalg.norm(np.asarray(store.activations[row], dtype=np.float32), axis=-1)
        limit = float(np.abs(attribution).max()) or 1.0
        for ax, values, cmap, vmin, vmax in ((axes[0, column], attribution, "RdBu_r", -limit, limit),
                                             (axes[1, column], strength, "magma", 0.0, float(strength.max()) or 1.0)):
            ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest", alpha=0.85)
            ax.imshow(np.ma.masked_less(ink, 0.25), cmap="Greys", vmin=0, vmax=1, alpha=0.9,
                      extent=(-0.5, meta.input_size - 0.5, meta.input_size - 0.5, -0.5))
            ax.set_xlim(-0.5, meta.input_size - 0.5)
            ax.set_ylim(meta.input_size - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
        word = meta.classes[int(store.sketches["label"].iloc[row])]
        axes[0, column].set_title(f"{word}\nattribution", fontsize=8)
        axes[1, column].set_title("activation norm", fontsize=8, pad=3)
    if mean_abs is not None:
        ax = axes[0, -1]
        image = ax.imshow(mean_abs, cmap="viridis", extent=extent, interpolation="nearest")
        ax.set_xlim(-0.5, meta.input_size - 0.5)
        ax.set_ylim(meta.input_size - 0.5, -0.5)
        ax.set_title("mean |attribution|\nover the split", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        axes[1, -1].axis("off")
    fig.suptitle(f"{meta.layer}: {meta.height}x{meta.width} positions, stride {meta.stride:g} px, receptive field "
                 f"{meta.receptive_field} px ({meta.split} split, {meta.num_sketches} sketches)", fontsize=9)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(stage_main(run, targets=False))  # builds no _target_: its model comes from model.pt
