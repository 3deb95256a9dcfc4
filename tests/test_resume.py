"""The Lightning module: it learns, it reports a confusion matrix, and a killed run resumes where it stopped."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from core.errors import ConfigError
from pipeline.models.checkpoint import load_weights
from pipeline.models.classifier import SketchClassifier
from pipeline.models.input_spec import InputSpec
from pipeline.models.sketch_cnn import SketchCNN

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty"),
]

NUM_CLASSES = 3
STEPS_PER_EPOCH = 4
BATCH = 16


def _bars(n: int, seed: int) -> TensorDataset:
    """32x32 images: class 0 a horizontal bar, 1 a vertical bar, 2 a square outline; random place and noise."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 32, 32, generator=g) * 0.2
    labels = torch.arange(n) % NUM_CLASSES
    for i, label in enumerate(labels.tolist()):
        y, x = torch.randint(4, 20, (2,), generator=g).tolist()
        if label == 0:
            images[i, 0, y : y + 2, 4:28] = 1.0
        elif label == 1:
            images[i, 0, 4:28, x : x + 2] = 1.0
        else:
            images[i, 0, y : y + 10, x : x + 10] = 1.0
            images[i, 0, y + 2 : y + 8, x + 2 : x + 8] = 0.0
    return TensorDataset(images, labels)


def _module(**kwargs: object) -> SketchClassifier:
    net = SketchCNN(NUM_CLASSES, widths=(8, 16, 16, 32), dropout=0.0)
    return SketchClassifier(net, NUM_CLASSES, class_names=["hbar", "vbar", "box"], **kwargs)


def _trainer(tmp_path: Path, max_epochs: int, callbacks: list[Callback] | None = None) -> lightning.Trainer:
    return lightning.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=bool(callbacks and any(isinstance(c, ModelCheckpoint) for c in callbacks)),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        default_root_dir=tmp_path,
    )


def _loader(seed: int, shuffle: bool = False) -> DataLoader:
    return DataLoader(_bars(BATCH * STEPS_PER_EPOCH, seed), batch_size=BATCH, shuffle=shuffle)


class RecordLoss(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self.losses.append(trainer.callback_metrics["train_loss"].item())


def test_training_lowers_the_loss_and_logs_metrics(tmp_path: Path) -> None:
    lightning.seed_everything(0, verbose=False)
    record = RecordLoss()
    trainer = _trainer(tmp_path, max_epochs=5, callbacks=[record])
    trainer.fit(_module(lr=1e-2), _loader(seed=1, shuffle=True), _loader(seed=2))
    assert trainer.global_step == 5 * STEPS_PER_EPOCH
    # Per-epoch means of the training loss (BatchNorm's running statistics lag after so few steps, so the
    # eval-mode loss is not a fair measure yet).
    assert len(record.losses) == 5 and record.losses[-1] < 0.6 * record.losses[0], record.losses
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert name in trainer.callback_metrics, name


def test_test_reports_accuracy_and_confusion_matrix(tmp_path: Path) -> None:
    lightning.seed_everything(0, verbose=False)
    module = _module(scheduler="none")
    assert module.test_confusion is None
    test_set = _bars(50, seed=3)  # not a multiple of the batch size: the last batch is short
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.test(module, DataLoader(test_set, batch_size=BATCH), verbose=False)
    confusion = module.test_confusion
    assert confusion is not None and confusion.shape == (NUM_CLASSES, NUM_CLASSES)
    assert confusion.dtype == torch.int64 and int(confusion.sum()) == len(test_set)
    assert confusion.sum(dim=1).tolist() == torch.bincount(test_set.tensors[1], minlength=NUM_CLASSES).tolist()
    accuracy = confusion.diag().sum().item() / len(test_set)
    assert trainer.callback_metrics["test_acc"].item() == pytest.approx(accuracy)
    assert "test_loss" in trainer.callback_metrics


class SimulatedKill(Exception):
    """Stands in for the process being killed in the middle of an epoch."""


class KillAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: lightning.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            raise SimulatedKill(f"killed at step {self.step}")


class RecordStart(Callback):
    def on_train_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self.step, self.epoch = trainer.global_step, trainer.current_epoch
        self.first_weight = pl_module.net.classifier.fc.weight.detach().clone()


def test_a_killed_run_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    epochs = 3
    checkpoints = tmp_path / "checkpoints"
    lightning.seed_everything(0, verbose=False)
    first = _trainer(tmp_path, epochs, [ModelCheckpoint(dirpath=checkpoints, save_last=True), KillAt(6)])
    with pytest.raises(SimulatedKill):
        first.fit(_module(), _loader(seed=1, shuffle=True), _loader(seed=2))
    last = checkpoints / "last.ckpt"
    assert last.is_file()  # written at the end of epoch 0, before the kill in epoch 1
    saved = torch.load(last, map_location="cpu", weights_only=True)  # plain values only: hparams included
    assert saved["global_step"] == STEPS_PER_EPOCH and saved["epoch"] == 0
    assert saved["hyper_parameters"]["class_names"] == ["hbar", "vbar", "box"]
    spec = {"size": 64, "channels": 1, "mean": [0.0], "std": [1.0], "invert": False}
    assert saved["hyper_parameters"]["input_spec"] == spec

    start = RecordStart()
    resumed_module = _module()
    second = _trainer(tmp_path, epochs, [ModelCheckpoint(dirpath=checkpoints, save_last=True), start])
    second.fit(resumed_module, _loader(seed=1, shuffle=True), _loader(seed=2), ckpt_path=str(last))
    assert (start.step, start.epoch) == (STEPS_PER_EPOCH, 1)  # continued, not restarted from 0
    assert torch.equal(start.first_weight, saved["state_dict"]["net.classifier.fc.weight"])
    assert second.global_step == epochs * STEPS_PER_EPOCH and second.current_epoch == epochs

    # The finished checkpoint rebuilds the module and feeds a bare network (a user model's load path).
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] == epochs * STEPS_PER_EPOCH
    restored = SketchClassifier.load_from_checkpoint(last, net=SketchCNN(NUM_CLASSES, widths=(8, 16, 16, 32)))
    assert restored.class_names == ["hbar", "vbar", "box"]
    assert restored.input_spec == InputSpec(64, 1, (0.0,), (1.0,), False)
    bare = load_weights(SketchCNN(NUM_CLASSES, widths=(8, 16, 16, 32)), last)
    for key, value in resumed_module.net.state_dict().items():
        assert torch.equal(bare.state_dict()[key], value), key


def test_resuming_beyond_the_one_cycle_schedule_is_a_clear_error(tmp_path: Path) -> None:
    lightning.seed_everything(0, verbose=False)
    checkpoints = tmp_path / "checkpoints"
    _trainer(tmp_path, 1, [ModelCheckpoint(dirpath=checkpoints, save_last=True)]).fit(_module(), _loader(seed=1))
    longer = _trainer(tmp_path, 2, [ModelCheckpoint(dirpath=checkpoints, save_last=True)])
    with pytest.raises(ConfigError, match="resume with the original run length"):
        longer.fit(_module(), _loader(seed=1), ckpt_path=str(checkpoints / "last.ckpt"))
