"""A layer's geometry: its output grid (channels, height, width) for the model's input size, and where each
position lies on the input (its receptive field and its stride cell).

Position (y, x) is centred on input pixel ``rf_offset + stride * (y, x)`` (see
:mod:`pipeline.activations.receptive_field`); its *stride cell* is the ``stride`` x ``stride`` square around that
centre, so the cells tile the input from :attr:`LayerGeometry.cell_origin` on. Every stage that places a layer's
positions on a drawing (extraction, fine-tuning, evaluation, the coach) measures the geometry here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from core.errors import ArticulateError
from pipeline.activations.receptive_field import receptive_field
from pipeline.models.input_spec import InputSpec
from pipeline.models.layers import layer_output_shape

if TYPE_CHECKING:
    from pipeline.models.build import TrainedModel

__all__ = ["LayerGeometry"]


@dataclass(frozen=True)
class LayerGeometry:
    """A layer's grid and receptive field for a given input size.

    Attributes:
        layer: Module path.
        channels, height, width: The layer's output shape (C, H, W).
        input_size: Side of the model input in pixels.
        stride: Input pixels between neighbouring positions.
        receptive_field: Side of the input square a position sees.
        rf_offset: Input pixel at the centre of position (0, 0).
    """

    layer: str
    channels: int
    height: int
    width: int
    input_size: int
    stride: float
    receptive_field: int
    rf_offset: float

    @classmethod
    def measure(cls, net: nn.Module, layer: str, input_spec: InputSpec, key: str = "model.layer") -> LayerGeometry:
        """Measure a layer of a network: its output shape from one forward pass on zeros (stopped at the layer),
        its receptive field on a probed copy. The network is not changed (training flags restored).

        Args:
            net: The network.
            layer: The layer's module path.
            input_spec: The model's input size and channels.
            key: The config key the layer came from, for error messages.

        Returns:
            The layer's geometry.

        Raises:
            UnknownLayerError: ``layer`` names no module (the message lists the valid ones).
            ArticulateError: The layer does not output a spatial (N, C, H, W) map, or the model cannot run.
        """
        size = input_spec.size
        shape = layer_output_shape(net, layer, (1, input_spec.channels, size, size), key=key)
        if len(shape) != 4:
            raise ArticulateError(f"{key}: layer {layer!r} outputs shape {tuple(shape)}, not a (N, C, H, W) map; "
                                  "pick a convolutional layer")
        rf, stride, offset = receptive_field(net, layer, input_spec)
        return cls(layer, int(shape[1]), int(shape[2]), int(shape[3]), size, stride, rf, offset)

    @classmethod
    def of(cls, model: TrainedModel) -> LayerGeometry:
        """The geometry of a trained model's atlas layer (``model.layer``) at its input size."""
        return cls.measure(model.net, model.layer, model.input_spec)

    @property
    def cell_origin(self) -> float:
        """The input coordinate where the stride cell of position 0 starts (pixel ``i``'s centre is at ``i``)."""
        return self.rf_offset - self.stride / 2

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The grid's box on the input as matplotlib's ``imshow`` takes it: (left, right, bottom, top)."""
        left = top = self.cell_origin
        return (left, left + self.stride * self.width, top + self.stride * self.height, top)

    def cell_of_pixels(self, count: int) -> np.ndarray:
        """For pixels ``0..input_size-1`` along an axis with ``count`` positions: the position whose stride
        cell holds the pixel, or -1."""
        pixels = np.arange(self.input_size, dtype=np.float64)
        cell = np.floor((pixels - self.rf_offset + self.stride / 2) / self.stride).astype(np.int64)
        cell[(cell < 0) | (cell >= count)] = -1
        return cell

    @property
    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(cell of each pixel row, cell of each pixel column), -1 where a pixel belongs to no position."""
        return self.cell_of_pixels(self.height), self.cell_of_pixels(self.width)
