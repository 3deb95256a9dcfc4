"""Stage ``train_base``: train the classifier with Lightning and register it in MLflow (alias ``base``).

The base model is trained once, or with ``model.pretrained=true`` imported as it is (its own classes, no
training, the dataset's classes mapped onto them: :mod:`pipeline.models.classes`). Every round starts from it
(round 0 is the base model as it is: the finetune stage copies it to ``paths.models/round_0/`` and gives it the
alias ``round-0``). Writes
``paths.models/base/``: ``model.pt`` (state dict plus what is needed to rebuild and feed the net),
``confusion_matrix.png`` and ``info.json`` (test accuracy, MLflow run and model version). An interrupted
training resumes from its last checkpoint (``paths.checkpoints/<config hash>/last.ckpt``) when it is run
again with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import mlflow
import numpy as np
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig

from pipeline import tracking, viz
from pipeline.stages import stage_main
from pipeline.rounds import BASE, FIRST_ROUND, MODEL_FILE, base_model_dir
from pipeline.config import build, to_container
from pipeline.data.datamodule import SketchDataModule
from core.io import atomic_dir
from pipeline.models.callbacks import progress_callbacks
from pipeline.models.distributed import prepare_strategy
from core.errors import ConfigError
from pipeline.models.build import (TrainedModel, build_net, class_map, input_spec, is_pretrained, raster_spec,
                                   save_trained)
from pipeline.models.classifier import SketchClassifier
from pipeline.models.layers import get_layer

log = logging.getLogger(__name__)



def config_hash(cfg: DictConfig) -> str:
    """A short hash of the settings that shape training, naming the checkpoint folder to resume from."""
    tree = to_container(cfg)
    relevant = {key: tree[key] for key in ("data", "model", "trainer", "seed")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


def build_module(cfg: DictConfig, class_names: list[str]) -> SketchClassifier:
    """The Lightning module around the configured net."""
    optimizer = cfg.model.optimizer
    net = build_net(cfg.model, num_classes=len(class_names))
    get_layer(net, str(cfg.model.layer), key="model.layer")  # a typo in the atlas layer fails now, not rounds later
    return SketchClassifier(
        net=net,
        num_classes=len(class_names),
        class_names=list(class_names),
        input_spec=input_spec(cfg.model),
        lr=float(optimizer.lr),
        weight_decay=float(optimizer.weight_decay),
        scheduler=str(optimizer.scheduler),
        label_smoothing=float(optimizer.label_smoothing),
    )


def run(cfg: DictConfig) -> dict[str, Any]:
    """Make the base model: train it, or with ``model.pretrained`` import it as it is; save, register, and
    return the contents of ``info.json``."""
    return import_base(cfg) if is_pretrained(cfg.model) else train_base(cfg)


def train_base(cfg: DictConfig) -> dict[str, Any]:
    """Train and test the base model on the dataset (its classes become the model's outputs)."""
    prepare_strategy(cfg.trainer)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    datamodule = SketchDataModule(cfg.paths.dataset, raster_spec(cfg.model), batch_size=int(cfg.data.batch_size),
                                  num_workers=int(cfg.data.num_workers), seed=int(cfg.seed))
    module = build_module(cfg, datamodule.class_names)

    checkpoints = Path(cfg.paths.checkpoints) / config_hash(cfg)
    last = checkpoints / "last.ckpt"
    resume_from = str(last) if cfg.resume and last.is_file() else None
    if resume_from:
        log.info("resuming the interrupted training from %s", resume_from)

    with tracking.stage_run(cfg, "train_base", tags={"round": str(FIRST_ROUND)}) as active:
        logger = MLFlowLogger(experiment_name=str(cfg.mlflow.experiment), tracking_uri=tracking.tracking_uri(cfg),
                              run_id=active.info.run_id, log_model=False)
        # save_top_k=1 (the newest epoch, no monitor): Lightning writes last.ckpt only along with a checkpoint.
        checkpoint = ModelCheckpoint(dirpath=checkpoints, save_last=True, save_top_k=1, every_n_epochs=1,
                                     save_on_train_epoch_end=True)
        callbacks = [checkpoint, *progress_callbacks(bool(cfg.trainer.enable_progress_bar))]
        trainer: L.Trainer = build(cfg.trainer, "trainer", logger=logger, callbacks=callbacks,
                                   default_root_dir=str(checkpoints))
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        model = TrainedModel(net=module.net.eval(), class_names=datamodule.class_names, input_spec=input_spec(cfg.model),
                             raster=raster_spec(cfg.model), layer=str(cfg.model.layer), round=FIRST_ROUND,
                             net_config=to_container(cfg.model.net))
        if trainer.world_size > 1:
            # Trained across processes (trainer.strategy=ddp_spawn): the weights are back here; test once, in this
            # process, on the whole test split (a distributed test would pad the ranks' shards with repeats).
            from pipeline.models.predict import predict_outputs

            labels, predictions = predict_outputs(module.net, datamodule.dataset("test"), model.input_spec)
            classes = model.class_map
            test_acc, extra = classes.accuracy(labels, predictions), {"world_size": trainer.world_size}
            confusion = classes.confusion(labels, predictions)[0]
            mlflow.log_metric("test_acc", test_acc)
        else:
            tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
            test_acc, confusion = float(tested["test_acc"]), module.test_confusion.numpy()
            extra = {"test_loss": float(tested["test_loss"])}
        info = _write_base(cfg, model, test_acc, confusion, datamodule.class_names, active.info.run_id, extra)
    # Finished: the checkpoints were only for resuming an interrupted run.
    shutil.rmtree(checkpoints, ignore_errors=True)
    return info


def import_base(cfg: DictConfig) -> dict[str, Any]:
    """Import a pretrained model as it is: its own classes, its weights, no training. The dataset's classes map
    onto its outputs (:func:`~pipeline.models.build.class_map`); the class accuracy on the test split is the
    model's as it came."""
    from pipeline.data.datamodule import SketchDataset
    from pipeline.data.store import read_manifest, read_split
    from pipeline.models.predict import predict_outputs

    model_cfg = cfg.model
    if not model_cfg.checkpoint and not model_cfg.net.get("weights_path"):
        raise ConfigError("model.pretrained=true imports a model as it is, so it needs its weights: set "
                          "model.checkpoint=FILE (or model.net.weights_path for a torchvision model)")
    dataset = Path(cfg.paths.dataset)
    words = list(read_manifest(dataset).classes)
    classes = class_map(model_cfg, words)
    if not any(classes.targets):
        raise ConfigError(f"model.class_map: none of the dataset's classes ({', '.join(words[:8])}) is a class of "
                          f"the model ({', '.join(classes.outputs[:8])}, ...); map them by name in model.class_map")
    log.info("importing the pretrained model as it is: %s", classes.describe())
    net = build_net(model_cfg, num_classes=len(classes.outputs))
    get_layer(net, str(model_cfg.layer), key="model.layer")
    model = TrainedModel(net=net.eval(), class_names=list(classes.outputs), input_spec=input_spec(model_cfg),
                         raster=raster_spec(model_cfg), layer=str(model_cfg.layer), round=FIRST_ROUND,
                         net_config=to_container(model_cfg.net), classes=classes)
    test = SketchDataset(read_split(dataset, "test"), classes.labels(), model.raster)
    labels, predictions = predict_outputs(model.net, test, model.input_spec, int(cfg.data.batch_size))
    test_acc = classes.accuracy(labels, predictions)
    confusion, names = classes.confusion(labels, predictions)
    with tracking.stage_run(cfg, "train_base", tags={"round": str(FIRST_ROUND), "imported": "true"}) as active:
        return _write_base(cfg, model, test_acc, confusion, names, active.info.run_id,
                           {"imported": True, "class_map": classes.summary()})


def _write_base(cfg: DictConfig, model: TrainedModel, test_acc: float, confusion: np.ndarray, names: list[str],
                run_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Write ``models/base/`` (model, confusion figure, info.json) and register the model (alias ``base``)."""
    mlflow.log_metric("class_acc", test_acc)
    with atomic_dir(base_model_dir(cfg)) as folder:
        fig = viz.confusion_figure(confusion, names, title=f"base model, test set, accuracy {test_acc:.3f}")
        tracking.save_figure(fig, folder / "confusion_matrix.png", dpi=100)
        viz.close(fig)
        save_trained(model, folder / MODEL_FILE)
        spec = model.input_spec
        example = np.zeros((2, spec.channels, spec.size, spec.size), dtype=np.float32)
        logged = tracking.log_torch_model(model.net.eval(), example, tracking.pip_requirements())
        version = tracking.register_model(logged.model_uri, str(cfg.mlflow.registered_model), BASE)
        info = {"round": FIRST_ROUND, "test_acc": test_acc, **extra, "mlflow_run_id": run_id,
                "registered_model": str(cfg.mlflow.registered_model), "model_version": version, "alias": BASE,
                "classes": list(model.class_names) if len(model.class_names) <= 100 else
                f"{len(model.class_names)} classes (model.classes)"}
        (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("base model: test accuracy %.4f, registered %s version %d (alias %s)", test_acc,
             cfg.mlflow.registered_model, version, BASE)
    return info


if __name__ == "__main__":
    raise SystemExit(stage_main(run))
