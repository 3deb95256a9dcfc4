"""Building the configured network, and the render settings it expects, from the ``model`` config group."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pipeline.data.raster import RasterSpec
from pipeline.config import build
from core.errors import ConfigError, InputError
from pipeline.models.checkpoint import load_weights
from pipeline.models.classes import ClassMap, read_class_names
from pipeline.models.input_spec import InputSpec


def build_net(model_cfg: DictConfig, num_classes: int) -> nn.Module:
    """Instantiate ``model.net`` for ``num_classes`` classes, load ``model.checkpoint`` when set, and check with
    one forward pass that it takes the declared input (:func:`check_input`).

    Raises:
        ConfigError: The net cannot be built with these settings, or does not take ``model.input``.
    """
    net = build(model_cfg.net, "model.net", num_classes=num_classes)
    if not isinstance(net, nn.Module):
        raise ConfigError(f"model.net._target_ {model_cfg.net._target_!r} built a {type(net).__name__}, not a torch nn.Module")
    if model_cfg.checkpoint:
        load_weights(net, str(model_cfg.checkpoint))
    check_input(net, input_spec(model_cfg), str(model_cfg.net.get("_target_", "the model")))
    return net


def check_input(net: nn.Module, spec: InputSpec, name: str = "the model") -> None:
    """One forward pass on a blank input of the declared size and channels, so that a model built for another
    input fails here, in one line naming ``model.input``, rather than deep inside a stage.

    Raises:
        ConfigError: The forward pass fails (the torch error's first line is quoted).
    """
    modes = {module: module.training for module in net.modules()}
    shape = (1, spec.channels, spec.size, spec.size)
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(shape))
    except (RuntimeError, ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"model.input: {name} cannot take a {spec.channels} x {spec.size} x {spec.size} input "
                          f"(model.input.size={spec.size}, model.input.channels={spec.channels}): {first}; set "
                          "model.input to the input the model was built for") from None
    finally:
        for module, training in modes.items():
            module.training = training


def is_pretrained(model_cfg: DictConfig) -> bool:
    """``model.pretrained``: the model is imported as it is (its own classes, no training), not trained here."""
    return bool(model_cfg.pretrained)


def model_class_names(model_cfg: DictConfig) -> list[str] | None:
    """The model's own class names, in output order: ``model.classes`` (a list or a text file), else for a
    pretrained torchvision model its weights' categories (ImageNet's 1000); None: the dataset's classes.

    Raises:
        ConfigError: A pretrained model whose class names cannot be known.
        InputError: ``model.classes`` names a missing or unreadable file.
    """
    if not is_pretrained(model_cfg):
        for key in ("classes", "class_map"):
            if model_cfg[key]:
                raise ConfigError(f"model.{key}: only for a model imported as it is (model.pretrained=true); a "
                                  "model trained here has the dataset's classes")
        return None
    if model_cfg.classes is not None:
        value = model_cfg.classes
        return read_class_names(value if isinstance(value, str) else list(value))
    net = model_cfg.net
    if str(net.get("_target_", "")).endswith("torchvision_zoo.torchvision_classifier"):
        from pipeline.models.torchvision_zoo import weights_categories

        return weights_categories(str(net.name))
    raise ConfigError("model.classes: a pretrained model needs its class names, in output order: a list "
                      "(model.classes=[cat,dog,...]) or a text file with one name a line (model.classes=FILE)")


def class_map(model_cfg: DictConfig, dataset_classes: list[str]) -> ClassMap:
    """How the dataset's classes map onto the model's outputs (:class:`ClassMap`): the identity for a model
    trained here, by name and ``model.class_map`` for a model with its own classes."""
    outputs = model_class_names(model_cfg)
    mapping = model_cfg.class_map or {}
    if outputs is None:
        return ClassMap.identity(dataset_classes)
    plain = OmegaConf.to_container(mapping, resolve=True) if isinstance(mapping, DictConfig) else dict(mapping)
    return ClassMap.build(dataset_classes, outputs, plain)


def input_spec(model_cfg: DictConfig) -> InputSpec:
    """How the model wants its input: size, channels, polarity, normalisation."""
    cfg = model_cfg.input
    return InputSpec(size=int(cfg.size), channels=int(cfg.channels), mean=tuple(cfg.mean), std=tuple(cfg.std),
                     invert=bool(cfg.invert))


def raster_spec(model_cfg: DictConfig) -> RasterSpec:
    """How to rasterise sketches for the model: its input size and polarity, the configured line width."""
    cfg = model_cfg.input
    return RasterSpec(size=int(cfg.size), line_width=float(cfg.line_width), invert=bool(cfg.invert))


@dataclass(frozen=True)
class TrainedModel:
    """A trained round's network with what is needed to feed and read it.

    Attributes:
        net: The network, in eval mode.
        class_names: Output index -> class name.
        input_spec: How its input is normalised.
        raster: How sketches are rendered for it.
        layer: The configured atlas layer (module path).
        round: The round it belongs to.
        concepts: The concepts of its concept head, ``{"id", "name"}`` each, in head order (none in round 0).
        concept_head: The concept head on ``layer`` (None without concepts).
        drawing_concepts: The drawing-level concepts of its drawing head, ``{"id", "name"}`` each, in head order.
        drawing_head: The :class:`~pipeline.models.concept_head.DrawingHead` on ``layer`` (None without
            drawing-level concepts).
        net_config: The ``model.net`` config node that builds ``net`` (a ``_target_`` and its arguments), as a
            plain dict; needed to save the model (:func:`save_trained`).
        classes: How the dataset's classes map onto ``class_names`` (None: one for one, a model trained here).
    """

    net: nn.Module
    class_names: list[str]
    input_spec: InputSpec
    raster: RasterSpec
    layer: str
    round: int
    concepts: list[dict[str, Any]] = field(default_factory=list)
    concept_head: nn.Module | None = None
    net_config: dict[str, Any] | None = None
    classes: ClassMap | None = None
    drawing_concepts: list[dict[str, Any]] = field(default_factory=list)
    drawing_head: nn.Module | None = None

    @property
    def class_map(self) -> ClassMap:
        """The dataset's classes onto the outputs (:class:`ClassMap`; the identity for a model trained here)."""
        return self.classes if self.classes is not None else ClassMap.identity(self.class_names)

    def concept_model(self) -> Any:
        """The net and its concept head as one :class:`~pipeline.models.concept_head.ConceptModel` (eval mode).

        Raises:
            ConfigError: This model has no concept head (round 0, or a round without concepts).
        """
        from pipeline.models.concept_head import ConceptModel

        if self.concept_head is None:
            raise ConfigError(f"the round {self.round} model has no concept head: promote concepts, then fine-tune")
        return ConceptModel(self.net, self.layer, self.concept_head, [c["name"] for c in self.concepts]).eval()


def _read_saved(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """The dict inside ``model.pt``, checked to be one the training stages wrote.

    Raises:
        InputError: The file is missing or not such a model.
    """
    path = Path(path)
    hint = "train it first: `python -m pipeline.stages.train_base` or `dvc repro train_base`"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise InputError(path, "no trained model here", hint=hint) from None
    except Exception as err:  # noqa: BLE001 - torch.load raises many types for a damaged file
        raise InputError(path, f"not a readable model file ({str(err).splitlines()[0]})", hint=hint) from None
    required = {"state_dict", "net", "class_names", "input_spec", "raster", "layer", "round"}
    if not isinstance(saved, dict) or not required <= set(saved):
        raise InputError(path, "not a model file written by Articulate's training stages", hint=hint)
    return saved


def _raster(saved: dict[str, Any]) -> RasterSpec:
    raster = saved["raster"]
    return RasterSpec(size=int(raster["size"]), line_width=float(raster["line_width"]), invert=bool(raster["invert"]))


def read_raster(path: str | Path) -> RasterSpec:
    """How ``model.pt``'s model wants its sketches drawn, without building the network (weights memory-mapped).

    Raises:
        InputError: The file is missing or not such a model.
    """
    return _raster(_read_saved(path, mmap=True))


def load_trained(path: str | Path) -> TrainedModel:
    """Load ``models/round_<r>/model.pt`` as written by the training stages (no project config needed).

    Raises:
        InputError: The file is missing or not such a model.
    """
    saved = _read_saved(path)
    net = build(OmegaConf.create(saved["net"]), "model.net", num_classes=len(saved["class_names"]))
    net.load_state_dict(saved["state_dict"])
    concepts = [dict(c) for c in saved.get("concepts") or []]
    head = None
    if concepts:
        from pipeline.models.concept_head import ConceptHead

        weight = saved["concept_head"]["conv.weight"]
        head = ConceptHead(channels=int(weight.shape[1]), concepts=int(weight.shape[0]))
        head.load_state_dict(saved["concept_head"])
        head.eval()
    drawing_concepts = [dict(c) for c in saved.get("drawing_concepts") or []]
    drawing_head = None
    if drawing_concepts:
        from pipeline.models.concept_head import DrawingHead

        weight = saved["drawing_head"]["linear.weight"]
        drawing_head = DrawingHead(channels=int(weight.shape[1]) // 3, concepts=int(weight.shape[0]))
        drawing_head.load_state_dict(saved["drawing_head"])
        drawing_head.eval()
    return TrainedModel(
        net=net.eval(), class_names=list(saved["class_names"]), input_spec=InputSpec.from_dict(saved["input_spec"]),
        raster=_raster(saved),
        layer=str(saved["layer"]), round=int(saved["round"]), concepts=concepts, concept_head=head,
        net_config=dict(saved["net"]),
        classes=ClassMap.from_dict(saved["class_map"], saved["class_names"]) if saved.get("class_map") else None,
        drawing_concepts=drawing_concepts, drawing_head=drawing_head,
    )


def save_trained(model: TrainedModel, path: str | Path) -> None:
    """Write ``model.pt``: the one writer of the format :func:`load_trained` reads.

    Args:
        model: The model; its ``net_config`` must be set (it rebuilds the net on loading).
        path: The file to write (inside a stage's atomic output folder).

    Raises:
        ValueError: ``net_config`` is missing, or concepts and concept head disagree.
    """
    if model.net_config is None:
        raise ValueError("save_trained: the model has no net_config, so it could not be built again on loading")
    if (model.concept_head is None) != (not model.concepts):
        raise ValueError("save_trained: concepts and a concept head go together")
    if (model.drawing_head is None) != (not model.drawing_concepts):
        raise ValueError("save_trained: drawing-level concepts and a drawing head go together")
    saved: dict[str, Any] = {
        "state_dict": model.net.state_dict(), "net": model.net_config, "class_names": list(model.class_names),
        "input_spec": model.input_spec.to_dict(), "layer": model.layer, "round": int(model.round),
        "raster": {"size": model.raster.size, "line_width": model.raster.line_width, "invert": model.raster.invert},
    }
    if model.classes is not None and not model.classes.is_identity:
        saved["class_map"] = model.classes.to_dict()
    if model.concept_head is not None:
        saved["concepts"] = [dict(c) for c in model.concepts]
        saved["concept_head"] = model.concept_head.state_dict()
    if model.drawing_head is not None:  # written only with drawing-level concepts: other models read the same
        saved["drawing_concepts"] = [dict(c) for c in model.drawing_concepts]
        saved["drawing_head"] = model.drawing_head.state_dict()
    torch.save(saved, Path(path))
