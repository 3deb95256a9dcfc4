"""Any torchvision classification model by name, with weights from a local file only.

Nothing here downloads: models are built with ``weights=None`` and, when a weights file is given, loaded from
it. To use ImageNet weights without internet, copy torchvision's cache file (for GoogLeNet
``~/.cache/torch/hub/checkpoints/googlenet-1378be20.pth``) from a machine where torchvision has downloaded
it, or download the URL printed by :func:`weights_url` once on a machine with internet.
"""

from __future__ import annotations

import difflib
from os import PathLike
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from core.errors import ConfigError, InputError
from pipeline.models.checkpoint import apply_state_dict, read_state_dict, strip_wrapper_prefixes
from pipeline.models.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

#: The number of classes of torchvision's pretrained classification weights.
IMAGENET_CLASSES = 1000

#: ``weights_path`` value meaning "the file torchvision's own download would have put in its cache".
TORCHVISION_CACHE = "torchvision-cache"

#: Builder options that differ from torchvision's defaults. The auxiliary heads of the Inception models only
#: matter for training them on ImageNet; torchvision's init is skipped because weights are usually loaded
#: (GoogLeNet's is slow), and inputs are already normalised by :func:`~pipeline.models.to_model_input`.
BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False, "transform_input": False},
    "inception_v3": {"aux_logits": False, "init_weights": False, "transform_input": False},
}

_LIST_HINT = (
    'list them with: python -c "import torchvision; print(torchvision.models.list_models(module=torchvision.models))"'
)


def classification_model_names() -> list[str]:
    """The names of torchvision's classification models (``googlenet``, ``resnet18``, ...)."""
    return list(torchvision.models.list_models(module=torchvision.models))


def weights_url(name: str) -> str:
    """Where torchvision downloads the default ImageNet weights of a model from (nothing is downloaded here).

    Args:
        name: A classification model name.

    Returns:
        The URL of the default weights.

    Raises:
        ConfigError: If the name is unknown.
    """
    return torchvision.models.get_model_weights(_check_name(name)).DEFAULT.url


def cached_weights_path(name: str) -> Path:
    """Where torchvision's cache keeps the default weights of a model once downloaded.

    Args:
        name: A classification model name.

    Returns:
        ``<torch hub dir>/checkpoints/<file name>``, e.g. ``~/.cache/torch/hub/checkpoints/googlenet-1378be20.pth``
        (the hub dir follows ``$TORCH_HOME``). The file may not exist.

    Raises:
        ConfigError: If the name is unknown.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_url(name).rsplit("/", 1)[-1]


def weights_categories(name: str) -> list[str]:
    """The class names of a model's default torchvision weights, in output order (ImageNet's 1000 for most),
    from torchvision's own metadata (nothing is downloaded).

    Raises:
        ConfigError: If the name is unknown.
    """
    return [str(c) for c in torchvision.models.get_model_weights(_check_name(name)).DEFAULT.meta["categories"]]


def imagenet_input_spec(size: int = 224) -> InputSpec:
    """The input spec of torchvision's ImageNet models: RGB, dark ink on white, ImageNet mean and std.

    Args:
        size: Side length to render at (224 for most models, 299 for Inception v3).

    Returns:
        The spec.
    """
    return InputSpec(size=size, channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, invert=True)


def torchvision_input_spec(name: str) -> InputSpec:
    """The input spec for a torchvision model, with the crop size of its default weights (299 for Inception v3).

    Args:
        name: A classification model name.

    Returns:
        :func:`imagenet_input_spec` at the model's size, with the mean and std of its weights.

    Raises:
        ConfigError: If the name is unknown.
    """
    transforms = torchvision.models.get_model_weights(_check_name(name)).DEFAULT.transforms()
    return InputSpec(
        size=int(transforms.crop_size[0]),
        channels=3,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
        invert=True,
    )


def torchvision_classifier(
    name: str,
    num_classes: int,
    weights_path: str | PathLike[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Builds a torchvision classification model for ``num_classes`` classes, never downloading anything.

    Args:
        name: A name from :func:`classification_model_names` (``googlenet``, ``resnet18``, ...).
        num_classes: Number of output classes.
        weights_path: Optional weights to start from: a torchvision ``.pth`` file of the ImageNet model (such
            as ``googlenet-1378be20.pth``), a state dict of the same architecture with another number of
            classes, or a whole checkpoint (Lightning or ``{"model": ...}``); or :data:`TORCHVISION_CACHE` for
            torchvision's cache file (:func:`cached_weights_path`). The final classification layer is then
            replaced by a new, randomly initialised one for ``num_classes`` when the numbers differ.
        **kwargs: Options for torchvision's builder (``dropout=0.3``...), over :data:`BUILD_DEFAULTS`.

    Returns:
        The model, in training mode.

    Raises:
        ConfigError: If the name is unknown, ``num_classes`` is invalid, or the builder rejects an option.
        InputError: If the weights file is missing, unreadable, or does not fit the architecture.
    """
    name = _check_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"model.num_classes: expected a positive integer, got {num_classes!r}")
    for forbidden, why in (
        ("weights", "torchvision would download them; give a local file as weights_path instead"),
        ("num_classes", "it is already an argument of its own"),
    ):
        if forbidden in kwargs:
            raise ConfigError(f"model: option {forbidden!r} is not accepted for torchvision models ({why})")
    options = {**BUILD_DEFAULTS.get(name, {}), **kwargs}

    if weights_path is None:
        return _build(name, num_classes, options)

    path = cached_weights_path(name) if str(weights_path) == TORCHVISION_CACHE else Path(weights_path).expanduser()
    if not path.exists():
        raise InputError(
            path,
            f"weights file for torchvision model {name!r} not found",
            hint=f"copy {cached_weights_path(name).name} from torchvision's cache (~/.cache/torch/hub/checkpoints/) "
            f"on a machine where torchvision downloaded it, or download {weights_url(name)} once on a machine "
            "with internet, and point weights_path at the file",
        )
    model = _build(name, IMAGENET_CLASSES, options)
    head_path, head = find_classifier_head(model, IMAGENET_CLASSES)
    state_dict = strip_wrapper_prefixes(read_state_dict(path), set(model.state_dict()))
    # Heads the model was built without (GoogLeNet's aux1/aux2, Inception v3's AuxLogits) are set to None;
    # torchvision's files still carry their weights.
    state_dict = {k: v for k, v in state_dict.items() if getattr(model, k.split(".", 1)[0], ...) is not None}
    # The file may come from an earlier fine-tune with its own number of classes: size the head to match it.
    saved_head = state_dict.get(f"{head_path}.weight")
    if saved_head is not None and saved_head.ndim >= 1 and saved_head.shape[0] != IMAGENET_CLASSES:
        _replace_head(model, head_path, head, int(saved_head.shape[0]))
    apply_state_dict(model, state_dict, path, strict=True)
    head = model.get_submodule(head_path)
    if _out_size(head) != num_classes:
        _replace_head(model, head_path, head, num_classes)
    return model


def find_classifier_head(model: nn.Module, num_outputs: int | None = None) -> tuple[str, nn.Module]:
    """The final classification layer: the last ``nn.Linear`` (or 1x1 ``nn.Conv2d``, as in SqueezeNet).

    Args:
        model: A classification model.
        num_outputs: If given, only layers with this many outputs are considered.

    Returns:
        The layer's dotted path and the layer.

    Raises:
        ConfigError: If no such layer exists.
    """
    linear: list[tuple[str, nn.Module]] = []
    conv: list[tuple[str, nn.Module]] = []
    for path, module in model.named_modules():
        if num_outputs is not None and _out_size(module) != num_outputs:
            continue
        if isinstance(module, nn.Linear):
            linear.append((path, module))
        elif isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1):
            conv.append((path, module))
    if linear or conv:
        return (linear or conv)[-1]
    outputs = f" with {num_outputs} outputs" if num_outputs is not None else ""
    raise ConfigError(
        f"cannot find the classification layer of {type(model).__name__}: no nn.Linear or 1x1 nn.Conv2d{outputs}"
    )


def _check_name(name: object) -> str:
    names = classification_model_names()
    if isinstance(name, str) and name.lower() in names:
        return name.lower()
    close = difflib.get_close_matches(str(name).lower(), names, n=5, cutoff=0.5)
    suggestion = f" Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
    raise ConfigError(
        f"model.name: {name!r} is not a torchvision classification model.{suggestion} "
        f"There are {len(names)}; {_LIST_HINT}"
    )


def _build(name: str, num_classes: int, options: dict[str, Any]) -> nn.Module:
    try:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"model: torchvision's {name} rejects the options {sorted(options)}: {error}; "
            "check the option names in torchvision's documentation of the model"
        ) from None


def _out_size(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d):
        return module.out_channels
    return None


def _replace_head(model: nn.Module, path: str, head: nn.Module, num_classes: int) -> None:
    weight = head.weight
    if isinstance(head, nn.Linear):
        new: nn.Module = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
    else:
        assert isinstance(head, nn.Conv2d)
        new = nn.Conv2d(head.in_channels, num_classes, kernel_size=1, bias=head.bias is not None)
    new = new.to(device=weight.device, dtype=weight.dtype)
    parent_path, _, attribute = path.rpartition(".")
    setattr(model.get_submodule(parent_path) if parent_path else model, attribute, new)
    if isinstance(getattr(model, "num_classes", None), int):
        model.num_classes = num_classes  # SqueezeNet keeps it; keep it truthful
