"""Lightning callbacks of the pipeline."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("pipeline.training")


class EpochSummary(L.Callback):
    """Logs one line per epoch (metrics and time), so that progress is readable in logs and CI output,
    where the interactive progress bar is not."""

    def __init__(self) -> None:
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so both sets of metrics are fresh here.
        self._report(trainer)

    def _report(self, trainer: L.Trainer) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.split("_")[0] in ("train", "val")}
        shown = "  ".join(f"{name} {value:.4f}" for name, value in sorted(metrics.items()))
        log.info("epoch %d/%d  %s  (%.1f s)", trainer.current_epoch + 1, trainer.max_epochs, shown,
                 time.perf_counter() - self._start)
