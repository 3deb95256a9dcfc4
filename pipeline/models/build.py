"""Building the configured network, and the render settings it expects, from the ``model`` config group."""

from __future__ import annotations

from omegaconf import DictConfig
from torch import nn

from pipeline.data.raster import RasterSpec
from pipeline.config import build
from pipeline.errors import ConfigError
from pipeline.models.checkpoint import load_weights
from pipeline.models.input_spec import InputSpec


def build_net(model_cfg: DictConfig, num_classes: int) -> nn.Module:
    """Instantiate ``model.net`` for ``num_classes`` classes and load ``model.checkpoint`` when set.

    Raises:
        ConfigError: The net cannot be built with these settings.
    """
    net = build(model_cfg.net, "model.net", num_classes=num_classes)
    if not isinstance(net, nn.Module):
        raise ConfigError(f"model.net._target_ {model_cfg.net._target_!r} built a {type(net).__name__}, not a torch nn.Module")
    if model_cfg.get("checkpoint"):
        load_weights(net, str(model_cfg.checkpoint))
    return net


def input_spec(model_cfg: DictConfig) -> InputSpec:
    """How the model wants its input: size, channels, polarity, normalisation."""
    cfg = model_cfg.input
    return InputSpec(size=int(cfg.size), channels=int(cfg.channels), mean=tuple(cfg.mean), std=tuple(cfg.std),
                     invert=bool(cfg.invert))


def raster_spec(model_cfg: DictConfig) -> RasterSpec:
    """How to rasterise sketches for the model: its input size and polarity, the configured line width."""
    cfg = model_cfg.input
    return RasterSpec(size=int(cfg.size), line_width=float(cfg.line_width), invert=bool(cfg.invert))
