"""Feature-visualization icons for atlas cells: one image per cell that drives the cell's mean activation.

Each kept cell's mean activation vector becomes a ``direction`` objective (dot x cosine^p, as in the
Activation Atlas) at the atlas layer; the objectives are rendered ``batch_size`` at a time, each batch one
batched optimisation (:func:`pipeline.featurevis.render.render`). The icons are returned as display images:
sketch models' 1-channel renders are shown as dark ink on white (as the exemplar patches), RGB renders as
they are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.input_spec import InputSpec

__all__ = ["IconParams", "IconSet", "render_icons", "to_display"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IconParams:
    """How icons are rendered.

    Attributes:
        steps: Optimisation steps per batch (>= 1).
        batch_size: Icons rendered together in one optimisation (>= 1).
        cos_power: The exponent p of the direction objective (dot x cosine^p), >= 0.
        size: Icon side in pixels; None renders at the model's input size.
        enabled: False skips rendering (the atlas then shows blank tiles; for quick looks and tests).
    """

    steps: int = 256
    batch_size: int = 64
    cos_power: float = 1.0
    size: int | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ConfigError(f"atlas: icons.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.cos_power, bool) or not isinstance(self.cos_power, Real) or self.cos_power < 0:
            raise ConfigError(f"atlas: icons.cos_power must be a number >= 0, got {self.cos_power!r}")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, Integral)
                                      or self.size < 8):
            raise ConfigError(f"atlas: icons.size must be null or an integer >= 8, got {self.size!r}")
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"atlas: icons.enabled must be true or false, got {self.enabled!r}")


@dataclass
class IconSet:
    """Rendered icons.

    Attributes:
        images: (m, S, S, 3) uint8 display images, one per cell.
        scores: (m,) quality score of each (how strongly it drives its objective; see featurevis).
        values: (m,) final objective value of each.
    """

    images: np.ndarray
    scores: np.ndarray
    values: np.ndarray


def to_display(images: np.ndarray, invert: bool) -> np.ndarray:
    """Rendered model inputs (B, C, H, W) in [0, 1] -> (B, H, W, 3) uint8 to look at.

    One channel: dark ink on white (``invert`` says whether the model's input already is). Three: as is.
    """
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if images.shape[1] == 1:
        grey = images[:, 0] if invert else 1.0 - images[:, 0]
        rgb = np.repeat(grey[..., None], 3, axis=-1)
    else:
        rgb = images[:, :3].transpose(0, 2, 3, 1)
    return np.rint(rgb * 255.0).astype(np.uint8)


def render_icons(net: nn.Module, vectors: np.ndarray, layer: str, input_spec: InputSpec, params: IconParams,
                 seed: int = 0, reference: torch.Tensor | None = None) -> IconSet:
    """Render one icon per activation vector with direction objectives, in batches.

    Args:
        net: The model (eval mode).
        vectors: (m, C) mean activation vectors of the cells.
        layer: The layer's module path.
        input_spec: The model's input spec (size, channels, polarity).
        params: Steps, batch size, cos power, size.
        seed: Random seed of icon 0 (icon i uses ``seed + i``, whatever the batch size).
        reference: Real inputs (N, 1, H, W) in render space: quality scores are relative to them.

    Returns:
        The icons, in the order of ``vectors``.
    """
    from pipeline.featurevis.objectives import direction
    from pipeline.featurevis.render import render

    vectors = np.asarray(vectors, dtype=np.float32)
    m = len(vectors)
    images, scores, values = [], [], []
    batches = max(1, -(-m // params.batch_size))
    started = time.perf_counter()
    for b, start in enumerate(range(0, m, params.batch_size)):
        block = vectors[start:start + params.batch_size]
        objectives = [direction(layer, torch.from_numpy(v.copy()), cos_power=float(params.cos_power)) for v in block]
        result = render(net, objectives, input_spec, size=params.size, steps=params.steps, seed=seed + start,
                        progress=True, reference=reference)
        images.append(to_display(_numpy(result.images), input_spec.invert))
        scores.append(_numpy(result.scores).astype(np.float32).reshape(-1))
        values.append(_numpy(result.values).astype(np.float32).reshape(-1))
        elapsed = time.perf_counter() - started
        log.info("icons: batch %d/%d (%d icons) done, %.1f s elapsed, about %.0f s left", b + 1, batches,
                 min(start + len(block), m), elapsed, elapsed / (b + 1) * (batches - b - 1))
    return IconSet(images=np.concatenate(images), scores=np.concatenate(scores), values=np.concatenate(values))


def _numpy(value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return np.asarray(value)
