"""Pipeline stages: each a module with one job and a ``run(cfg)``, runnable alone as
``python -m pipeline.stages.<name> [hydra overrides]`` and run by DVC as ``... --params``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.config import stage_config
from pipeline.entry import configure_logging, guarded, setup_torch

__all__ = ["stage_main"]


def stage_main(run: Callable[[Any], Any], argv: Sequence[str] | None = None, *, targets: bool = True) -> int:
    """The ``__main__`` of a stage: compose the config from the command line, then ``run(cfg)``.

    Args:
        run: The stage's ``run(cfg)``.
        argv: The stage's arguments (default ``sys.argv[1:]``): Hydra overrides, or ``--params`` as DVC runs it.
        targets: Check the config's ``_target_`` nodes (data source, net, trainer) against their signatures.
            Stages that build none of them (their model comes from ``model.pt``) pass ``False``: checking imports
            Lightning and the rest (seconds a stage), and ``articulate configure`` and DVC's check_config stage
            have checked them already.

    Returns:
        The exit status (see :func:`guarded`).
    """
    configure_logging()

    def action() -> None:
        cfg = stage_config(sys.argv[1:] if argv is None else argv, targets=targets)
        setup_torch(int(cfg.threads))
        run(cfg)

    return guarded(action)
