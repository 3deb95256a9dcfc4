"""Rounds unattended: the simulated artist labels each new atlas, then ``dvc repro`` builds the next round.

``articulate loop --rounds N [overrides]`` runs ``articulate repro`` (round 0 when nothing is built yet),
then N times: the simulated artist plays the latest round's atlas (its changes set the store's
``next_round``), and ``dvc repro`` builds that round (finetune, extract, atlas, evaluate). After each round
it prints the round's metrics (``evaluation/round_<r>/metrics.json``) and the wall time, one row a round.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from core.errors import ArticulateError, ConfigError
from pipeline.rounds import evaluation_dir

__all__ = ["RoundResult", "dvc_repro", "run_loop", "table"]

log = logging.getLogger(__name__)

#: The columns of the loop's table: metric name in metrics.json -> header.
COLUMNS = {"class_acc": "class_acc", "parts_discovered": "parts", "mean_concept_iou": "mean IoU",
           "atlas_purity": "purity", "atlas_nmi": "NMI", "n_concepts": "concepts", "human_actions": "actions",
           "human_edits": "edits"}


@dataclass
class RoundResult:
    """One round of the loop: its metrics, how long it took (labeling + building), the labeling's share, and
    the seconds of each stage ``dvc repro`` ran (none when DVC restored the round from its run cache)."""

    round: int
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    artist_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)


#: DVC's line before it runs a stage's command, and after the command succeeded.
_RUNNING = re.compile(r"^Running stage '([^']+)'")
_DONE = ("Generating lock file", "Updating lock file")


def dvc_repro(args: Sequence[str] = ()) -> dict[str, float]:
    """Run ``dvc repro`` in the project folder (its output shows), raising on failure.

    Returns:
        The wall seconds of each stage it ran (its process included), from DVC's own lines around it.
    """
    dvc = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")
    seconds: dict[str, float] = {}
    running: tuple[str, float] | None = None
    # DVC's lines are read as they come (unbuffered), to time each stage; the stages' own output passes through
    with subprocess.Popen([dvc, "repro", *args], stdout=subprocess.PIPE, text=True, bufsize=1,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            if line.startswith(_DONE) and running is not None:
                seconds[running[0]] = time.perf_counter() - running[1]
                running = None
            elif started := _RUNNING.match(line):
                running = (started.group(1), time.perf_counter())
        sys.stdout.flush()
    if process.returncode:
        raise ArticulateError(f"dvc repro failed with status {process.returncode} (its output is above)")
    return seconds


def read_metrics(cfg: DictConfig, round_: int) -> dict[str, Any]:
    path = evaluation_dir(cfg, round_) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def run_loop(cfg: DictConfig, rounds: int, *, dvc_args: Sequence[str] = ()) -> list[RoundResult]:
    """Build round 0 if needed, then ``rounds`` rounds of simulated labeling and ``dvc repro``.

    Args:
        cfg: The composed config (``params.yaml`` must already be written from it).
        rounds: Rounds to add after the latest one built.
        dvc_args: Extra arguments of ``dvc repro``.

    Returns:
        One result per round built or found, round 0 first.
    """
    from labeling.artist import SimulatedArtist
    from labeling.atlas_view import AtlasView
    from pipeline.rounds import latest_round
    from pipeline.schema import configured
    from conceptstore.store import ConceptStore

    if rounds < 0:
        raise ConfigError(f"--rounds: expected a number >= 0, got {rounds}")
    started = time.perf_counter()
    stages = dvc_repro(dvc_args)
    results = [RoundResult(latest_round(cfg.paths.atlases), seconds=time.perf_counter() - started,
                           stage_seconds=stages)]
    results[0].metrics = read_metrics(cfg, results[0].round)
    artist = configured(SimulatedArtist, cfg)
    store = ConceptStore(cfg.paths.concepts, actor=artist.actor)
    for _ in range(rounds):
        started = time.perf_counter()
        view = AtlasView.load(cfg, latest_round(cfg.paths.atlases))
        report = artist.play(view, store)
        print(report.table(), flush=True)
        labeled = time.perf_counter() - started
        stages = dvc_repro(dvc_args)
        built = latest_round(cfg.paths.atlases)
        if built != view.round + 1:
            raise ArticulateError(f"after labeling round {view.round}, dvc repro built round {built}, not "
                                  f"{view.round + 1}: check {store.path} (next_round)")
        results.append(RoundResult(built, read_metrics(cfg, built), time.perf_counter() - started, labeled, stages))
        print(table(results), flush=True)
    return results


def table(results: Sequence[RoundResult]) -> str:
    """The loop's results, one row a round."""
    header = f"{'round':>5} " + " ".join(f"{h:>9}" for h in COLUMNS.values()) + f" {'seconds':>8}"
    rows = [header]
    for result in results:
        cells = []
        for key in COLUMNS:
            value = result.metrics.get(key)
            cells.append(f"{value:>9.3f}" if isinstance(value, float) else f"{'-' if value is None else value:>9}")
        rows.append(f"{result.round:>5} " + " ".join(cells) + f" {result.seconds:>8.0f}")
    return "\n".join(rows)
