"""The data of a fine-tune: the dataset's sketches by key_id, ink maps on the layer's grid, and the two loaders
(the train split for the class loss, the concept-labelled sketches for the concept loss) combined into one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, Sampler

from pipeline.activations.extractor import Extractor, ink_cells
from pipeline.activations.geometry import LayerGeometry
from pipeline.data.datamodule import SketchDataset
from pipeline.data.raster import RasterSpec, rasterize
from core.sketch import Sketch
from pipeline.data.store import read_manifest, read_split
from pipeline.models.build import TrainedModel
from pipeline.models.classes import UNMAPPED

__all__ = ["ConceptDataset", "SketchIndex", "combined_loader", "ink_maps", "layer_vectors"]

CLASS, CONCEPT = "class", "concept"


#: The split of :class:`SketchIndex` that holds the drawings made in the app (``concepts/drawings.ndjson``).
DRAWN_SPLIT = "drawn"


@dataclass
class SketchIndex:
    """Every sketch of a dataset folder, by key_id, with its split.

    Attributes:
        splits: Split name -> its sketches, in file order.
        where: key_id -> (split, index in that split).
    """

    splits: dict[str, list[Sketch]]
    where: dict[str, tuple[str, int]]

    @classmethod
    def read(cls, folder: str | Path, drawn: Sequence[Sketch] = ()) -> SketchIndex:
        """Read every split the manifest lists (concepts may point into any of them).

        Args:
            folder: The dataset folder.
            drawn: Drawings made in the app that concepts point into (the split ``drawn``).
        """
        manifest = read_manifest(folder)
        splits = {name: read_split(folder, name) for name in manifest.splits}
        if drawn:
            splits[DRAWN_SPLIT] = list(drawn)
        where = {s.key_id: (name, i) for name, sketches in splits.items() for i, s in enumerate(sketches)}
        return cls(splits, where)

    def __contains__(self, key_id: str) -> bool:
        return key_id in self.where

    def sketch(self, key_id: str) -> Sketch:
        split, i = self.where[key_id]
        return self.splits[split][i]

    def split_of(self, key_id: str) -> str:
        return self.where[key_id][0]


def ink_maps(sketches: Iterable[Sketch], raster: RasterSpec, geometry: LayerGeometry, threshold: float = 0.5,
             batch_size: int = 256) -> dict[str, np.ndarray]:
    """key_id -> (H, W) bool: which positions' stride cells hold ink (the extract stage's definition)."""
    out: dict[str, np.ndarray] = {}
    batch: list[Sketch] = []

    def flush() -> None:
        images = np.stack([rasterize(s, raster) for s in batch])
        ink = 1.0 - images if raster.invert else images
        for sketch, cells in zip(batch, ink_cells(ink, geometry, threshold), strict=True):
            out[sketch.key_id] = cells
        batch.clear()

    for sketch in sketches:
        batch.append(sketch)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return out


def layer_vectors(model: TrainedModel, sketches: Sequence[Sketch], threshold: float = 0.5,
                  batch_size: int = 256) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The atlas layer's activations and ink maps of sketches, as the extract stage computes them.

    Returns:
        key_id -> (H, W, C) float32 activations; key_id -> (H, W) bool ink.
    """
    extractor = Extractor(model.net, [model.layer], model.input_spec, dtype="float32", ink_threshold=threshold)
    index = model.class_map.labels()
    vectors: dict[str, np.ndarray] = {}
    ink: dict[str, np.ndarray] = {}
    for start in range(0, len(sketches), batch_size):
        batch = list(sketches[start:start + batch_size])
        images = np.stack([rasterize(s, model.raster) for s in batch])
        out = extractor.run(images, np.array([index.get(s.word, UNMAPPED) for s in batch]),
                            invert=model.raster.invert, attribution=False)[model.layer]
        for i, sketch in enumerate(batch):
            vectors[sketch.key_id], ink[sketch.key_id] = out.activations[i], out.ink[i]
    return vectors, ink


#: Memory the concept-labelled sketches' renders may take: 256 MB holds 16,000 sketches at 64 px.
CACHE_BYTES = 256 * 2**20


class ConceptDataset(Dataset):
    """Concept-labelled sketches: ``(image (1, S, S), label, codes (K, H, W) uint8, counts_for_class bool)``, and
    ``drawing codes (D,) uint8`` after them where there are drawing-level concepts.

    Args:
        sketches: The labelled sketches, in the order of ``codes``.
        labels: Their class labels.
        codes: (N, K, H, W) target codes (:mod:`pipeline.finetune.targets`).
        class_mask: (N,) whether each sketch may also train the class loss (False for test-split sketches, so
            that the class accuracy measured on the test split stays held out).
        raster: How to render them for the model.
        drawing_codes: (N, D) codes of the drawing-level concepts (:func:`~pipeline.finetune.targets.drawing_codes`);
            None without any.
    """

    def __init__(self, sketches: Sequence[Sketch], labels: Sequence[int], codes: np.ndarray,
                 class_mask: Sequence[bool], raster: RasterSpec, drawing_codes: np.ndarray | None = None) -> None:
        if not (len(sketches) == len(labels) == len(codes) == len(class_mask)):
            raise ValueError("concept dataset: sketches, labels, codes and class_mask differ in length")
        if drawing_codes is not None and len(drawing_codes) != len(sketches):
            raise ValueError("concept dataset: drawing codes and sketches differ in length")
        self.drawing_codes = (None if drawing_codes is None
                              else torch.from_numpy(np.ascontiguousarray(drawing_codes, dtype=np.uint8)))
        self.sketches = list(sketches)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.codes = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
        self.class_mask = torch.as_tensor(np.asarray(class_mask, dtype=bool))
        self.raster = raster
        # Each step draws a batch of these few sketches again (a round cycles them about 30 times), so their
        # renders are kept where they all fit in CACHE_BYTES; beyond that they are drawn each time.
        fits = len(self.sketches) * raster.size * raster.size * 4 <= CACHE_BYTES
        self._rendered: dict[int, torch.Tensor] | None = {} if fits else None

    def __len__(self) -> int:
        return len(self.sketches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image = self._rendered.get(index) if self._rendered is not None else None
        if image is None:
            image = torch.from_numpy(np.ascontiguousarray(rasterize(self.sketches[index], self.raster),
                                                          dtype=np.float32))[None]
            if self._rendered is not None:
                self._rendered[index] = image
        if self.drawing_codes is not None:
            return image, self.labels[index], self.codes[index], self.class_mask[index], self.drawing_codes[index]
        return image, self.labels[index], self.codes[index], self.class_mask[index]


def combined_loader(train: SketchDataset, concepts: ConceptDataset, batch_size: int, concept_batch_size: int,
                    seed: int = 0, num_workers: int = 0, class_sampler: Sampler | None = None) -> CombinedLoader:
    """One training loader: each step a batch of the train split (``"class"``, drawn by ``class_sampler`` where
    given: mixed data's real share, :func:`~pipeline.data.datamodule.training_split`) and one of the labelled
    sketches (``"concept"``); an epoch is one pass over the longer of the two, the shorter one cycling."""

    def loader(dataset: Dataset, size: int, offset: int, sampler: Sampler | None = None) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + offset)
        return DataLoader(dataset, batch_size=size, shuffle=sampler is None, sampler=sampler,
                          generator=generator if sampler is None else None, num_workers=num_workers,
                          persistent_workers=num_workers > 0)

    loaders: Mapping[str, DataLoader] = {CLASS: loader(train, batch_size, 0, class_sampler),
                                         CONCEPT: loader(concepts, concept_batch_size, 1)}
    return CombinedLoader(dict(loaders), mode="max_size_cycle")
