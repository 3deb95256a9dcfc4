"""The replay of a drawing as a picture: the drawing stroke by stroke, each concept's level over the strokes,
and where the events happened (the exhibit's chart of attribution over time)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pipeline.coach.coach import Replay  # noqa: E402
from pipeline.coach.concept_set import CoachConcept  # noqa: E402
from core.sketch import CANVAS_MAX  # noqa: E402

__all__ = ["replay_figure", "save_replay_figure", "shown_concepts"]

MARKERS = {"improved": "^", "complete": "*"}


def shown_concepts(replay: Replay, belongs: np.ndarray, least: float = 0.3) -> list[int]:
    """The concepts worth a line: those of the target class, and any other that reached ``least``."""
    reached = replay.levels.max(axis=0) >= least
    return [int(k) for k in np.flatnonzero(belongs | reached)]


def replay_figure(replay: Replay, concepts: Sequence[CoachConcept], belongs: np.ndarray) -> Figure:
    """Left: the drawing, strokes coloured in drawing order and numbered. Right: the level of each shown concept
    after every stroke (1 = a typical complete drawing of the class), with its events marked."""
    shown = shown_concepts(replay, belongs)
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(shown), 2)))
    fig, (draw_ax, level_ax) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 2.1]})
    order = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(replay.sketch.num_strokes, 1)))
    for i, stroke in enumerate(replay.sketch.strokes):
        draw_ax.plot(stroke[0], stroke[1], color=order[i], linewidth=2, solid_capstyle="round")
        draw_ax.annotate(str(i + 1), (stroke[0][0], stroke[1][0]), fontsize=8, color=order[i],
                         xytext=(-6, 4), textcoords="offset points")
    draw_ax.set_xlim(-8, CANVAS_MAX + 8)
    draw_ax.set_ylim(CANVAS_MAX + 8, -8)
    draw_ax.set_aspect("equal")
    draw_ax.set_xticks([])
    draw_ax.set_yticks([])
    draw_ax.set_title(f"{replay.sketch.word or 'drawing'} {replay.sketch.key_id}: strokes in order", fontsize=10)

    steps = np.arange(len(replay.levels))
    for colour, k in zip(colours, shown):
        style = "-" if belongs[k] else ":"
        level_ax.plot(steps, replay.levels[:, k], style, color=colour, linewidth=2, label=concepts[k].name)
        for event in replay.events:
            if event.concept == k:
                level_ax.plot(event.frame, replay.levels[event.frame, k], MARKERS[event.kind], color=colour,
                              markersize=11 if event.kind == "complete" else 8, markeredgecolor="black",
                              markeredgewidth=0.6)
    level_ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    level_ax.text(0, 1.02, "typical complete drawing", fontsize=8, color="grey", va="bottom")
    level_ax.set_xlabel("strokes drawn")
    level_ax.set_ylabel(f"level (1 = a complete {replay.target})")
    level_ax.set_xticks(steps)
    top = float(np.nanmax(replay.levels[:, shown])) if shown else 1.0
    level_ax.set_ylim(0, max(1.3, min(top * 1.1, 4.0)))
    level_ax.set_title(f"concepts over the strokes, read as {replay.target} "
                       "(▲ improved, ★ looks complete; dotted: not usual for the class)", fontsize=10)
    if shown:
        level_ax.legend(fontsize=8, ncol=2 if len(shown) > 8 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def save_replay_figure(replay: Replay, concepts: Sequence[CoachConcept], belongs: np.ndarray, path: str | Path) -> Path:
    """Write :func:`replay_figure` as a PNG."""
    fig = replay_figure(replay, concepts, belongs)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)
