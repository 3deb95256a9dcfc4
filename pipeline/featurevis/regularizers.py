"""Optional penalties on the rendered images, subtracted from the objective (weights are arguments).

Each regulariser maps a batch of images (B, C, H, W) in render space to a per-image penalty (B,),
multiplied by its weight. They push icons towards what a sketch looks like: few, clean strokes on an
empty background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.errors import ConfigError


@dataclass(frozen=True)
class Regularizer:
    """A weighted per-image penalty.

    Attributes:
        name: Short name, for reports.
        weight: Multiplier of the penalty (>= 0).
        fn: Images (B, C, H, W) -> penalty (B,).
    """

    name: str
    weight: float
    fn: Callable[[torch.Tensor], torch.Tensor]

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not math.isfinite(float(self.weight)) or self.weight < 0:
            raise ConfigError(f"regularizer {self.name}: weight must be a finite number >= 0, got {self.weight!r}")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The weighted penalty of each image, (B,)."""
        return self.weight * self.fn(images)


def total_variation(weight: float = 0.05) -> Regularizer:
    """Mean absolute difference between neighbouring pixels: discourages speckle, favours smooth strokes.

    Args:
        weight: Multiplier.

    Returns:
        The regulariser.

    Raises:
        ConfigError: If ``weight`` is negative.
    """

    def fn(images: torch.Tensor) -> torch.Tensor:
        dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        return dx + dy

    return Regularizer("total_variation", weight, fn)


def l2(weight: float = 0.05, background: float = 0.0) -> Regularizer:
    """Mean squared distance to the background value: keeps the image mostly empty, like a sketch.

    Args:
        weight: Multiplier.
        background: Background value in render space (0 for white ink on black, 1 for dark ink on white).

    Returns:
        The regulariser.

    Raises:
        ConfigError: If ``weight`` is negative.
    """

    def fn(images: torch.Tensor) -> torch.Tensor:
        return (images - background).square().mean(dim=(1, 2, 3))

    return Regularizer("l2", weight, fn)


def boundary(weight: float = 0.1, width: int = 4, background: float = 0.0) -> Regularizer:
    """Mean distance to the background within ``width`` pixels of the border: keeps ink off the edges.

    Args:
        weight: Multiplier.
        width: Border width in pixels.
        background: Background value in render space.

    Returns:
        The regulariser.

    Raises:
        ConfigError: If ``weight`` or ``width`` is negative.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ConfigError(f"boundary regularizer: width must be a number of pixels >= 0, got {width!r}")

    def fn(images: torch.Tensor) -> torch.Tensor:
        height, wide = images.shape[-2:]
        mask = torch.ones(height, wide, dtype=images.dtype, device=images.device)
        if width:
            mask[width:-width, width:-width] = 0.0
        return ((images - background).abs() * mask).sum(dim=(-1, -2)).mean(dim=1) / mask.sum().clamp_min(1.0)

    return Regularizer("boundary", weight, fn)


def blur_penalty(weight: float = 0.1) -> Regularizer:
    """Squared distance to a 3x3 box-blurred copy of the image (held constant): Lucid's blur step as a penalty.

    Args:
        weight: Multiplier.

    Returns:
        The regulariser.

    Raises:
        ConfigError: If ``weight`` is negative.
    """

    def fn(images: torch.Tensor) -> torch.Tensor:
        channels = images.shape[1]
        kernel = torch.full((channels, 1, 3, 3), 1.0 / 9.0, dtype=images.dtype, device=images.device)
        blurred = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels).detach()
        return (images - blurred).square().mean(dim=(1, 2, 3))

    return Regularizer("blur", weight, fn)
