"""Where each round of the loop keeps its outputs: one folder per round under each configured path.

``paths.models/base/model.pt`` (the base model, trained once), ``paths.models/round_<r>/model.pt``,
``paths.activations/round_<r>/``, ``paths.atlases/round_<r>/``, ``paths.evaluation/round_<r>/``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from pipeline.errors import ConfigError

MODEL_FILE = "model.pt"
BASE = "base"
#: The round that data and train_base belong to: they run once, and round 0's model is the base model.
FIRST_ROUND = 0


def round_index(cfg: DictConfig) -> int:
    """``cfg.round`` as a round number.

    Raises:
        ConfigError: It is not an integer >= 0.
    """
    value = cfg.get("round", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
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


def evaluation_dir(cfg: DictConfig, round_: int) -> Path:
    return Path(cfg.paths.evaluation) / f"round_{round_}"
