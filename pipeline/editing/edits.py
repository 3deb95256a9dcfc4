"""Edits of a layer's activation maps (N, C, H, W), as the Activation Map Editor and Network Bending make them.

Every edit returns a new tensor; the input is not changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from core.errors import ArticulateError

__all__ = ["MAX_FACTOR", "move_maps", "rotate_maps", "scale_channel", "scale_direction", "scale_positions",
           "shift_maps", "unit"]

#: Factors beyond this are refused: they only saturate the network and say nothing.
MAX_FACTOR = 100.0


def _check_factor(factor: float) -> float:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) \
            or abs(factor) > MAX_FACTOR:
        raise ArticulateError(f"factor: expected a number from -{MAX_FACTOR:g} to {MAX_FACTOR:g}, got {factor!r}")
    return float(factor)


def unit(direction: torch.Tensor) -> torch.Tensor:
    """``direction`` (C,) scaled to length 1.

    Raises:
        ArticulateError: A zero or non-finite direction.
    """
    norm = direction.norm()
    if not torch.isfinite(norm) or norm <= 0:
        raise ArticulateError("a direction of length 0 (or not finite) cannot be edited along")
    return direction / norm


def scale_direction(activations: torch.Tensor, direction: torch.Tensor, factor: float,
                    where: torch.Tensor | None = None) -> torch.Tensor:
    """Scale the component of every position's vector along ``direction`` by ``factor``: 0 ablates it (the
    vector keeps nothing along it), above 1 boosts it.

    Args:
        activations: (N, C, H, W).
        direction: (C,), any length (made unit).
        factor: What the component is multiplied by.
        where: (N, H, W) bool, the positions to edit (None: all).
    """
    factor = _check_factor(factor)
    u = unit(direction.to(activations.dtype))
    along = torch.einsum("nchw,c->nhw", activations, u)
    change = (factor - 1.0) * along
    if where is not None:
        change = change * where.to(activations.dtype)
    return activations + change[:, None] * u[None, :, None, None]


def scale_channel(activations: torch.Tensor, channel: int, factor: float,
                  where: torch.Tensor | None = None) -> torch.Tensor:
    """Multiply one channel's map by ``factor`` (at ``where``, (N, H, W) bool, or everywhere).

    Raises:
        ArticulateError: A channel the layer does not have, or a bad factor.
    """
    factor = _check_factor(factor)
    if isinstance(channel, bool) or not 0 <= int(channel) < activations.shape[1]:
        raise ArticulateError(f"channel {channel!r}: the layer has channels 0..{activations.shape[1] - 1}")
    out = activations.clone()
    scaled = out[:, int(channel)] * factor
    out[:, int(channel)] = scaled if where is None else torch.where(where, scaled, out[:, int(channel)])
    return out


def scale_positions(activations: torch.Tensor, where: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply whole vectors at ``where`` ((N, H, W) bool) by ``factor``: 0 erases what the layer saw there
    (as if that part of the drawing were not there, for this layer on)."""
    factor = _check_factor(factor)
    scale = torch.where(where, torch.tensor(factor, dtype=activations.dtype), torch.tensor(1.0, dtype=activations.dtype))
    return activations * scale[:, None]


# --- moving maps (the Activation Map Editor's shift and rotate) -----------------------------------------------

def shift_maps(maps: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move maps (..., H, W) by ``dy`` rows and ``dx`` columns; what moves in is 0 (nothing wraps around)."""
    dy, dx = int(dy), int(dx)
    height, width = maps.shape[-2:]
    out = torch.zeros_like(maps)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        maps[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out


def rotate_maps(maps: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate maps (N, K, H, W) counter-clockwise about their centre by ``degrees``: quarter turns of a square
    map exactly, other angles bilinearly with 0 where the turned map does not reach.

    Raises:
        ArticulateError: A non-finite angle.
    """
    if isinstance(degrees, bool) or not isinstance(degrees, (int, float)) or not math.isfinite(degrees):
        raise ArticulateError(f"rotate: expected an angle in degrees, got {degrees!r}")
    quarter = float(degrees) / 90.0
    height, width = maps.shape[-2:]
    if quarter == round(quarter) and height == width:
        return torch.rot90(maps, k=int(round(quarter)) % 4, dims=(-2, -1))
    angle = math.radians(float(degrees))
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid maps output coordinates to input ones (x right, y down): the inverse rotation, aspect-corrected
    aspect = width / height
    theta = torch.tensor([[cos, -sin / aspect, 0.0], [sin * aspect, cos, 0.0]], dtype=maps.dtype)
    grid = torch.nn.functional.affine_grid(theta[None].expand(maps.shape[0], 2, 3), list(maps.shape),
                                           align_corners=False)
    return torch.nn.functional.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def move_maps(activations: torch.Tensor, move: Callable[[torch.Tensor], torch.Tensor], *,
              channel: int | None = None, direction: torch.Tensor | None = None) -> torch.Tensor:
    """Apply a map transform (:func:`shift_maps`, :func:`rotate_maps`) to one channel, to the component along a
    direction (the rest of each vector stays where it is), or to every channel.

    Args:
        activations: (N, C, H, W).
        move: (N, K, H, W) -> the same shape.
        channel: The channel to move; None with no ``direction``: all channels.
        direction: (C,) move only the component along it.

    Raises:
        ArticulateError: A channel the layer does not have, or a zero direction.
    """
    if channel is not None:
        if isinstance(channel, bool) or not 0 <= int(channel) < activations.shape[1]:
            raise ArticulateError(f"channel {channel!r}: the layer has channels 0..{activations.shape[1] - 1}")
        out = activations.clone()
        out[:, int(channel)] = move(activations[:, int(channel)][:, None])[:, 0]
        return out
    if direction is not None:
        u = unit(direction.to(activations.dtype))
        along = torch.einsum("nchw,c->nhw", activations, u)[:, None]
        change = move(along) - along
        return activations + change * u[None, :, None, None]
    return move(activations)
