"""The base of every image parameterisation (:mod:`pipeline.featurevis.param`'s Fourier and pixel images,
:mod:`pipeline.featurevis.strokes`' strokes): a batch of images as a function of learnable parameters. It sits
beneath both so that :func:`pipeline.featurevis.param.make_param` can build strokes without an import circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.featurevis.transforms import Transform

#: Square root of the colour correlation of ImageNet, from Lucid (``lucid.optvis.param.color``).
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)


class ImageParam(nn.Module):
    """A batch of images as a function of learnable parameters.

    Calling the module returns the images, shape (B, C, H, W) with values in [0, 1]. Subclasses hold the
    parameters; :func:`~pipeline.featurevis.param.make_param` builds them (Fourier, pixel or
    :mod:`~pipeline.featurevis.strokes` images).

    Args:
        batch: Number of images B.
        channels: Channels C (1 for sketch models, 3 for RGB models).
        size: Side length in pixels (square images).
        bias: Added to the logits before the sigmoid: 0 starts at mid grey as in Lucid; a negative value
            starts near black (the background of a white-on-black sketch), a positive one near white.
    """

    def __init__(self, batch: int, channels: int, size: int, bias: float = 0.0) -> None:
        super().__init__()
        self.batch, self.channels, self.size, self.bias = batch, channels, size, float(bias)

    def logits(self) -> torch.Tensor:
        """The images before the sigmoid, (B, C, H, W)."""
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        """The images, (B, C, H, W) in [0, 1]."""
        z = self.logits()
        if self.channels == 3:
            z = decorrelate_colors(z)
        return torch.sigmoid(z + self.bias)

    def penalty(self) -> torch.Tensor:
        """A regulariser on the parameters themselves, added to the loss (none for pixel parameterisations)."""
        return torch.zeros(())

    def sample(self, transforms: Transform | None, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step's images: as drawn (for the regularisers) and as transformed (for the model).

        Args:
            transforms: Pixel-space transforms, or None.
            u: (B, num_random) uniform numbers for the transforms.

        Returns:
            The images and the transformed images.
        """
        images = self()
        return images, (transforms.apply(images, u) if transforms is not None else images)


def decorrelate_colors(image: torch.Tensor) -> torch.Tensor:
    """Map decorrelated colour components to RGB logits (Lucid's ``_linear_decorrelate_color``).

    Args:
        image: Tensor (B, 3, H, W) in the decorrelated basis.

    Returns:
        Tensor (B, 3, H, W) in RGB.
    """
    matrix = COLOR_CORRELATION_SVD_SQRT.to(image.device, image.dtype)
    matrix = matrix / matrix.norm(dim=0).max()  # Lucid's max_norm_svd_sqrt normalisation
    return torch.einsum("bchw,dc->bdhw", image, matrix)


def seeds_for(batch: int, seed: int | Sequence[int]) -> list[int]:
    """One seed per image of a batch.

    Args:
        batch: Number of images.
        seed: One int (image i gets ``seed + i``) or one seed per image.

    Returns:
        The batch's seeds.

    Raises:
        ConfigError: A sequence of another length than the batch.
    """
    if isinstance(seed, int) and not isinstance(seed, bool):
        return [seed + i for i in range(batch)]
    seeds = [int(s) for s in seed]
    if len(seeds) != batch:
        raise ConfigError(f"seed: {len(seeds)} seeds for {batch} images; give one int or one seed per image")
    return seeds
