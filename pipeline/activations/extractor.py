"""Streaming extraction: spatial activations, per-position attribution, ink and true part, batch by batch.

For each batch of sketches:

1. rasterise them as the model wants (``TrainedModel.raster``), and their part masks where the data has parts
   (:func:`~pipeline.data.raster.rasterize_parts`), on a second thread while the model runs on the batch
   before;
2. run the model once, with a forward hook on each layer. Everything below the first hooked layer runs
   without autograd; the hook turns autograd on and makes the layer's output a leaf, so the one backward
   pass (``torch.autograd.grad`` of the sum of each sketch's true-class logit) stops at the layers and
   computes no weight gradients;
3. attribution per position = sum over channels of activation x d(true-class logit)/d(activation)
   (Olah et al., *The Building Blocks of Interpretability*, 2018); gradients of different sketches do not
   mix, because the model runs in eval mode, where each logit depends on its own image only;
4. ink per position: the position's *stride cell* holds ink, i.e. at least one pixel of the cell has ink
   >= ``ink_threshold`` (0.5: the pixels ``rasterize_parts`` labels). The stride cell of position (y, x) is
   the ``stride`` x ``stride`` square of input pixels centred on the position's receptive-field centre
   (``rf_offset + stride * (y, x)``, see :mod:`pipeline.activations.receptive_field`); pixel ``i`` belongs to
   position ``floor((i - rf_offset + stride / 2) / stride)``. The cells tile the input without overlap
   (for SketchCNN's ``features.block3``: the 4x4 blocks); pixels left over at a border belong to no cell.
   The cell rather than the whole receptive field is used because receptive fields overlap heavily (18 px
   for a 4 px stride): "sees ink" would be true almost everywhere near a drawing and say nothing about
   where the ink is;
5. true part per position: the part id held by most of the labelled pixels of its stride cell (ties: the
   smaller id), 0 where the cell has none or the data has no parts, and :data:`~pipeline.data.store.UNKNOWN_PART` (-1) at every
   position of a drawing that names no parts in data where others do (the real drawings of ``data=mixed``);
6. write the batch through :class:`~pipeline.activations.store.ActivationWriter` (channels last, float16 by
   default).

Memory is bounded by the batch size: the arrays go straight into the writer's memory maps.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.activations.geometry import LayerGeometry
from pipeline.activations.store import ActivationWriter, LayerMeta, layer_folder
from pipeline.data.raster import RasterSpec, rasterize, rasterize_parts
from core.sketch import Sketch
from pipeline.data.store import UNKNOWN_PART
from core.errors import ArticulateError, ConfigError, InputError
from pipeline.models.build import TrainedModel
from pipeline.models.classes import UNMAPPED
from pipeline.models.outputs import logits_of
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.layers import get_layer

log = logging.getLogger(__name__)

__all__ = ["BatchResult", "Extractor", "ExtractionSummary", "LayerHooks", "extract", "ink_cells",
           "part_cells", "render_batch", "rendered_batches"]

DTYPES = ("float16", "float32")


def _one_hot(cell: np.ndarray, count: int) -> torch.Tensor:
    matrix = np.zeros((count, len(cell)), dtype=np.float32)
    valid = cell >= 0
    matrix[cell[valid], np.nonzero(valid)[0]] = 1.0
    return torch.from_numpy(matrix)


def ink_cells(ink: np.ndarray | torch.Tensor, geometry: LayerGeometry, threshold: float = 0.5) -> np.ndarray:
    """Which positions' stride cells hold ink.

    Args:
        ink: Ink coverage (B, S, S) in [0, 1] (1 = ink, whatever the model's polarity).
        geometry: The layer's grid and receptive field (S = ``geometry.input_size``).
        threshold: A pixel is ink at or above this coverage.

    Returns:
        Bool (B, H, W).
    """
    rows, cols = geometry.cells
    inked = (torch.as_tensor(ink) >= threshold).to(torch.float32)
    counts = _one_hot(rows, geometry.height) @ inked @ _one_hot(cols, geometry.width).T
    return (counts > 0).numpy()


def part_cells(parts: np.ndarray, geometry: LayerGeometry) -> np.ndarray:
    """The majority part id of each position's stride cell (ties: the smaller id; 0 where none; every position
    :data:`UNKNOWN_PART` for a mask that holds it, a drawing whose parts are unknown).

    Args:
        parts: Part masks (B, S, S), integer ids, 0 background (as from ``rasterize_parts``), or
            :data:`UNKNOWN_PART` throughout (as :func:`render_batch` gives a drawing without part names).
        geometry: The layer's grid and receptive field.

    Returns:
        Int16 (B, H, W).
    """
    parts = np.asarray(parts)
    batch = len(parts)
    h, w = geometry.height, geometry.width
    out = np.zeros((batch, h, w), dtype=np.int16)
    out[(parts == UNKNOWN_PART).reshape(batch, -1).any(axis=1)] = UNKNOWN_PART
    rows, cols = geometry.cells
    position = np.where((rows[:, None] >= 0) & (cols[None, :] >= 0), rows[:, None] * w + cols[None, :], -1)
    b, i, j = np.nonzero((parts > 0) & (position >= 0)[None])
    if len(b) == 0:
        return out
    labels = parts[b, i, j].astype(np.int64)
    span = int(labels.max()) + 1
    keys, counts = np.unique((b * (h * w) + position[i, j]) * span + labels, return_counts=True)
    cell, label = keys // span, keys % span
    order = np.lexsort((label, -counts, cell))  # per cell: most pixels first, then the smaller id
    cell, label = cell[order], label[order]
    first = np.ones(len(cell), dtype=bool)
    first[1:] = cell[1:] != cell[:-1]
    out.reshape(-1)[cell[first]] = label[first]
    return out


@dataclass
class BatchResult:
    """One layer's results for one batch (what :meth:`ActivationWriter.write` takes).

    Attributes:
        activations: (B, H, W, C), the store's dtype, channels last.
        attribution: (B, H, W) float32.
        ink: (B, H, W) bool.
        part: (B, H, W) int16.
    """

    activations: np.ndarray
    attribution: np.ndarray
    ink: np.ndarray
    part: np.ndarray


class LayerHooks:
    """Forward hooks that capture the layers' outputs as leaves of the backward graph.

    The first hooked layer to run turns autograd on (the forward pass runs under ``no_grad`` until then) and
    its output becomes a new leaf; a layer that runs later already depends on it. Each hook hands the rest of
    the model a clone, so an in-place operation downstream (GoogLeNet's ``relu(inplace=True)``) can neither
    change the captured values nor break the backward pass. A module called several times in one forward
    pass is captured at its first call.
    """

    def __init__(self, net: nn.Module, layers: Sequence[str]) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = [get_layer(net, name, key="extract.layers").register_forward_hook(self._hook(name))
                        for name in layers]

    def _hook(self, name: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            if name in self.outputs:
                return None
            if not isinstance(output, torch.Tensor) or output.ndim != 4:
                raise ArticulateError(
                    f"extract.layers: layer {name!r} outputs a {type(output).__name__} of shape "
                    f"{tuple(getattr(output, 'shape', ()))}, not a (N, C, H, W) map; pick a convolutional layer")
            if not output.requires_grad:
                torch.set_grad_enabled(True)  # restored by the caller's no_grad block
                output = output.detach().requires_grad_(True)
            self.outputs[name] = output
            return output.clone()

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class Extractor:
    """Runs a model on batches of rendered sketches and returns, per layer, what the store holds.

    Args:
        net: The network (put in eval mode; its parameters are not changed).
        layers: Module paths of the layers to extract.
        input_spec: How rendered sketches become model input.
        dtype: Storage dtype of the activations, "float16" or "float32".
        ink_threshold: A pixel is ink at or above this coverage.

    Raises:
        UnknownLayerError: A layer names no module (the message lists the valid ones).
        ConfigError: An unknown dtype.
        ArticulateError: A layer does not output a spatial map.
    """

    def __init__(self, net: nn.Module, layers: Sequence[str], input_spec: InputSpec, dtype: str = "float16",
                 ink_threshold: float = 0.5, device: str = "cpu") -> None:
        if dtype not in DTYPES:
            raise ConfigError(f"extract.dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        if isinstance(layers, str) or not layers:
            raise ConfigError(f"extract.layers: expected a non-empty list of layer paths, got {layers!r}")
        if not 0.0 < float(ink_threshold) <= 1.0:
            raise ConfigError(f"extract.ink_threshold: expected a coverage in (0, 1], got {ink_threshold!r}")
        self.net = net.eval()
        self.layers = list(dict.fromkeys(str(name) for name in layers))
        self.input_spec = input_spec
        self.dtype = dtype
        self.torch_dtype = getattr(torch, dtype)
        self.ink_threshold = float(ink_threshold)
        self.geometry = {name: LayerGeometry.measure(net, name, input_spec, key="extract.layers")
                         for name in self.layers}
        self._hot = {name: (_one_hot(g.cells[0], g.height), _one_hot(g.cells[1], g.width).T.contiguous())
                     for name, g in self.geometry.items()}
        self.device = torch.device(resolve_device(device))
        self.net.to(self.device)  # after the geometry, which is found on the CPU

    def run(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
            parts: np.ndarray | None = None, invert: bool | None = None,
            attribution: bool = True) -> dict[str, BatchResult]:
        """Extract one batch.

        Args:
            images: Rendered sketches (B, S, S) or (B, 1, S, S) in [0, 1], in the model's polarity.
            labels: (B,) the model's class index of each sketch: attribution is to this logit (to the top
                class where it is :data:`~pipeline.models.classes.UNMAPPED`).
            parts: Part masks (B, S, S) (0 background), or None where the data has no parts.
            invert: True when ``images`` hold dark ink on white (default: ``input_spec.invert``).
            attribution: False: skip the backward pass (half the time) and return zero attribution, for callers
                that only read the activations.

        Returns:
            Layer path -> its :class:`BatchResult`.
        """
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim == 3:
            images = images[:, None]
        labels = torch.as_tensor(labels, dtype=torch.long)
        invert = self.input_spec.invert if invert is None else invert
        hooks = LayerHooks(self.net, self.layers)
        try:
            with torch.no_grad():
                logits = logits_of(self.net(to_model_input(images.to(self.device), self.input_spec)))
                missing = [name for name in self.layers if name not in hooks.outputs]
                if missing:
                    raise ArticulateError(f"extract.layers: {', '.join(missing)} not used in the model's forward pass")
                if not logits.requires_grad:
                    raise ArticulateError("extract.layers: the class logits do not depend on the layers")
                captured = [hooks.outputs[name] for name in self.layers]
                grads: Sequence[torch.Tensor | None] = [None] * len(captured)
                if attribution:
                    labels = labels.to(self.device)
                    labels = torch.where(labels == UNMAPPED, logits.argmax(1), labels)
                    score = logits.gather(1, labels[:, None]).sum()
                    with torch.enable_grad():
                        grads = torch.autograd.grad(score, captured, allow_unused=True)
        finally:
            hooks.remove()
        ink = (1.0 - images[:, 0]) if invert else images[:, 0]
        inked = (ink >= self.ink_threshold).to(torch.float32)
        results = {}
        with torch.no_grad():
            for name, act, grad in zip(self.layers, captured, grads, strict=True):
                act = act.detach()
                attribution = (act * grad).sum(1) if grad is not None else torch.zeros_like(act[:, 0])
                nhwc = act.permute(0, 2, 3, 1)
                stored = torch.empty(nhwc.shape, dtype=self.torch_dtype)
                stored.copy_(nhwc)
                rows, cols = self._hot[name]
                cell_ink = (rows @ inked @ cols) > 0
                part = part_cells(parts, self.geometry[name]) if parts is not None else \
                    np.zeros(cell_ink.shape, dtype=np.int16)
                results[name] = BatchResult(stored.numpy(), attribution.to(torch.float32).cpu().numpy(),
                                            cell_ink.numpy(), part)
        return results


@dataclass
class ExtractionSummary:
    """What :func:`extract` wrote.

    Attributes:
        layers: Layer path -> its meta (as in ``meta.json``).
        num_sketches: Sketches extracted.
        num_positions: Positions written, over all layers.
        ink_positions: Positions with ink, over all layers.
        seconds: Wall time of the extraction loop (rasterising, model, writing).
        mean_abs_attribution: Layer -> mean |attribution| per position (H, W), over all sketches.
        startup_seconds: Starting the workers before the loop (the Ray engine; 0 for the local one).
    """

    layers: dict[str, LayerMeta]
    num_sketches: int
    num_positions: int
    ink_positions: int
    seconds: float
    mean_abs_attribution: dict[str, np.ndarray] = field(default_factory=dict)
    startup_seconds: float = 0.0

    @property
    def ink_fraction(self) -> float:
        return self.ink_positions / max(1, self.num_positions)

    @property
    def positions_per_s(self) -> float:
        return self.num_positions / max(self.seconds, 1e-9)


#: The accepted values of ``extract.device`` (``cuda:N`` too).
DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``, ``cuda`` and ``cuda:N`` as they are.

    Raises:
        ConfigError: Another value, or a GPU asked for where torch sees none.
    """
    name = str(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"extract.device: expected one of {', '.join(DEVICES)} or cuda:N, got {device!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"extract.device: {name} asked for, but torch sees no GPU here (torch "
                          f"{torch.__version__}); use extract.device=cpu or auto")
    return name


def _batches(items: Iterable[Sketch], size: int) -> Iterator[list[Sketch]]:
    batch: list[Sketch] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def rendered_batches(sketches: Iterable[Sketch], batch_size: int, raster: RasterSpec, part_index: dict[str, int] | None,
                     ahead: bool = True) -> Iterator[tuple[list[Sketch], tuple[np.ndarray, np.ndarray | None]]]:
    """Batches of sketches with their images and part masks (see :func:`render_batch`), rendered ahead.

    The next batch is rasterised on a second thread while the caller runs the model on this one (torch
    releases the GIL): at most two batches are in memory at once. ``ahead=False``: each batch is rendered when
    it is asked for, on the caller's thread (a process held to a set number of CPUs keeps to them).
    """
    if not ahead:
        for batch in _batches(sketches, batch_size):
            yield batch, render_batch(batch, raster, part_index)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for batch in _batches(sketches, batch_size):
            job = pool.submit(render_batch, batch, raster, part_index)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, job)
        if pending is not None:
            yield pending[0], pending[1].result()


def render_batch(sketches: Sequence[Sketch], raster: RasterSpec,
                 part_index: dict[str, int] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Rasterise a batch for the model, and its part masks where ``part_index`` is given.

    Returns:
        Images (B, S, S) float32 in the model's polarity; part masks (B, S, S) int16 or None. A sketch without
        part names gets a mask of :data:`UNKNOWN_PART` (its parts are unknown, not absent).
    """
    size = raster.size
    images = np.empty((len(sketches), size, size), dtype=np.float32)
    for i, sketch in enumerate(sketches):
        images[i] = rasterize(sketch, raster)
    if part_index is None:
        return images, None
    parts = np.full((len(sketches), size, size), UNKNOWN_PART, dtype=np.int16)
    for i, sketch in enumerate(sketches):
        if sketch.parts is not None:
            parts[i] = rasterize_parts(sketch, raster, part_index)
    return images, parts


def extract(
    model: TrainedModel,
    sketches: Iterable[Sketch],
    folder: str | Path,
    *,
    layers: Sequence[str] | None = None,
    parts: Sequence[str] | None = None,
    split: str = "",
    batch_size: int = 128,
    dtype: str = "float16",
    ink_threshold: float = 0.5,
    num_sketches: int | None = None,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
    device: str = "cpu",
) -> ExtractionSummary:
    """Extract every sketch into one store folder per layer (``<folder>/<layer>/``), streaming.

    Args:
        model: The trained model (its raster spec, input spec and class names are used).
        sketches: The drawings, in store order; any iterable (a generator is fine).
        folder: Where the layer folders go.
        layers: Module paths; None: the model's configured layer.
        parts: The dataset's part names (part id = index + 1), or None where the data has no parts.
        split: The split's name, recorded in the meta.
        batch_size: Sketches per forward/backward pass: memory use is proportional to it.
        dtype: Storage dtype of the activations ("float16" or "float32").
        ink_threshold: A pixel is ink at or above this coverage.
        num_sketches: How many ``sketches`` yields (default ``len(sketches)``): the arrays are sized up front.
        progress: Show a progress bar.
        extra: Recorded in each meta's ``extra``.
        device: Where the model runs: ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (a GPU when torch sees one);
            the model is back on the CPU afterwards.

    Returns:
        The summary.

    Raises:
        InputError: No sketches, or a sketch of a class the model does not know.
        UnknownLayerError: A layer names no module.
        ConfigError: A bad setting.
    """
    from tqdm.auto import tqdm

    if num_sketches is None:
        if not hasattr(sketches, "__len__"):
            raise ConfigError("extract: give num_sketches when the sketches come from a generator")
        num_sketches = len(sketches)  # type: ignore[arg-type]
    if num_sketches < 1:
        raise InputError(folder, "no sketches to extract", hint="check the split (extract.split)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"extract.batch_size: expected a positive integer, got {batch_size!r}")
    layers = [model.layer] if layers is None else list(layers)
    extractor = Extractor(model.net, layers, model.input_spec, dtype=dtype, ink_threshold=ink_threshold,
                          device=device)
    folder = Path(folder)
    try:
        writers = allocate_layers(extractor, model, folder, num_sketches, split=split, parts=parts, dtype=dtype,
                                  extra=extra)
        start = time.perf_counter()
        with tqdm(total=num_sketches, unit="sketch", desc="extract", disable=not progress) as bar:
            rows = extract_rows(extractor, model, sketches, writers, parts=parts, batch_size=batch_size,
                                limit=num_sketches, on_batch=bar.update)
    finally:
        model.net.to("cpu")
    if len(rows.key_ids) != num_sketches:
        raise InputError(folder, f"got {len(rows.key_ids)} sketches, {num_sketches} announced")
    return close_layers(writers, rows, num_sketches, time.perf_counter() - start)


def allocate_layers(extractor: Extractor, model: TrainedModel, folder: Path, num_sketches: int, *, split: str,
                    parts: Sequence[str] | None, dtype: str, extra: dict[str, Any] | None) -> dict[str, ActivationWriter]:
    """A writer per layer, its arrays sized for ``num_sketches`` (written by :func:`extract_rows`, here or by
    workers that reopen them at their rows)."""
    writers: dict[str, ActivationWriter] = {}
    for name, g in extractor.geometry.items():
        meta = LayerMeta(layer=name, num_sketches=num_sketches, height=g.height, width=g.width, channels=g.channels,
                         input_size=g.input_size, stride=g.stride, receptive_field=g.receptive_field,
                         rf_offset=g.rf_offset, split=split, classes=list(model.class_map.words),
                         parts=list(parts) if parts else None, dtype=dtype, extra=dict(extra or {}))
        writers[name] = ActivationWriter(layer_folder(folder, name), meta)
        log.info("layer %s: %d x %d positions x %d channels, stride %g, receptive field %d px, offset %g",
                 name, g.height, g.width, g.channels, g.stride, g.receptive_field, g.rf_offset)
    return writers


@dataclass
class ExtractedRows:
    """What :func:`extract_rows` wrote: the sketches' key ids and labels in row order, and the running sums the
    summary needs."""

    key_ids: list[str]
    labels: np.ndarray
    abs_attribution: dict[str, np.ndarray]
    ink_positions: int

    @staticmethod
    def join(parts: Sequence[ExtractedRows]) -> ExtractedRows:
        """Rows extracted in pieces (shards, in row order) as one."""
        return ExtractedRows([k for p in parts for k in p.key_ids],
                             np.concatenate([p.labels for p in parts]).astype(np.int32),
                             {name: sum(p.abs_attribution[name] for p in parts) for name in parts[0].abs_attribution},
                             sum(p.ink_positions for p in parts))


def extract_rows(extractor: Extractor, model: TrainedModel, sketches: Iterable[Sketch],
                 writers: dict[str, ActivationWriter], *, parts: Sequence[str] | None, batch_size: int, limit: int,
                 on_batch: Any = None, render_ahead: bool = True) -> ExtractedRows:
    """Run the sketches through the model batch by batch and write each layer's rows from the writers' current
    row on (at most ``limit`` sketches); ``on_batch(n)`` after each batch. ``render_ahead``: rasterise the next
    batch on a second thread meanwhile (:func:`rendered_batches`)."""
    # The store records each drawing's dataset class; attribution goes to the output that means it (for a model
    # with its own classes: the first output its class maps to, or the top class where it maps to none).
    classes = model.class_map
    word_index = {name: i for i, name in enumerate(classes.words)}
    target_of_word = np.array([t[0] if t else UNMAPPED for t in classes.targets], dtype=np.int64)
    part_index = {name: i + 1 for i, name in enumerate(parts)} if parts else None
    folder = next(iter(writers.values())).folder
    key_ids: list[str] = []
    labels: list[np.ndarray] = []
    abs_attribution = {name: np.zeros((g.height, g.width)) for name, g in extractor.geometry.items()}
    ink_positions = 0
    for batch, (images, masks) in rendered_batches(sketches, batch_size, model.raster, part_index, render_ahead):
        done = len(key_ids)
        if done + len(batch) > limit:
            raise InputError(folder, f"more sketches than the {limit} announced")
        unknown = sorted({s.word for s in batch} - set(word_index))
        if unknown:
            raise InputError(folder, f"sketches of classes the model does not know: {', '.join(unknown[:5])}",
                             hint=f"the model's classes are {', '.join(classes.words)}")
        batch_labels = np.array([word_index[s.word] for s in batch], dtype=np.int32)
        results = extractor.run(images, target_of_word[batch_labels], masks, invert=model.raster.invert)
        for name, result in results.items():
            if done == 0 and not result.activations.any():
                log.warning("layer %s: every activation of the first batch is 0 as stored (%s); a model whose "
                            "activations are tiny (under 6e-5) loses them in float16: set extract.dtype=float32",
                            name, extractor.dtype)
            writers[name].write(result.activations, result.attribution, result.ink, result.part)
            abs_attribution[name] += np.abs(result.attribution).sum(0)
            ink_positions += int(result.ink.sum())
        key_ids.extend(s.key_id for s in batch)
        labels.append(batch_labels)
        if on_batch is not None:
            on_batch(len(batch))
    return ExtractedRows(key_ids, np.concatenate(labels) if labels else np.zeros(0, dtype=np.int32),
                         abs_attribution, ink_positions)


def close_layers(writers: dict[str, ActivationWriter], rows: ExtractedRows, num_sketches: int,
                 seconds: float) -> ExtractionSummary:
    """Write each layer's tables and meta once every row is written; the summary."""
    for writer in writers.values():
        writer.written = num_sketches  # rows written here or by workers, checked by the caller
        writer.meta.extra.setdefault("seconds", round(seconds, 3))
        writer.close(rows.key_ids, rows.labels)
    metas = {name: writer.meta for name, writer in writers.items()}
    positions = sum(m.num_sketches * m.height * m.width for m in metas.values())
    return ExtractionSummary(layers=metas, num_sketches=num_sketches, num_positions=positions,
                             ink_positions=rows.ink_positions, seconds=seconds,
                             mean_abs_attribution={k: v / num_sketches for k, v in rows.abs_attribution.items()})
