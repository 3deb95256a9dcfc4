"""Lightning callbacks of the pipeline: readable progress in a terminal and in logs, epochs counted from one."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

log = logging.getLogger("pipeline.training")


class OneBasedProgressBar(TQDMProgressBar):
    """Lightning's bar, but ``Epoch 1/6`` ... ``Epoch 6/6``, as the log lines count."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")


class EpochSummary(Callback):
    """Logs a line every ``interval`` seconds within an epoch (batches done, time left) and one at its end
    (metrics and time), so that progress is readable in logs and CI output, where the bar is not.

    Args:
        interval: Seconds between lines within an epoch.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = float(interval)
        self._start = self._last = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        done, total = batch_idx + 1, trainer.num_training_batches
        elapsed = now - self._start
        left = f", about {elapsed / done * (total - done):.0f} s left in the epoch" if total not in (0, float("inf")) else ""
        log.info("epoch %d/%d: batch %d/%s, %.0f s%s", trainer.current_epoch + 1, trainer.max_epochs, done,
                 total, elapsed, left)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so both sets of metrics are fresh here.
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.split("_")[0] in ("train", "val")}
        shown = "  ".join(f"{name} {value:.4f}" for name, value in sorted(metrics.items()))
        log.info("epoch %d/%d  %s  (%.1f s)", trainer.current_epoch + 1, trainer.max_epochs, shown,
                 time.perf_counter() - self._start)


def progress_callbacks(progress_bar: bool) -> list[Callback]:
    """The progress callbacks of a training: the log lines, and the one-based bar when the bar is on.

    Args:
        progress_bar: The trainer's ``enable_progress_bar`` (Lightning refuses a bar callback when it is off).
    """
    return [EpochSummary(), *([OneBasedProgressBar()] if progress_bar else [])]
