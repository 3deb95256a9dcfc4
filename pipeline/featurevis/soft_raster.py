"""A differentiable soft rasteriser: polylines in the 0..255 drawing box to ink images, in torch.

Each pixel's ink comes from its distance to the nearest segment of a stroke, at the model's line width, with
the geometry of :mod:`pipeline.data.raster` (the box 0..255 maps onto ``[padding, size - padding]`` on both axes,
y down; pixel i spans ``[i, i + 1)``, so its centre is at ``i + 0.5``). A stroke is a round-capped, round-joined
pen line: the set of points within half the line width of the polyline, so a one-point stroke is a dot.

The edge profile, with ``r`` half the line width and ``d`` the distance from the pixel's centre:

- ``softness = 0``: ``clamp(0.5 + r - d, 0, 1)``, the fraction of the pixel a straight edge covers: the
  anti-aliased image :func:`pipeline.data.raster.rasterize` draws (it supersamples; this is its analytic
  counterpart). Gradients reach only pixels on the edge.
- ``softness = s > 0``: ``sigmoid((r - d) / s)`` (s in pixels): a smooth edge whose tail reaches pixels a few
  ``s`` away, so a stroke far from where the objective wants ink still gets a gradient. At ``s = 0.25`` its
  slope at the edge is the hard profile's.

Strokes are combined with a maximum (ink does not add up where strokes cross, as with a pen), each scaled by its
opacity (0 leaves a stroke out: the mask of padded strokes). Everything is vectorised over images, strokes,
segments and pixels; the batch is cut into chunks so memory stays bounded (about ``CHUNK_ELEMENTS`` floats per
intermediate tensor).

    from pipeline.featurevis.soft_raster import soft_rasterize
    ink = soft_rasterize(points, RasterSpec(size=64, line_width=2.0), softness=0.5)   # (B, 1, 64, 64)

Bezier curves: :func:`bezier_polylines` samples cubic Bezier control points into polylines first.
"""

from __future__ import annotations

import math

import torch

from core.errors import ConfigError
from core.sketch import CANVAS_MAX
from pipeline.data.raster import RasterSpec

__all__ = ["CHUNK_ELEMENTS", "bezier_polylines", "canvas_to_pixels", "edge_profile", "soft_rasterize"]

#: Images are rasterised in chunks of at most this many (image, segment, pixel) distances.
CHUNK_ELEMENTS = 4_000_000
#: Added under the square root of a squared distance, so a pixel on a point has a finite gradient.
DISTANCE_EPS = 1e-8


def canvas_to_pixels(points: torch.Tensor, spec: RasterSpec) -> torch.Tensor:
    """Map 0..255 drawing-box coordinates to continuous pixel coordinates of the raster.

    Args:
        points: Tensor (..., 2) of x, y in 0..255.
        spec: The raster (size and padding).

    Returns:
        Tensor (..., 2) in pixels (pixel i spans [i, i + 1)).
    """
    scale = (spec.size - 2 * spec.padding) / CANVAS_MAX
    return points * scale + spec.padding


def edge_profile(distance: torch.Tensor, radius: float, softness: float) -> torch.Tensor:
    """Ink as a function of the distance to the stroke's centre line (see the module docstring).

    Args:
        distance: Distances in pixels (>= 0).
        radius: Half the line width in pixels.
        softness: 0 for the anti-aliased edge of the project's raster, s > 0 for a sigmoid edge of width s.

    Returns:
        Ink in [0, 1], the shape of ``distance``.
    """
    if softness == 0:
        return (0.5 + radius - distance).clamp(0.0, 1.0)
    return torch.sigmoid((radius - distance) / softness)


def _check(points: torch.Tensor, opacity: torch.Tensor | None, softness: float) -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 4 or points.shape[-1] != 2 or points.shape[2] < 1:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ConfigError(f"soft raster: points must be a tensor (B, N strokes, K >= 1 points, 2), got {shape}")
    if opacity is not None and (not isinstance(opacity, torch.Tensor) or tuple(opacity.shape) != tuple(points.shape[:2])):
        shape = tuple(opacity.shape) if isinstance(opacity, torch.Tensor) else type(opacity).__name__
        raise ConfigError(f"soft raster: opacity must be a tensor (B, N) = {tuple(points.shape[:2])}, got {shape}")
    if isinstance(softness, bool) or not isinstance(softness, (int, float)) or not math.isfinite(softness) \
            or softness < 0:
        raise ConfigError(f"soft raster: softness must be a number >= 0 (pixels), got {softness!r}")


def _segment_distances(pixels: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Each pixel's distance to the nearest segment of each stroke.

    The nearest segment is found without autograd (the (images, strokes, segments, pixels) tensor is the large
    one); the distance to it is then recomputed with autograd on (images, strokes, pixels) only. The gradient of
    a minimum is the gradient of its argument where it is reached, so this is exact and about a segment count
    cheaper in the backward pass.

    Args:
        pixels: (B, N, K, 2) stroke points in pixel coordinates.
        gx: (P,) pixel centres' x.
        gy: (P,) pixel centres' y.

    Returns:
        (B, N, P) distances in pixels.
    """
    if pixels.shape[2] == 1:
        start = end = pixels  # a one-point stroke: a dot, a segment of length 0
    else:
        start, end = pixels[:, :, :-1], pixels[:, :, 1:]
    with torch.no_grad():
        # (B, N, P, S): segments last, so the reduction runs over contiguous memory (several times faster).
        nearest = _squared(start.detach()[:, :, None], end.detach()[:, :, None], gx[:, None], gy[:, None]).argmin(dim=3)
    index = nearest[..., None].expand(*nearest.shape, 2)
    a = torch.gather(start, 2, index)  # (B, N, P, 2): each pixel's nearest segment
    b = torch.gather(end, 2, index)
    return torch.sqrt(_squared(a, b, gx, gy) + DISTANCE_EPS)


def _squared(start: torch.Tensor, end: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Squared distances from the pixel centres (gx, gy), broadcast on the last axis, to the segments start-end
    (..., 2): x and y are kept apart, which is several times faster than a trailing axis of 2."""
    ax, ay = start[..., 0], start[..., 1]
    ex, ey = end[..., 0] - ax, end[..., 1] - ay
    rx, ry = gx - ax, gy - ay
    length2 = (ex * ex + ey * ey).clamp_min(1e-12)  # a repeated point is a segment of length 0
    t = ((rx * ex + ry * ey) / length2).clamp(0.0, 1.0)  # where the nearest point lies along the segment
    dx, dy = rx - t * ex, ry - t * ey
    return dx * dx + dy * dy


def soft_rasterize(
    points: torch.Tensor,
    spec: RasterSpec,
    *,
    softness: float = 0.0,
    opacity: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rasterise polylines as ink images, differentiably in the points (and the opacities).

    Args:
        points: (B, N, K, 2) control points of N strokes of K points per image, x and y in 0..255 (y down).
            A stroke with fewer points repeats its last one (a repeated point adds nothing).
        spec: The raster: ``size``, ``line_width`` (output pixels) and ``padding`` are used; ``invert`` and
            ``supersample`` are not (the output is ink, and the edge is analytic).
        softness: Edge softness in pixels (0: the anti-aliased edge of :mod:`pipeline.data.raster`).
        opacity: (B, N) per-stroke opacity in [0, 1] (0 leaves a stroke out); None: every stroke at 1.

    Returns:
        (B, 1, size, size) ink in [0, 1], in the dtype of ``points``.

    Raises:
        ConfigError: If a shape or the softness is invalid.
    """
    _check(points, opacity, softness)
    batch, strokes, count = points.shape[:3]
    size = spec.size
    centres = torch.arange(size, device=points.device, dtype=points.dtype) + 0.5
    gy, gx = (axis.reshape(-1) for axis in torch.meshgrid(centres, centres, indexing="ij"))  # (P,) each, row-major
    pixels = canvas_to_pixels(points, spec)
    per_image = strokes * max(1, count - 1) * size * size
    chunk = max(1, CHUNK_ELEMENTS // max(1, per_image))
    rows = []
    for first in range(0, batch, chunk):
        distance = _segment_distances(pixels[first:first + chunk], gx, gy)
        ink = edge_profile(distance, spec.line_width / 2.0, float(softness))  # (b, N, P)
        if opacity is not None:
            ink = ink * opacity[first:first + chunk, :, None].to(ink.dtype)
        rows.append(ink.amax(dim=1) if strokes else ink.new_zeros(ink.shape[0], size * size))
    return torch.cat(rows).reshape(batch, 1, size, size)


def bezier_polylines(control: torch.Tensor, samples: int) -> torch.Tensor:
    """Sample piecewise cubic Bezier curves into polylines (differentiably in the control points).

    Args:
        control: (B, N, 3M + 1, 2): M cubic pieces per stroke sharing their end points.
        samples: Points sampled per piece (>= 2), the last of one piece being the first of the next.

    Returns:
        (B, N, M (samples - 1) + 1, 2) polyline points.

    Raises:
        ConfigError: If the control points are not 3M + 1 per stroke or ``samples`` < 2.
    """
    if control.ndim != 4 or control.shape[-1] != 2 or (control.shape[2] - 1) % 3 or control.shape[2] < 4:
        raise ConfigError(f"bezier: control points must be (B, N, 3M + 1, 2) with M >= 1, got {tuple(control.shape)}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"bezier: samples must be an integer >= 2, got {samples!r}")
    pieces = (control.shape[2] - 1) // 3
    t = torch.linspace(0.0, 1.0, samples, device=control.device, dtype=control.dtype)[:-1]
    basis = torch.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3], dim=1)  # (T, 4)
    index = torch.arange(pieces, device=control.device)[:, None] * 3 + torch.arange(4, device=control.device)
    quads = control[:, :, index]  # (B, N, M, 4, 2)
    curve = torch.einsum("tj,bnmjc->bnmtc", basis, quads).flatten(2, 3)  # (B, N, M (samples - 1), 2)
    return torch.cat([curve, control[:, :, -1:]], dim=2)
