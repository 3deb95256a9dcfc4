"""Torch datasets over a dataset folder, rendered the way the model expects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.data.raster import RasterSpec, rasterize
from pipeline.data.sketch import Sketch
from pipeline.data.store import Manifest, read_manifest, read_split
from pipeline.errors import InputError


class SketchDataset(Dataset):
    """Sketches rasterised on the fly: ``(image (1, H, W) float in [0, 1], label)``.

    Rasterising per item keeps memory flat for any dataset size; at 64x64 it costs well under a
    millisecond a drawing, small next to a training step.

    Args:
        sketches: The drawings.
        class_index: Class name -> label.
        raster: How to render them (size, line width, inversion).
    """

    def __init__(self, sketches: Sequence[Sketch], class_index: dict[str, int], raster: RasterSpec) -> None:
        unknown = {s.word for s in sketches} - set(class_index)
        if unknown:
            raise InputError("dataset", f"drawings of classes not in the manifest: {sorted(unknown)[:5]}",
                             hint="re-run the data stage")
        self.sketches = list(sketches)
        self.labels = torch.tensor([class_index[s.word] for s in self.sketches], dtype=torch.long)
        self.raster = raster

    def __len__(self) -> int:
        return len(self.sketches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = rasterize(self.sketches[index], self.raster)
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None], self.labels[index]


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

    @property
    def class_names(self) -> list[str]:
        return self.manifest.classes

    def dataset(self, split: str) -> SketchDataset:
        """The dataset of one split, read once."""
        if split not in self.datasets:
            sketches = read_split(self.folder, split)
            if not sketches:
                raise InputError(self.folder, f"the '{split}' split is empty", hint="use more drawings or change data.splits")
            self.datasets[split] = SketchDataset(sketches, self.manifest.class_index, self.raster)
        return self.datasets[split]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, generator=generator if shuffle else None,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
