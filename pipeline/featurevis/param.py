"""Image parameterisations: what the optimiser actually changes when it renders a feature.

The Fourier parameterisation (Lucid's ``fft_image``) optimises the image's spectrum with each frequency
scaled by 1/frequency. That whitens the gradient: plain pixel gradients are dominated by high frequencies
and give noisy, adversarial-looking images, while the scaled spectrum lets coarse structure form first.
For 3-channel models the colours are decorrelated too (Lucid's ``to_valid_rgb``). A sigmoid maps the
result into [0, 1], the range of a rendered sketch.

All images of a batch live in one tensor, so the inverse FFT of the whole batch is one call per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from core.errors import ConfigError
from pipeline.featurevis.param_base import ImageParam, seeds_for  # beneath this module and strokes.py

#: Lucid divides the spectrum by this so its initial pixel values have a sensible scale.
FOURIER_MAGIC = 4.0
#: Standard deviation of the initial spectrum or pixel logits (Lucid's default).
INIT_SD = 0.01
PARAMS = ("fourier", "pixel", "strokes")


class FourierImage(ImageParam):
    """Images parameterised by their scaled 2-D spectrum (see the module docstring)."""

    def __init__(self, spectrum: torch.Tensor, size: int, decay_power: float, bias: float) -> None:
        batch, channels = spectrum.shape[:2]
        super().__init__(batch, channels, size, bias)
        self.spectrum = nn.Parameter(spectrum)  # (B, C, H, W//2+1, 2): real and imaginary parts
        freqs = rfft2d_freqs(size, size)
        # 1/f scaling (clamped at the lowest non-zero frequency so the DC term stays finite).
        scale = 1.0 / freqs.clamp_min(1.0 / size) ** decay_power
        self.register_buffer("scale", scale[None, None, :, :, None].to(spectrum.dtype), persistent=False)

    def logits(self) -> torch.Tensor:
        spectrum = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        image = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho")
        return image / FOURIER_MAGIC


class PixelImage(ImageParam):
    """Images parameterised directly by their pixel logits (no decorrelation of space)."""

    def __init__(self, pixels: torch.Tensor, bias: float) -> None:
        batch, channels, size = pixels.shape[0], pixels.shape[1], pixels.shape[-1]
        super().__init__(batch, channels, size, bias)
        self.pixels = nn.Parameter(pixels)

    def logits(self) -> torch.Tensor:
        return self.pixels


def rfft2d_freqs(height: int, width: int) -> torch.Tensor:
    """Spatial frequency magnitude of each coefficient of a real 2-D FFT.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        Float tensor (height, width // 2 + 1) of frequencies in cycles per pixel.
    """
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def _check(batch: int, channels: int, size: int) -> None:
    for name, value in (("batch", batch), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"featurevis param: {name} must be a positive integer, got {value!r}")
    if channels not in (1, 3):
        raise ConfigError(f"featurevis param: channels must be 1 (sketch models) or 3 (RGB models), got {channels!r}")


def _noise(shape: Sequence[int], seeds: list[int], sd: float, device: torch.device | str | None) -> torch.Tensor:
    # One generator per image: image i starts the same whether it is rendered alone or in a batch.
    rows = [torch.randn(tuple(shape), generator=torch.Generator().manual_seed(s)) * sd for s in seeds]
    return torch.stack(rows).to(device)


def fourier_image(
    batch: int,
    channels: int,
    size: int,
    *,
    seed: int | Sequence[int] = 0,
    sd: float = INIT_SD,
    decay_power: float = 1.0,
    bias: float = 0.0,
    device: torch.device | str | None = None,
) -> FourierImage:
    """A batch of images in Lucid's decorrelated Fourier basis.

    Args:
        batch: Number of images B.
        channels: 1 or 3.
        size: Side length in pixels.
        seed: Seed of image 0 (image i uses ``seed + i``), or one seed per image.
        sd: Standard deviation of the initial spectrum.
        decay_power: Exponent of the 1/frequency scaling (1 as in Lucid).
        bias: Logit offset before the sigmoid (see :class:`ImageParam`).
        device: Where the parameters live.

    Returns:
        The parameterisation; call it for the (B, C, size, size) images in [0, 1].

    Raises:
        ConfigError: If an argument is out of range.
    """
    _check(batch, channels, size)
    spectrum = _noise((channels, size, size // 2 + 1, 2), seeds_for(batch, seed), sd, device)
    return FourierImage(spectrum, size, decay_power, bias).to(device)


def pixel_image(
    batch: int,
    channels: int,
    size: int,
    *,
    seed: int | Sequence[int] = 0,
    sd: float = INIT_SD,
    bias: float = 0.0,
    device: torch.device | str | None = None,
) -> PixelImage:
    """A batch of images parameterised by pixel logits.

    Args:
        batch: Number of images B.
        channels: 1 or 3.
        size: Side length in pixels.
        seed: Seed of image 0 (image i uses ``seed + i``), or one seed per image.
        sd: Standard deviation of the initial logits.
        bias: Logit offset before the sigmoid (see :class:`ImageParam`).
        device: Where the parameters live.

    Returns:
        The parameterisation; call it for the (B, C, size, size) images in [0, 1].

    Raises:
        ConfigError: If an argument is out of range.
    """
    _check(batch, channels, size)
    return PixelImage(_noise((channels, size, size), seeds_for(batch, seed), sd, device), bias).to(device)


def make_param(
    kind: str,
    batch: int,
    channels: int,
    size: int,
    *,
    seed: int | Sequence[int] = 0,
    bias: float = 0.0,
    device: torch.device | str | None = None,
    **strokes: Any,
) -> ImageParam:
    """Build a parameterisation by name (``"fourier"``, ``"pixel"`` or ``"strokes"``).

    Args:
        kind: ``"fourier"``, ``"pixel"`` or ``"strokes"`` (:mod:`pipeline.featurevis.strokes`).
        batch: Number of images.
        channels: 1 or 3.
        size: Side length in pixels.
        seed: Seed of image 0, or one per image.
        bias: Logit offset before the sigmoid (not used by strokes).
        device: Where the parameters live.
        **strokes: For ``"strokes"``: ``raster`` (a :class:`~pipeline.data.raster.RasterSpec`, whose size is
            replaced by ``size``), ``settings`` (:class:`~pipeline.featurevis.strokes.StrokeSettings`) and
            optionally ``fixed`` (drawings under the strokes); see :func:`~pipeline.featurevis.strokes.stroke_image`.

    Returns:
        The parameterisation.

    Raises:
        ConfigError: If ``kind`` is unknown or an argument is out of range.
    """
    if kind == "fourier":
        return fourier_image(batch, channels, size, seed=seed, bias=bias, device=device)
    if kind == "pixel":
        return pixel_image(batch, channels, size, seed=seed, bias=bias, device=device)
    if kind == "strokes":
        from pipeline.featurevis.strokes import raster_at, stroke_image  # loaded only when strokes are asked for

        _check(batch, channels, size)
        return stroke_image(batch, channels, raster_at(strokes.pop("raster"), size), strokes.pop("settings"),
                            seed=seed, device=device, **strokes)
    raise ConfigError(f"param: unknown image parameterisation {kind!r}; choose one of {', '.join(PARAMS)}")
