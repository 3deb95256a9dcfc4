"""The figures of concept maps (the evaluate stage's on test sketches, the fine-tune stage's on labelled ones), the
concept x part IoU matrix and the reliance table.

Text in the figures (concept and part names) is drawn as is: ``parse_math=False`` keeps a name holding ``$``
from being read as mathtext.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from pipeline.activations.geometry import LayerGeometry  # noqa: E402

__all__ = ["CellMark", "MapPanel", "MapRow", "cell_outline", "concept_maps_figure", "iou_matrix_figure", "message_figure",
           "reliance_figure"]

PART_COLOUR = (0.12, 0.39, 0.85)  # the matched part's ink
INK_COLOUR = (0.1, 0.1, 0.1)
IOU_SCALE = 0.5  # the IoU matrix's colour scale ends here
HEAT = LinearSegmentedColormap.from_list("concept_heat", [(1.0, 1.0, 1.0), (1.0, 0.85, 0.55), (0.98, 0.45, 0.1),
                                                          (0.75, 0.05, 0.05)])


def _short(text: str, limit: int = 28) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


Colour = str | tuple[float, float, float]


@dataclass
class MapPanel:
    """One example: a sketch with a concept's map.

    Attributes:
        ink: (S, S) ink coverage in [0, 1] (1 = ink), at the model's input size.
        part: (S, S) bool, pixels of the concept's matched true part (all False without one); None where the
            figure shows no true parts (the fine-tune stage's).
        heat: (H, W) the concept's sigmoid map at the layer's resolution.
        title: Above the panel (class and presence).
        codes: (H, W) the person's label of each position (:class:`CellMark` codes), or None.
    """

    ink: np.ndarray
    part: np.ndarray | None
    heat: np.ndarray
    title: str
    codes: np.ndarray | None = None


@dataclass(frozen=True)
class CellMark:
    """How the positions of one label code are outlined (the person's positives, negatives).

    Attributes:
        code: The code in :attr:`MapPanel.codes`.
        colour: The outline's colour.
        label: Its legend entry.
    """

    code: int
    colour: Colour
    label: str


@dataclass
class MapRow:
    """One concept's row: its label and examples."""

    label: str
    detail: str
    panels: list[MapPanel]


def cell_outline(on: np.ndarray, geometry: LayerGeometry) -> list[list[tuple[float, float]]]:
    """The boundary of the ``on`` positions' stride cells, as line segments in input pixel coordinates.

    An edge of an on cell is drawn where its neighbour across the edge is off or outside the grid, so adjacent
    on cells merge into one outlined region.
    """
    on = np.asarray(on, dtype=bool)
    padded = np.pad(on, 1)
    left = top = geometry.cell_origin
    s = geometry.stride
    segments = []
    for y, x in zip(*np.nonzero(on)):
        x0, y0 = left + s * x, top + s * y
        x1, y1 = x0 + s, y0 + s
        if not padded[y, x + 1]:  # above
            segments.append([(x0, y0), (x1, y0)])
        if not padded[y + 2, x + 1]:  # below
            segments.append([(x0, y1), (x1, y1)])
        if not padded[y + 1, x]:  # left
            segments.append([(x0, y0), (x0, y1)])
        if not padded[y + 1, x + 2]:  # right
            segments.append([(x1, y0), (x1, y1)])
    return segments


def _ink_rgba(ink: np.ndarray, part: np.ndarray | None) -> np.ndarray:
    rgba = np.zeros((*ink.shape, 4), dtype=np.float32)
    rgba[..., :3] = INK_COLOUR
    if part is not None:
        rgba[part, :3] = PART_COLOUR
    rgba[..., 3] = np.clip(ink * 1.3, 0, 1)
    return rgba


def concept_maps_figure(rows: Sequence[MapRow], geometry: LayerGeometry, title: str, threshold: float | None = None,
                        marks: Sequence[CellMark] = ()) -> Figure:
    """A row per concept: its name, then its examples (ink over the concept map, a matched true part in blue).

    The map is drawn per position at the layer's resolution (one square per stride cell) in white-to-red for
    sigmoid 0 to 1. The evaluate stage outlines the positions at or above ``threshold``; the fine-tune stage
    outlines the positions the person labelled, a colour per code (``marks``).

    Args:
        rows: The concepts' rows.
        geometry: The layer's grid (where the maps lie on the sketches).
        title: The figure's title.
        threshold: Outline the positions whose sigmoid is at least this; None: no such outline.
        marks: Outline the positions of each code of the panels' ``codes``.

    Returns:
        The figure.
    """
    columns = max((len(r.panels) for r in rows), default=0)
    parts = any(p.part is not None for r in rows for p in r.panels)
    handles = [Patch(color=HEAT(0.85), label="concept map (sigmoid" +
                     (f"; outlined: >= {threshold:g})" if threshold is not None else ")")),
               *(Patch(facecolor="none", edgecolor=m.colour, label=m.label) for m in marks),
               *([Patch(color=PART_COLOUR, label="ink of the concept's matched true part")] if parts else []),
               Patch(color=INK_COLOUR, label="other ink" if parts else "ink")]
    legend_lines = -(-len(handles) // 3)
    side = 1.55
    fig = plt.figure(figsize=(2.3 + side * columns, 0.9 + 0.18 * (legend_lines - 1) + (side + 0.25) * len(rows)))
    grid = fig.add_gridspec(len(rows), columns + 1, width_ratios=[2.3 / side, *([1.0] * columns)], wspace=0.06,
                            hspace=0.28, left=0.01, right=0.99,
                            top=1 - (0.75 + 0.18 * (legend_lines - 1)) / fig.get_figheight(),
                            bottom=0.12 / fig.get_figheight())
    for i, row in enumerate(rows):
        _label_cell(fig.add_subplot(grid[i, 0]), row)
        for j in range(columns):
            ax = fig.add_subplot(grid[i, j + 1])
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row.panels):
                ax.axis("off")
                continue
            _map_panel(ax, row.panels[j], geometry, threshold, marks)
    fig.legend(handles=handles, loc="upper right", ncol=3, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.99, 1 - 0.28 / fig.get_figheight()))
    fig.suptitle(title, x=0.01, y=1 - 0.12 / fig.get_figheight(), ha="left", va="top", fontsize=10,
                 parse_math=False)
    return fig


def _label_cell(label: Axes, row: MapRow) -> None:
    """A row's first cell: the concept's name and the detail under it."""
    label.axis("off")
    label.text(0.98, 0.62, _short(row.label, 24), ha="right", va="center", fontsize=10.5, fontweight="bold",
               parse_math=False, transform=label.transAxes)
    label.text(0.98, 0.32, row.detail, ha="right", va="center", fontsize=7.5, color="0.3", parse_math=False,
               transform=label.transAxes, linespacing=1.3)


def _map_panel(ax: Axes, panel: MapPanel, geometry: LayerGeometry, threshold: float | None,
               marks: Sequence[CellMark]) -> None:
    """One example: the map, its outlines, the ink over them."""
    size = geometry.input_size
    ax.imshow(panel.heat, cmap=HEAT, vmin=0.0, vmax=1.0, extent=geometry.extent, interpolation="nearest")
    outlines = [] if threshold is None else [(np.asarray(panel.heat) >= threshold, (0.55, 0.0, 0.0), 0.9)]
    if panel.codes is not None:
        outlines += [(panel.codes == m.code, m.colour, 1.1) for m in marks]
    for on, colour, width in outlines:
        edges = cell_outline(on, geometry)
        if edges:
            ax.add_collection(LineCollection(edges, colors=[colour], linewidths=width))
    ax.imshow(_ink_rgba(panel.ink, panel.part), extent=(-0.5, size - 0.5, size - 0.5, -0.5),
              interpolation="bilinear")
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_title(panel.title, fontsize=7.5, pad=2, parse_math=False)
    for spine in ax.spines.values():
        spine.set_color("0.75")


def iou_matrix_figure(iou: np.ndarray, concept_names: Sequence[str], part_names: Sequence[str],
                      matched: Sequence[int], discovered: Sequence[bool], title: str,
                      iou_discovered: float = 0.3) -> Figure:
    """A concepts x parts heatmap of IoU, the matched part of each concept framed, discovered parts in green.

    The colour scale is fixed (0 to ``IOU_SCALE``, 0.5) so that rounds compare at a glance; values of at least
    ``iou_discovered`` are printed in bold.

    Args:
        iou: (K, P) IoU of each concept with each part shown.
        concept_names: K row labels.
        part_names: P column labels.
        matched: Per concept, the column of its matched part, -1 for none.
        discovered: Per part, whether it is discovered.
        title: The figure's title.
        iou_discovered: The discovery threshold.
    """
    iou = np.asarray(iou, dtype=np.float64)
    k, p = iou.shape
    fig, ax = plt.subplots(figsize=(max(5.5, 2.2 + 0.42 * p), max(2.6, 1.6 + 0.36 * k)))
    image = ax.imshow(iou, cmap="Blues", vmin=0.0, vmax=IOU_SCALE, aspect="auto", interpolation="nearest")
    for i in range(k):
        for j in range(p):
            if iou[i, j] >= 0.005:
                ax.text(j, i, f"{iou[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6.5,
                        color="white" if iou[i, j] > 0.6 * IOU_SCALE else "0.15",
                        fontweight="bold" if iou[i, j] >= iou_discovered else "normal")
        if 0 <= matched[i] < p:
            ax.add_patch(Rectangle((matched[i] - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=(0.85, 0.2, 0.1), lw=1.6))
    ax.set_xticks(range(p))
    ax.set_xticklabels([_short(n, 18) for n in part_names], rotation=60, ha="right", fontsize=8,
                       rotation_mode="anchor")
    for label, found in zip(ax.get_xticklabels(), discovered):
        label.set_parse_math(False)
        if found:
            label.set_color((0.0, 0.5, 0.1))
            label.set_fontweight("bold")
    ax.set_yticks(range(k))
    ax.set_yticklabels([_short(n, 24) for n in concept_names], fontsize=8)
    for label in ax.get_yticklabels():
        label.set_parse_math(False)
    ax.set_xlabel("true part (green: discovered)", fontsize=8.5)
    ax.set_ylabel("concept", fontsize=8.5)
    ax.tick_params(length=0)
    cbar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.015, extend="max")
    cbar.ax.tick_params(labelsize=7)
    cbar.set_label("IoU", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left", parse_math=False)
    fig.tight_layout()
    return fig


def reliance_figure(drop: np.ndarray, concept_names: Sequence[str], class_names: Sequence[str], title: str) -> Figure:
    """A concepts x classes heatmap of the accuracy a class loses when a concept is erased (red: the class needs
    it; blue: the class does better without it), the scale fixed from -1 to 1 so that rounds compare.

    Args:
        drop: (K, classes) accuracy lost.
        concept_names: K row labels.
        class_names: Column labels.
        title: The figure's title.
    """
    drop = np.asarray(drop, dtype=np.float64)
    k, c = drop.shape
    fig, ax = plt.subplots(figsize=(max(5.0, 2.4 + 0.5 * c), max(2.6, 1.6 + 0.32 * k)))
    image = ax.imshow(drop, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
    for i in range(k):
        for j in range(c):
            if abs(drop[i, j]) >= 0.01:
                ax.text(j, i, f"{drop[i, j]:+.2f}", ha="center", va="center", fontsize=6.5,
                        color="white" if abs(drop[i, j]) > 0.6 else "0.15")
    ax.set_xticks(range(c))
    ax.set_xticklabels([_short(n, 18) for n in class_names], rotation=60, ha="right", fontsize=8,
                       rotation_mode="anchor")
    ax.set_yticks(range(k))
    ax.set_yticklabels([_short(n, 24) for n in concept_names], fontsize=8)
    for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        label.set_parse_math(False)
    ax.set_xlabel("class", fontsize=8.5)
    ax.set_ylabel("concept erased", fontsize=8.5)
    ax.tick_params(length=0)
    cbar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.015)
    cbar.ax.tick_params(labelsize=7)
    cbar.set_label("accuracy lost", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left", parse_math=False)
    fig.tight_layout()
    return fig


def message_figure(title: str, message: str) -> Figure:
    """A small figure that only says something (round 0 has no concepts to show)."""
    fig = plt.figure(figsize=(6.0, 1.6))
    fig.text(0.03, 0.68, title, fontsize=11, fontweight="bold", parse_math=False)
    fig.text(0.03, 0.32, message, fontsize=9, color="0.3", parse_math=False, wrap=True)
    return fig
