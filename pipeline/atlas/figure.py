"""The images a person looks at: the atlas (icons on the grid), the 2-D map, and per-cluster exemplar sheets.

* :func:`atlas_figure`: every kept grid cell shows its feature-visualization icon at its place in the grid
  (row 0 at the top); empty cells stay blank. Each icon is framed in the colour of the cell's majority
  cluster, so the atlas and the map can be read together; the legend names every cluster (with its majority
  true part and purity where the data has parts).
* :func:`map_figure`: the sampled points in the 2-D layout, coloured by cluster (cluster numbers at their
  centres) and by class.
* :func:`exemplar_sheet`: one cluster's exemplar patches (receptive-field crops, position outlined), each
  captioned with its class and true part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: figures are saved and logged, never shown

import matplotlib.patheffects as path_effects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

if TYPE_CHECKING:
    from pipeline.atlas.build import Atlas

__all__ = ["atlas_figure", "cluster_colours", "exemplar_sheet", "map_figure", "mosaic"]

_OUTLINE = [path_effects.withStroke(linewidth=2.5, foreground="white")]


#: One colour per cluster of the default atlas (24): tab10 first, then 14 colours of Plotly's qualitative palettes
#: and Kelly's 22 that lie farthest from those before them (CIEDE2000, each at least 14.9 from every other).
#: The page uses the same list (``PALETTE`` in labeling/static/app.js; a test keeps the two equal).
CLUSTER_PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#1616a7", "#85660d", "#620042", "#24796c", "#f8a19f", "#661100", "#00cc96", "#cf1c90", "#edad08", "#cc6677",
    "#6c7c32", "#654522", "#5f4690", "#dcb0f2",
)


def cluster_colours(k: int) -> np.ndarray:
    """(k, 4) RGBA colours: :data:`CLUSTER_PALETTE`, then golden-angle hues (as the page does) past 24."""
    from matplotlib.colors import hsv_to_rgb, to_rgba

    colours = [to_rgba(c) for c in CLUSTER_PALETTE[:k]]
    colours += [(*hsv_to_rgb(((i * 137.508) % 360 / 360, 0.65, 0.7)), 1.0) for i in range(len(colours), k)]
    return np.array(colours, dtype=np.float64).reshape(k, 4)


def mosaic(tiles: Sequence[np.ndarray], rows: Sequence[int], cols: Sequence[int], shape: tuple[int, int],
           tile: int, gap: int = 2, frames: np.ndarray | None = None, frame: int = 2,
           background: int = 255) -> np.ndarray:
    """Place square RGB tiles on a grid.

    Args:
        tiles: (S, S, 3) uint8 images, S <= ``tile``.
        rows: Grid row of each tile.
        cols: Grid column of each tile.
        shape: (rows, columns) of the grid.
        tile: Slot side in pixels (the tile is centred in its slot).
        gap: Blank pixels between slots.
        frames: Optional (len(tiles), 3) uint8 frame colour per tile.
        frame: Frame width in pixels.
        background: Grey level of empty space.

    Returns:
        The (H, W, 3) uint8 image.
    """
    slot = tile + 2 * frame + gap
    image = np.full((shape[0] * slot + gap, shape[1] * slot + gap, 3), background, dtype=np.uint8)
    for i, (picture, r, c) in enumerate(zip(tiles, rows, cols, strict=True)):
        top, left = gap + r * slot, gap + c * slot
        if frames is not None:
            image[top:top + tile + 2 * frame, left:left + tile + 2 * frame] = frames[i]
        s = picture.shape[0]
        off = frame + (tile - s) // 2
        image[top + off:top + off + s, left + off:left + off + picture.shape[1]] = picture
    return image


def _upscale(images: np.ndarray, factor: int) -> np.ndarray:
    return images if factor == 1 else np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def _cluster_label(atlas: Atlas, c: int) -> str:
    stats = atlas.clusters[c]
    if stats.majority_part is not None:
        return f"{c}: {stats.majority_part} ({stats.purity:.0%})"
    top = next(iter(stats.classes), "")
    return f"{c}: {top}" if top else str(c)


def _subtitle(atlas: Atlas) -> str:
    params = atlas.params
    sample = params["sample"]
    what = f"{len(atlas.points)} ink positions ({sample['weighting']} weighting"
    what += f", class {sample['class_filter']})" if sample.get("class_filter") else ")"
    g = atlas.grid_size
    text = (f"{what}; {g}x{g} grid, {len(atlas.cells)} cells with >= {params['grid']['min_count']} points; "
            f"{len(atlas.clusters)} clusters ({params['clusters']['method']})")
    purity, nmi = atlas.metrics.get("atlas_purity"), atlas.metrics.get("atlas_nmi")
    if purity is not None:
        text += f"; purity {purity:.2f}, NMI {nmi:.2f}"
    return text


def _tile_caption(atlas: Atlas) -> str:
    """What a tile shows, on two lines so it fits the narrowest figure."""
    kind = atlas.params.get("icons", {}).get("kind", "featurevis")  # atlases before icons.kind: featurevis
    what = ("the real drawing fragment nearest to its cell's mean activation (the position marked)"
            if kind == "exemplar" else "feature visualization of the mean activation of its cell's points")
    return f"Each tile: {what};\nframe: the cell's majority cluster (see map.png); blank: too few points"


def atlas_figure(atlas: Atlas) -> Figure:
    """Icons on the grid, framed by majority cluster, with title and legend."""
    g = atlas.grid_size
    icons = atlas.icons
    if icons is None:  # icons disabled: grey tiles, darker for fuller cells
        counts = atlas.cells["count"].to_numpy()
        level = 235 - (120 * counts / counts.max()).astype(np.int64)
        icons = np.repeat(level[:, None, None, None], 3, axis=3) * np.ones((1, 16, 16, 3), dtype=np.int64)
        icons = icons.astype(np.uint8)
    factor = max(1, 64 // icons.shape[1])
    icons = _upscale(icons, factor)
    colours = cluster_colours(len(atlas.clusters))
    frames = np.rint(colours[atlas.cells["cluster"].to_numpy(), :3] * 255).astype(np.uint8)
    image = mosaic(icons, atlas.cells["row"].to_numpy(), atlas.cells["col"].to_numpy(), (g, g), icons.shape[1],
                   frames=frames)
    inches = max(8.0, image.shape[1] / 110)
    legend_rows = -(-len(atlas.clusters) // 4)
    fig = plt.figure(figsize=(inches, inches + 1.3 + 0.22 * legend_rows))
    top = 1.0 - 0.95 / fig.get_figheight()
    bottom = (0.5 + 0.22 * legend_rows) / fig.get_figheight()
    ax = fig.add_axes((0.02, bottom, 0.96, top - bottom))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(f"Activation atlas of {atlas.layer}, round {atlas.round}", fontsize=16, y=1 - 0.2 / fig.get_figheight())
    fig.text(0.5, 1 - 0.62 / fig.get_figheight(), _subtitle(atlas), ha="center", fontsize=10)
    handles = [Patch(facecolor=colours[c], label=_cluster_label(atlas, c)) for c in range(len(atlas.clusters))]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False,
               title=_tile_caption(atlas),
               title_fontsize=9)
    return fig


def map_figure(atlas: Atlas) -> Figure:
    """The 2-D layout coloured by cluster (numbers at cluster centres) and by class."""
    points = atlas.points
    xy = points[["umap_x", "umap_y"]].to_numpy()
    clusters = points["cluster"].to_numpy()
    k = len(atlas.clusters)
    size = max(0.8, min(6.0, 30000.0 / max(len(points), 1)))
    fig, axes = plt.subplots(1, 2, figsize=(18, 9.4))
    colours = cluster_colours(k)
    order = np.random.default_rng(0).permutation(len(points))  # no colour drawn systematically on top
    ax = axes[0]
    ax.scatter(xy[order, 0], xy[order, 1], c=colours[clusters[order]], s=size, linewidths=0, rasterized=True)
    for c in range(k):
        members = clusters == c
        if members.any():
            cx, cy = np.median(xy[members], axis=0)
            ax.text(cx, cy, str(c), fontsize=12, weight="bold", ha="center", va="center", color="black",
                    path_effects=_OUTLINE)
    g = atlas.grid_size
    x0, x1, y0, y1 = atlas.extent
    for i in range(g + 1):  # the atlas grid, faintly
        ax.plot([x0 + (x1 - x0) * i / g] * 2, [y0, y1], color="0.85", lw=0.4, zorder=0)
        ax.plot([x0, x1], [y0 + (y1 - y0) * i / g] * 2, color="0.85", lw=0.4, zorder=0)
    ax.set_title("by cluster (numbers at cluster centres; grey: the atlas grid)")
    ax = axes[1]
    classes = atlas.classes
    palette = cluster_colours(len(classes)) if len(classes) > 10 else np.array(plt.get_cmap("tab10").colors)
    labels = points["label"].to_numpy()
    ax.scatter(xy[order, 0], xy[order, 1], c=palette[labels[order]][:, :3], s=size, linewidths=0, rasterized=True)
    present = np.unique(labels)
    ax.legend(handles=[Patch(facecolor=palette[i], label=classes[i]) for i in present], loc="best", fontsize=9,
              markerscale=3, framealpha=0.8)
    ax.set_title("by class")
    for ax in axes:
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    method = (atlas.params.get("layout") or atlas.params["umap"])["method"].upper()  # "umap": before 2026-12
    fig.suptitle(f"{method} map of {atlas.layer}, round {atlas.round}: {_subtitle(atlas)}", fontsize=11)
    fig.tight_layout()
    return fig


def exemplar_sheet(atlas: Atlas, cluster: int, patches: Sequence[np.ndarray], captions: Sequence[str],
                   columns: int = 8) -> Image.Image:
    """One cluster's exemplar patches with captions, titled with the cluster's statistics.

    Drawn with Pillow, not matplotlib: a sheet is images and text only, and an atlas writes one per cluster
    (about a tenth of the time).
    """
    stats = atlas.clusters[cluster]
    n = len(patches)
    rows = max(1, -(-n // columns))
    side = patches[0].shape[0] if n else 64
    small, large = ImageFont.load_default(size=max(10, side // 18)), ImageFont.load_default(size=max(12, side // 14))
    gap, caption, title = 6, 2 * small.size + 8, 3 * large.size + 16
    slot_w, slot_h = side + gap, side + gap + caption
    sheet = np.full((title + rows * slot_h + gap, columns * slot_w + gap, 3), 255, dtype=np.uint8)
    for i, patch in enumerate(patches):
        r, c = divmod(i, columns)
        top, left = title + gap + r * slot_h, gap + c * slot_w
        sheet[top - 1:top + side + 1, left - 1:left + side + 1] = 160  # a thin grey frame
        sheet[top:top + side, left:left + side] = patch
    image = Image.fromarray(sheet)
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(captions):
        r, c = divmod(i, columns)
        draw.multiline_text((gap + c * slot_w + side / 2, title + gap + r * slot_h + side + 3), text, fill="black",
                            font=small, anchor="ma", align="center", spacing=1)
    classes = ", ".join(f"{name} {count / stats.size:.0%}" for name, count in list(stats.classes.items())[:4])
    head = f"cluster {cluster}: {stats.size} positions, mean attribution {stats.mean_attribution:.3g}"
    if stats.majority_part is not None:
        parts = ", ".join(f"{name} {count}" for name, count in list((stats.parts or {}).items())[:4])
        head += f"\nmajority part {stats.majority_part} (purity {stats.purity:.0%}); parts: {parts}"
    draw.multiline_text((image.width / 2, 6), head + f"\nclasses: {classes}", fill="black", font=large, anchor="ma",
                        align="center", spacing=3)
    return image
