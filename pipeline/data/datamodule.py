"""Torch datasets over a dataset folder, rendered the way the model expects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from pipeline.data.raster import RasterSpec, rasterize
from pipeline.data.mixed import Augment
from core.sketch import Sketch
from pipeline.data.store import Manifest, read_manifest, read_split
from core.errors import InputError


class SketchDataset(Dataset):
    """Sketches rasterised on the fly: ``(image (1, H, W) float in [0, 1], label)``.

    Rasterising per item keeps memory flat for any dataset size; at 64x64 it costs well under a
    millisecond a drawing, small next to a training step.

    Args:
        sketches: The drawings.
        class_index: Class name -> label.
        raster: How to render them (size, line width, inversion).
        augment: Redraw them at random each time they are drawn (torch's random numbers, so seeded as training
            is); None: never.
    """

    def __init__(self, sketches: Sequence[Sketch], class_index: dict[str, int], raster: RasterSpec,
                 augment: Augment | None = None) -> None:
        unknown = {s.word for s in sketches} - set(class_index)
        if unknown:
            raise InputError("dataset", f"drawings of classes not in the manifest: {sorted(unknown)[:5]}",
                             hint="re-run the data stage")
        self.sketches = list(sketches)
        self.labels = torch.tensor([class_index[s.word] for s in self.sketches], dtype=torch.long)
        self.raster = raster
        self.augment = augment

    def __len__(self) -> int:
        return len(self.sketches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sketch = self.sketches[index]
        if self.augment is not None and sketch.strokes:
            sketch = self.augment(sketch, torch.rand(5).tolist())
        image = rasterize(sketch, self.raster)
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None], self.labels[index]


def real_drawings(manifest: Manifest, sketches: Sequence[Sketch]) -> np.ndarray | None:
    """(N,) bool: which of a mixed dataset's drawings are real (they name no parts); None for other data."""
    return None if manifest.real is None else np.array([s.parts is None for s in sketches], dtype=bool)


def training_split(manifest: Manifest, sketches: Sequence[Sketch], class_index: dict[str, int], raster: RasterSpec,
                   seed: int) -> tuple[SketchDataset, Sampler | None]:
    """The train split as training draws it: for mixed data, its drawings redrawn at random
    (``manifest.real["augment"]``) and the real ones drawn for their share of every epoch (``manifest.real["share"]``).

    Args:
        manifest: The dataset's manifest.
        sketches: The train split.
        class_index: Class name -> label.
        raster: How to render them.
        seed: Seed of the sampler's draws.

    Returns:
        The dataset, and the sampler to draw it with (None: shuffle it as usual).
    """
    real = real_drawings(manifest, sketches)
    augment = (manifest.real or {}).get("augment")
    dataset = SketchDataset(sketches, class_index, raster, Augment(**augment) if augment else None)
    return dataset, real_share_sampler(real, (manifest.real or {}).get("share"), seed)


def real_share_sampler(real: np.ndarray | None, share: float | None, seed: int) -> Sampler | None:
    """A sampler that draws ``share`` of every epoch from the real drawings and the rest from the others, with
    replacement; None without a share, or where the split holds only one kind.

    Args:
        real: (N,) bool, which drawings are real (None: not mixed data).
        share: The share of the real drawings (None: as many as they are).
        seed: Seed of the draws.
    """
    if real is None or not share or real.all() or not real.any():
        return None
    mask = torch.from_numpy(real)
    count = int(mask.sum())
    weights = torch.where(mask, share / count, (1.0 - share) / (len(mask) - count)).double()
    return WeightedRandomSampler(weights, num_samples=len(mask), replacement=True,
                                 generator=torch.Generator().manual_seed(seed))


class SketchDataModule(L.LightningDataModule):
    """The train/val/test splits of a dataset folder written by the data stage.

    Args:
        folder: The dataset folder (``paths.dataset``).
        raster: How to render the drawings for the model.
        batch_size: Batch size of every loader.
        num_workers: Loader worker processes (0 renders in the training process).
        seed: Seed of the training shuffle.
    """

    def __init__(self, folder: str | Path, raster: RasterSpec, batch_size: int = 128, num_workers: int = 0,
                 seed: int = 0) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.raster = raster
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.manifest: Manifest = read_manifest(self.folder)
        self.datasets: dict[str, SketchDataset] = {}
        self.train_sampler: Sampler | None = None

    @property
    def class_names(self) -> list[str]:
        return self.manifest.classes

    def dataset(self, split: str) -> SketchDataset:
        """The dataset of one split, read once (the train split as training draws it: :func:`training_split`)."""
        if split not in self.datasets:
            sketches = read_split(self.folder, split)
            if not sketches:
                raise InputError(self.folder, f"the '{split}' split is empty", hint="use more drawings or change data.splits")
            if split == "train":
                self.datasets[split], self.train_sampler = training_split(
                    self.manifest, sketches, self.manifest.class_index, self.raster, self.seed)
            else:
                self.datasets[split] = SketchDataset(sketches, self.manifest.class_index, self.raster)
        return self.datasets[split]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        sampler = self.train_sampler if split == "train" else None
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                          num_workers=self.num_workers, generator=generator if shuffle and sampler is None else None,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
