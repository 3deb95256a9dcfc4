"""Loading weights from files into a built model, with errors that say what does not fit.

Accepted layouts:

- a plain state dict (``torch.save(model.state_dict(), path)``);
- a Lightning checkpoint (``{"state_dict": ..., "hyper_parameters": ...}``), whose keys carry the attribute
  name of the wrapped network (``net.features...``); the prefix is stripped when that makes the keys match;
- ``{"model": state_dict}`` or ``{"model_state_dict": state_dict}``, common in hand-written training loops.

Files are read with ``torch.load(weights_only=True)``: tensors and plain Python values only, never code.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import InputError

#: Wrapper prefixes stripped from checkpoint keys when that makes them match the model: LightningModule
#: attributes (``net.``, ``model.``), DataParallel/DDP (``module.``) and ``torch.compile`` (``_orig_mod.``).
WRAPPER_PREFIXES: tuple[str, ...] = ("net.", "model.", "module.", "_orig_mod.")

#: Keys under which a whole checkpoint keeps the model's state dict, tried in this order.
STATE_DICT_KEYS: tuple[str, ...] = ("state_dict", "model", "model_state_dict", "net")

_LISTED = 5  # how many offending keys an error message names


def read_checkpoint(path: str | PathLike[str]) -> Any:
    """Reads a file written by ``torch.save``, allowing tensors and plain Python values only.

    Args:
        path: The file; ``~`` is expanded.

    Returns:
        Whatever the file holds (usually a dict).

    Raises:
        InputError: If the file is missing, is not a PyTorch file, or holds Python objects other than tensors
            and plain values.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise InputError(
            file,
            "weights file not found",
            hint=f"check the path (relative paths are resolved from {Path.cwd()}), or train or copy the file first",
        )
    if not file.is_file():
        raise InputError(file, "expected a weights file, found a folder", hint="give the path of the .pth/.ckpt file")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise InputError(
                file,
                "the file holds Python objects other than tensors, which are not loaded for safety",
                hint="re-save only the weights where the model was trained: torch.save(model.state_dict(), path)",
            ) from None
        raise _corrupt(file, error) from None
    except Exception as error:  # torch raises many types for damaged files (RuntimeError, EOFError, ...)
        raise _corrupt(file, error) from None


def extract_state_dict(checkpoint: Any, path: str | PathLike[str]) -> dict[str, torch.Tensor]:
    """Finds the state dict in what :func:`read_checkpoint` returned.

    Args:
        checkpoint: A state dict, or a dict holding one under one of :data:`STATE_DICT_KEYS`.
        path: The file it came from, for error messages.

    Returns:
        The state dict: parameter and buffer names mapped to tensors.

    Raises:
        InputError: If no state dict is found.
    """
    if isinstance(checkpoint, Mapping):
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return {str(k): v for k, v in checkpoint.items()}
        for key in STATE_DICT_KEYS:
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return {str(k): v for k, v in inner.items()}
        found = ", ".join(repr(k) for k in list(checkpoint)[:10]) or "nothing"
        problem = f"no state dict found (top-level keys: {found})"
    else:
        problem = f"no state dict found (the file holds a {type(checkpoint).__name__}, not a dict)"
    raise InputError(
        path,
        problem,
        hint=f"save model.state_dict(), or a dict with it under one of {', '.join(map(repr, STATE_DICT_KEYS))}",
    )


def read_state_dict(path: str | PathLike[str]) -> dict[str, torch.Tensor]:
    """Reads the state dict from a weights file or a whole checkpoint.

    Args:
        path: The file.

    Returns:
        The state dict, keys as saved (no prefix stripped).

    Raises:
        InputError: If the file is missing, unreadable or holds no state dict.
    """
    return extract_state_dict(read_checkpoint(path), path)


def apply_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    path: str | PathLike[str],
    strict: bool = True,
) -> nn.Module:
    """Loads a state dict into ``model`` after stripping wrapper prefixes, with readable errors.

    Args:
        model: The built model; its weights are replaced in place.
        state_dict: The weights, as read from ``path``.
        path: Where they came from, for error messages.
        strict: If True, every key of the model must be present with the same shape, and no other key may be
            left over. If False, the keys that match in name and shape are loaded and the rest are skipped with
            a warning.

    Returns:
        ``model``, for chaining.

    Raises:
        InputError: If the keys or shapes do not fit (strict), or if nothing fits at all (not strict).
    """
    expected = model.state_dict()
    state_dict = strip_wrapper_prefixes(dict(state_dict), set(expected))
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in state_dict if k in expected and state_dict[k].shape != expected[k].shape]
    fitting = {k: v for k, v in state_dict.items() if k in expected and k not in mismatched}
    name = type(model).__name__
    if strict and (missing or unexpected or mismatched):
        raise InputError(
            path,
            f"the weights do not fit the model {name}: "
            + _describe(missing, unexpected, mismatched, state_dict, expected),
            hint="check that model.net (its _target_ or name, and its arguments) matches the model that saved these "
            "weights; a model built here gets num_classes = the dataset's class count, so for a model with its own "
            "classes set model.pretrained=true and model.classes (docs/own-model.md, \"A model you already have\")",
        )
    if not fitting:
        raise InputError(
            path,
            f"none of the weights fit the model {name}: "
            + _describe(missing, unexpected, mismatched, state_dict, expected),
            hint="these weights belong to a different model; check the model config and the weights path",
        )
    if missing or unexpected or mismatched:
        warnings.warn(
            f"{path}: loaded {len(fitting)} of {len(expected)} tensors into {name}; "
            + _describe(missing, unexpected, mismatched, state_dict, expected),
            stacklevel=2,
        )
    model.load_state_dict(fitting, strict=False)
    return model


def load_weights(model: nn.Module, path: str | PathLike[str], strict: bool = True) -> nn.Module:
    """Loads weights from a file into a user model (built from a Hydra ``_target_``).

    Args:
        model: The built model; its weights are replaced in place.
        path: A state dict file, a Lightning checkpoint, or a ``{"model": state_dict}`` file.
        strict: See :func:`apply_state_dict`.

    Returns:
        ``model``, for chaining.

    Raises:
        InputError: If the file is missing, unreadable, holds no state dict, or its weights do not fit.
    """
    return apply_state_dict(model, read_state_dict(path), path, strict=strict)


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Strips the wrapper prefixes of :data:`WRAPPER_PREFIXES` from checkpoint keys when that makes them match.

    Args:
        state_dict: Keys as saved.
        model_keys: The keys of the model's own state dict.

    Returns:
        The state dict with the prefixes stripped, keeping only the keys that were under them; unchanged when
        no prefix improves the match.
    """
    # Greedy: strip one wrapper prefix at a time (e.g. "model.module.") while it makes more keys match.
    # Keys outside the prefix belong to the wrapper (a loss module, a concept head) and are dropped.
    best, best_hits = dict(state_dict), len(model_keys.intersection(state_dict))
    for _ in range(len(WRAPPER_PREFIXES)):
        improved = False
        for prefix in WRAPPER_PREFIXES:
            stripped = {k[len(prefix) :]: v for k, v in best.items() if k.startswith(prefix)}
            hits = len(model_keys.intersection(stripped))
            if hits > best_hits:
                best, best_hits, improved = stripped, hits, True
        if not improved:
            break
    return best


def _describe(
    missing: list[str],
    unexpected: list[str],
    mismatched: list[str],
    got: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
) -> str:
    parts = []
    if missing:
        parts.append(f"{_count(len(missing), 'missing key')} ({_sample(missing)})")
    if unexpected:
        parts.append(f"{_count(len(unexpected), 'unexpected key')} ({_sample(unexpected)})")
    if mismatched:
        shapes = [f"{k}: file {tuple(got[k].shape)} vs model {tuple(expected[k].shape)}" for k in mismatched]
        parts.append(f"{_count(len(mismatched), 'shape mismatch', 'shape mismatches')} ({_sample(shapes)})")
    return "; ".join(parts)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _sample(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f", ... {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _corrupt(file: Path, error: BaseException) -> InputError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InputError(
        file,
        f"not a readable PyTorch weights file ({reason[:200]})",
        hint="the file may be truncated or of another format; copy or save it again",
    )
