"""Objectives: what a rendered image should make the model do, one value per image (higher is better).

Each objective reads one layer (a dotted module path, or :data:`OUTPUT` for the model's output). The
renderer optimises objective i on image i; objectives of the same kind on the same layer are evaluated
together with one vectorised expression (no Python loop over images), through :meth:`Objective.diag`.
:meth:`Objective.cross` evaluates every objective on every image, for quality scores.

Activations may be channels-last (SketchCNN stores its weights so), so nothing here uses ``view``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from core.errors import ConfigError

#: The layer name of the model's output (class logits).
OUTPUT = "<output>"
#: Lucid clips the cosine at this floor before raising it to a power (Activation Atlas icons), so cos^p is
#: defined for any p and an image pointing away from the direction still gets a gradient.
COS_FLOOR = 0.1
#: Added to norms in the cosine, so an all-zero activation does not divide by zero.
NORM_EPS = 1e-6


class Objective:
    """Base class: an objective on one layer.

    Attributes:
        layer: The dotted module path it reads, or :data:`OUTPUT`.
    """

    layer: str

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers this objective needs captured."""
        return (self.layer,)

    @property
    def label(self) -> str:
        """A short caption for grids and reports."""
        raise NotImplementedError

    def group_key(self) -> Hashable:
        """Objectives with equal keys are evaluated together by :meth:`diag` and :meth:`cross`."""
        return (type(self), self.layer)

    def check(self, shape: torch.Size) -> None:
        """Validate against the layer's output shape (batch first).

        Args:
            shape: The layer's output shape, e.g. (1, 64, 16, 16).

        Raises:
            ConfigError: If the objective does not fit the layer (a channel out of range, a wrong vector
                length), naming the layer and what it has.
        """

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        """Objective k on image k.

        Args:
            objectives: K objectives of one group.
            act: The layer's activations for those K images (K, C, ...), row k for objective k.

        Returns:
            Tensor (K,).
        """
        values = cls.cross(objectives, act)
        return values.diagonal()

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        """Every objective on every image.

        Args:
            objectives: K objectives of one group.
            act: The layer's activations for N images (N, C, ...).

        Returns:
            Tensor (N, K).
        """
        raise NotImplementedError

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        """This objective on each image of a batch of activations of its layer, (N,)."""
        return type(self).cross([self], act)[:, 0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer!r}: {self.label})"


def _spatial_mean(x: torch.Tensor) -> torch.Tensor:
    # Mean over every dimension after the first two (positions); 2-D activations have none.
    return x.mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else x


def _check_channel(layer: str, index: int, shape: torch.Size, what: str = "channel") -> None:
    channels = shape[1] if len(shape) > 1 else 0
    if not 0 <= index < channels:
        raise ConfigError(f"{what} {index} is out of range for layer {layer!r}, which has {channels} channels (0..{channels - 1})")


def _check_index(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer index, got {value!r}")
    return int(value)


class Channel(Objective):
    """Mean activation of one channel over all positions."""

    def __init__(self, layer: str, channel: int) -> None:
        self.layer, self.channel = layer, _check_index("channel", channel)

    @property
    def label(self) -> str:
        return f"ch {self.channel}"

    def check(self, shape: torch.Size) -> None:
        _check_channel(self.layer, self.channel, shape)

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        index = torch.tensor([o.channel for o in objectives], device=act.device)
        rows = torch.arange(act.shape[0], device=act.device)
        return _spatial_mean(act[rows, index].unsqueeze(1))[:, 0]

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        index = torch.tensor([o.channel for o in objectives], device=act.device)
        return _spatial_mean(act[:, index])


class Neuron(Objective):
    """Activation of one channel at one position (the centre of the map by default)."""

    def __init__(self, layer: str, channel: int, y: int | None = None, x: int | None = None) -> None:
        self.layer, self.channel = layer, _check_index("channel", channel)
        self.y = None if y is None else _check_index("neuron y", y)
        self.x = None if x is None else _check_index("neuron x", x)

    @property
    def label(self) -> str:
        where = "centre" if self.y is None and self.x is None else f"{self.y},{self.x}"
        return f"n {self.channel}@{where}"

    def check(self, shape: torch.Size) -> None:
        _check_channel(self.layer, self.channel, shape)
        if len(shape) == 4:
            for name, value, extent in (("y", self.y, shape[2]), ("x", self.x, shape[3])):
                if value is not None and not 0 <= value < extent:
                    raise ConfigError(
                        f"neuron {name}={value} is outside layer {self.layer!r}, whose map is {shape[2]}x{shape[3]}"
                    )
        elif len(shape) != 2 or self.y is not None or self.x is not None:
            raise ConfigError(f"neuron: layer {self.layer!r} outputs shape {tuple(shape)}, which has no (y, x) positions")

    def _positions(self, act: torch.Tensor) -> tuple[int, int]:
        return (act.shape[2] // 2 if self.y is None else self.y, act.shape[3] // 2 if self.x is None else self.x)

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(act.shape[0], device=act.device)
        c = torch.tensor([o.channel for o in objectives], device=act.device)
        if act.ndim == 2:
            return act[rows, c]
        yx = torch.tensor([o._positions(act) for o in objectives], device=act.device)
        return act[rows, c, yx[:, 0], yx[:, 1]]

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        c = torch.tensor([o.channel for o in objectives], device=act.device)
        if act.ndim == 2:
            return act[:, c]
        yx = torch.tensor([o._positions(act) for o in objectives], device=act.device)
        return act[:, c, yx[:, 0], yx[:, 1]]


class Direction(Objective):
    """Activation Atlas direction: dot(a, v) * max(cos(a, v), 0.1)^p at each position, averaged.

    ``a`` is the activation vector (over channels) at a position and ``v`` the direction. The dot product
    rewards magnitude along ``v``; the cosine power rewards pointing in its direction rather than merely
    being large. With ``at_centre`` only the centre position counts: the image then shows one *fragment*
    (what one position of the layer sees, inside its receptive field) instead of a texture that repeats it
    everywhere.
    """

    def __init__(self, layer: str, vector: torch.Tensor | np.ndarray | Sequence[float], cos_power: float = 1.0,
                 at_centre: bool = False) -> None:
        tensor = torch.as_tensor(np.asarray(vector, dtype=np.float32) if not isinstance(vector, torch.Tensor) else vector)
        if tensor.ndim != 1 or tensor.numel() == 0:
            raise ConfigError(f"direction for layer {layer!r}: expected a vector of shape (C,), got shape {tuple(tensor.shape)}")
        if not torch.isfinite(tensor).all():
            raise ConfigError(f"direction for layer {layer!r}: the vector has non-finite values")
        if isinstance(cos_power, bool) or not math.isfinite(float(cos_power)) or cos_power < 0:
            raise ConfigError(f"direction: cos_power must be a finite number >= 0, got {cos_power!r}")
        self.layer, self.vector, self.cos_power = layer, tensor.detach().float(), float(cos_power)
        self.at_centre = bool(at_centre)

    @property
    def label(self) -> str:
        return f"dir |v|={float(self.vector.norm()):.2g}" + (" centre" if self.at_centre else "")

    def group_key(self) -> Hashable:
        return (type(self), self.layer, self.cos_power, self.at_centre)

    @staticmethod
    def _flat(act: torch.Tensor, at_centre: bool) -> torch.Tensor:
        """(N, C, P) activations over the positions that count: all, or the centre one."""
        if at_centre:
            return act[:, :, act.shape[2] // 2, act.shape[3] // 2].unsqueeze(-1)
        return act.reshape(act.shape[0], act.shape[1], -1)  # reshape copes with channels-last

    def check(self, shape: torch.Size) -> None:
        channels = shape[1] if len(shape) > 1 else 0
        if self.vector.numel() != channels:
            raise ConfigError(
                f"direction for layer {self.layer!r} has {self.vector.numel()} values; the layer has C={channels} "
                f"channels, so give a vector of length {channels}"
            )

    @staticmethod
    def _combine(dot: torch.Tensor, act_norm: torch.Tensor, vec_norm: torch.Tensor, power: float) -> torch.Tensor:
        if power == 0.0:
            return dot
        cos = (dot / (act_norm * vec_norm + NORM_EPS)).clamp_min(COS_FLOOR)
        return dot * (cos if power == 1.0 else cos.pow(power))

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        vectors = torch.stack([o.vector for o in objectives]).to(act.device, act.dtype)  # (K, C)
        flat = cls._flat(act, objectives[0].at_centre)  # (K, C, P)
        dot = torch.einsum("kcp,kc->kp", flat, vectors)
        values = cls._combine(dot, flat.norm(dim=1), vectors.norm(dim=1, keepdim=True), objectives[0].cos_power)
        return values.mean(dim=1)

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        vectors = torch.stack([o.vector for o in objectives]).to(act.device, act.dtype)
        flat = cls._flat(act, objectives[0].at_centre)  # (N, C, P)
        dot = torch.einsum("ncp,kc->nkp", flat, vectors)
        values = cls._combine(
            dot, flat.norm(dim=1).unsqueeze(1), vectors.norm(dim=1)[None, :, None], objectives[0].cos_power
        )
        return values.mean(dim=2)


class ClassLogit(Objective):
    """The model's output (class logit) at one index."""

    def __init__(self, index: int) -> None:
        self.layer, self.index = OUTPUT, _check_index("class index", index)

    @property
    def label(self) -> str:
        return f"class {self.index}"

    def check(self, shape: torch.Size) -> None:
        classes = shape[1] if len(shape) > 1 else 0
        if not 0 <= self.index < classes:
            raise ConfigError(f"class index {self.index} is out of range: the model has {classes} classes (0..{classes - 1})")

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        index = torch.tensor([o.index for o in objectives], device=act.device)
        return act.reshape(act.shape[0], -1)[:, index]

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        index = torch.tensor([o.index for o in objectives], device=act.device)
        return act.reshape(act.shape[0], -1).gather(1, index[:, None])[:, 0]


class DeepDream(Objective):
    """Mean square of a layer's activations (all channels, or one): DeepDream's objective."""

    def __init__(self, layer: str, channel: int | None = None) -> None:
        self.layer = layer
        self.channel = None if channel is None else _check_index("channel", channel)

    @property
    def label(self) -> str:
        return "dream" if self.channel is None else f"dream ch {self.channel}"

    def group_key(self) -> Hashable:
        return (type(self), self.layer, self.channel is None)

    def check(self, shape: torch.Size) -> None:
        if self.channel is not None:
            _check_channel(self.layer, self.channel, shape)

    @classmethod
    def cross(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        if objectives[0].channel is None:
            whole = act.square().reshape(act.shape[0], -1).mean(dim=1)
            return whole[:, None].expand(-1, len(objectives))
        index = torch.tensor([o.channel for o in objectives], device=act.device)
        return _spatial_mean(act[:, index].square())

    @classmethod
    def diag(cls, objectives: Sequence[Objective], act: torch.Tensor) -> torch.Tensor:
        if objectives[0].channel is None:
            return act.square().reshape(act.shape[0], -1).mean(dim=1)
        return Channel.diag(objectives, act.square())


def channel(layer: str, c: int) -> Channel:
    """Mean activation of channel ``c`` of ``layer`` over all positions.

    Args:
        layer: Dotted module path.
        c: Channel index.

    Returns:
        The objective.

    Raises:
        ConfigError: If ``c`` is not an integer (its range is checked against the layer when rendering).
    """
    return Channel(layer, c)


def neuron(layer: str, c: int, y: int | None = None, x: int | None = None) -> Neuron:
    """Activation of channel ``c`` at one position (y, x) of ``layer``; the centre when not given.

    Args:
        layer: Dotted module path.
        c: Channel index.
        y: Row in the layer's map (default: the centre row).
        x: Column in the layer's map (default: the centre column).

    Returns:
        The objective.

    Raises:
        ConfigError: If an index is not an integer.
    """
    return Neuron(layer, c, y, x)


def direction(layer: str, vector: torch.Tensor | np.ndarray | Sequence[float], cos_power: float = 1.0,
              at_centre: bool = False) -> Direction:
    """Activation Atlas direction objective: mean over positions of dot(a, v) * max(cos(a, v), 0.1)^cos_power.

    Args:
        layer: Dotted module path.
        vector: Direction in the layer's channel space, shape (C,).
        cos_power: Power of the cosine (0: plain dot product; the Activation Atlas uses up to 4).
        at_centre: Only the map's centre position counts (a fragment, not a texture).

    Returns:
        The objective.

    Raises:
        ConfigError: If the vector is not 1-D and finite, or ``cos_power`` is negative. Its length is
            checked against the layer's channels when rendering.
    """
    return Direction(layer, vector, cos_power, at_centre)


def class_logit(index: int) -> ClassLogit:
    """The model's output at class ``index`` (the logit, before softmax).

    Args:
        index: Class index.

    Returns:
        The objective.

    Raises:
        ConfigError: If ``index`` is not an integer.
    """
    return ClassLogit(index)


def deepdream(layer: str, channel: int | None = None) -> DeepDream:
    """DeepDream: mean square of the activations of ``layer`` (of one channel when given).

    Args:
        layer: Dotted module path.
        channel: Channel index, or None for the whole layer.

    Returns:
        The objective.

    Raises:
        ConfigError: If ``channel`` is not an integer.
    """
    return DeepDream(layer, channel)


def group(objectives: Sequence[Objective]) -> list[tuple[type[Objective], list[int]]]:
    """Partition objective indices into groups evaluated together, in order of first appearance.

    Args:
        objectives: The objectives.

    Returns:
        (objective class, indices) pairs.
    """
    groups: dict[Hashable, tuple[type[Objective], list[int]]] = {}
    for i, objective in enumerate(objectives):
        groups.setdefault(objective.group_key(), (type(objective), []))[1].append(i)
    return list(groups.values())
