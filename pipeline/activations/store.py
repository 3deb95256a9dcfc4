"""The activation store: spatial activations of one layer for every sketch of a split, memory-mapped.

Layout of one layer's folder (``activations/round_<r>/<layer>/``; the layer's module path is the folder
name)::

    meta.json            layer, shape, dtype, receptive field, split, classes, parts, model
    activations.npy      (N, H, W, C) float16: the layer's output, channels last
    attribution.npy      (N, H, W) float32: activation x gradient of the sketch's class logit, summed over C
    ink.npy              (N, H, W) bool: the position's stride cell holds ink
    part.npy             (N, H, W) int16: majority true part of the ink pixels in the stride cell (0: none)
    sketches.parquet     one row per sketch: sketch (row number), key_id, label, word
    index.parquet        one row per position: sketch, label, y, x, ink, part, attribution

All ``.npy`` files are plain NumPy arrays (``np.load(path, mmap_mode="r")`` reads them without loading),
and the parquet tables open with pandas or any Arrow reader, so other programs can read a store directly.
Memory stays bounded while writing: :class:`ActivationWriter` writes batch by batch into memory maps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.errors import InputError

if TYPE_CHECKING:
    from pipeline.activations.geometry import LayerGeometry

RUN_EXTRACT = "re-run the extract stage: `python -m pipeline.stages.extract` or `dvc repro extract`"
ARRAYS = {"activations": 4, "attribution": 3, "ink": 3, "part": 3}
#: Rows of ``index.parquet`` built in memory at a time while writing it.
INDEX_CHUNK_ROWS = 1 << 20


@dataclass
class LayerMeta:
    """What a layer folder holds.

    Attributes:
        layer: Module path of the layer.
        num_sketches: N.
        height: H (positions down).
        width: W (positions across).
        channels: C.
        input_size: Side of the model input in pixels.
        stride: Input pixels between neighbouring positions.
        receptive_field: Side of the input square a position sees, in pixels.
        rf_offset: Input pixel at the centre of position (0, 0); position (y, x) is centred at
            ``rf_offset + stride * (y, x)``.
        split: The dataset split extracted.
        classes: Class names (label -> name).
        parts: Part names (part id - 1 -> name), or None where the data has no parts.
        dtype: Storage dtype of the activations.
        extra: Anything else a writer wants to record (model, round, timings).
    """

    layer: str
    num_sketches: int
    height: int
    width: int
    channels: int
    input_size: int
    stride: float
    receptive_field: int
    rf_offset: float
    split: str
    classes: list[str]
    parts: list[str] | None = None
    dtype: str = "float16"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.num_sketches, self.height, self.width, self.channels)

    @property
    def geometry(self) -> LayerGeometry:
        """The layer's geometry as extraction measured it."""
        from pipeline.activations.geometry import LayerGeometry  # here: reading a store needs no torch

        return LayerGeometry(self.layer, self.channels, self.height, self.width, self.input_size, self.stride,
                             self.receptive_field, self.rf_offset)

    def centre(self, y: int | np.ndarray, x: int | np.ndarray) -> tuple[Any, Any]:
        """Input-pixel centre of position (y, x)."""
        return self.rf_offset + self.stride * y, self.rf_offset + self.stride * x


def layer_folder(root: str | Path, layer: str) -> Path:
    """The folder of ``layer`` inside an extraction folder."""
    return Path(root) / layer


class ActivationWriter:
    """Writes one layer's arrays batch by batch into memory maps, then the tables and meta.

    Args:
        folder: The layer's folder (created).
        meta: Its description; ``meta.shape`` sizes the arrays.
    """

    def __init__(self, folder: str | Path, meta: LayerMeta) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        n, h, w, c = meta.shape
        create = np.lib.format.open_memmap
        self.activations = create(self.folder / "activations.npy", mode="w+", dtype=np.dtype(meta.dtype), shape=(n, h, w, c))
        self.attribution = create(self.folder / "attribution.npy", mode="w+", dtype=np.float32, shape=(n, h, w))
        self.ink = create(self.folder / "ink.npy", mode="w+", dtype=np.bool_, shape=(n, h, w))
        self.part = create(self.folder / "part.npy", mode="w+", dtype=np.int16, shape=(n, h, w))
        self.written = 0

    @classmethod
    def reopen(cls, folder: str | Path, meta: LayerMeta, start: int) -> ActivationWriter:
        """A writer on arrays another writer allocated (same machine, or storage every worker sees), writing
        from row ``start``: how extraction workers each write their rows of one store."""
        writer = cls.__new__(cls)
        writer.folder, writer.meta, writer.written = Path(folder), meta, int(start)
        for name in ("activations", "attribution", "ink", "part"):
            setattr(writer, name, np.load(writer.folder / f"{name}.npy", mmap_mode="r+"))
        return writer

    def flush(self) -> None:
        """Write the rows so far to the files (a worker's part, before it reports)."""
        for array in (self.activations, self.attribution, self.ink, self.part):
            array.flush()

    def write(self, activations: np.ndarray, attribution: np.ndarray, ink: np.ndarray, part: np.ndarray) -> None:
        """Append a batch: activations (B, H, W, C), the others (B, H, W)."""
        start, stop = self.written, self.written + len(activations)
        self.activations[start:stop] = activations
        self.attribution[start:stop] = attribution
        self.ink[start:stop] = ink
        self.part[start:stop] = part
        self.written = stop

    def close(self, key_ids: list[str], labels: np.ndarray) -> None:
        """Flush the arrays and write ``sketches.parquet``, ``index.parquet`` and ``meta.json``."""
        if self.written != self.meta.num_sketches:
            raise RuntimeError(f"wrote {self.written} of {self.meta.num_sketches} sketches")
        self.flush()
        labels = np.asarray(labels, dtype=np.int32)
        words = np.asarray(self.meta.classes, dtype=object)[labels]
        pd.DataFrame({"sketch": np.arange(len(key_ids), dtype=np.int32), "key_id": key_ids, "label": labels,
                      "word": words}).to_parquet(self.folder / "sketches.parquet", index=False)
        self._write_index(labels)
        (self.folder / "meta.json").write_text(json.dumps(asdict(self.meta), indent=2) + "\n")

    def _write_index(self, labels: np.ndarray) -> None:
        """``index.parquet``, written in row groups of about INDEX_CHUNK_ROWS rows: memory stays bounded."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        n, h, w, _ = self.meta.shape
        per_sketch = h * w
        step = max(1, INDEX_CHUNK_ROWS // per_sketch)
        y, x = np.meshgrid(np.arange(h, dtype=np.int16), np.arange(w, dtype=np.int16), indexing="ij")
        writer = None
        try:
            for start in range(0, n, step):
                stop = min(n, start + step)
                sketch = np.repeat(np.arange(start, stop, dtype=np.int32), per_sketch)
                table = pa.Table.from_pandas(pd.DataFrame({
                    "sketch": sketch, "label": labels[sketch], "y": np.tile(y.ravel(), stop - start),
                    "x": np.tile(x.ravel(), stop - start), "ink": np.asarray(self.ink[start:stop]).ravel(),
                    "part": np.asarray(self.part[start:stop]).ravel(),
                    "attribution": np.asarray(self.attribution[start:stop]).ravel(),
                }), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(self.folder / "index.parquet", table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


class ActivationStore:
    """Read access to one layer's folder; arrays are read-only memory maps.

    Args:
        folder: The layer's folder.

    Raises:
        InputError: A file is missing, unreadable, or does not match ``meta.json``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        try:
            self.meta = LayerMeta(**json.loads(meta_path.read_text()))
        except FileNotFoundError:
            raise InputError(meta_path, "no activation store here", hint=RUN_EXTRACT) from None
        except (OSError, ValueError, TypeError) as err:
            raise InputError(meta_path, f"unreadable store description ({err})", hint=RUN_EXTRACT) from None
        n, h, w, c = self.meta.shape
        expected = {"activations": (n, h, w, c), "attribution": (n, h, w), "ink": (n, h, w), "part": (n, h, w)}
        arrays: dict[str, np.ndarray] = {}
        for name, shape in expected.items():
            path = self.folder / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode="r")
            except FileNotFoundError:
                raise InputError(path, "missing from the activation store", hint=RUN_EXTRACT) from None
            except (OSError, ValueError) as err:
                raise InputError(path, f"corrupt activation array ({err})", hint=RUN_EXTRACT) from None
            if array.shape != shape:
                raise InputError(path, f"has shape {array.shape}, but meta.json says {shape}", hint=RUN_EXTRACT)
            arrays[name] = array
        self.activations = arrays["activations"]
        self.attribution = arrays["attribution"]
        self.ink = arrays["ink"]
        self.part = arrays["part"]
        self._index: pd.DataFrame | None = None
        self._sketches: pd.DataFrame | None = None

    def _table(self, name: str) -> pd.DataFrame:
        path = self.folder / f"{name}.parquet"
        try:
            return pd.read_parquet(path)
        except FileNotFoundError:
            raise InputError(path, "missing from the activation store", hint=RUN_EXTRACT) from None
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a damaged file
            raise InputError(path, f"corrupt table ({str(err).splitlines()[0]})", hint=RUN_EXTRACT) from None

    @property
    def index(self) -> pd.DataFrame:
        """One row per position: sketch, label, y, x, ink, part, attribution."""
        if self._index is None:
            self._index = self._table("index")
        return self._index

    @property
    def sketches(self) -> pd.DataFrame:
        """One row per sketch: sketch, key_id, label, word."""
        if self._sketches is None:
            self._sketches = self._table("sketches")
        return self._sketches

    def vectors(self, sketch: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Activation vectors (len, C) as float32 at the given positions (fancy indexing on the memory map)."""
        order = np.lexsort((x, y, sketch))  # sorted reads are much faster on a memory map
        out = np.empty((len(sketch), self.meta.channels), dtype=np.float32)
        out[order] = self.activations[sketch[order], y[order], x[order]]
        return out
