"""The bottom floor of every entry point: logging, torch threads, and the one-line answer to a user's mistake.

Stages (their ``__main__``, through :func:`pipeline.stages.stage_main`), ``python -m pipeline.config`` and the
``articulate`` command all start here. It imports nothing of the project but :mod:`core.errors`, so no entry
point pulls in another's imports.
A user's mistake (an :class:`~core.errors.ArticulateError`) is printed as one line, ``error: ...``, with
exit status 2 and no traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

from core.errors import ArticulateError

EXIT_USER_ERROR = 2


def configure_logging() -> None:
    """INFO lines with a time stamp; third-party chatter that says nothing to a user is quieted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name in ("alembic", "mlflow.store.db.utils", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
    warnings.filterwarnings("ignore", message="No complete tensor found in the group")


def setup_torch(threads: int) -> None:
    """Use a deliberate number of CPU threads: oversubscribing small shared machines is very slow.

    Args:
        threads: Intra-op threads; 0 means one per core.
    """
    import torch

    count = threads if threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def guarded(action: Callable[[], Any]) -> int:
    """Run ``action``; report an ArticulateError as one line.

    Returns:
        The exit status: 0, ``EXIT_USER_ERROR`` for a user's mistake, 130 when interrupted.
    """
    try:
        action()
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
