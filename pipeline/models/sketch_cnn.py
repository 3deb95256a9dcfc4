"""The embedded default model: a small CNN for 1-channel 64x64 sketches, trained from scratch on a CPU.

Layer paths (with 64x64 input)::

    features.block1   16 x 64 x 64   conv3x3-bn-relu
    features.pool1                   max pool 2x2
    features.block2   32 x 32 x 32
    features.pool2
    features.block3   64 x 16 x 16   the default atlas layer: 16x16 positions, fine enough to localise parts
    features.pool3
    features.block4  128 x  8 x  8
    pool                             global average
    classifier                       dropout + linear (classifier.fc)

Each block has ``conv``, ``bn`` and ``relu`` children, so pre-activation maps are reachable too
(``features.block3.bn``). With ``context`` (dilations, e.g. ``[2, 4]``), the atlas block also has dilated
conv-bn-relu children (``context1``, ``context2``...) after its ``relu``: the block's output keeps its 16x16
grid while each position sees more of the drawing (receptive field 18 px without, 66 px with ``[2, 4]``), so
a part such as a head, larger than 18 px, can be told from other curves at one position.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from core.errors import ConfigError
from pipeline.models.input_spec import InputSpec

#: The side length the model is designed for; other sizes work (global pooling) but change the layer grids.
SKETCH_SIZE = 64


def default_input_spec(in_channels: int = 1) -> InputSpec:
    """The input spec of :class:`SketchCNN`: 64x64, white ink on black, values left in [0, 1].

    Args:
        in_channels: Number of input channels of the network (1 for sketches).

    Returns:
        The spec, with mean 0 and std 1 so rendered images go in unchanged.
    """
    return InputSpec(
        size=SKETCH_SIZE, channels=in_channels, mean=(0.0,) * in_channels, std=(1.0,) * in_channels, invert=False
    )


class ConvBlock(nn.Sequential):
    """Conv3x3 (no bias, BatchNorm follows) - BatchNorm - ReLU, keeping the spatial size.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        dilation: Dilation of the convolution (padding follows, so the size is kept).
        context: Dilations of further conv-bn-relu blocks after this one's ReLU, inside it (see the module
            docstring).
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1, context: Sequence[int] = ()) -> None:
        layers = OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=dilation, dilation=dilation,
                               bias=False),
                bn=nn.BatchNorm2d(out_channels),
                # Not in-place: hooks on `bn` (pre-activation maps) must see values ReLU has not overwritten.
                relu=nn.ReLU(inplace=False),
        )
        for index, step in enumerate(context, start=1):
            layers[f"context{index}"] = ConvBlock(out_channels, out_channels, dilation=step)
        super().__init__(layers)


class SketchCNN(nn.Module):
    """A small CNN for sketches: four conv blocks with max pooling between, global average pool, linear head.

    Args:
        num_classes: Number of output classes (>= 1).
        in_channels: Input channels (1 for rendered sketches).
        widths: Output channels of the blocks, one per block; the default has four, giving blocks at 64, 32, 16
            and 8 pixels for 64x64 input. At least two.
        dropout: Dropout probability before the final linear layer, in [0, 1).
        context: Dilations of context convolutions at the end of block ``context_block`` (empty: none).
        context_block: Which block (1-based) gets them: the atlas layer's block.
        channels_last: Store the convolution weights in channels-last memory format, which makes training on a
            CPU about 30% faster (oneDNN kernels). Activations then come out channels-last too: use
            ``reshape``/``flatten`` rather than ``view`` on them, or ``.contiguous()``.

    Attributes:
        input_spec: How sketches are rendered for this model (:func:`default_input_spec`).
        num_classes: Number of output classes.
        stem: The modules a concept fine-tune keeps fixed (``finetune.stem``): the first block's edge detectors.

    Raises:
        ConfigError: If an argument is out of range.
    """

    stem: tuple[str, ...] = ("features.block1",)

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        widths: Sequence[int] = (16, 32, 64, 128),
        dropout: float = 0.2,
        context: Sequence[int] = (),
        context_block: int = 3,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        _check_positive_int("num_classes", num_classes)
        _check_positive_int("in_channels", in_channels)
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
            raise ConfigError(f"model.widths: expected a list of channel counts, got {widths!r}")
        widths = list(widths)
        if len(widths) < 2:
            raise ConfigError(f"model.widths: expected at least 2 blocks, got {widths}")
        for width in widths:
            _check_positive_int("widths", width)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout: expected a probability in [0, 1), got {dropout!r}")
        if isinstance(context, (str, bytes)) or not hasattr(context, "__iter__"):
            raise ConfigError(f"model.context: expected a list of dilations, e.g. [2, 4], got {context!r}")
        context = list(context)
        for step in context:
            _check_positive_int("context", step)
        _check_positive_int("context_block", context_block)
        if context and context_block > len(widths):
            raise ConfigError(f"model.context_block: {context_block}, but the net has {len(widths)} blocks")

        self.num_classes = num_classes
        self.input_spec = default_input_spec(in_channels)

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for index, width in enumerate(widths, start=1):
            if index > 1:
                layers[f"pool{index - 1}"] = nn.MaxPool2d(kernel_size=2, stride=2)
            layers[f"block{index}"] = ConvBlock(channels, width, context=context if index == context_block else ())
            channels = width
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            OrderedDict(dropout=nn.Dropout(p=float(dropout)), fc=nn.Linear(channels, num_classes))
        )
        self._init_weights()
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _init_weights(self) -> None:
        # He initialisation suits ReLU networks trained from scratch (as in torchvision's ResNet).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Args:
            x: Float tensor (N, in_channels, H, W), normalised per ``input_spec``.

        Returns:
            Logits of shape (N, num_classes).
        """
        x = self.features(x)
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"model.{name}: expected a positive integer, got {value!r}")
