"""Transformation robustness: random pad, jitter, scale and rotation of a batch of images, on tensors.

Optimising an image through small random transformations (Lucid's ``transform.standard_transforms``)
keeps it from exploiting pixel-exact, high-frequency patterns: a feature has to survive being moved,
scaled and turned a little. Everything here is batched (each image gets its own random draw) and
differentiable.

Randomness is explicit: a transform consumes ``num_random`` uniform numbers per image, passed as a
(B, num_random) tensor ``u``. The renderer draws them from one generator per image, so an image gets the
same transformations whether it is rendered alone or in a batch. Without ``u``, the global RNG is used.

Consecutive affine transforms (jitter, scale, rotate) inside :class:`Compose` are fused into a single
``affine_grid``/``grid_sample`` call on the whole batch, so a long chain costs one resampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.errors import ConfigError

#: Lucid's standard scales.
LUCID_SCALES: tuple[float, ...] = (1.0, 0.975, 1.025, 0.95, 1.05)
#: The image size Lucid's standard pixel amounts (pad 12, jitter 8 and 4) were chosen for.
LUCID_SIZE = 128


class Transform:
    """A random transformation of a batch of images (B, C, H, W).

    Attributes:
        num_random: Uniform numbers in [0, 1) consumed per image per call.
    """

    num_random: int = 0

    def __call__(self, images: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Transform a batch.

        Args:
            images: Float tensor (B, C, H, W).
            u: Uniform random numbers (B, num_random); drawn from the global RNG when None.

        Returns:
            The transformed batch (B, C, H', W').
        """
        if u is None:
            u = torch.rand(images.shape[0], self.num_random, device=images.device)
        return self.apply(images, u)

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Transform a batch with the given random numbers (see :meth:`__call__`)."""
        raise NotImplementedError


class AffineTransform(Transform):
    """A random affine map, sampled bilinearly; pixels that come from outside the image get ``fill``.

    Args:
        fill: Value for pixels sampled from outside the image (the background: 0 for white-on-black
            sketches, 1 for dark ink on white).
    """

    def __init__(self, fill: float = 0.0) -> None:
        self.fill = float(fill)

    def matrices(self, u: torch.Tensor, size: int) -> torch.Tensor:
        """Per-image maps from output to input coordinates.

        Args:
            u: Uniform random numbers (B, num_random).
            size: Image side in pixels (images are square; normalised coordinates are in [-1, 1]).

        Returns:
            Tensor (B, 3, 3): homogeneous matrices in normalised coordinates.
        """
        raise NotImplementedError

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return warp(images, self.matrices(u, images.shape[-1]), self.fill)


class Jitter(AffineTransform):
    """Random translation by a whole number of pixels in [-pixels, pixels] along each axis.

    Args:
        pixels: Largest shift.
        fill: Background value for the uncovered border.

    Raises:
        ConfigError: If ``pixels`` is negative.
    """

    num_random = 2

    def __init__(self, pixels: int, fill: float = 0.0) -> None:
        super().__init__(fill)
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
            raise ConfigError(f"jitter: expected a number of pixels >= 0, got {pixels!r}")
        self.pixels = pixels

    def matrices(self, u: torch.Tensor, size: int) -> torch.Tensor:
        shift = torch.floor(u * (2 * self.pixels + 1)).clamp(max=2 * self.pixels) - self.pixels
        m = _eye(u)
        # Moving the content by +t pixels samples the input at -t; one pixel is 2/size normalised units.
        m[:, 0, 2] = -shift[:, 0] * 2.0 / size
        m[:, 1, 2] = -shift[:, 1] * 2.0 / size
        return m


class RandomScale(AffineTransform):
    """Random zoom by one of the given factors (about the image centre).

    Args:
        scales: Candidate factors; > 1 enlarges.
        fill: Background value for the uncovered border.

    Raises:
        ConfigError: If ``scales`` is empty or has a factor <= 0.
    """

    num_random = 1

    def __init__(self, scales: Sequence[float] = LUCID_SCALES, fill: float = 0.0) -> None:
        super().__init__(fill)
        scales = [float(s) for s in scales]
        if not scales or any(not math.isfinite(s) or s <= 0 for s in scales):
            raise ConfigError(f"scale: expected a non-empty list of factors > 0, got {scales}")
        self.scales = torch.tensor(scales)

    def matrices(self, u: torch.Tensor, size: int) -> torch.Tensor:
        index = torch.floor(u[:, 0] * len(self.scales)).long().clamp(max=len(self.scales) - 1)
        inverse = 1.0 / self.scales.to(u.device, u.dtype)[index]
        m = _eye(u)
        m[:, 0, 0] = inverse
        m[:, 1, 1] = inverse
        return m


class RandomRotate(AffineTransform):
    """Random rotation by an angle drawn uniformly from [-degrees, degrees].

    Args:
        degrees: Largest angle, in degrees.
        fill: Background value for the uncovered corners.

    Raises:
        ConfigError: If ``degrees`` is negative.
    """

    num_random = 1

    def __init__(self, degrees: float = 5.0, fill: float = 0.0) -> None:
        super().__init__(fill)
        if not math.isfinite(degrees) or degrees < 0:
            raise ConfigError(f"rotate: expected a largest angle >= 0 (degrees), got {degrees!r}")
        self.degrees = float(degrees)

    def matrices(self, u: torch.Tensor, size: int) -> torch.Tensor:
        angle = (u[:, 0] * 2.0 - 1.0) * math.radians(self.degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        m = _eye(u)
        m[:, 0, 0], m[:, 0, 1] = cos, -sin
        m[:, 1, 0], m[:, 1, 1] = sin, cos
        return m


class Pad(Transform):
    """Pad every side by a fixed number of pixels.

    Args:
        pixels: Border width.
        fill: Value of the border (``mode="constant"``).
        mode: ``"constant"`` or ``"reflect"``.

    Raises:
        ConfigError: If ``pixels`` is negative or ``mode`` unknown.
    """

    def __init__(self, pixels: int, fill: float = 0.0, mode: str = "constant") -> None:
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
            raise ConfigError(f"pad: expected a number of pixels >= 0, got {pixels!r}")
        if mode not in ("constant", "reflect"):
            raise ConfigError(f"pad: mode must be 'constant' or 'reflect', got {mode!r}")
        self.pixels, self.fill, self.mode = pixels, float(fill), mode

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.pixels == 0:
            return images
        if self.mode == "reflect":
            return F.pad(images, (self.pixels,) * 4, mode="reflect")
        return F.pad(images, (self.pixels,) * 4, value=self.fill)


class CenterCrop(Transform):
    """Cut the central ``size`` x ``size`` square (undoes :class:`Pad`; a view, no copy).

    Args:
        size: Output side in pixels.

    Raises:
        ConfigError: If ``size`` is not a positive integer.
    """

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"crop: expected a positive size in pixels, got {size!r}")
        self.size = size

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if self.size > min(height, width):
            raise ConfigError(f"crop: cannot cut {self.size} pixels from a {height}x{width} image")
        top, left = (height - self.size) // 2, (width - self.size) // 2
        return images[..., top : top + self.size, left : left + self.size]


class Compose(Transform):
    """Apply transforms in order; runs of affine transforms are fused into one resampling.

    Args:
        transforms: The transforms, first applied first.
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)
        self.num_random = sum(t.num_random for t in self.transforms)

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        column = 0
        pending: torch.Tensor | None = None  # the fused matrix of the current run of affine transforms
        fill = 0.0
        for transform in self.transforms:
            part = u[:, column : column + transform.num_random]
            column += transform.num_random
            if isinstance(transform, AffineTransform):
                m = transform.matrices(part, images.shape[-1])
                # Output -> input maps compose right to left: the first transform's map is applied last.
                pending = m if pending is None else pending @ m
                fill = transform.fill
                continue
            if pending is not None:
                images, pending = warp(images, pending, fill), None
            images = transform.apply(images, part)
        if pending is not None:
            images = warp(images, pending, fill)
        return images


def warp(images: torch.Tensor, matrices: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Resample each image of a batch through its own affine map (bilinear).

    Args:
        images: Float tensor (B, C, H, W).
        matrices: (B, 3, 3) or (B, 2, 3) maps from output to input normalised coordinates.
        fill: Value of pixels sampled from outside the image.

    Returns:
        The warped batch, same shape as ``images``.
    """
    grid = F.affine_grid(matrices[:, :2].to(images.dtype), list(images.shape), align_corners=False)
    if fill == 0.0:
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # grid_sample pads with zeros; shifting by the fill value makes the outside read as background.
    return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def default_transforms(size: int, fill: float = 0.0) -> Compose:
    """Lucid's standard chain, with its pixel amounts scaled from 128-pixel renders to ``size``.

    Pad 12, jitter 8, scale (1, 0.975, 1.025, 0.95, 1.05), rotate -5..5 degrees, jitter 4 (at 128 pixels),
    then a centre crop back to ``size`` so the model sees images of the size it was trained on.

    Args:
        size: Side of the rendered images in pixels.
        fill: Background value (0 for white-on-black sketches, 1 for dark ink on white).

    Returns:
        The composed transform.
    """
    factor = size / LUCID_SIZE
    return Compose(
        [
            Pad(max(1, round(12 * factor)), fill),
            Jitter(max(1, round(8 * factor)), fill),
            RandomScale(LUCID_SCALES, fill),
            RandomRotate(5.0, fill),
            Jitter(max(1, round(4 * factor)), fill),
            CenterCrop(size),
        ]
    )


def _eye(u: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, dtype=u.dtype, device=u.device).repeat(u.shape[0], 1, 1)
