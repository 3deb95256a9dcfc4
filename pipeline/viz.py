"""Figures people look at: sample grids and confusion matrices (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are saved and logged, never shown

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from core.sketch import Sketch  # noqa: E402


def sketch_grid(sketches: Sequence[Sketch], columns: int = 10, part_names: Sequence[str] | None = None) -> Figure:
    """A grid of drawings titled by class; strokes coloured by part where parts are known.

    Args:
        sketches: The drawings to show (stroke or bitmap drawings).
        columns: Drawings per row.
        part_names: All part names, to give each part the same colour everywhere.

    Returns:
        The figure.
    """
    rows = max(1, -(-len(sketches) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.75 * rows), squeeze=False)
    palette = plt.get_cmap("tab20")
    colour_of = {name: palette(i % 20) for i, name in enumerate(part_names or [])}
    for ax in axes.flat:
        ax.axis("off")
    for ax, sketch in zip(axes.flat, sketches):
        if sketch.strokes:
            for i, stroke in enumerate(sketch.strokes):
                part = sketch.parts[i] if sketch.parts else None
                ax.plot(stroke[0], stroke[1], lw=1.2, color=colour_of.get(part, "black"), solid_capstyle="round")
            ax.set_xlim(-8, 263)
            ax.set_ylim(263, -8)
        elif sketch.bitmap is not None:
            ax.imshow(sketch.bitmap, cmap="gray_r")
        ax.set_aspect("equal")
        ax.set_title(sketch.word, fontsize=8)
    if colour_of:
        used = sorted({p for s in sketches for p in (s.parts or ())})
        handles = [plt.Line2D([], [], color=colour_of[p], lw=2) for p in used]
        fig.legend(handles, used, loc="lower center", ncol=min(len(used), 11), fontsize=7, frameon=False)
        fig.subplots_adjust(bottom=0.12)
    return fig


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """A labelled confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    from sklearn.metrics import ConfusionMatrixDisplay  # here: scikit-learn's import is a second of every stage's

    size = max(5.0, 0.55 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    display = ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(class_names))
    display.plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation="vertical", values_format="d")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
