"""The Lightning module of a fine-tune: the classifier plus a concept head on its atlas layer, trained with the
class loss and the concept loss together.

Each training step takes a batch of the train split (``"class"``) and a batch of concept-labelled sketches
(``"concept"``, see :mod:`pipeline.finetune.data`), runs them through the model in one forward pass, and
minimises ::

    loss = cross_entropy(class logits, labels)                  every image (but test-split sketches)
         + concept_weight * sum(w * BCE(concept logits, t)) / sum(w)   the labelled sketches' positions
         + prototype_weight * prototype term at the atlas layer         (pipeline/finetune/prototypes.py)
         + concept_weight * drawing loss                                 drawing-level concepts, if any

The drawing loss (:func:`~pipeline.finetune.targets.drawing_loss`) trains a :class:`DrawingHead` (a linear layer
on the atlas layer's activations pooled over each labelled sketch's ink) on its drawing-level concepts; without
such concepts there is no drawing head and the loss is as it was.

Keeping class accuracy: the class loss is always on, the network learns slowly (``lr``) while the new head
learns fast (``head_lr``), and the schedule anneals both to zero over a few epochs. The layers up to the atlas
layer train (all but the stem, ``stem``: the first block's edge detectors, which no concept needs changed): moving
that layer's representation toward the named concepts is the point of the loop (the next atlas should line its
clusters up with them). The layers after it can be frozen
(``freeze_after_layer``: parameters fixed, BatchNorm statistics and dropout in eval mode, so the rest of the
network reads the atlas layer as the base model did). Measured on the default data (10 concepts from the
simulated artist, 2 epochs, ``bench/bench_finetune.py``), freezing did not keep class accuracy any better (both
99.81% against the base's 99.90%) and moved the atlas layer less (k-means purity of its ink positions against
true parts 0.237 -> 0.241 frozen, -> 0.250 not), so it is off by default: the class loss alone keeps accuracy,
and a free tail lets the atlas layer move further.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import lightning
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError
from pipeline.finetune.data import CLASS, CONCEPT
from pipeline.finetune.prototypes import prototype_loss
from pipeline.finetune.targets import BACKGROUND, TargetWeights, concept_loss, drawing_loss
from pipeline.models.concept_head import ConceptHead, ConceptModel, ConceptOutput, DrawingHead
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.layers import get_layer
from pipeline.schema import Conf

__all__ = ["ConceptFinetuner", "ExportedConceptModel", "modules_after"]

SCHEDULES = ("cosine", "none")


def modules_after(net: nn.Module, layer: str, input_shape: Sequence[int]) -> list[str]:
    """The modules (with parameters or buffers of their own) that run after ``layer`` in a forward pass.

    Found by running the net once on zeros and recording the order in which modules finish, so any network
    works whatever its structure; modules that do not run (e.g. GoogLeNet's auxiliary heads in eval mode) are
    not listed.
    """
    target = get_layer(net, layer)
    order: list[str] = []
    finished: list[int] = []
    handles = []
    for name, module in net.named_modules():
        if module is target:
            handles.append(module.register_forward_hook(lambda *_: finished.append(len(order))))
        if name and (any(True for _ in module.parameters(recurse=False)) or
                     any(True for _ in module.buffers(recurse=False))):
            handles.append(module.register_forward_hook(lambda *_, n=name: order.append(n)))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(*input_shape))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    if not finished:
        return []
    after = order[finished[0]:]
    inside = {n for n, _ in target.named_modules(prefix=layer)}
    return list(dict.fromkeys(n for n in after if n not in inside))


class ExportedConceptModel(nn.Module):
    """The round's model as MLflow logs it: model-ready images -> ``(class logits, concept logits)``."""

    def __init__(self, model: ConceptModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(images)
        return out.logits, out.concept_logits


class ConceptFinetuner(lightning.LightningModule):
    """Fine-tunes a classifier with a concept head on its atlas layer.

    Args:
        net: The classifier (starts from the base model's weights).
        layer: The atlas layer the head reads.
        head: The concept head (its ``channels`` match the layer's).
        concept_names: The head's concepts, in order.
        input_spec: How rendered sketches become model input.
        weights: The concept loss's weights of unlabeled and negative positions.
        lr: Peak learning rate of the network (the backbone): low, to keep class accuracy.
        head_lr: Peak learning rate of the concept head.
        weight_decay: AdamW weight decay.
        concept_weight: lambda, the concept loss's weight against the class loss.
        prototype_weight: The weight of the prototype term at the atlas layer (0: off).
        prototype_temperature: Its softmax temperature.
        canonical: For a model with its own classes (:class:`~pipeline.models.classes.ClassMap`): each output's
            class's first output, so that a prediction of any output of the right class counts as right; labels
            of -1 (a class the model lacks) train no class loss. None: labels are outputs, one for one.
        freeze_after_layer: Fix the modules after the atlas layer (parameters, BatchNorm statistics, dropout).
        stem: Modules to fix as well, e.g. the first convolution block (``finetune.stem``; None: the network's
            own ``stem`` attribute, if it has one): edge detectors, which no concept needs changed, on the largest
            maps, so the backward pass stops before them (a tenth of a step of the default model).
        schedule: ``"cosine"`` (anneal both rates to 0 over the run) or ``"none"``.
        drawing_unlabeled_weight: The drawing loss's weight of a labelled sketch that a drawing-level concept
            neither has nor lacks (see :mod:`pipeline.finetune.targets`).
        drawing_head: The drawing-level concepts' head (learns at ``head_lr``); None without any: the concept
            batches then carry no drawing codes.

    Attributes:
        model: The :class:`ConceptModel` (net + head).
        frozen: The fixed modules' names (those after the layer when they are frozen, then the stem's).
        history: Per epoch: ``{"epoch", "class_loss", "concept_loss", "loss", "class_acc", "seconds"}``.

    Raises:
        ConfigError: A setting out of range.
    """

    CONF: ClassVar[Conf] = Conf("finetune", runtime=("net", "layer", "head", "concept_names", "input_spec",
                                                  "canonical", "drawing_head"))

    def __init__(self, net: nn.Module, layer: str, head: ConceptHead, concept_names: Sequence[str],
                 input_spec: InputSpec, weights: TargetWeights, lr: float, head_lr: float, weight_decay: float,
                 concept_weight: float, freeze_after_layer: bool, prototype_weight: float,
                 prototype_temperature: float, stem: Sequence[str] | None, drawing_unlabeled_weight: float,
                 schedule: str = "cosine", canonical: Sequence[int] | None = None,
                 drawing_head: DrawingHead | None = None) -> None:
        super().__init__()
        for key, value in (("lr", lr), ("head_lr", head_lr)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"finetune.{key}: expected a positive number, got {value!r}")
        for key, value in (("weight_decay", weight_decay), ("concept_weight", concept_weight),
                           ("prototype_weight", prototype_weight),
                           ("drawing_unlabeled_weight", drawing_unlabeled_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"finetune.{key}: expected a number >= 0, got {value!r}")
        if schedule not in SCHEDULES:
            raise ConfigError(f"finetune.schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.model = ConceptModel(net, layer, head, concept_names)
        self.drawing_head = drawing_head
        self.drawing_unlabeled_weight = float(drawing_unlabeled_weight)
        self.input_spec = input_spec
        self.weights = weights
        self.lr, self.head_lr, self.weight_decay = float(lr), float(head_lr), float(weight_decay)
        self.concept_weight = float(concept_weight)
        self.prototype_weight, self.prototype_temperature = float(prototype_weight), float(prototype_temperature)
        self.register_buffer("canonical", None if canonical is None else torch.as_tensor(canonical, dtype=torch.long),
                             persistent=False)
        self.schedule = schedule
        self.frozen: list[str] = []
        if freeze_after_layer:
            shape = (1, input_spec.channels, input_spec.size, input_spec.size)
            self.frozen = modules_after(net, layer, shape)
            for name in self.frozen:
                for parameter in net.get_submodule(name).parameters(recurse=False):
                    parameter.requires_grad_(False)
        for name in getattr(net, "stem", ()) if stem is None else stem:
            try:
                module = net.get_submodule(str(name))
            except AttributeError:
                raise ConfigError(f"finetune.stem: {name!r} is not a module of the network; name modules by their "
                                  "path, e.g. features.block1 (or set finetune.stem=[])") from None
            module.requires_grad_(False)
            self.frozen.append(str(name))
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, float] = {}
        self._epoch_start = 0.0

    @property
    def net(self) -> nn.Module:
        return self.model.net

    @property
    def head(self) -> ConceptHead:
        return self.model.head

    def forward(self, images: torch.Tensor) -> ConceptOutput:
        """Class logits and concept maps of rendered sketches (N, 1, S, S) in [0, 1]."""
        return self.model(to_model_input(images, self.input_spec))

    # --- training

    def on_train_epoch_start(self) -> None:
        import time

        # Lightning keeps each module's mode as it finds it (a loaded model is in eval mode): train the model,
        # but let the frozen part keep the base model's behaviour (BatchNorm statistics, no dropout).
        self.model.train()
        for name in self.frozen:
            self.net.get_submodule(name).eval()
        self._sums = {"n_class": 0.0, "class_loss": 0.0, "correct": 0.0, "n_concept": 0.0, "concept_loss": 0.0}
        self._epoch_start = time.perf_counter()

    def losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The class loss, the concept loss and their sum for one combined batch (see the module docstring)."""
        images, labels = batch[CLASS]
        concept_images, concept_labels, codes, class_mask, *drawing_codes = batch[CONCEPT]
        n = images.shape[0]
        out = self(torch.cat([images, concept_images]))
        counted = torch.cat([torch.ones(n, dtype=torch.bool, device=class_mask.device), class_mask])
        all_labels = torch.cat([labels, concept_labels])
        counted = counted & (all_labels >= 0)
        class_loss = (F.cross_entropy(out.logits[counted], all_labels[counted]) if counted.any()
                      else out.logits.sum() * 0.0)
        concept = concept_loss(out.concept_logits[n:], codes, self.weights)
        layer = (prototype_loss(out.activations[n:], codes, self.weights, self.prototype_temperature)
                 if self.prototype_weight > 0 else out.activations.sum() * 0.0)
        predicted = out.logits[counted].argmax(1)
        if self.canonical is not None:
            predicted = self.canonical[predicted]
        correct = (predicted == all_labels[counted]).sum()
        result = {"class_loss": class_loss, "concept_loss": concept, "prototype_loss": layer,
                  "loss": class_loss + self.concept_weight * concept + self.prototype_weight * layer,
                  "correct": correct,
                  "n_class": counted.sum(), "n_concept": torch.tensor(codes.shape[0])}
        if self.drawing_head is not None and drawing_codes:
            ink = (codes != BACKGROUND).any(dim=1)  # the positions whose cells hold ink (or that were labelled)
            drawn = drawing_loss(self.drawing_head(out.activations[n:], ink), drawing_codes[0], self.weights,
                                 self.drawing_unlabeled_weight)
            result["drawing_loss"] = drawn
            result["loss"] = result["loss"] + self.concept_weight * drawn
        return result

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        result = self.losses(batch)
        n_class, n_concept = int(result["n_class"]), int(result["n_concept"])
        sums = self._sums
        sums["n_class"] += n_class
        sums["class_loss"] += float(result["class_loss"].detach()) * n_class
        sums["correct"] += float(result["correct"])
        sums["n_concept"] += n_concept
        sums["concept_loss"] += float(result["concept_loss"].detach()) * n_concept
        self.log("train_class_loss", result["class_loss"], on_step=False, on_epoch=True, batch_size=n_class)
        self.log("train_concept_loss", result["concept_loss"], on_step=False, on_epoch=True, batch_size=n_concept)
        self.log("train_loss", result["loss"], on_step=False, on_epoch=True, prog_bar=True, batch_size=n_class)
        if "drawing_loss" in result:
            self.log("train_drawing_loss", result["drawing_loss"], on_step=False, on_epoch=True, batch_size=n_concept)
        return result["loss"]

    def on_train_epoch_end(self) -> None:
        import time

        sums = self._sums
        class_loss = sums["class_loss"] / max(sums["n_class"], 1)
        concept = sums["concept_loss"] / max(sums["n_concept"], 1)
        entry = {"epoch": self.current_epoch + 1, "class_loss": class_loss, "concept_loss": concept,
                 "loss": class_loss + self.concept_weight * concept,
                 "class_acc": sums["correct"] / max(sums["n_class"], 1),
                 "seconds": time.perf_counter() - self._epoch_start}
        self.history.append(entry)
        self.log("train_acc", entry["class_acc"])

    def configure_optimizers(self) -> Any:
        """AdamW with two parameter groups (network at ``lr``, head at ``head_lr``), annealed per step."""
        network = [p for p in self.net.parameters() if p.requires_grad]
        heads = [*self.head.parameters(), *(self.drawing_head.parameters() if self.drawing_head is not None else ())]
        groups = [{"params": network, "lr": self.lr, "name": "network"},
                  {"params": heads, "lr": self.head_lr, "name": "head"}]
        optimizer = torch.optim.AdamW(groups, weight_decay=self.weight_decay)
        if self.schedule == "none":
            return optimizer
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total) or total < 1:
            raise ConfigError("finetune.schedule: 'cosine' needs a known run length; set finetune.epochs")
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
