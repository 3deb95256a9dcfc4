"""DeepDream: amplify what a layer (or one channel) sees in a given sketch, over several octaves.

Gradient ascent on the image itself (no parameterisation) for the mean square of the layer's activations,
starting from the smallest octave of an image pyramid: what is amplified at a coarse scale is carried up
as "detail" and refined at each finer scale (Mordvintsev et al., 2015). Each step shifts the image by a
random roll so the result does not lock onto the pixel grid, and normalises the gradient so the step size
is the same whatever the layer's scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError
from pipeline.featurevis.objectives import DeepDream, Objective
from pipeline.featurevis.render import LayerCapture, frozen
from pipeline.models.input_spec import InputSpec, to_model_input

#: The smallest octave may not be smaller than this many pixels: below it the model sees nothing useful.
MIN_OCTAVE_SIZE = 16


def most_octaves(side: int, octave_scale: float) -> int:
    """The most octaves of scale ``octave_scale`` a ``side`` x ``side`` image has room for (at least 1): the
    smallest octave keeps :data:`MIN_OCTAVE_SIZE` pixels."""
    if side <= MIN_OCTAVE_SIZE:
        return 1
    return 1 + int(math.log(side / MIN_OCTAVE_SIZE) / math.log(octave_scale))


def _as_batch(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    if tensor.ndim == 2:
        tensor = tensor[None, None]
    elif tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.ndim != 4:
        raise ConfigError(f"dream: expected an image (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(tensor.shape)}")
    return tensor


def deepdream(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    input_spec: InputSpec,
    layer: str,
    *,
    channel: int | None = None,
    objective: Objective | None = None,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 20,
    lr: float = 0.02,
    jitter: int = 2,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: Callable[[float], bool] | None = None,
) -> torch.Tensor:
    """Dream on a sketch: amplify a layer (or one of its channels) with multi-scale gradient ascent.

    Args:
        model: The network; frozen during dreaming, then restored.
        image: The sketch in render space, values in [0, 1]: (H, W), (C, H, W) or (N, C, H, W), with 1 or
            ``input_spec.channels`` channels (e.g. :func:`pipeline.data.raster.rasterize` output).
        input_spec: The model's input spec.
        layer: Dotted module path of the layer to amplify.
        channel: One channel to amplify, or None for the whole layer.
        objective: Dream toward this objective on ``layer`` instead (a concept's or a cell's
            :class:`~pipeline.featurevis.objectives.Direction`); ``channel`` is then ignored.
        octaves: Number of scales of the image pyramid (>= 1).
        octave_scale: Size ratio between consecutive octaves (> 1).
        steps: Gradient steps per octave (>= 0).
        lr: Step size, as a fraction of the [0, 1] range per unit of mean absolute gradient.
        jitter: Largest random roll in pixels applied before each step.
        seed: Seed of the random rolls.
        device: Where to run (default: the model's device).
        progress: Called after every step with the fraction done; returning False stops the dream there (the
            image so far is returned).

    Returns:
        The dreamed images, (N, C, H, W) float in [0, 1], on the CPU.

    Raises:
        ConfigError: If an argument is out of range (too many octaves for the image size, a channel the
            layer does not have, ...).
        UnknownLayerError: If ``layer`` names no module of the model.
    """
    base = _as_batch(image)
    for name, value, low in (("octaves", octaves, 1), ("steps", steps, 0), ("jitter", jitter, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"dream: {name} must be an integer >= {low}, got {value!r}")
    if not isinstance(octave_scale, (int, float)) or not math.isfinite(octave_scale) or octave_scale <= 1:
        raise ConfigError(f"dream: octave_scale must be a number > 1, got {octave_scale!r}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"dream: lr must be a number > 0, got {lr!r}")
    height, width = base.shape[-2:]
    smallest = min(height, width) / octave_scale ** (octaves - 1)
    if smallest < MIN_OCTAVE_SIZE:
        most = most_octaves(min(height, width), octave_scale)
        raise ConfigError(
            f"dream: {octaves} octaves of scale {octave_scale} shrink a {height}x{width} image to {smallest:.0f} pixels; "
            f"use at most {max(1, most)} octaves (the smallest must be >= {MIN_OCTAVE_SIZE} pixels)"
        )
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    base = base.to(device)
    objective = objective if objective is not None else DeepDream(layer, channel)
    generator = torch.Generator().manual_seed(seed)

    with frozen(model), LayerCapture(model, [layer]) as capture, torch.enable_grad():
        with torch.no_grad():
            probe = capture(to_model_input(base[:1], input_spec))
        objective.check(probe[layer].shape)
        sizes = [
            (max(1, round(height / octave_scale**k)), max(1, round(width / octave_scale**k)))
            for k in reversed(range(octaves))
        ]
        detail = base.new_zeros(base.shape[0], base.shape[1], *sizes[0])
        x = base
        total, done = max(1, steps * len(sizes)), 0
        for size in sizes:
            scaled = base if size == (height, width) else F.interpolate(base, size=size, mode="bilinear", align_corners=False, antialias=True)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False) if detail.shape[-2:] != size else detail
            x = (scaled + detail).clamp(0.0, 1.0)
            for _ in range(steps):
                dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=generator) if jitter else torch.zeros(2, dtype=torch.long)).tolist()
                x = x.detach().requires_grad_(True)
                shifted = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
                value = objective(capture(to_model_input(shifted, input_spec))[layer]).sum()
                (grad,) = torch.autograd.grad(value, x)
                # Normalise per image: the step is `lr` of the range per unit mean |gradient|.
                grad = grad / (grad.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
                x = (x.detach() + lr * grad).clamp(0.0, 1.0)
                done += 1
                if progress is not None and progress(done / total) is False:
                    stopped = x.detach() if size == (height, width) else F.interpolate(
                        x.detach(), size=(height, width), mode="bilinear", align_corners=False)
                    return stopped.float().cpu()
            detail = x.detach() - scaled
    return x.detach().float().cpu()
