"""Reading a model's outputs, whatever structure the model returns them in (no Lightning needed)."""

from __future__ import annotations

from typing import Any

import torch

from core.errors import ArticulateError


def logits_of(output: Any) -> torch.Tensor:
    """The class logits in a model's output.

    Args:
        output: A tensor, or a structure holding one: ``GoogLeNetOutputs``/``InceptionOutputs`` (``.logits``),
            a Hugging Face style output (``.logits``), or a tuple whose first item is the logits.

    Returns:
        The (N, num_classes) logits.

    Raises:
        ArticulateError: If no logits tensor is found.
    """
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ArticulateError(
        f"the model returned a {type(output).__name__}; expected a logits tensor, an object with .logits, or a "
        "tuple starting with the logits"
    )
