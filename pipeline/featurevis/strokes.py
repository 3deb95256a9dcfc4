"""Strokes as a feature-visualization parameterisation: the optimiser moves the control points of a few pen
strokes, drawn by the differentiable soft rasteriser (:mod:`pipeline.featurevis.soft_raster`), so the result is a
drawing a person can read, trace and redraw (CLIPDraw's idea, for a sketch model), not a pixel texture.

Use it wherever an image parameterisation is built: ``render(..., param="strokes")``. The settings
(``atlas.icons.strokes`` in conf/, :class:`StrokeSettings`) give the number of strokes, the points per stroke,
polylines or Bezier curves, the edge softness, the initial strokes' spread and length, the learning rate, a
smoothness penalty, and the transformation robustness, which here acts on the points before they are drawn (jitter
of each control point, a small scale, rotation and translation of the whole drawing) instead of on pixels. Every
objective works unchanged: the model sees images.

    result = render(net, [objectives.channel(layer, 3)], spec, param="strokes", raster=model.raster)
    result.images    # (1, 1, 64, 64) the strokes as the model sees them (white ink on black for sketch models)
    result.strokes   # [[(2, K) float32 arrays in 0..255, one per stroke]]: the drawing
    strokes_sketch(result.strokes[0], "cat").to_ndjson_record()   # a Quick, Draw! ndjson line

Fixed strokes: ``render(..., fixed=sketch)`` draws a person's own drawing under the learnable strokes (the image
is the maximum of both) and never changes it. It is drawn once; the robustness's scale, rotation and translation
move its picture with the strokes, so the added strokes keep their place on the drawing
(:mod:`pipeline.featurevis.show_me` is built on it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch

from core.errors import ConfigError
from core.sketch import CANVAS_MAX, Sketch
from pipeline.data.raster import RasterSpec
from pipeline.featurevis.param_base import ImageParam, seeds_for
from pipeline.featurevis.soft_raster import bezier_polylines, soft_rasterize
from pipeline.featurevis.transforms import Transform, warp
from pipeline.schema import Conf

__all__ = ["StrokeImage", "StrokeSettings", "StrokeTransform", "pack_strokes", "raster_at", "stroke_image",
           "strokes_sketch"]

#: The centre of the drawing box, about which the robustness scales and turns.
CENTRE = CANVAS_MAX / 2.0
#: How the control points of a stroke are joined.
CURVES = ("polyline", "bezier")
#: Standard deviation of the turn (radians) between consecutive segments of an initial stroke.
INIT_TURN_SD = 0.5


@dataclass(frozen=True)
class StrokeSettings:
    """How strokes are drawn and optimised.

    Attributes:
        count: Strokes per image (N >= 1).
        points: Control points per stroke (K >= 2): a polyline of K - 1 segments, or for Bezier curves 3M + 1
            points, M cubic pieces.
        curve: ``polyline`` (straight segments between the points) or ``bezier`` (smooth cubic pieces through every
            third point, drawn as polylines of ``samples`` points a piece).
        samples: Bezier curves: points sampled per cubic piece (>= 2).
        softness: Edge softness of the soft rasteriser while optimising, in pixels (0: the project's anti-aliased
            edge, which gives gradients only on the edges; more reaches strokes farther from where ink is wanted).
        jitter: Each control point moves by up to this much (0..255 units) at every step (robustness).
        scale: The whole drawing scales by a factor in [1 - scale, 1 + scale] at every step.
        rotate: ... turns by up to this many degrees.
        translate: ... and moves by up to this much (0..255 units) along each axis.
        lr: Adam learning rate, in units of the drawing box's side (0.02 moves a point about 5 units a step).
        spread: Initial strokes start within this distance (0..255 units) of the centre along each axis.
        length: Initial strokes are about this long (0..255 units).
        smooth: Weight of the smoothness penalty: the squared second differences of each stroke's control points
            (in units of the box's side), summed, added to the loss (0: none). It straightens zigzags.

    Raises:
        ConfigError: A value out of range, naming the key.
    """

    CONF: ClassVar[Conf] = Conf("atlas.icons.strokes")

    count: int
    points: int
    curve: str
    samples: int
    softness: float
    jitter: float
    scale: float
    rotate: float
    translate: float
    lr: float
    spread: float
    length: float
    smooth: float

    def __post_init__(self) -> None:
        for name, low in (("count", 1), ("points", 2), ("samples", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"atlas.icons.strokes.{name} must be an integer >= {low}, got {value!r}")
        for name in ("softness", "jitter", "scale", "rotate", "translate", "lr", "spread", "length", "smooth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"atlas.icons.strokes.{name} must be a number >= 0, got {value!r}")
        if self.curve not in CURVES:
            raise ConfigError(f"atlas.icons.strokes.curve must be one of {', '.join(CURVES)}, got {self.curve!r}")
        if self.curve == "bezier" and (self.points - 1) % 3:
            raise ConfigError(f"atlas.icons.strokes.points must be 3M + 1 (4, 7, 10, ...) for Bezier curves, got "
                              f"{self.points}")
        if self.lr <= 0:
            raise ConfigError(f"atlas.icons.strokes.lr must be a number > 0, got {self.lr!r}")
        if self.scale >= 1:
            raise ConfigError(f"atlas.icons.strokes.scale must be below 1 (a factor in [1 - scale, 1 + scale]), "
                              f"got {self.scale!r}")


def _affine(u: torch.Tensor, settings: StrokeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's random scale-and-turn matrix (B, 2, 2) and shift (B, 2, in 0..255 units), about the box's centre,
    from 4 uniform numbers per image (B, 4)."""
    factor = 1.0 + (2.0 * u[:, 0] - 1.0) * settings.scale
    angle = (2.0 * u[:, 1] - 1.0) * math.radians(settings.rotate)
    cos, sin = torch.cos(angle) * factor, torch.sin(angle) * factor
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2), \
        (2.0 * u[:, 2:4] - 1.0) * settings.translate


class StrokeTransform(Transform):
    """Transformation robustness in stroke space: consumed by :meth:`StrokeImage.sample`, not by pixels.

    Per image and step: each learnable control point moves by a uniform amount in [-jitter, jitter] on each axis,
    then the whole drawing is scaled, turned and moved (see :class:`StrokeSettings`); fixed strokes, drawn once,
    move with it as pixels (:meth:`image`), never jittered.

    Args:
        settings: The amounts, and the number of strokes and points (which set ``num_random``).
    """

    def __init__(self, settings: StrokeSettings) -> None:
        self.settings = settings
        self.num_random = 4 + settings.count * settings.points * 2

    def points(self, points: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Jitter, then scale, turn and move, the learnable control points (B, N, K, 2) in 0..255.

        Args:
            points: The points.
            u: (B, num_random) uniform numbers in [0, 1).
        """
        s = self.settings
        u = u.to(points.dtype)
        jitter = (2.0 * u[:, 4:].reshape(points.shape) - 1.0) * s.jitter
        matrix, shift = _affine(u[:, :4], s)
        centred = points + jitter - CENTRE
        return torch.einsum("bij,bnkj->bnki", matrix, centred) + CENTRE + shift[:, None, None, :]

    def image(self, images: torch.Tensor, u: torch.Tensor, raster: RasterSpec) -> torch.Tensor:
        """Scale, turn and move drawn images (B, C, S, S) as :meth:`points` moves the strokes (no jitter).

        The box's centre is the image's centre (the raster maps 0..255 onto [padding, size - padding]), so the map
        in grid_sample's normalised coordinates is the same matrix, and the shift scaled to them.
        """
        matrix, shift = _affine(u[:, :4].to(images.dtype), self.settings)
        scale = 2.0 * (raster.size - 2 * raster.padding) / CANVAS_MAX / raster.size  # 0..255 units -> [-1, 1]
        inverse = torch.linalg.inv(matrix)  # grid_sample maps each output pixel back to the input
        maps = torch.cat([inverse, -(inverse @ (shift * scale)[:, :, None])], dim=2)  # (B, 2, 3)
        return warp(images, maps)

    def apply(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        raise ConfigError("the stroke transforms move control points: use them with param='strokes' only")


class StrokeImage(ImageParam):
    """A batch of images drawn from learnable strokes (see the module docstring).

    Args:
        points: (B, N, K, 2) initial control points in 0..255.
        channels: 1 or 3 (the ink is repeated for RGB models).
        raster: The model's raster (size, line width, padding, polarity).
        settings: The stroke settings (softness; the rest is used by the renderer).
        fixed: (B, M, L, 2) points of fixed strokes drawn under the learnable ones, or None.
        fixed_opacity: (B, M) 1 for a real fixed stroke, 0 for padding (None: all real).
    """

    def __init__(self, points: torch.Tensor, channels: int, raster: RasterSpec, settings: StrokeSettings,
                 fixed: torch.Tensor | None = None, fixed_opacity: torch.Tensor | None = None) -> None:
        super().__init__(points.shape[0], channels, raster.size)
        self.raster, self.settings = raster, settings
        # Optimised in units of the box's side, so the learning rate does not depend on the 0..255 scale.
        self.unit = torch.nn.Parameter(points / CANVAS_MAX)
        fixed_ink = None
        if fixed is not None:  # drawn once: a person's drawing can have thousands of segments, and never moves
            with torch.no_grad():
                fixed_ink = soft_rasterize(fixed.to(points.dtype), raster, softness=settings.softness,
                                           opacity=None if fixed_opacity is None else fixed_opacity.to(points.dtype))
        self.register_buffer("fixed_ink", fixed_ink, persistent=False)

    def points(self) -> torch.Tensor:
        """The learnable strokes' control points, (B, N, K, 2) in 0..255 (clamped into the box)."""
        return self.unit.clamp(0.0, 1.0) * CANVAS_MAX

    def penalty(self) -> torch.Tensor:
        """(B,) the smoothness penalty of each image's strokes (see :class:`StrokeSettings`)."""
        unit = self.unit.clamp(0.0, 1.0)
        if self.settings.smooth == 0 or unit.shape[2] < 3:
            return unit.new_zeros(unit.shape[0])
        turn = unit[:, :, 2:] - 2.0 * unit[:, :, 1:-1] + unit[:, :, :-2]
        return self.settings.smooth * turn.pow(2).sum(dim=(1, 2, 3))

    def lines(self, points: torch.Tensor) -> torch.Tensor:
        """The polylines drawn for control points (B, N, K, 2): the points themselves, or their sampled Bezier
        curves."""
        if self.settings.curve == "bezier":
            return bezier_polylines(points, self.settings.samples)
        return points

    def draw(self, points: torch.Tensor, fixed_ink: torch.Tensor | None) -> torch.Tensor:
        """Render learnable control points (over the fixed strokes' ink) into render-space images (B, C, S, S)."""
        ink = soft_rasterize(self.lines(points), self.raster, softness=self.settings.softness)
        if fixed_ink is not None:
            ink = torch.maximum(ink, fixed_ink)
        image = 1.0 - ink if self.raster.invert else ink
        return image.expand(-1, self.channels, -1, -1) if self.channels > 1 else image

    def forward(self) -> torch.Tensor:
        return self.draw(self.points(), self.fixed_ink)

    def sample(self, transforms: Transform | None, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step's images: the strokes moved by the stroke-space robustness, then drawn.

        Args:
            transforms: A :class:`StrokeTransform`, or None for none.
            u: (B, num_random) uniform numbers.

        Returns:
            The images twice (the regularised ones and the ones the model sees are the same).

        Raises:
            ConfigError: A pixel transform (strokes are transformed before they are drawn).
        """
        if transforms is None:
            images = self()
            return images, images
        if not isinstance(transforms, StrokeTransform):
            raise ConfigError("param='strokes' is transformed in stroke space: give transforms='default' or None")
        fixed = None if self.fixed_ink is None else transforms.image(self.fixed_ink, u, self.raster)
        images = self.draw(transforms.points(self.points(), u), fixed)
        return images, images

    def strokes(self) -> list[list[np.ndarray]]:
        """The learnable strokes of each image: a list per image of float32 (2, K) arrays (x row, y row) in
        0..255, the layout of :class:`core.sketch.Sketch`."""
        with torch.no_grad():
            points = self.lines(self.points()).float().cpu().numpy()
        return [[np.ascontiguousarray(stroke.T) for stroke in image] for image in points]


def raster_at(raster: RasterSpec, size: int) -> RasterSpec:
    """The raster drawn at another size: line width and padding scale with it, so the drawing looks the same.

    Args:
        raster: The model's raster.
        size: The side wanted, in pixels.
    """
    if size == raster.size:
        return raster
    ratio = size / raster.size
    return replace(raster, size=size, line_width=raster.line_width * ratio, padding=round(raster.padding * ratio))


def _initial_points(seed: int, settings: StrokeSettings) -> torch.Tensor:
    """Random short strokes near the centre: (N, K, 2), a smooth random walk from a start within ``spread``."""
    generator = torch.Generator().manual_seed(seed)
    n, k = settings.count, settings.points
    start = CENTRE + (2.0 * torch.rand(n, 1, 2, generator=generator) - 1.0) * settings.spread
    heading = torch.rand(n, 1, generator=generator) * 2.0 * math.pi
    turns = torch.randn(n, k - 1, generator=generator) * INIT_TURN_SD
    angles = heading + torch.cumsum(turns, dim=1)
    steps = torch.stack([torch.cos(angles), torch.sin(angles)], -1) * (settings.length / (k - 1))
    points = torch.cat([start, start + torch.cumsum(steps, dim=1)], dim=1)
    return points.clamp(0.0, CANVAS_MAX)


def pack_strokes(sketches: Sequence[Sketch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Drawings' strokes as one padded tensor, for fixed strokes.

    Args:
        sketches: B drawings (with strokes; a drawing without any gets one invisible stroke).

    Returns:
        Points (B, M, L, 2) in 0..255 (a shorter stroke repeats its last point) and opacity (B, M) (0: padding).
    """
    m = max(1, max((len(s.strokes) for s in sketches), default=1))
    length = max(1, max((st.shape[1] for s in sketches for st in s.strokes), default=1))
    points = np.zeros((len(sketches), m, length, 2), dtype=np.float32)
    opacity = np.zeros((len(sketches), m), dtype=np.float32)
    for i, sketch in enumerate(sketches):
        for j, stroke in enumerate(sketch.strokes):
            xy = np.asarray(stroke, dtype=np.float32).T
            points[i, j, : len(xy)] = xy
            points[i, j, len(xy):] = xy[-1]
            opacity[i, j] = 1.0
    return torch.from_numpy(points), torch.from_numpy(opacity)


def stroke_image(
    batch: int,
    channels: int,
    raster: RasterSpec,
    settings: StrokeSettings,
    *,
    seed: int | Sequence[int] = 0,
    fixed: Sketch | Sequence[Sketch] | None = None,
    device: torch.device | str | None = None,
) -> StrokeImage:
    """A batch of stroke images, each from its own seed.

    Args:
        batch: Number of images B.
        channels: 1 or 3.
        raster: The model's raster (its size is the images' size).
        settings: The stroke settings.
        seed: Seed of image 0 (image i uses ``seed + i``), or one seed per image.
        fixed: A drawing drawn under the strokes of every image, or one per image, or None.
        device: Where the parameters live.

    Returns:
        The parameterisation; call it for the (B, C, S, S) images in render space.

    Raises:
        ConfigError: If the seeds or fixed drawings do not match the batch.
    """
    seeds = seeds_for(batch, seed)
    points = torch.stack([_initial_points(s, settings) for s in seeds])
    packed = opacity = None
    if fixed is not None:
        drawings = [fixed] * batch if isinstance(fixed, Sketch) else list(fixed)
        if len(drawings) != batch or not all(isinstance(d, Sketch) for d in drawings):
            raise ConfigError(f"fixed strokes: give one drawing, or one per image ({batch}), as Sketch objects")
        packed, opacity = (t.to(device) for t in pack_strokes(drawings))
    return StrokeImage(points.to(device), channels, raster, settings, packed, opacity).to(device)


def strokes_sketch(strokes: Sequence[np.ndarray], word: str, key_id: str = "strokes") -> Sketch:
    """A stroke visualization as a drawing (write it with :func:`core.ndjson.write_ndjson` or
    :meth:`Sketch.to_ndjson_record`).

    Args:
        strokes: Float (2, n) arrays in 0..255 (one image's :attr:`RenderResult.strokes`).
        word: Its class name (what the drawing is of, e.g. the concept's class).
        key_id: Its id.

    Returns:
        The sketch (coordinates clipped into 0..255).
    """
    return Sketch(key_id, word, tuple(np.clip(np.asarray(s, dtype=np.float32), 0.0, CANVAS_MAX) for s in strokes))
