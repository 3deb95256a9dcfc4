"""Edits of a layer's activation maps (N, C, H, W), as the Activation Map Editor and Network Bending make them.

Every edit returns a new tensor; the input is not changed.
"""

from __future__ import annotations

import math

import torch

from pipeline.errors import ArticulateError

__all__ = ["MAX_FACTOR", "scale_channel", "scale_direction", "scale_positions", "unit"]

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
