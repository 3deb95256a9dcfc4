"""Where each round of the loop keeps its outputs: one folder per round under each configured path.

``paths.models/base/model.pt`` (the base model, trained once), ``paths.models/round_<r>/model.pt``,
``paths.activations/round_<r>/``, ``paths.atlases/round_<r>/``, ``paths.evaluation/round_<r>/``.

A round's atlas folder holds the atlas of the model's atlas layer (``model.layer``), and one complete atlas
folder per extra layer (``atlas.layers``) under ``layers/<layer>/``: whatever reads the round's atlas reads the
atlas layer's, where it always was.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig

from core.errors import ConfigError, InputError

MODEL_FILE = "model.pt"
BASE = "base"
#: The round that data and train_base belong to: they run once, and round 0's model is the base model.
FIRST_ROUND = 0
_ROUND_FOLDER = re.compile(r"round_(\d+)$")


def round_index(cfg: DictConfig) -> int:
    """``cfg.round`` as a round number.

    Raises:
        ConfigError: It is not an integer >= 0.
    """
    value = cfg.round
    if value < 0:
        raise ConfigError(f"round: expected a round number >= 0, got {value!r}")
    return value


def model_dir(cfg: DictConfig, round_: int) -> Path:
    return Path(cfg.paths.models) / f"round_{round_}"


def base_model_dir(cfg: DictConfig) -> Path:
    """The base model's folder: what train_base writes and every round fine-tunes from."""
    return Path(cfg.paths.models) / BASE


def base_model_path(cfg: DictConfig) -> Path:
    return base_model_dir(cfg) / MODEL_FILE


def model_path(cfg: DictConfig, round_: int) -> Path:
    return model_dir(cfg, round_) / MODEL_FILE


def activations_dir(cfg: DictConfig, round_: int) -> Path:
    return Path(cfg.paths.activations) / f"round_{round_}"


def atlas_dir(cfg: DictConfig, round_: int) -> Path:
    return Path(cfg.paths.atlases) / f"round_{round_}"


#: The sub-folder of a round's atlas folder that holds the extra layers' atlases, one folder per layer.
LAYERS_FOLDER = "layers"


def layer_atlas_dir(folder: str | Path, layer: str | None = None) -> Path:
    """The atlas folder of ``layer`` in a round's atlas folder ``folder``: ``folder`` itself for the atlas layer
    (None), else ``folder/layers/<layer>``."""
    return Path(folder) if layer is None else Path(folder) / LAYERS_FOLDER / layer


def configured_extra_layers(cfg: DictConfig, primary: str) -> list[str]:
    """The extra layers ``atlas.layers`` names, in order, without repeats and without the atlas layer ``primary``.

    Raises:
        ConfigError: Not null or a list of layer paths (module paths: dotted names, no slashes).
    """
    value = cfg.atlas.layers
    if value is None:
        return []
    listed = [value] if isinstance(value, str) else value
    if isinstance(listed, (str, bytes)) or not hasattr(listed, "__iter__"):
        raise ConfigError(f"atlas.layers: expected null or a list of layer paths, got {value!r}")
    layers: list[str] = []
    for layer in listed:
        if not isinstance(layer, str) or not layer.strip() or "/" in layer or "\\" in layer or layer.startswith("."):
            raise ConfigError(f"atlas.layers: {layer!r} is not a layer path; name module paths such as "
                              "features.block2 (`articulate layers` lists a model's)")
        if layer != primary and layer not in layers:
            layers.append(layer)
    return layers


def extra_layers(folder: str | Path) -> list[str]:
    """The extra layers whose atlas is built in a round's atlas folder (``layers/<layer>/atlas.json``), by name."""
    root = Path(folder) / LAYERS_FOLDER
    return sorted(p.name for p in root.iterdir() if (p / "atlas.json").is_file()) if root.is_dir() else []


def evaluation_dir(cfg: DictConfig, round_: int) -> Path:
    return Path(cfg.paths.evaluation) / f"round_{round_}"


def built_rounds(atlases: str | Path) -> list[int]:
    """The rounds whose atlas is built (``round_<r>/atlas.json`` under ``atlases``), in order."""
    return sorted(int(m.group(1)) for p in Path(atlases).glob("round_*")
                  if (m := _ROUND_FOLDER.search(p.name)) and (p / "atlas.json").is_file())


def latest_round(atlases: str | Path, lock: str | Path = "dvc.lock") -> int:
    """The round to show: the one DVC last built (its atlas in ``dvc.lock``), else the highest built on disk.

    Going back to an earlier round (``git checkout <commit> -- concepts dvc.lock && dvc checkout``) thus shows
    that round even though later rounds' folders are still on disk.

    Raises:
        InputError: There is no built atlas.
    """
    folder = Path(atlases)
    built = _round_in_lock(Path(lock), folder)
    if built is not None and (folder / f"round_{built}" / "atlas.json").is_file():
        return built
    rounds = built_rounds(folder)
    if not rounds:
        raise InputError(folder, "no built atlas here (no round_<r>/atlas.json)",
                         hint="build round 0 first: `make run` or `articulate repro`")
    return max(rounds)


def _round_in_lock(lock: Path, atlases: Path) -> int | None:
    """The round of the atlas that ``dvc.lock`` records (None without one)."""
    import yaml

    try:
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
        outs = stages.get("atlas", {}).get("outs", [])
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    for out in outs:
        path = Path(str(out.get("path", "")))
        match = _ROUND_FOLDER.search(path.name)
        if match and path.parent.name == atlases.name:
            return int(match.group(1))
    return None
