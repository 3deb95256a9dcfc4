"""Layers as dotted module paths (``features.block3``, ``inception4d``), the names every config uses."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import nn

from core.errors import ArticulateError, UnknownLayerError

#: Up to this many layers, an unknown-layer error lists them all.
LIST_ALL_LAYERS_UP_TO = 60


def layer_names(model: nn.Module) -> list[str]:
    """All layer paths of a model, in registration order.

    Args:
        model: Any module.

    Returns:
        The dotted paths of ``model.named_modules()``, without the model itself (the empty path).
    """
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, path: str, key: str | None = None) -> nn.Module:
    """The submodule at a dotted path.

    Args:
        model: The model.
        path: A dotted module path, as listed by :func:`layer_names`.
        key: The config key the path came from (``extract.layer``), named in the error message.

    Returns:
        The submodule.

    Raises:
        UnknownLayerError: If ``path`` names no submodule. The message suggests close names and lists the
            valid ones.
    """
    if isinstance(path, str) and path:
        try:
            return model.get_submodule(path)
        except AttributeError:
            pass  # reported below, with suggestions
    raise UnknownLayerError(_unknown_layer_message(model, path, key))


def layer_output_shape(
    model: nn.Module,
    path: str,
    input_shape: Sequence[int],
    key: str | None = None,
) -> torch.Size:
    """The shape of a layer's output for an input of the given shape.

    Runs the model on zeros under ``torch.no_grad`` in eval mode, stopping as soon as the layer has run, and
    restores each module's training flag afterwards.

    Args:
        model: The model.
        path: The layer's dotted path.
        input_shape: The full input shape, batch included, e.g. ``(1, 1, 64, 64)``.
        key: The config key the path came from, for error messages.

    Returns:
        The output shape, batch included, e.g. ``torch.Size([1, 64, 16, 16])``.

    Raises:
        UnknownLayerError: If ``path`` names no submodule.
        ArticulateError: If the model cannot run on that input shape, or the layer is not reached or does not
            output a tensor.
    """
    layer = get_layer(model, path, key)
    shapes: list[torch.Size] = []

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        if tensor is None:
            raise ArticulateError(
                f"layer {path!r} outputs a {type(output).__name__}, not a tensor; pick another layer"
            )
        shapes.append(tensor.shape)
        raise _LayerReached  # the rest of the forward pass is not needed

    parameter = next(model.parameters(), None)
    dummy = torch.zeros(
        tuple(input_shape),
        device=parameter.device if parameter is not None else None,
        dtype=parameter.dtype if parameter is not None and parameter.is_floating_point() else None,
    )
    modes = {module: module.training for module in model.modules()}
    handle = layer.register_forward_hook(hook)
    try:
        model.eval()
        with torch.no_grad():
            model(dummy)
    except _LayerReached:
        pass
    except ArticulateError:
        raise
    except (RuntimeError, ValueError) as error:  # shape mismatches inside torch
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ArticulateError(
            f"{type(model).__name__} cannot run on an input of shape {tuple(input_shape)}: {reason} "
            "(check the model's input spec: channels and size)"
        ) from error
    finally:
        handle.remove()
        for module, training in modes.items():
            module.training = training
    if not shapes:
        raise ArticulateError(
            f"layer {path!r} is not used in {type(model).__name__}'s forward pass; pick another layer"
        )
    return shapes[0]


def layer_output_shapes(model: nn.Module, input_shape: Sequence[int]) -> dict[str, torch.Size]:
    """The output shape of every layer that produces a tensor, from one forward pass on zeros.

    Args:
        model: The network.
        input_shape: Input shape including the batch dimension, e.g. ``(1, 1, 64, 64)``.

    Returns:
        Layer path -> output shape, in the order the layers ran.
    """
    shapes: dict[str, torch.Size] = {}
    names = {module: name for name, module in model.named_modules() if name}

    def record(module: nn.Module, _inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        if tensor is not None and names[module] not in shapes:
            shapes[names[module]] = tensor.shape

    handles = [module.register_forward_hook(record) for module in names]
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape)))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return shapes


class _LayerReached(Exception):
    """Raised by the shape hook to stop the forward pass early."""


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)  # GoogLeNetOutputs, InceptionOutputs
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _unknown_layer_message(model: nn.Module, path: object, key: str | None) -> str:
    names = layer_names(model)
    where = f"{key}: " if key else ""
    message = f"{where}unknown layer {path!r} in {type(model).__name__}."
    close = _close_names(str(path), names) if isinstance(path, str) else []
    if close:
        message += f" Did you mean {' or '.join(repr(n) for n in close[:3])}?"
    if len(names) <= LIST_ALL_LAYERS_UP_TO:
        message += f" Valid layers: {', '.join(names)}."
    else:
        top = [name for name, _ in model.named_children()]
        message += (
            f" The model has {len(names)} layers; the top-level ones are: {', '.join(top)}."
            " List them all with `articulate layers` (add your model overrides)."
        )
    return message


def _close_names(path: str, names: list[str]) -> list[str]:
    # A path missing its parent ("block3" for "features.block3") is the commonest slip; then typos.
    suffix = [n for n in names if n.endswith("." + path)]
    if suffix:
        return suffix
    fuzzy = difflib.get_close_matches(path, names, n=5, cutoff=0.6)
    last = {n.rsplit(".", 1)[-1]: n for n in names}
    fuzzy += [last[m] for m in difflib.get_close_matches(path.rsplit(".", 1)[-1], list(last), n=3, cutoff=0.75)]
    return list(dict.fromkeys(suffix + fuzzy))


def suggest_layer(shapes: dict[str, torch.Size], min_side: int = 8) -> str | None:
    """A likely atlas layer: the deepest block whose output is a spatial map of at least ``min_side`` x ``min_side``
    positions (fine enough to localise parts).

    A *block* is a module whose inner modules all output maps of one grid (a conv, norm, activation chain, or an
    inception module's parallel branches); a module that holds layers of different grids (a whole feature
    extractor) is a sequence, not a candidate. A block
    finishes after its insides, so the last in run order is the outermost: ``features.block3``, not its
    activation.

    Args:
        shapes: Layer path -> output shape, in run order (from :func:`layer_output_shapes`).
        min_side: The smallest grid side worth an atlas.

    Returns:
        The layer path, or None when no layer outputs such a map.
    """
    maps = {name: tuple(shape) for name, shape in shapes.items()
            if len(shape) == 4 and min(shape[2], shape[3]) >= min_side and shape[1] > 1}

    def is_block(name: str) -> bool:
        grids = {tuple(shape[2:]) for other, shape in shapes.items() if other.startswith(name + ".")}
        return len(grids) <= 1

    blocks = [name for name in maps if is_block(name)]
    return blocks[-1] if blocks else None
