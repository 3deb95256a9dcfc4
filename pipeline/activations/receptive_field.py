"""The receptive field of a layer's positions, measured empirically so that it works for any model.

Method (no per-architecture table): the gradient of one position's activations (summed over channels) with
respect to the input is non-zero exactly on the input pixels that position sees. To make that support the
*whole* receptive field rather than the part a particular image and trained weights happen to use, the
measurement runs on a copy of the model whose

* weights are set to positive constants (each output the mean of its inputs: ``1 / fan_in``), biases to
  0, normalisation layers to the identity (scale 1, shift 0, running mean 0, running variance 1), so that
  with a positive input every ReLU is open and no two paths cancel;
* max pooling is replaced by average pooling with the same window (a max pool passes the gradient to one
  input of its window only), through a :class:`~torch.overrides.TorchFunctionMode`, so models that call
  ``F.max_pool2d`` directly are covered too.

The forward pass stops as soon as the layer has run, so the head never sees the input and the input can be
made larger than the model's own size: the measurement is repeated on a larger canvas until the support of
the centre position no longer touches the border (a receptive field larger than the input, as with
GoogLeNet's ``inception4d``, is therefore measured whole rather than clipped).

``stride`` is the distance between the supports of two neighbouring positions, ``size`` the extent of the
support, ``offset`` the centre of position (0, 0) in input-pixel coordinates (pixel ``i``'s centre is at
``i``), so position ``y`` is centred at ``offset + stride * y`` as :class:`~pipeline.activations.store.LayerMeta`
expects. For SketchCNN's ``features.block3`` this gives (18, 4.0, 1.5), for torchvision GoogLeNet's
``inception4d`` (203, 16.0, 14.0) and for ResNet-50's ``layer4`` (427, 32.0, 0.0), the analytic values.

Not chosen: the |gradient| of the real model over a few random inputs. Trained weights, closed ReLUs and
max pools make that support image-dependent and smaller than the field, so it would need many inputs and
still come out short at the corners, where few paths reach.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from core.errors import ArticulateError
from pipeline.models.input_spec import InputSpec
from pipeline.models.layers import get_layer

__all__ = ["receptive_field"]

#: The largest canvas, as a multiple of the model's input size, tried before giving up on an unclipped field.
MAX_GROWTH = 8


class _LayerReached(Exception):
    pass


class _MaxAsAverage(TorchFunctionMode):
    """Runs max pooling as average pooling with the same geometry (so every input of a window gets gradient)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        replacement = _AVERAGE_OF.get(func)
        if replacement is not None:
            swapped = replacement(*args, **kwargs)
            if swapped is not None:
                return swapped
        return func(*args, **kwargs)


def _pool_args(names: tuple[str, ...], args: tuple, kwargs: dict) -> dict[str, Any]:
    values = dict(zip(names, args))
    values.update(kwargs)
    return values


def _avg(dims: int):
    avg = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[dims]
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")

    def swap(*args: Any, **kwargs: Any) -> torch.Tensor | None:
        a = _pool_args(names, args, kwargs)
        dilation = a.get("dilation", 1)
        if a.get("return_indices") or any(d != 1 for d in ((dilation,) if isinstance(dilation, int) else dilation)):
            return None  # no average-pool equivalent: keep the max pool (the field may then come out smaller)
        stride = a.get("stride") or a["kernel_size"]
        return avg(a["input"], a["kernel_size"], stride, a.get("padding", 0), bool(a.get("ceil_mode", False)),
                   True)

    return swap


def _adaptive_avg(dims: int):
    avg = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[dims]

    def swap(*args: Any, **kwargs: Any) -> torch.Tensor | None:
        a = _pool_args(("input", "output_size", "return_indices"), args, kwargs)
        return None if a.get("return_indices") else avg(a["input"], a["output_size"])

    return swap


_AVERAGE_OF: dict[Any, Any] = {
    F.max_pool1d: _avg(1), F.max_pool2d: _avg(2), F.max_pool3d: _avg(3),
    torch.max_pool1d: _avg(1), torch.max_pool2d: _avg(2), torch.max_pool3d: _avg(3),
    F.adaptive_max_pool1d: _adaptive_avg(1), F.adaptive_max_pool2d: _adaptive_avg(2),
    F.adaptive_max_pool3d: _adaptive_avg(3),
}


def _probe_copy(model: nn.Module) -> nn.Module:
    """A float32 copy with positive constant weights and identity normalisation, in eval mode."""
    probe = copy.deepcopy(model).to(torch.float32).eval()
    with torch.no_grad():
        for module in probe.modules():
            for name, param in module.named_parameters(recurse=False):
                if name.endswith("bias"):
                    param.zero_()
                elif param.ndim >= 2:
                    param.fill_(1.0 / max(1, math.prod(param.shape[1:])))
                else:
                    param.fill_(1.0)
            for name, buffer in module.named_buffers(recurse=False):
                if name == "running_mean":
                    buffer.zero_()
                elif name == "running_var":
                    buffer.fill_(1.0)
        for param in probe.parameters():
            param.requires_grad_(False)
    return probe


def _support(probe: nn.Module, layer: nn.Module, channels: int, size: int, positions: list[tuple[int, int]],
             generator: torch.Generator) -> tuple[list[tuple[int, int, int, int]], tuple[int, int]]:
    """Bounding boxes (y0, y1, x0, x1, inclusive) of the input gradient of each position, and the layer grid.

    ``positions`` are given as offsets from the centre of the layer's grid.
    """
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ArticulateError(
                f"layer outputs a {type(output).__name__} of shape {getattr(output, 'shape', '?')}, not a "
                "(N, C, H, W) map; pick a convolutional layer")
        captured.append(output)
        raise _LayerReached

    # One image per probed position, one backward pass: in eval mode the images do not interact.
    image = 0.5 + torch.rand((len(positions), channels, size, size), generator=generator, dtype=torch.float32)
    image.requires_grad_()
    handle = layer.register_forward_hook(hook)
    try:
        with _MaxAsAverage():
            probe(image)
    except _LayerReached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ArticulateError("the layer is not used in the model's forward pass; pick another layer")
    out = captured[0]
    height, width = out.shape[-2:]
    total = out.new_zeros(())
    for i, (dy, dx) in enumerate(positions):
        y, x = height // 2 + dy, width // 2 + dx
        if not (0 <= y < height and 0 <= x < width):
            raise ArticulateError(f"the layer's grid ({height}x{width}) is too small to measure its receptive field")
        total = total + out[i, :, y, x].sum()
    (grad,) = torch.autograd.grad(total, image)
    boxes = []
    for i in range(len(positions)):
        seen = grad[i].abs().sum(0) > 0
        rows, cols = torch.nonzero(seen.any(1)).flatten(), torch.nonzero(seen.any(0)).flatten()
        if len(rows) == 0:
            raise ArticulateError("the layer's activations do not depend on the input; cannot measure its receptive field")
        boxes.append((int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])))
    return boxes, (height, width)


def receptive_field(model: nn.Module, layer: str, input_spec: InputSpec) -> tuple[int, float, float]:
    """Receptive field of the positions of ``layer``: (size, stride, offset) in input pixels.

    Args:
        model: Any network taking (N, channels, H, W) images; it is not modified (a copy is probed).
        layer: The layer's module path.
        input_spec: The model's input size and channels.

    Returns:
        ``size``: side of the square of input pixels a position sees (the larger of its height and width);
        ``stride``: input pixels between neighbouring positions; ``offset``: input pixel at the centre of
        position (0, 0), where pixel ``i``'s centre is at ``i`` (it can be negative or fractional).

    Raises:
        UnknownLayerError: ``layer`` names no module.
        ArticulateError: The layer does not output a spatial map, or the model cannot run on the input.
    """
    get_layer(model, layer)  # the clear error for a typo, before the copy
    probe = _probe_copy(model)
    target = get_layer(probe, layer)
    generator = torch.Generator().manual_seed(0)
    size = int(input_spec.size)
    probes = [(0, 0), (1, 1)]
    for _ in range(int(math.log2(MAX_GROWTH)) + 1):
        try:
            boxes, (height, width) = _support(probe, target, input_spec.channels, size, probes, generator)
        except (RuntimeError, ValueError) as err:
            if size == input_spec.size:
                raise ArticulateError(f"{type(model).__name__} cannot run on a {size}x{size} input: "
                                      f"{str(err).splitlines()[0]}") from err
            break  # cannot grow the canvas further: keep the last (clipped) measurement
        clipped = any(b[0] == 0 or b[2] == 0 or b[1] == size - 1 or b[3] == size - 1 for b in boxes)
        result = boxes, height, width
        if not clipped:
            break
        size *= 2
    (y0, y1, x0, x1), (v0, v1, u0, u1) = result[0]
    height, width = result[1], result[2]
    stride_y, stride_x = (v0 + v1 - y0 - y1) / 2, (u0 + u1 - x0 - x1) / 2
    stride = (stride_y + stride_x) / 2
    if stride <= 0:  # neighbouring positions see the same pixels (e.g. a global pool): no spatial layout
        stride = float(input_spec.size) / max(height, width)
    field = max(y1 - y0 + 1, x1 - x0 + 1)
    offset_y = (y0 + y1) / 2 - stride * (height // 2)
    offset_x = (x0 + x1) / 2 - stride * (width // 2)
    return int(field), float(stride), float((offset_y + offset_x) / 2)
