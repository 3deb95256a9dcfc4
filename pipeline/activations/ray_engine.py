"""Extraction on Ray (``extract.engine=ray``): the split in shards, each run by a Ray actor that holds the model,
every actor writing its rows straight into the one activation store the driver allocated (same layout, one
index; on a cluster the output folder must be storage every node sees, such as NFS).

``extract.ray.address`` (or ``RAY_ADDRESS``) joins an existing cluster; without either a local Ray starts with
``extract.ray.workers`` CPUs and stops at the end. Each actor runs ``extract.ray.threads`` torch threads, so that
the workers do not oversubscribe the cores. The rows are the local engine's, shard by shard: the same store
comes out (up to float rounding of different batch sizes).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipeline.activations.extractor import (ExtractedRows, ExtractionSummary, Extractor, allocate_layers,
                                            close_layers, extract_rows)
from pipeline.activations.store import ActivationWriter
from core.sketch import Sketch
from core.errors import ConfigError, InputError
from pipeline.schema import Conf

__all__ = ["RaySettings", "extract_on_ray"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaySettings:
    """How extraction runs on Ray.

    Args:
        address: A Ray cluster to join (``ray://...`` or ``auto``); None: ``RAY_ADDRESS``, else a local Ray.
        workers: Actors, each holding the model (a local Ray gets this many CPUs).
        threads: Torch threads per actor.
        shards_per_worker: Shards per actor, so a slow one does not hold up the rest.

    Raises:
        ConfigError: A setting out of range.
    """

    CONF: ClassVar[Conf] = Conf("extract.ray")

    address: str | None
    workers: int
    threads: int
    shards_per_worker: int = 4

    def __post_init__(self) -> None:
        for name in ("workers", "threads", "shards_per_worker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"extract.ray.{name}: expected a positive integer, got {value!r}")


class _ShardWorker:
    """A Ray actor: the model, loaded once from ``model.pt``, extracting shards into the shared store."""

    def __init__(self, model_file: str, layers: list[str], dtype: str, ink_threshold: float, threads: int) -> None:
        import torch

        from pipeline.models.build import load_trained

        torch.set_num_threads(threads)
        self.model = load_trained(model_file)
        self.extractor = Extractor(self.model.net, layers, self.model.input_spec, dtype=dtype,
                                   ink_threshold=ink_threshold)

    def ready(self) -> bool:
        """Answers once the model is loaded (the driver starts the clock then)."""
        return True

    def run(self, sketches: list[Sketch], start: int, folders: dict[str, str], metas: dict[str, Any],
            parts: list[str] | None, batch_size: int) -> ExtractedRows:
        writers = {name: ActivationWriter.reopen(folders[name], metas[name], start) for name in folders}
        # An actor holds `threads` CPUs (Ray's num_cpus) and keeps to them: its drawings are rendered between
        # batches, not on a further thread that would take CPU time from the other actors of its machine.
        rows = extract_rows(self.extractor, self.model, sketches, writers, parts=parts, batch_size=batch_size,
                            limit=len(sketches), render_ahead=False)
        for writer in writers.values():
            writer.flush()
        return rows


def extract_on_ray(model_file: str | Path, sketches: Sequence[Sketch], folder: str | Path, settings: RaySettings, *,
                   layers: Sequence[str] | None = None, parts: Sequence[str] | None = None, split: str = "",
                   batch_size: int = 128, dtype: str = "float16", ink_threshold: float = 0.5, progress: bool = True,
                   extra: dict[str, Any] | None = None) -> ExtractionSummary:
    """:func:`~pipeline.activations.extractor.extract` with the sketches in shards over Ray actors.

    Args:
        model_file: The round's ``model.pt`` (each actor loads it; on a cluster, a path every node sees).
        sketches: The split, in store order.
        folder: Where the layer folders go.
        settings: Workers, threads, cluster address.
        layers, parts, split, batch_size, dtype, ink_threshold, progress, extra: As for ``extract``.

    Returns:
        The summary, as the local engine's.

    Raises:
        InputError: No sketches, or a sketch of a class the model does not know.
        ConfigError: A bad setting.
    """
    import ray

    from pipeline.models.build import load_trained

    sketches = list(sketches)
    if not sketches:
        raise InputError(folder, "no sketches to extract", hint="check the split (extract.split)")
    model = load_trained(model_file)
    layers = [model.layer] if layers is None else list(layers)
    extractor = Extractor(model.net, layers, model.input_spec, dtype=dtype, ink_threshold=ink_threshold)
    folder = Path(folder)
    writers = allocate_layers(extractor, model, folder, len(sketches), split=split, parts=parts, dtype=dtype,
                              extra=extra)
    for writer in writers.values():
        writer.flush()  # the files exist, sized, before any worker opens them
    count = min(len(sketches), settings.workers * settings.shards_per_worker)
    bounds = [round(i * len(sketches) / count) for i in range(count + 1)]

    started_here = _start_ray(settings)
    try:
        launched = time.perf_counter()
        actor = ray.remote(num_cpus=settings.threads)(_ShardWorker)
        workers = [actor.remote(str(model_file), layers, dtype, ink_threshold, settings.threads)
                   for _ in range(settings.workers)]
        ray.get([w.ready.remote() for w in workers])
        start = time.perf_counter()  # the summary's seconds are extraction's own: start-up is logged apart
        log.info("%d Ray workers ready in %.1f s", settings.workers, start - launched)
        shards = [(sketches[bounds[i]:bounds[i + 1]], bounds[i]) for i in range(count)]
        rows = ExtractedRows.join(_run_shards(workers, shards, writers, parts, batch_size,
                                              f"extract on ray ({settings.workers} workers)", progress))
        summary = close_layers(writers, rows, len(sketches), time.perf_counter() - start)
        summary.startup_seconds = start - launched
        return summary
    finally:
        if started_here:
            ray.shutdown()


def _start_ray(settings: RaySettings) -> bool:
    """Start Ray here (on the cluster at ``settings.address`` or ``RAY_ADDRESS``, else on this machine with the
    workers' CPUs) unless it runs already; returns whether it was started here (and is to be shut down here)."""
    import ray

    if ray.is_initialized():
        return False
    address = settings.address or os.environ.get("RAY_ADDRESS")
    ray.init(address=address, num_cpus=None if address else settings.workers * settings.threads,
             include_dashboard=False,
             log_to_driver=False, logging_level="ERROR",
             # the workers import what the driver imports: the project, and the user's own model modules
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 p for p in [str(Path.cwd()), *sys.path] if p and Path(p).is_dir())}})
    return True


def _run_shards(workers: list[Any], shards: list[tuple[list[Sketch], int]], writers: dict[str, ActivationWriter],
                parts: Sequence[str] | None, batch_size: int, desc: str, progress: bool) -> list[ExtractedRows]:
    """Hand the shards round the workers and wait for them all, a progress bar counting their sketches.

    Args:
        workers: The Ray actors (:class:`_ShardWorker`).
        shards: Each shard's sketches and the row of its first.
        writers: Layer -> its writer (the workers reopen its files).
        parts, batch_size: As for ``extract``.
        desc: The progress bar's words.
        progress: Show the bar.

    Returns:
        Each shard's rows, in shard order.

    Raises:
        Whatever a worker raised, as it raised it.
    """
    import ray
    from tqdm.auto import tqdm

    folders = {name: str(w.folder) for name, w in writers.items()}
    metas = {name: w.meta for name, w in writers.items()}
    pending = {}
    for i, (shard, first) in enumerate(shards):
        ref = workers[i % len(workers)].run.remote(shard, first, folders, metas, list(parts) if parts else None,
                                                   batch_size)
        pending[ref] = i
    results: dict[int, ExtractedRows] = {}
    with tqdm(total=sum(len(shard) for shard, _ in shards), unit="sketch", desc=desc, disable=not progress) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            try:
                results[i] = ray.get(done[0])
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if getattr(err, "cause", None) is not None else err
                raise cause from None
            bar.update(len(shards[i][0]))
    return [results[i] for i in range(len(shards))]
