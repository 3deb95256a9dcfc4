"""Feature-visualization icons for atlas cells: one image per cell that drives the cell's mean activation.

Each kept cell's mean activation vector becomes a ``direction`` objective (dot x cosine^p, as in the
Activation Atlas) at the atlas layer; the objectives are rendered ``batch_size`` at a time, each batch one
batched optimisation (:func:`pipeline.featurevis.render.render`), as pixels (``featurevis``: a decorrelated
Fourier image) or as strokes (``strokes``: a few pen strokes, drawn sharp from their points, so each icon is a small
drawing). The icons are returned as display images: sketch models' 1-channel renders are shown as dark ink on white
(as the exemplar patches), RGB renders as they are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import ClassVar
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError
from pipeline.models.input_spec import InputSpec
from pipeline.schema import Conf

__all__ = ["ICON_KINDS", "IconParams", "IconSet", "fragment_box", "render_icons", "strokes_display", "to_display"]

log = logging.getLogger(__name__)

#: What an atlas cell's icon shows: a real fragment, or a feature visualization (as pixels or as strokes).
ICON_KINDS = ("exemplar", "featurevis", "strokes")
#: The image parameterisation of each kind of rendered icon.
ICON_PARAMS = {"featurevis": "fourier", "strokes": "strokes"}
#: A stroke icon's line width, as a share of its side: the 2 px line of a 64 px sketch raster.
STROKE_ICON_LINE = 2.0 / 64


@dataclass(frozen=True)
class IconParams:
    """How icons are rendered.

    Attributes:
        steps: Optimisation steps per batch (>= 1).
        batch_size: Icons rendered together in one optimisation (>= 1).
        cos_power: The exponent p of the direction objective (dot x cosine^p), >= 0.
        size: Icon side in pixels; None renders at the model's input size.
        enabled: False skips rendering (the atlas then shows blank tiles; for quick looks and tests).
        fragment: Drive the direction at the map's centre position only and show the crop around that
            position's receptive field: one fragment of a drawing, as an exemplar patch shows it. False:
            drive it at every position (a texture that repeats the fragment over the whole image).
        kind: ``exemplar``: each cell shows the real drawing fragment nearest to its mean
            (:mod:`pipeline.atlas.exemplar_icons`); ``featurevis``: a feature visualization of its mean direction
            (the Activation Atlas's icons; ``steps``, ``batch_size``, ``cos_power`` and ``fragment`` apply);
            ``strokes``: the same visualization drawn as strokes (sketch models; the same settings apply).
    """

    CONF: ClassVar[Conf] = Conf("atlas.icons")

    steps: int
    batch_size: int
    cos_power: float
    size: int | None
    enabled: bool
    fragment: bool
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ICON_KINDS:
            raise ConfigError(f"atlas: icons.kind must be one of {', '.join(ICON_KINDS)}, got {self.kind!r}")
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ConfigError(f"atlas: icons.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.cos_power, bool) or not isinstance(self.cos_power, Real) or self.cos_power < 0:
            raise ConfigError(f"atlas: icons.cos_power must be a number >= 0, got {self.cos_power!r}")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, Integral)
                                      or self.size < 8):
            raise ConfigError(f"atlas: icons.size must be null or an integer >= 8, got {self.size!r}")
        for name in ("enabled", "fragment"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"atlas: icons.{name} must be true or false, got {getattr(self, name)!r}")


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


def fragment_box(size: int, stride: float, receptive_field: int, rf_offset: float,
                 margin: float = 1.25) -> tuple[int, int]:
    """Where the centre position's receptive field lies in a ``size`` px render: (first pixel, side).

    Args:
        size: The render's side.
        stride: The layer's stride in pixels.
        receptive_field: Its receptive field in pixels.
        rf_offset: The centre of position 0's receptive field.
        margin: The crop's side as a multiple of the receptive field (a little context around it).
    """
    positions = max(1, int(round(size / stride)))
    centre = rf_offset + stride * (positions // 2)
    side = int(min(size, max(8, round(receptive_field * margin))))
    first = int(round(min(max(centre - side / 2, 0), size - side)))
    return first, side


def _crop(images: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """(B, S, S, 3) uint8 -> the box of each, scaled back up to S x S."""
    from PIL import Image

    first, side = box
    size = images.shape[1]
    return np.stack([np.asarray(Image.fromarray(im[first:first + side, first:first + side]).resize(
        (size, size), Image.Resampling.BICUBIC)) for im in images])


def render_icons(net: nn.Module, vectors: np.ndarray, layer: str, input_spec: InputSpec, params: IconParams,
                 seed: int = 0, reference: torch.Tensor | None = None,
                 box: tuple[int, int] | None = None) -> IconSet:
    """Render one icon per activation vector with direction objectives, in batches.

    Args:
        net: The model (eval mode).
        vectors: (m, C) mean activation vectors of the cells.
        layer: The layer's module path.
        input_spec: The model's input spec (size, channels, polarity).
        params: Steps, batch size, cos power, size.
        seed: Random seed of icon 0 (icon i uses ``seed + i``, whatever the batch size).
        reference: Real inputs (N, 1, H, W) in render space: quality scores are relative to them.
        box: For fragment icons, the crop to show (:func:`fragment_box`); None shows the whole render.

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
        objectives = [direction(layer, torch.from_numpy(v.copy()), cos_power=float(params.cos_power),
                                at_centre=params.fragment) for v in block]
        result = render(net, objectives, input_spec, size=params.size, steps=params.steps, seed=seed + start,
                        progress=True, reference=reference, param=ICON_PARAMS[params.kind])
        shown = (strokes_display(result.strokes, result.images.shape[-1]) if params.kind == "strokes"
                 else to_display(_numpy(result.images), input_spec.invert))
        images.append(_crop(shown, box) if params.fragment and box is not None else shown)
        scores.append(_numpy(result.scores).astype(np.float32).reshape(-1))
        values.append(_numpy(result.values).astype(np.float32).reshape(-1))
        elapsed = time.perf_counter() - started
        log.info("icons: batch %d/%d (%d icons) done, %.1f s elapsed, about %.0f s left", b + 1, batches,
                 min(start + len(block), m), elapsed, elapsed / (b + 1) * (batches - b - 1))
    return IconSet(images=np.concatenate(images), scores=np.concatenate(scores), values=np.concatenate(values))


def strokes_display(drawings: list[list[np.ndarray]], size: int) -> np.ndarray:
    """Drawings (per image, its strokes as (2, n) arrays in 0..255) drawn sharp as dark ink on white.

    Args:
        drawings: The strokes of each image.
        size: The side of each image in pixels; the 0..255 box fills it as a sketch model's raster does.

    Returns:
        (B, size, size, 3) uint8.
    """
    from core.sketch import Sketch
    from pipeline.data.raster import RasterSpec, rasterize

    spec = RasterSpec(size=size, line_width=max(1.0, STROKE_ICON_LINE * size), padding=max(1, round(size / 32)))
    ink = np.stack([rasterize(Sketch("icon", "icon", tuple(strokes)), spec) for strokes in drawings])
    return to_display(ink[:, None], invert=False)


def _numpy(value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return np.asarray(value)
