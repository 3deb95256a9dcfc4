"""The Lightning module that trains any image classifier on rendered sketches."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightning
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from core.errors import ArticulateError, ConfigError
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.outputs import logits_of

#: Learning-rate schedules understood by :class:`SketchClassifier`.
SCHEDULERS: tuple[str, ...] = ("onecycle", "cosine", "none")

Batch = tuple[torch.Tensor, torch.Tensor]


class SketchClassifier(lightning.LightningModule):
    """Trains a classification network on rendered sketches.

    Batches are ``(images, labels)``: images of shape (N, 1, H, W), float in [0, 1], rendered as
    ``input_spec`` says; labels of shape (N,), int64. The module converts images with
    :func:`~pipeline.models.to_model_input`, so the network sees exactly what it expects.

    Logged per epoch: ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``; on test ``test_loss`` and
    ``test_acc``, and :attr:`test_confusion` is filled.

    Args:
        net: The network; its output (or its ``.logits``) has shape (N, num_classes). Not saved as a
            hyperparameter: pass it again to ``load_from_checkpoint(path, net=...)``.
        num_classes: Number of classes.
        class_names: One name per class, in label order; default ``"0"``, ``"1"``, ...
        input_spec: How sketches are rendered for ``net`` (an :class:`InputSpec` or a mapping of its fields);
            default ``net.input_spec``.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        scheduler: ``"onecycle"`` (warm up then anneal over the whole run; the fastest to high accuracy from
            scratch), ``"cosine"`` (anneal from ``lr``, for fine-tuning), or ``"none"``.
        label_smoothing: Label smoothing of the cross-entropy, in [0, 1).

    Attributes:
        net: The network.
        input_spec: The validated input spec.
        class_names: The class names.
        test_confusion: After ``trainer.test``, the (num_classes, num_classes) int64 confusion matrix of
            counts on CPU; rows are true classes, columns predictions. None before.

    Raises:
        ConfigError: If an argument is out of range.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        input_spec: InputSpec | Mapping[str, Any] | None = None,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        scheduler: str = "onecycle",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ConfigError(f"classifier.net: expected a torch.nn.Module, got {type(net).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"classifier.num_classes: expected a positive integer, got {num_classes!r}")
        class_names = [str(i) for i in range(num_classes)] if class_names is None else [str(n) for n in class_names]
        if len(class_names) != num_classes:
            raise ConfigError(
                f"classifier.class_names: {len(class_names)} names for {num_classes} classes; give one per class"
            )
        if input_spec is None:
            input_spec = getattr(net, "input_spec", None)
            if input_spec is None:
                raise ConfigError(
                    f"classifier.input_spec: {type(net).__name__} has no input_spec attribute; give one "
                    "(for torchvision models: pipeline.models.imagenet_input_spec())"
                )
        spec = input_spec if isinstance(input_spec, InputSpec) else InputSpec.from_dict(input_spec)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ConfigError(f"classifier.lr: expected a positive number, got {lr!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ConfigError(f"classifier.weight_decay: expected a number >= 0, got {weight_decay!r}")
        if scheduler not in SCHEDULERS:
            raise ConfigError(f"classifier.scheduler: expected one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
        if not (isinstance(label_smoothing, (int, float)) and 0 <= label_smoothing < 1):
            raise ConfigError(f"classifier.label_smoothing: expected a number in [0, 1), got {label_smoothing!r}")

        # save_hyperparameters reads the __init__ arguments from this frame's locals: rebinding them to plain
        # Python values keeps the checkpoint loadable with torch.load(weights_only=True).
        input_spec = spec.to_dict()
        self.save_hyperparameters(ignore=["net"])

        self.net = net
        self.num_classes = num_classes
        self.class_names = class_names
        self.input_spec = spec
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.scheduler = scheduler
        self.label_smoothing = float(label_smoothing)
        # Separate metric objects per stage: each accumulates over its epoch (and syncs across devices).
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_confusion_metric = MulticlassConfusionMatrix(num_classes)
        self.test_confusion: torch.Tensor | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits for rendered sketches.

        Args:
            images: Float tensor (N, 1, H, W) in [0, 1].

        Returns:
            Logits of shape (N, num_classes).
        """
        return logits_of(self.net(to_model_input(images, self.input_spec)))

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ArticulateError(
                f"the network outputs logits of shape {tuple(logits.shape)}; expected (N, {self.num_classes}): "
                "check the model's num_classes against the dataset's classes"
            )
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        accuracy: MulticlassAccuracy = getattr(self, f"{stage}_acc")
        accuracy(logits, labels)
        size = labels.shape[0]
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        if stage == "test":
            self.test_confusion_metric.update(logits, labels)
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        """Cross-entropy on one training batch."""
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Loss and accuracy on one validation batch."""
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        """Loss, accuracy and confusion counts on one test batch."""
        self._step(batch, "test")

    def predict_step(self, batch: Batch | torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Class probabilities, shape (N, num_classes), for a batch of images (labels, if any, are ignored)."""
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(images).softmax(dim=1)

    def on_test_epoch_start(self) -> None:
        self.test_confusion_metric.reset()
        self.test_confusion = None

    def on_test_epoch_end(self) -> None:
        self.test_confusion = self.test_confusion_metric.compute().detach().to("cpu", torch.int64)
        self.test_confusion_metric.reset()

    def configure_optimizers(self) -> Any:
        """AdamW, with the configured schedule stepped every batch over the whole run."""
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler == "none":
            return optimizer
        total_steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(total_steps) or total_steps < 1:
            raise ConfigError(
                f"classifier.scheduler: {self.scheduler!r} needs a known run length; set trainer.max_epochs or "
                "trainer.max_steps, or use scheduler: none"
            )
        total_steps = int(total_steps)
        if self.scheduler == "onecycle":
            schedule: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=total_steps
            )
        else:
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any | None) -> None:
        """Steps the schedule; a resumed run longer than its checkpoint's one-cycle schedule is a clear error."""
        if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and scheduler.last_epoch >= scheduler.total_steps:
            # The schedule's length comes from the checkpoint, not from this run's trainer settings.
            raise ConfigError(
                f"classifier.scheduler: the one-cycle schedule restored from the checkpoint covers "
                f"{scheduler.total_steps} steps and this run goes beyond them (was trainer.max_epochs or max_steps "
                "raised before resuming?); resume with the original run length, or start a new run from the "
                "checkpoint's weights"
            )
        super().lr_scheduler_step(scheduler, metric)
