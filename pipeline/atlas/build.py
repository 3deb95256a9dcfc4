"""Building an activation atlas from an activation store, and writing it where other programs can read it.

:func:`build_atlas` runs the steps: sample ink positions (:mod:`~pipeline.atlas.sampling`), lay them out
in 2-D (:mod:`~pipeline.atlas.projection`), bin the layout into a grid and average each cell's activations
(:mod:`~pipeline.atlas.grid`), render one feature-visualization icon per kept cell
(:mod:`~pipeline.atlas.icons`), cluster the positions (:mod:`~pipeline.atlas.clustering`), pick and crop
exemplar patches per cluster (:mod:`~pipeline.atlas.patches`) and compute per-cluster statistics and the
metrics (:mod:`~pipeline.atlas.stats`). :func:`write_atlas` writes the result atomically; :func:`read_atlas`
reads it back.

The layout of an atlas folder (``atlases/round_<r>/``) is :data:`LAYOUT`, also written to its ``README.md``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from PIL import Image

from pipeline.activations.store import ActivationStore
from pipeline.atlas.clustering import Clusterer
from pipeline.atlas.grid import AtlasGrid
from pipeline.atlas.exemplar_icons import exemplar_icons
from pipeline.atlas.icons import IconParams, IconSet, fragment_box, render_icons
from pipeline.atlas.patches import PatchMaker, select_exemplars
from pipeline.atlas.projection import Projection
from pipeline.atlas.alignment import align_layout
from pipeline.atlas.attributes import attribute_alignment, attribute_metrics, describe
from pipeline.atlas.sampling import PositionSampler
from pipeline.atlas.stats import ClusterStats, atlas_nmi, atlas_purity, cluster_stats
from pipeline.data.raster import rasterize_batch
from pipeline.rounds import layer_atlas_dir
from core.sketch import Sketch
from core.errors import ConfigError, InputError
from core.io import atomic_dir
from pipeline.schema import Conf, configured

#: Real sketches the icons' quality scores are measured against.
REFERENCE_SKETCHES = 64

__all__ = ["FORMAT_VERSION", "Atlas", "AtlasParams", "atlas_params", "build_atlas", "read_atlas", "write_atlas"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
README = "README.md"
#: The layout of an atlas folder, written to its README.md (a constant, not the docstring: ``python -OO`` drops those).
LAYOUT = """\
Layout of an atlas folder (atlases/round_<r>/):

    atlas.json         everything but the arrays (format_version 1):
                         layer, round, split, classes, parts, params (the settings used),
                         geometry (stride, receptive_field, rf_offset, input_size, height, width of the layer),
                         metrics (atlas_purity, atlas_nmi of the atlas's own sample; layer_purity, layer_nmi
                           of an attribution-weighted sample, comparable across rounds; null without true parts;
                           n_points, n_cells, n_clusters, seconds; attribute_nmi_<name>, attribute_precision_<name>
                           where the drawings record attributes: pipeline.atlas.attributes), timings (seconds per
                           step), grid (size, min_count,
                           extent [x_min, x_max, y_min, y_max] of the layout),
                         cells: one per kept cell, in cells.npy order: cell (= row * size + col), row (0 = top),
                           col, count, centre [x, y] in layout coordinates, cluster (majority cluster of its
                           points), icon (file under icons/, or null), score (icon quality: see icons.kind),
                           value (objective), icon_point (exemplar icons: the point shown, else null),
                         clusters: one per cluster (0 = largest): cluster, size, classes {name: count},
                           mean_attribution, parts {name: count} | null, majority_part, purity, sheet (file),
                           exemplars: [{point (row of points.parquet), sketch, key_id, class, part, y, x,
                           kind ("nearest" | "random"), distance (to the cluster centre)}]
    points.parquet     one row per sampled position: sketch (row of the activation store), key_id, label,
                         word, y, x (position in the layer), part (true part id, 0 = none), attribution,
                         umap_x, umap_y (2-D layout), cell (grid cell id), row, col, kept (cell has an icon),
                         cluster, explained (the highest concept probability of the round's head; 0 in round 0)
    cells.npy          (n_cells, C) float32: mean activation vector of each kept cell (order of "cells")
    icons/             cell_<row>_<col>.png: one icon per kept cell: the real fragment nearest to the cell's mean
                         (icons.kind exemplar) or a feature visualization of it (featurevis)
    atlas.png          the atlas: icons on the grid, framed by majority cluster, with legend
    map.png            the 2-D layout coloured by cluster and by class
    clusters/          cluster_<k>.png: exemplar sheet of cluster k (receptive-field crops, position outlined)
    README.md          this description
    layers/<layer>/    the atlas of each extra layer of the round (atlas.layers), a complete atlas folder of this
                         layout each (without layers/ of its own); the folder itself is model.layer's atlas

Part ids are 1 + the index in ``parts``; patch geometry follows :mod:`pipeline.atlas.patches`.
"""


@dataclass
class AtlasParams:
    """Every setting of an atlas build, as the estimators that carry them.

    Attributes:
        sampler: Which positions, how many, how weighted.
        projection: The 2-D layout.
        grid: The grid and its minimum count.
        clusterer: The clustering.
        icons: Icon rendering.
        exemplars: Exemplars per cluster nearest to its centre.
        random_exemplars: Extra random exemplars per cluster.
        patch_scale: Output pixels per input pixel of the exemplar patches.
        seed: The seed every step uses.
    """

    CONF: ClassVar[Conf] = Conf("atlas", exemplars="atlas.exemplars.per_cluster",
                                random_exemplars="atlas.exemplars.random", patch_scale="atlas.exemplars.patch_scale")

    sampler: PositionSampler
    projection: Projection
    grid: AtlasGrid
    clusterer: Clusterer
    icons: IconParams
    exemplars: int
    random_exemplars: int
    patch_scale: int
    seed: int

    def __post_init__(self) -> None:
        keys = {"exemplars": ("per_cluster", 0), "random_exemplars": ("random", 0), "patch_scale": ("patch_scale", 1)}
        for name, (key, low) in keys.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"atlas: exemplars.{key} must be an integer >= {low}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict, in the shape of the config section."""
        icons = self.icons
        return {
            "sample": {k: v for k, v in self.sampler.get_params().items() if k != "seed"},
            "layout": {k: v for k, v in self.projection.get_params().items() if k != "seed"},
            "grid": self.grid.get_params(),
            "icons": {"steps": icons.steps, "batch_size": icons.batch_size, "cos_power": icons.cos_power,
                      "size": icons.size, "enabled": icons.enabled, "fragment": icons.fragment, "kind": icons.kind},
            "clusters": {k: v for k, v in self.clusterer.get_params().items() if k != "seed"},
            "exemplars": {"per_cluster": self.exemplars, "random": self.random_exemplars,
                          "patch_scale": self.patch_scale},
            "seed": self.seed,
        }


def atlas_params(cfg: Any) -> AtlasParams:
    """The atlas stage's settings, from the composed configuration's ``atlas`` group (UMAP reports its progress).

    Args:
        cfg: The composed configuration.
    """
    return configured(AtlasParams, cfg, projection=configured(Projection, cfg, verbose=True))


@dataclass
class Atlas:
    """A built atlas (see the module docstring for what each part becomes on disk).

    Attributes:
        layer: The layer's module path.
        round: The round.
        split: The dataset split the store was extracted from.
        classes: Class names.
        parts: Part names, or None.
        params: The settings (``AtlasParams.to_dict()``).
        geometry: The layer's stride, receptive field, offset, input size and grid.
        points: The sampled positions with layout, cell and cluster.
        cells: The kept cells (cell, row, col, count, centre_x, centre_y, cluster, icon, score, value).
        cell_means: (n_cells, C) mean activation per kept cell.
        grid_size: G.
        extent: The layout's bounding box (x_min, x_max, y_min, y_max).
        icons: (n_cells, S, S, 3) uint8 icons, or None when not rendered.
        clusters: Per-cluster statistics, with exemplars.
        exemplar_patches: Per cluster, the RGB patches of its exemplars (empty without sketches).
        metrics: atlas_purity, atlas_nmi (of this atlas's sample), layer_purity, layer_nmi (of an
            attribution-weighted sample, comparable across rounds; None without parts), n_points, n_cells,
            n_clusters, seconds; how the clusters align with the drawings' attributes where they record them
            (:func:`pipeline.atlas.attributes.attribute_metrics`).
        timings: Seconds per step.
    """

    layer: str
    round: int
    split: str
    classes: list[str]
    parts: list[str] | None
    params: dict[str, Any]
    geometry: dict[str, Any]
    points: pd.DataFrame
    cells: pd.DataFrame
    cell_means: np.ndarray
    grid_size: int
    extent: tuple[float, float, float, float]
    icons: np.ndarray | None
    clusters: list[ClusterStats]
    exemplar_patches: list[list[np.ndarray]]
    metrics: dict[str, Any]
    timings: dict[str, float]


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self._last = now


def _concept_probability(model: Any | None, layer: str) -> Any:
    """The round's concept head as a scorer of the layer's vectors, when the model has one on this layer."""
    head = getattr(model, "concept_head", None)
    if head is None or layer != model.layer:
        return None
    from pipeline.models.concept_head import highest_probability

    return highest_probability(head)


def build_atlas(store: ActivationStore, model: Any | None, params: AtlasParams, *, round_index: int = 0,
                layer: str | None = None, sketches: Iterable[Sketch] | None = None,
                previous: pd.DataFrame | None = None) -> Atlas:
    """Build an atlas of one layer.

    Args:
        store: The layer's activation store.
        model: A :class:`~pipeline.models.build.TrainedModel` (net, input_spec, raster, layer) for icons and
            patches; None builds without icons and patches.
        params: The settings.
        round_index: The round, recorded in the atlas.
        layer: The layer's module path (default: the store's layer).
        sketches: The drawings of the store's split, for exemplar patches (None: no patches).
        previous: The previous round's points (``points.parquet``): the new map is aligned with its map
            (:mod:`pipeline.atlas.alignment`); None: the map as UMAP makes it.

    Returns:
        The atlas.

    Raises:
        ConfigError: Settings that cannot work with this store (fewer points than cells, unknown class...).
        InputError: A store without usable positions.
    """
    meta = store.meta
    layer = layer or meta.layer
    sketches = list(sketches) if sketches is not None else None  # read twice: icon references, patches
    clock = _Clock()
    started = time.perf_counter()
    log.info("atlas of %s, round %d: sampling %d positions", layer, round_index, params.sampler.count)
    concept_probability = _concept_probability(model, layer)
    sample = params.sampler.sample(store, concept_probability)
    clock.lap("sampling")

    layout = params.projection.fit_transform(sample.vectors)
    alignment = None
    if previous is not None:
        layout, alignment = align_layout(layout, sample.positions, previous)
    clock.lap("projection")

    grid = params.grid.fit(layout, sample.vectors)
    clock.lap("grid")

    clustering = params.clusterer.fit(sample.vectors, layout)
    clock.lap("clustering")

    points = _placed_points(sample.positions, layout, grid, clustering.labels)
    cells = grid.cells.copy()
    cells["cluster"] = _majority_cluster(points, cells["cell"].to_numpy())

    maker = PatchMaker(sketches, model.raster, meta, scale=params.patch_scale) if (
        sketches is not None and model is not None) else None
    icons = _cell_icons(cells, points, sample.vectors, grid, model, maker, layer, params, meta, sketches)
    clock.lap("icons")

    stats = cluster_stats(points, clustering.labels, meta.classes, meta.parts)
    has_parts = meta.parts is not None
    parts = points["part"].to_numpy()
    purity = atlas_purity(clustering.labels, parts) if has_parts else None
    nmi = atlas_nmi(clustering.labels, parts) if has_parts else None
    layer_purity, layer_nmi = purity, nmi
    if has_parts and params.sampler.weighting == "unexplained" and concept_probability is not None:
        layer_purity, layer_nmi = layer_organisation(store, params)
    attributes = attribute_alignment(clustering.labels, points["key_id"].to_numpy(), sketches or ())
    clock.lap("statistics")

    patches = _cluster_exemplars(stats, clustering, points, params, meta.parts, maker)
    clock.lap("patches")

    metrics = {"atlas_purity": purity, "atlas_nmi": nmi, "layer_purity": layer_purity, "layer_nmi": layer_nmi,
               "n_points": len(points), "n_cells": len(cells),
               "n_clusters": len(stats), "seconds": round(time.perf_counter() - started, 3),
               "alignment_anchors": alignment.anchors if alignment else None,
               "alignment_residual": alignment.residual if alignment else None, **attribute_metrics(attributes)}
    log.info("atlas built in %.1f s: %d points, %d cells, %d clusters, purity %s, NMI %s", metrics["seconds"],
             len(points), len(cells), len(stats), _fmt(purity), _fmt(nmi))
    for name, line in describe(attributes).items():
        log.info("attribute %s: %s", name, line)
    geometry = {key: getattr(meta, key) for key in GEOMETRY}
    return Atlas(layer=layer, round=int(round_index), split=meta.split, classes=list(meta.classes),
                 parts=list(meta.parts) if meta.parts else None, params=params.to_dict(), geometry=geometry,
                 points=points, cells=cells, cell_means=grid.means, grid_size=grid.size, extent=grid.extent,
                 icons=icons, clusters=stats, exemplar_patches=patches, metrics=metrics, timings=clock.timings)


#: The layer's geometry an atlas records (``atlas.json``'s ``geometry``).
GEOMETRY = ("stride", "receptive_field", "rf_offset", "input_size", "height", "width", "channels")


def _placed_points(positions: pd.DataFrame, layout: np.ndarray, grid: Any, labels: np.ndarray) -> pd.DataFrame:
    """The sampled positions with their place on the map, their grid cell and their cluster."""
    points = positions.copy()
    points["umap_x"], points["umap_y"] = layout[:, 0], layout[:, 1]
    points["cell"] = grid.point_cell
    points["row"] = (grid.point_cell // grid.size).astype(np.int16)
    points["col"] = (grid.point_cell % grid.size).astype(np.int16)
    points["kept"] = grid.kept
    points["cluster"] = labels
    return points


def _cell_icons(cells: pd.DataFrame, points: pd.DataFrame, vectors: np.ndarray, grid: Any, model: Any | None,
                maker: PatchMaker | None, layer: str, params: AtlasParams, meta: Any,
                sketches: list[Sketch] | None) -> np.ndarray | None:
    """Render each kept cell's icon (when enabled and a model is given), filling ``cells``' icon columns.

    Returns:
        The icons, (n_cells, S, S, 3) uint8, or None when none are rendered.
    """
    cells["icon"] = None
    cells["score"] = np.nan
    cells["value"] = np.nan
    cells["icon_point"] = -1
    if not params.icons.enabled or model is None:
        return None
    size = params.icons.size or model.input_spec.size
    if params.icons.kind == "exemplar" and maker is not None:
        log.info("icons: the real fragment nearest to each of %d cells' means", len(cells))
        icon_set, cells["icon_point"] = exemplar_icons(points, vectors, cells, grid.means, maker, size)
    else:
        icon_set = _featurevis_icons(model, grid.means, layer, params, meta, sketches, size)
    cells["icon"] = [f"icons/cell_{r:02d}_{c:02d}.png" for r, c in zip(cells["row"], cells["col"], strict=True)]
    cells["score"], cells["value"] = icon_set.scores, icon_set.values
    return icon_set.images


def _cluster_exemplars(stats: list[ClusterStats], clustering: Any, points: pd.DataFrame, params: AtlasParams,
                       parts: list[str] | None, maker: PatchMaker | None) -> list[list[np.ndarray]]:
    """Choose each cluster's exemplars (recorded in its statistics) and crop their patches.

    Returns:
        Per cluster, the RGB patches of its exemplars (empty without a patch maker).
    """
    chosen = select_exemplars(clustering.points, clustering.labels, clustering.centres, params.exemplars,
                              params.random_exemplars, seed=params.seed)
    distance = clustering.distances()
    patches: list[list[np.ndarray]] = []
    for c, indices in enumerate(chosen):
        rows = points.iloc[indices]
        stats[c].exemplars = [
            {"point": int(i), "sketch": int(r.sketch), "key_id": str(r.key_id), "class": str(r.word),
             "part": (parts[r.part - 1] if parts is not None and r.part > 0 else None), "y": int(r.y), "x": int(r.x),
             "kind": "nearest" if j < params.exemplars else "random", "distance": round(float(distance[i]), 5)}
            for j, (i, r) in enumerate(zip(indices, rows.itertuples(index=False), strict=True))]
        patches.append([maker.patch(r.key_id, r.y, r.x) for r in rows.itertuples(index=False)] if maker else [])
    return patches


def _featurevis_icons(model: Any, means: np.ndarray, layer: str, params: AtlasParams, meta: Any,
                      sketches: list[Sketch] | None, size: int) -> IconSet:
    """Feature-visualization icons of the cells' mean directions (the Activation Atlas's icons)."""
    log.info("icons: rendering %d cells, %d per batch, %d steps", len(means), params.icons.batch_size,
             params.icons.steps)
    # Scores are relative to real sketches: 1.0 drives a direction as hard as the best real input does.
    reference = None
    if sketches is not None:
        first = list(itertools.islice(sketches, REFERENCE_SKETCHES))
        if first:
            reference = torch.from_numpy(rasterize_batch(first, model.raster))[:, None]
    box = fragment_box(size, meta.stride, meta.receptive_field, meta.rf_offset)
    return render_icons(model.net, means, layer, model.input_spec, params.icons, seed=params.seed,
                        reference=reference, box=box)


def layer_organisation(store: ActivationStore, params: AtlasParams) -> tuple[float, float]:
    """Purity and NMI of the layer on an attribution-weighted sample, whatever the atlas itself shows.

    An atlas weighted toward unexplained positions shows mostly what no concept covers yet, so its own purity
    and NMI describe that remainder and change with what was named. These figures cluster the sample an
    attribution-weighted atlas would draw (same count, seed and clustering; in activation space, so no layout
    is needed), so rounds compare like with like.

    Args:
        store: The layer's activation store (with true parts).
        params: The atlas's settings.

    Returns:
        ``(purity, nmi)`` against the true parts.
    """
    sampler, clusterer = params.sampler, params.clusterer
    reference = PositionSampler(count=sampler.count, weighting="attribution", class_filter=sampler.class_filter,
                                seed=sampler.seed, floor=sampler.floor).sample(store)
    labels = Clusterer(method=clusterer.method, k=clusterer.k, space="activations", normalize=clusterer.normalize,
                       seed=clusterer.seed).fit(reference.vectors).labels
    parts = reference.positions["part"].to_numpy()
    return atlas_purity(labels, parts), atlas_nmi(labels, parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _majority_cluster(points: pd.DataFrame, cells: np.ndarray) -> np.ndarray:
    """The most common cluster among the points of each cell."""
    table = pd.crosstab(points["cell"], points["cluster"])
    return table.idxmax(axis=1).reindex(cells).to_numpy().astype(np.int32)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _caption(entry: dict) -> str:
    part = entry["part"] or "-"
    return f"{entry['class']}\n{part}"


def write_atlas(atlas: Atlas, folder: str | Path, layers: Sequence[Atlas] = ()) -> dict[str, float]:
    """Write the atlas to ``folder`` atomically (the layout of the module docstring).

    The folder appears complete or not at all, the extra layers' atlases with it; an existing atlas there is
    replaced.

    Args:
        atlas: The atlas.
        folder: The destination, e.g. ``atlases/round_0``.
        layers: Atlases of other layers of the same round, each written as a complete atlas folder in
            ``layers/<layer>/`` (:func:`pipeline.rounds.layer_atlas_dir`).

    Returns:
        Seconds spent per part of the writing of ``atlas`` (``figures``, ``files``).
    """
    with atomic_dir(folder) as out:
        timings = _write_files(atlas, out)
        for other in layers:
            target = layer_atlas_dir(out, other.layer)
            target.mkdir(parents=True)
            _write_files(other, target)
    log.info("wrote the atlas to %s (%.1f s)%s", folder, sum(timings.values()),
             f" with {len(layers)} more layers ({', '.join(a.layer for a in layers)})" if layers else "")
    return timings


def _write_files(atlas: Atlas, out: Path) -> dict[str, float]:
    """Write one atlas's files into the empty folder ``out``; returns the seconds per part."""
    from pipeline import viz
    from pipeline.atlas.figure import atlas_figure, exemplar_sheet, map_figure

    clock = _Clock()
    (out / "icons").mkdir()
    (out / "clusters").mkdir()
    if atlas.icons is not None:
        for name, icon in zip(atlas.cells["icon"], atlas.icons, strict=True):
            Image.fromarray(icon).save(out / name, optimize=False)
    np.save(out / "cells.npy", atlas.cell_means.astype(np.float32), allow_pickle=False)
    atlas.points.to_parquet(out / "points.parquet", index=False)
    cells = []
    for row in atlas.cells.itertuples(index=False):
        cells.append({"cell": int(row.cell), "row": int(row.row), "col": int(row.col), "count": int(row.count),
                      "centre": [round(float(row.centre_x), 5), round(float(row.centre_y), 5)],
                      "cluster": int(row.cluster), "icon": row.icon,
                      "score": None if pd.isna(row.score) else round(float(row.score), 5),
                      "value": None if pd.isna(row.value) else round(float(row.value), 5),
                      "icon_point": int(row.icon_point) if int(row.icon_point) >= 0 else None})
    clusters = []
    for stats in atlas.clusters:
        entry = stats.to_dict()
        entry["sheet"] = f"clusters/cluster_{stats.cluster}.png" if atlas.exemplar_patches and \
            atlas.exemplar_patches[stats.cluster] else None
        clusters.append(entry)
    document = {
        "format_version": FORMAT_VERSION, "layer": atlas.layer, "round": atlas.round, "split": atlas.split,
        "classes": atlas.classes, "parts": atlas.parts, "params": atlas.params, "geometry": atlas.geometry,
        "metrics": atlas.metrics, "timings": atlas.timings,
        "grid": {"size": atlas.grid_size, "min_count": atlas.params["grid"]["min_count"],
                 "extent": list(atlas.extent)},
        "files": {"points": "points.parquet", "cells": "cells.npy", "atlas": "atlas.png", "map": "map.png"},
        "cells": cells, "clusters": clusters,
    }
    (out / "atlas.json").write_text(json.dumps(_json_ready(document), indent=1) + "\n")
    (out / README).write_text(f"# Activation atlas: {atlas.layer}, round {atlas.round}\n\n"
                              "Written by the atlas stage (`python -m pipeline.stages.atlas`).\n\n" + LAYOUT)
    clock.lap("files")
    fig = atlas_figure(atlas)
    fig.savefig(out / "atlas.png", dpi=100)
    viz.close(fig)
    fig = map_figure(atlas)
    fig.savefig(out / "map.png", dpi=100)
    viz.close(fig)
    for stats, patches in zip(atlas.clusters, atlas.exemplar_patches, strict=False):
        if patches:
            sheet = exemplar_sheet(atlas, stats.cluster, patches, [_caption(e) for e in stats.exemplars])
            sheet.save(out / f"clusters/cluster_{stats.cluster}.png")
    clock.lap("figures")
    return clock.timings


def read_atlas(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """Read an atlas folder: ``atlas.json``, ``points.parquet`` and ``cells.npy``.

    Raises:
        InputError: A file is missing or unreadable.
    """
    folder = Path(folder)
    hint = "build it: `python -m pipeline.stages.atlas` or `dvc repro atlas`"
    try:
        document = json.loads((folder / "atlas.json").read_text())
        points = pd.read_parquet(folder / "points.parquet")
        cells = np.load(folder / "cells.npy", allow_pickle=False)
    except FileNotFoundError as err:
        raise InputError(err.filename or folder, "missing from the atlas folder", hint=hint) from None
    except Exception as err:  # noqa: BLE001 - json, pyarrow and numpy raise many types for damaged files
        raise InputError(folder, f"unreadable atlas ({str(err).splitlines()[0]})", hint=hint) from None
    return document, points, cells


def read_atlas_vectors(folder: str | Path, activations: str | Path) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """:func:`read_atlas` plus each point's activation vector (n, C), read from the round's activation store
    (``activations/round_<r>``, the atlas layer's folder in it).

    Raises:
        InputError: A file of the atlas or of the store is missing or unreadable.
    """
    from pipeline.activations.store import layer_folder

    document, points, _ = read_atlas(folder)
    store = ActivationStore(layer_folder(activations, str(document["layer"])))
    vectors = store.vectors(points["sketch"].to_numpy(), points["y"].to_numpy(), points["x"].to_numpy())
    return document, points, vectors
