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
    if opacity is not None and (not isinstance(opacity, torch.Tensor)
                                or tuple(opacity.shape) != tuple(points.shape[:2])):
        shape = tuple(opacity.shape) if isinstance(opacity, torch.Tensor) else type(opacity).__name__
        raise ConfigError(f"soft raster: opacity must be a tensor (B, N) = {tuple(points.shape[:2])}, got {shape}")
    if isinstance(softness, bool) or not isinstance(softness, (int, float)) or not math.isfinite(softness) \
            or softness < 0:
        raise ConfigError(f"soft raster: softness must be a number >= 0 (pixels), got {softness!r}")


def _segments(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The segments' start and end points, (B, N, S, 2) each, of (B, N, K, 2) strokes (a one-point stroke is a
    dot: one segment of length 0)."""
    if pixels.shape[2] == 1:
        return pixels, pixels
    return pixels[:, :, :-1], pixels[:, :, 1:]


@torch.no_grad()
def _nearest(start: torch.Tensor, end: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor,
             hidden: torch.Tensor | None = None) -> torch.Tensor:
    """The index of each pixel's nearest segment in each group of segments.

    The squared distance ``|r|^2 - 2 t (r . e) + t^2 |e|^2`` (r: pixel minus segment start, e: the segment, t: the
    clamped projection) is built from two matrix products of the pixels' ``(x, y, 1, x^2 + y^2)`` rows, so most of
    the work is one BLAS call rather than a dozen element-wise passes; the result only picks the segment, whose
    distance is then recomputed directly (and differentiably) by :func:`_squared`.

    Args:
        start: (B, G, S, 2) segment starts in G groups of S.
        end: (B, G, S, 2) segment ends.
        gx: (P,) pixel centres' x.
        gy: (P,) pixel centres' y.
        hidden: (B, G, S) True for segments never to pick (unless a group has nothing else), or None.

    Returns:
        (B, G, P) indices into S.
    """
    b, g, s = start.shape[:3]
    ax, ay = start[..., 0].reshape(-1), start[..., 1].reshape(-1)  # (M,) with M = B G S
    ex, ey = end[..., 0].reshape(-1) - ax, end[..., 1].reshape(-1) - ay
    e2 = (ex * ex + ey * ey).clamp_min(1e-12)
    inverse = 1.0 / e2  # multiplying is faster than dividing, on the (P, M) product
    rows = torch.stack([gx, gy, torch.ones_like(gx), gx * gx + gy * gy], dim=1)  # (P, 4)
    project = torch.stack([ex, ey, -(ax * ex + ay * ey), torch.zeros_like(ex)])  # (4, M): r . e
    square = torch.stack([-2 * ax, -2 * ay, ax * ax + ay * ay, torch.ones_like(ax)])  # (4, M): |r|^2
    dot = rows @ project  # (P, M)
    t = (dot * inverse).clamp_(0.0, 1.0)
    distance2 = torch.addcmul(rows @ square, t, dot, value=-2.0).addcmul_(t * t, e2.expand_as(t))
    if hidden is not None:
        distance2.masked_fill_(hidden.reshape(-1), float("inf"))
    # Segments last: the reduction runs over contiguous memory.
    return distance2.reshape(-1, b, g, s).argmin(dim=3).permute(1, 2, 0)


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


def _distance(start: torch.Tensor, end: torch.Tensor, nearest: torch.Tensor, gx: torch.Tensor,
              gy: torch.Tensor) -> torch.Tensor:
    """Each pixel's distance (B, G, P) to its nearest segment (``nearest``: (B, G, P) indices into the S segments of
    (B, G, S, 2) ``start`` and ``end``), differentiable in the points. The gradient of a minimum is the gradient of
    its argument where it is reached, so recomputing only the winner's distance is exact."""
    index = nearest[..., None].expand(*nearest.shape, 2)
    a, b = torch.gather(start, 2, index), torch.gather(end, 2, index)  # (B, G, P, 2)
    return torch.sqrt(_squared(a, b, gx, gy) + DISTANCE_EPS)


def _ink(pixels: torch.Tensor, opacity: torch.Tensor | None, gx: torch.Tensor, gy: torch.Tensor, radius: float,
         softness: float) -> torch.Tensor:
    """Ink (B, P) of (B, N, K, 2) strokes in pixel coordinates.

    With every opacity 0 or 1 (or none given) the pen's maximum over strokes is the ink of the nearest visible
    segment of all strokes together, so the differentiable part is one distance per pixel; fractional opacities
    need each stroke's own nearest segment, and a maximum over strokes.
    """
    start, end = _segments(pixels)
    b, n, s = start.shape[:3]
    binary = opacity is None or bool(((opacity == 0) | (opacity == 1)).all())
    if binary:
        flat_start, flat_end = start.reshape(b, 1, n * s, 2), end.reshape(b, 1, n * s, 2)
        hidden = None if opacity is None else (opacity == 0)[:, :, None].expand(b, n, s).reshape(b, 1, n * s)
        nearest = _nearest(flat_start.detach(), flat_end.detach(), gx, gy, hidden)
        ink = edge_profile(_distance(flat_start, flat_end, nearest, gx, gy), radius, softness)[:, 0]
        if opacity is not None:  # an image whose strokes are all hidden picked a hidden one: no ink
            ink = ink * torch.gather(opacity.to(ink.dtype), 1, nearest[:, 0] // s)
        return ink
    nearest = _nearest(start.detach(), end.detach(), gx, gy)
    ink = edge_profile(_distance(start, end, nearest, gx, gy), radius, softness)  # (B, N, P)
    return (ink * opacity[:, :, None].to(ink.dtype)).amax(dim=1)


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
    rows = [
        _ink(pixels[first:first + chunk], None if opacity is None else opacity[first:first + chunk], gx, gy,
             spec.line_width / 2.0, float(softness))
        for first in range(0, batch, chunk)
    ]
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
