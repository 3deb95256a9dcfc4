"""One round's atlas as the artist sees it: its points, cells and clusters, and their lookups.

Reads what the pipeline wrote (``atlases/round_<r>/``, the activation store of the round and the dataset
split it was built on) and answers the questions the labeling app and the simulated artist ask: which points
a cluster, cell or lasso holds, their activations, and how they map to the concept store's data coordinates
``(key_id, y, x)``. What the page shows of a selection (its composition, exemplars, sub-clusters) is
:class:`labeling.selections.Selections`; the points' pictures are :class:`labeling.pictures.AtlasPictures`
(``view.pictures``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from conceptstore.concepts import Concept

from pipeline.activations.store import ActivationStore, layer_folder
from pipeline.atlas.build import read_atlas
from pipeline.atlas.patches import PatchMaker
from pipeline.data.raster import RasterSpec
from pipeline.data.store import read_split
from core.errors import ArticulateError, ConfigError, InputError
from pipeline.rounds import activations_dir, atlas_dir, built_rounds, extra_layers, latest_round, layer_atlas_dir
from labeling.pictures import AtlasPictures

__all__ = ["AtlasView", "Judged", "NotInAtlasError", "Selection", "SelectionError", "latest_round"]

Position = tuple[str, int, int]
SOURCE_KINDS = ("cluster", "cell", "lasso", "concept")


class SelectionError(ArticulateError):
    """A selection that cannot be made: empty, malformed, or naming what the atlas does not have."""


class NotInAtlasError(SelectionError):
    """A point, cluster or cell the atlas does not have."""

    status_code = 404



@dataclass(frozen=True)
class Judged:
    """A selection after the person judged its exemplars, in data coordinates.

    Attributes:
        positives: The selection's points minus the unticked exemplars.
        negatives: The unticked exemplars.
        verified: The exemplars shown and kept (a subset of ``positives``).
    """

    positives: list[Position]
    negatives: list[Position]
    verified: list[Position]


@dataclass(frozen=True)
class Selection:
    """A set of atlas points and where it came from.

    Attributes:
        kind: ``cluster``, ``cell``, ``lasso`` or ``concept``.
        key: The cluster or cell number, the concept id, or None for a lasso.
        points: Atlas point ids, sorted.
    """

    kind: str
    key: int | str | None
    points: np.ndarray

    def source(self, view: AtlasView) -> dict[str, Any]:
        """The concept store's ``source`` record of a concept made from this selection."""
        return view.source(self.kind, self.key)


class AtlasView:
    """Read access to one round's atlas.

    Args:
        folder: The atlas folder (``atlases/round_<r>``).
        activations: The round's activations folder (``activations/round_<r>``), holding the layer's store.
        dataset: The dataset folder, for the sketches behind the points.
        raster: How the model's input was rendered (patches show what the model saw).
        exemplars: Exemplars shown per selection.
        patch_scale: Patch pixels per input pixel.
        previous: The previous round's atlas folder of the same layer (this map is aligned onto its map).
        primary: For an extra layer's atlas (``layers/<layer>/`` of the round's folder): the view of the round's
            own atlas, which opens it (:meth:`at_layer`); None: this is the round's own atlas.

    Attributes:
        layers: The layers the round has an atlas of, its atlas layer (``model.layer``) first.

    Raises:
        InputError: The atlas, the activation store or the dataset split is missing or unreadable.
    """

    def __init__(self, folder: str | Path, activations: str | Path, dataset: str | Path, raster: RasterSpec, *,
                 exemplars: int = 40, patch_scale: int = 4, previous: str | Path | None = None,
                 primary: AtlasView | None = None) -> None:
        if exemplars < 1 or patch_scale < 1:
            raise ConfigError(f"labeling: exemplars and patch_scale must be >= 1, got {exemplars}, {patch_scale}")
        self.folder = Path(folder)
        self.document, self.points, _ = read_atlas(self.folder)
        self.round = int(self.document["round"])
        self.layer = str(self.document["layer"])
        # What an extra layer's view is opened with (at_layer), and the views opened so far.
        self._opening = (Path(activations), Path(dataset), raster, int(exemplars), int(patch_scale))
        self._primary = primary
        self.layers: list[str] = primary.layers if primary is not None else [self.layer, *extra_layers(self.folder)]
        self._layer_views: dict[str, AtlasView] = {}
        self._layers_lock = threading.Lock()
        self.store = ActivationStore(layer_folder(activations, self.layer))
        self.meta = self.store.meta
        self.classes: list[str] = list(self.document["classes"])
        self.parts: list[str] | None = self.document.get("parts") or None
        self.n_exemplars = int(exemplars)
        self.patches = PatchMaker(read_split(dataset, self.meta.split), raster, self.meta, scale=patch_scale)
        self._sketch_of_key = dict(zip(self.store.sketches["key_id"].astype(str), self.store.sketches["sketch"]))
        self._word_of_key = dict(zip(self.store.sketches["key_id"].astype(str), self.store.sketches["word"].astype(str)))
        self._point_of_position = {(str(k), int(y), int(x)): i for i, (k, y, x) in
                                   enumerate(zip(self.points["key_id"], self.points["y"], self.points["x"]))}
        # The atlas's own exemplars of each cluster (nearest its k-means centre), as its cluster sheets show them.
        self.cluster_exemplars = {int(c["cluster"]): [int(e["point"]) for e in c.get("exemplars", [])]
                                  for c in self.document["clusters"]}
        self._vectors: np.ndarray | None = None
        # The previous round's atlas (this round's map is aligned onto its map), read when first asked for.
        self.previous_folder = Path(previous) if previous is not None else None
        self._previous_xy: dict[tuple[str, int, int], tuple[float, float]] | None = None
        self._previous_round: int | None = None
        self.pictures = AtlasPictures(self.points, self.patches, self.check_points)  # the points' PNGs, cached

    @classmethod
    def load(cls, cfg: DictConfig, round_: int | None = None) -> AtlasView:
        """The view of round ``round_`` (default: the latest built round; the commands' ``--round``)."""
        from pipeline.models.build import raster_spec, read_raster
        from pipeline.rounds import model_path

        r = latest_round(cfg.paths.atlases) if round_ is None else round_
        folder = atlas_dir(cfg, r)
        if not (folder / "atlas.json").is_file():
            built = built_rounds(cfg.paths.atlases)
            where = f"built rounds: {', '.join(map(str, built))}" if built else "no round is built yet"
            raise InputError(folder, f"no atlas for round {r} ({where})",
                             hint="choose a built round with --round, or build the next one with `dvc repro`")
        path = model_path(cfg, r)
        # A round whose model file is not here (an atlas copied alone) is drawn as the configured model reads.
        raster = read_raster(path) if path.is_file() else raster_spec(cfg.model)
        previous = atlas_dir(cfg, r - 1) if r > 0 else None
        return cls(folder, activations_dir(cfg, r), cfg.paths.dataset, raster,
                   exemplars=cfg.labeling.exemplars, patch_scale=cfg.labeling.patch_scale,
                   previous=previous if previous is not None and (previous / "atlas.json").is_file() else None)

    @property
    def atlas_layer(self) -> str:
        """The round's atlas layer (``model.layer``): the layer of the atlas in the round's own folder."""
        return self._primary.layer if self._primary is not None else self.layer

    def at_layer(self, layer: str | None) -> AtlasView:
        """The round's atlas of ``layer``: the round's own (this view's primary) for None or the atlas layer; an
        extra layer's (``layers/<layer>/``) is opened on first use and kept.

        Raises:
            NotInAtlasError: The round has no atlas of that layer (the message lists the layers it has).
        """
        primary = self._primary or self
        if layer is None or layer == primary.layer:
            return primary
        if layer not in primary.layers:
            shown = layer if len(layer) <= 80 else f"{layer[:77]}..."
            raise NotInAtlasError(f"round {primary.round} has no atlas of layer {shown!r} (its layers: "
                                  f"{', '.join(primary.layers)}; atlas.layers names the extra layers a round maps)")
        with primary._layers_lock:  # one opening per layer, however many requests ask at once
            if layer not in primary._layer_views:
                activations, dataset, raster, exemplars, patch_scale = primary._opening
                previous = layer_atlas_dir(primary.previous_folder, layer) if primary.previous_folder else None
                primary._layer_views[layer] = AtlasView(
                    layer_atlas_dir(primary.folder, layer), activations, dataset, raster, exemplars=exemplars,
                    patch_scale=patch_scale, primary=primary,
                    previous=previous if previous is not None and (previous / "atlas.json").is_file() else None)
            return primary._layer_views[layer]

    def check_layer(self, concept: Concept) -> None:
        """Refuse to show or change a concept of another layer on this atlas: its positions are on that layer's
        grid, not this one's.

        Raises:
            SelectionError: The concept is on another layer (the message says which, and how to see it).
        """
        if concept.layer != self.layer:
            raise SelectionError(f"'{concept.name}' is a concept of layer {concept.layer}, and this atlas shows "
                                 f"{self.layer}: switch the page's layer to {concept.layer} to see or change it")

    def source(self, kind: str, key: int | str | None = None) -> dict[str, Any]:
        """The concept store's ``source`` record: how a selection was made, and in which atlas.

        Raises:
            SelectionError: An unknown kind, or a cluster or cell source without its number.
            NotInAtlasError: A cluster or cell this atlas does not have (the message names those it has).
        """
        if kind not in SOURCE_KINDS:
            raise SelectionError(f"source kind: expected one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
        record: dict[str, Any] = {"kind": kind, "atlas": self.folder.as_posix(), "round": self.round}
        if kind in ("cluster", "cell"):
            if key is None:
                raise SelectionError(f"a {kind} source needs its number: {{\"kind\": \"{kind}\", \"{kind}\": N}}")
            self.select(**{kind: int(key)})  # a record must not point at what the atlas does not have
            record[kind] = int(key)
        return record

    # --- what the page draws ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.points)

    def summary(self) -> dict[str, Any]:
        """The atlas as ``GET /api/atlas`` answers it (see docs/reference/http-api.md)."""
        doc = self.document
        cells = [{"cell": int(c["cell"]), "row": int(c["row"]), "col": int(c["col"]), "count": int(c["count"]),
                  "centre": c["centre"], "cluster": c.get("cluster"),
                  "icon": f"/atlas/{c['icon']}" if c.get("icon") else None, "score": c.get("score")}
                 for c in doc["cells"]]
        clusters = [{"cluster": int(c["cluster"]), "size": int(c["size"]), "majority_part": c.get("majority_part"),
                     "purity": c.get("purity"), "classes": c.get("classes", {})} for c in doc["clusters"]]
        images = {name: f"/atlas/{file}" for name, file in doc.get("files", {}).items() if file.endswith(".png")}
        return {"round": self.round, "layer": self.layer, "layers": self.layers, "atlas_layer": self.atlas_layer,
                "split": doc.get("split"), "classes": self.classes,
                "parts": self.parts, "grid": doc["grid"], "cells": cells, "clusters": clusters,
                "metrics": doc.get("metrics", {}), "images": images, "exemplars": self.n_exemplars,
                "icon_kind": doc.get("params", {}).get("icons", {}).get("kind", "featurevis")}

    def columns(self) -> dict[str, list]:
        """Every point, column by column, as ``GET /api/points`` answers it."""
        p = self.points
        # -1: no part, or (a drawing that names no parts, mixed data's real ones) an unknown one
        part = np.maximum(p["part"].to_numpy(dtype=np.int64) - 1, -1) if self.parts else np.full(len(p), -1)
        return {"x": np.round(p["umap_x"].to_numpy(dtype=np.float64), 4).tolist(),
                "y": np.round(p["umap_y"].to_numpy(dtype=np.float64), 4).tolist(),
                "cluster": p["cluster"].astype(int).tolist(),
                "cell": np.where(p["kept"].to_numpy(), p["cell"].to_numpy(), -1).astype(int).tolist(),
                "label": p["label"].astype(int).tolist(), "part": part.astype(int).tolist(),
                "attribution": np.round(p["attribution"].to_numpy(dtype=np.float64), 4).tolist(),
                "sketch": p["sketch"].astype(int).tolist(), "key_id": p["key_id"].astype(str).tolist(),
                "py": p["y"].astype(int).tolist(), "px": p["x"].astype(int).tolist(),
                # the highest concept probability of the round's head (0 in round 0 and in older atlases)
                "explained": np.round(p["explained"].to_numpy(dtype=np.float64), 3).tolist()
                if "explained" in p else [0.0] * len(p)}

    # --- selections --------------------------------------------------------------------------------------

    def select(self, *, cluster: int | None = None, cell: int | None = None,
               points: Iterable[int] | None = None) -> Selection:
        """The points of a cluster, a grid cell, or a lasso (explicit point ids); exactly one must be given.

        Raises:
            SelectionError: None or several given, an unknown cluster or cell, or a point id out of range.
        """
        given = [name for name, value in (("cluster", cluster), ("cell", cell), ("points", points)) if value is not None]
        if len(given) != 1:
            raise SelectionError(f"select exactly one of cluster, cell or points (got {', '.join(given) or 'none'})")
        if cluster is not None:
            ids = np.flatnonzero(self.points["cluster"].to_numpy() == int(cluster))
            if not len(ids):
                raise NotInAtlasError(f"no cluster {cluster} in the round {self.round} atlas "
                                     f"(clusters 0..{int(self.points['cluster'].max())})")
            return Selection("cluster", int(cluster), ids)
        if cell is not None:
            ids = np.flatnonzero(self.points["cell"].to_numpy() == int(cell))
            if not len(ids):
                size = int(self.document["grid"]["size"])
                raise NotInAtlasError(f"no points in cell {cell} of the round {self.round} atlas (cells 0.."
                                      f"{size * size - 1}, row by row on its {size}x{size} grid; some are empty)")
            return Selection("cell", int(cell), ids)
        return Selection("lasso", None, self.check_points(points))

    def check_points(self, points: Iterable[int]) -> np.ndarray:
        """Point ids as a sorted unique array.

        Raises:
            SelectionError: Empty, or an id that is not a point of this atlas.
        """
        listed = list(points)
        # Bounded before numpy sees them: an id beyond 64 bits would overflow, a bool or a float is no id.
        wrong = next((p for p in listed if isinstance(p, bool) or not isinstance(p, (int, np.integer))), None)
        if wrong is not None:
            raise SelectionError(f"points must be a list of integer point ids, got {wrong!r}")
        far = next((int(p) for p in listed if not 0 <= p < len(self.points)), None)
        if far is not None:
            shown = str(far) if abs(far) < 10 ** 24 else f"a number of {far.bit_length()} bits"
            raise NotInAtlasError(f"point {shown} is not in the round {self.round} atlas "
                                  f"(points 0..{len(self.points) - 1})")
        ids = np.unique(np.asarray(listed, dtype=np.int64))
        if not len(ids):
            raise SelectionError("the selection is empty: select a cluster, a cell or lasso some points")
        return ids

    def vectors(self) -> np.ndarray:
        """The points' L2-normalised activation vectors (read once from the memory-mapped store)."""
        if self._vectors is None:
            p = self.points
            raw = self.store.vectors(p["sketch"].to_numpy(), p["y"].to_numpy(), p["x"].to_numpy())
            self._vectors = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-8)
        return self._vectors

    def cluster_direction(self, cluster: int) -> np.ndarray:
        """A cluster's direction in the layer: the mean of its points' unit activation vectors, (C,).

        Raises:
            NotInAtlasError: No such cluster in this atlas.
        """
        return self.vectors()[self.select(cluster=cluster).points].mean(axis=0)

    # --- data coordinates ---------------------------------------------------------------------------------

    def positions(self, points: Iterable[int]) -> list[Position]:
        """The concept store's coordinates ``(key_id, y, x)`` of atlas points."""
        ids = list(points)
        if not ids:
            return []
        rows = self.points.iloc[self.check_points(ids)]
        return [(str(k), int(y), int(x)) for k, y, x in zip(rows["key_id"], rows["y"], rows["x"])]

    def ticked_positions(self, points: Iterable[int], unticked: Iterable[int] = ()) -> tuple[list[Position], list[Position]]:
        """A judged selection in data coordinates: positives (the points minus the unticked), negatives (unticked).

        Raises:
            SelectionError: An unknown point, or every point unticked.
        """
        judged = self.judged_positions(points, unticked)
        return judged.positives, judged.negatives

    def judged_positions(self, points: Iterable[int], unticked: Iterable[int] = (),
                         seen: Iterable[int] = ()) -> Judged:
        """A judged selection in data coordinates.

        Args:
            points: The selection's points.
            unticked: The exemplars the person unticked (they become negatives).
            seen: The exemplars the person was shown; those kept become the verified positives.

        Raises:
            SelectionError: An unknown point, or every point unticked.
        """
        chosen = set(self.check_points(points).tolist())
        off = list(unticked)
        off = set(self.check_points(off).tolist()) if off else set()
        if not chosen - off:
            raise SelectionError("every point of the selection is unticked: nothing left to promote")
        shown = list(seen)
        kept = (set(self.check_points(shown).tolist()) & chosen) - off if shown else set()
        return Judged(self.positions(sorted(chosen - off)), self.positions(sorted(off)), self.positions(sorted(kept)))

    def points_of(self, positions: Iterable[Sequence]) -> list[int]:
        """The atlas points among some positions (positions this atlas did not sample, and whole drawings, the
        examples of a drawing-level concept, are left out)."""
        found = (self._point_of_position.get((str(p[0]), int(p[1]), int(p[2]))) for p in positions
                 if not isinstance(p, str))
        return sorted(i for i in found if i is not None)

    def classes_of(self, positions: Iterable[Sequence]) -> dict[str, int]:
        """How many of some positions each class's sketches hold, most first (positions of sketches outside
        this round's store, such as drawings made on the drawing page, are left out)."""
        found = (self._word_of_key.get(p if isinstance(p, str) else str(p[0])) for p in positions)  # str: a drawing
        return dict(Counter(w for w in found if w is not None).most_common())

    def previous_points(self, positions: Iterable[Sequence]) -> dict[str, Any] | None:
        """Where some positions lie on the previous round's map: ``{"round", "x", "y"}`` of its atlas points among
        them (this round's map is aligned onto that one, so both are in one frame); None without a previous atlas.
        """
        if self.previous_folder is None:
            return None
        if self._previous_xy is None:
            document, points, _ = read_atlas(self.previous_folder)
            self._previous_round = int(document["round"])
            self._previous_xy = {(str(k), int(y), int(x)): (float(u), float(v)) for k, y, x, u, v in zip(
                points["key_id"], points["y"], points["x"], points["umap_x"], points["umap_y"])}
        found = [xy for xy in (self._previous_xy.get((str(p[0]), int(p[1]), int(p[2]))) for p in positions
                               if not isinstance(p, str)) if xy]
        return {"round": self._previous_round, "x": [round(x, 4) for x, _ in found],
                "y": [round(y, 4) for _, y in found]}

    def position_vectors(self, positions: Sequence[Position], *,
                         raw: bool = False) -> tuple[list[Position], np.ndarray]:
        """Activation vectors of positions of this round's sketches (others are left out), normalised (``raw``: as
        the layer gave them, for the round's concept head)."""
        kept = [p for p in positions if not isinstance(p, str) and p[0] in self._sketch_of_key
                and 0 <= p[1] < self.meta.height and 0 <= p[2] < self.meta.width]
        if not kept:
            return [], np.zeros((0, self.meta.channels), dtype=np.float32)
        sketch = np.array([self._sketch_of_key[p[0]] for p in kept])
        found = self.store.vectors(sketch, np.array([p[1] for p in kept]), np.array([p[2] for p in kept]))
        return kept, found if raw else found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-8)

    def sketch_of_point(self, point: int) -> Any:
        """The drawing (a :class:`~core.sketch.Sketch`) behind an atlas point.

        Raises:
            NotInAtlasError: No such point.
        """
        row = self.points.iloc[int(self.check_points([point])[0])]
        return self.patches.sketch(str(row["key_id"]))
