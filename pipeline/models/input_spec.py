"""How a model wants its sketches rendered, and the conversion from rendered sketches to model input.

The rasteriser renders every sketch as a 1-channel float image in [0, 1] at ``InputSpec.size``, with the ink
polarity the model expects (``InputSpec.invert``). :func:`to_model_input` then does what is left: repeat the
channel for RGB models and normalise with the model's mean and standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from core.errors import ArticulateError, ConfigError

#: Per-channel statistics of ImageNet, which every torchvision classification model was trained with.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """The image a model expects.

    Attributes:
        size: Side length, in pixels, at which to render sketches (square images).
        channels: 1 for sketch models, 3 for RGB models; the rendered channel is repeated for RGB.
        mean: Per-channel mean subtracted before the model (one value per channel).
        std: Per-channel standard deviation divided by before the model (one positive value per channel).
        invert: True when the model wants dark ink on a white background (photo models, such as ImageNet
            classifiers); False for white ink on black, the Quick, Draw! bitmap convention.

    Raises:
        ConfigError: If a field is out of range or ``mean``/``std`` do not have one value per channel.
    """

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    invert: bool

    def __post_init__(self) -> None:
        # Hydra/OmegaConf hand over ListConfig or list; store tuples so the spec stays hashable and comparable.
        for name in ("mean", "std"):
            value = getattr(self, name)
            try:
                if isinstance(value, (str, bytes)):
                    raise TypeError(name)
                object.__setattr__(self, name, tuple(float(v) for v in value))
            except (TypeError, ValueError):
                raise ConfigError(
                    f"input_spec.{name}: expected a list of numbers, one per channel, got {value!r}"
                ) from None
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"input_spec.size: expected a positive integer (pixels), got {self.size!r}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ConfigError(
                f"input_spec.channels: expected 1 (sketch models) or 3 (RGB models), got {self.channels!r}"
            )
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != self.channels:
                raise ConfigError(
                    f"input_spec.{name}: {len(values)} values for {self.channels} channel(s); give one per channel"
                )
            if not all(math.isfinite(v) for v in values):
                raise ConfigError(f"input_spec.{name}: values must be finite numbers, got {values}")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"input_spec.std: every value must be > 0, got {self.std}")
        if not isinstance(self.invert, bool):
            raise ConfigError(f"input_spec.invert: expected true or false, got {self.invert!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InputSpec:
        """Builds a spec from a mapping (a config section or a checkpoint's hyperparameters).

        Args:
            values: Mapping with the keys ``size``, ``channels``, ``mean``, ``std`` and ``invert``.

        Returns:
            The validated spec.

        Raises:
            ConfigError: If keys are missing or unknown, or a value is invalid.
        """
        fields = {"size", "channels", "mean", "std", "invert"}
        keys = set(values)
        if keys != fields:
            missing, unknown = sorted(fields - keys), sorted(keys - fields)
            parts = [f"missing {missing}" if missing else "", f"unknown {unknown}" if unknown else ""]
            raise ConfigError(f"input_spec: {', '.join(p for p in parts if p)}; expected the keys {sorted(fields)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (lists, no custom classes), safe for checkpoints loaded with ``weights_only``."""
        values = asdict(self)
        values["mean"], values["std"] = list(self.mean), list(self.std)
        return values


def to_model_input(images: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Turns rendered sketches into the tensor the model takes.

    The images are already rendered at the model's size and polarity; this repeats the single channel for RGB
    models and normalises with ``spec.mean`` and ``spec.std``. The spatial size is not checked: the
    rasteriser renders at ``spec.size``, and models with global pooling accept other sizes too.

    Args:
        images: Float tensor of shape (N, 1, H, W) with values in [0, 1]. A tensor that already has
            ``spec.channels`` channels is accepted too.
        spec: The model's input spec.

    Returns:
        Float tensor of shape (N, spec.channels, H, W), normalised.

    Raises:
        ArticulateError: If ``images`` is not a floating-point (N, C, H, W) tensor with 1 or
            ``spec.channels`` channels.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ArticulateError(f"model input: expected rendered sketches of shape (N, 1, H, W), got {shape}")
    if not images.is_floating_point():
        raise ArticulateError(
            f"model input: expected float images in [0, 1], got dtype {images.dtype} (divide uint8 images by 255)"
        )
    channels = images.shape[1]
    if channels not in (1, spec.channels):
        raise ArticulateError(
            f"model input: images have {channels} channels; the model's input_spec expects 1 (rendered sketch) "
            f"or {spec.channels}"
        )
    if channels != spec.channels:
        # expand is a view; the normalisation below materialises the result once.
        images = images.expand(-1, spec.channels, -1, -1)
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std
