"""Exemplar patches: the receptive-field crop of the real sketch around a position, with the position marked.

Geometry (input-pixel coordinates, pixel ``i``'s centre at ``i``, as :class:`LayerMeta` defines them):
position (y, x) is centred at ``LayerMeta.centre(y, x)``. Its *patch* is the ``receptive_field`` x
``receptive_field`` square centred there (what the position sees), padded with a light grey where it runs
past the image border. Its *stride cell* (the input pixels the position stands for, whose majority part is
its true part) is the ``stride`` x ``stride`` square centred there, drawn as a coloured outline.

Sketches are rasterised with the model's :class:`~pipeline.data.raster.RasterSpec` (what the model saw),
then shown as dark ink on white whatever the model's polarity, so every patch reads the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from numbers import Integral

import numpy as np

from pipeline.activations.store import LayerMeta
from pipeline.data.raster import RasterSpec, rasterize
from core.sketch import Sketch
from core.errors import ConfigError, InputError

__all__ = ["FIELD_COLOUR", "MARK_COLOUR", "PAD_GREY", "PatchMaker", "receptive_field_patch", "select_exemplars",
           "stride_cell"]

#: The outline colour of the marked stride cell (RGB).
MARK_COLOUR = (230, 50, 20)
#: The outline colour of the receptive field in a sketch shown whole (RGB).
FIELD_COLOUR = (40, 110, 230)
#: The grey of the padding outside the image.
PAD_GREY = 215


def _round(value: float) -> int:
    return int(math.floor(value + 0.5))


def stride_cell(meta: LayerMeta, y: int, x: int) -> tuple[int, int, int]:
    """The input pixels a position stands for: ``(top, left, side)`` of its stride cell."""
    cy, cx = meta.centre(y, x)
    side = max(1, _round(meta.stride))
    return _round(cy - (side - 1) / 2), _round(cx - (side - 1) / 2), side


def patch_origin(meta: LayerMeta, y: int, x: int) -> tuple[int, int]:
    """Input pixel (top, left) of a position's receptive-field patch (may be negative: off the image)."""
    cy, cx = meta.centre(y, x)
    rf = int(meta.receptive_field)
    return _round(cy - (rf - 1) / 2), _round(cx - (rf - 1) / 2)


def receptive_field_patch(ink: np.ndarray, meta: LayerMeta, y: int, x: int, *, scale: int = 1,
                          colour: Sequence[int] = MARK_COLOUR) -> np.ndarray:
    """The receptive-field crop of one image around a position, with its stride cell outlined.

    Args:
        ink: (S, S) ink coverage in [0, 1] (1 = ink), at the model's input size.
        meta: The layer's geometry.
        y: Position row.
        x: Position column.
        scale: Each input pixel becomes ``scale`` x ``scale`` output pixels (nearest), so the outline stays
            thin on small fields.
        colour: RGB colour of the outline.

    Returns:
        (receptive_field * scale, receptive_field * scale, 3) uint8 RGB: dark ink on white, light grey
        outside the image, the stride cell outlined (1 output pixel, 2 from ``scale`` 4 up).
    """
    if isinstance(scale, bool) or not isinstance(scale, Integral) or scale < 1:
        raise ConfigError(f"patch scale must be an integer >= 1, got {scale!r}")
    rf = int(meta.receptive_field)
    top, left = patch_origin(meta, y, x)
    paper = np.rint(255.0 * (1.0 - np.clip(ink, 0, 1))).astype(np.uint8)
    grey = _padded_crop(paper, top, left, rf, PAD_GREY)
    image = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    image = np.repeat(image[:, :, None], 3, axis=2)
    cell_top, cell_left, side = stride_cell(meta, y, x)
    a, b = (cell_top - top) * scale, (cell_left - left) * scale
    size = side * scale
    thick = 2 if scale >= 4 else 1
    _outline(image, a, b, size, thick, np.asarray(colour, dtype=np.uint8))
    return image


def _padded_crop(image: np.ndarray, top: int, left: int, side: int, fill: int) -> np.ndarray:
    """The ``side`` x ``side`` square of ``image`` (2-D or RGB) at (top, left), ``fill`` where it runs past the edge."""
    out = np.full((side, side, *image.shape[2:]), fill, dtype=image.dtype)
    r0, r1 = max(top, 0), min(top + side, image.shape[0])
    c0, c1 = max(left, 0), min(left + side, image.shape[1])
    if r1 > r0 and c1 > c0:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = image[r0:r1, c0:c1]
    return out


def _outline(image: np.ndarray, top: int, left: int, size: int, thick: int, colour: np.ndarray) -> None:
    """Draw a square outline (clipped to the image)."""
    h, w = image.shape[:2]
    bottom, right = top + size, left + size

    def fill(r0: int, r1: int, c0: int, c1: int) -> None:
        r0, r1, c0, c1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
        if r1 > r0 and c1 > c0:
            image[r0:r1, c0:c1] = colour

    fill(top, top + thick, left, right)
    fill(bottom - thick, bottom, left, right)
    fill(top, bottom, left, left + thick)
    fill(top, bottom, right - thick, right)


#: The largest exemplar patch side :class:`PatchMaker` enlarges to (a patch is never shrunk below scale 1).
MAX_PATCH_PIXELS = 320


class PatchMaker:
    """Makes exemplar patches from the real sketches of a dataset split.

    Args:
        sketches: The split's drawings (``read_split(dataset, meta.split)``); matched by ``key_id``.
        raster: How the model's input was rendered.
        meta: The layer's geometry.
        scale: Output pixels per input pixel (see :func:`receptive_field_patch`).
    """

    def __init__(self, sketches: Iterable[Sketch], raster: RasterSpec, meta: LayerMeta, scale: int = 1) -> None:
        self.by_key = {str(s.key_id): s for s in sketches}
        # A large field at the configured scale makes sheets of thousands of pixels that take seconds to draw
        # (GoogLeNet's inception4d sees 203 px: 812 px patches at 4x); enlarge only up to MAX_PATCH_PIXELS.
        field = max(1, int(meta.receptive_field))
        self.raster, self.meta = raster, meta
        self.scale = scale if not isinstance(scale, Integral) or isinstance(scale, bool) or scale < 1 else \
            max(1, min(int(scale), MAX_PATCH_PIXELS // field))
        self._ink: dict[str, np.ndarray] = {}

    def sketch(self, key_id: str) -> Sketch:
        """The drawing of a key id.

        Raises:
            InputError: No such drawing in the split (the activation store and the dataset disagree).
        """
        sketch = self.by_key.get(str(key_id))
        if sketch is None:
            raise InputError(f"key_id {key_id}", f"sketch not in the dataset split '{self.meta.split}'",
                             hint="the activation store and the dataset disagree: re-run the extract stage")
        return sketch

    def ink(self, key_id: str) -> np.ndarray:
        """The ink image (1 = ink) of a sketch at the model's input size (cached)."""
        key_id = str(key_id)
        if key_id not in self._ink:
            image = rasterize(self.sketch(key_id), self.raster)
            self._ink[key_id] = 1.0 - image if self.raster.invert else image
        return self._ink[key_id]

    def patch(self, key_id: str, y: int, x: int) -> np.ndarray:
        """The patch of one position (see :func:`receptive_field_patch`)."""
        return receptive_field_patch(self.ink(key_id), self.meta, int(y), int(x), scale=self.scale)

    def context(self, key_id: str, y: int, x: int) -> np.ndarray:
        """The whole sketch around a position, drawn sharp from its strokes at ``scale`` times the input size.

        The strokes are drawn again at the larger size (not the model's raster enlarged, which is blocky), the
        position's stride cell is outlined in :data:`MARK_COLOUR` over a light halo so it is found at a glance,
        and its receptive field in :data:`FIELD_COLOUR` where it is smaller than the image (a layer that sees
        the whole sketch has nothing to outline).

        Returns:
            (size * scale, size * scale, 3) uint8 RGB, dark ink on white.
        """
        return self._marked(key_id, int(y), int(x), self.scale, field=True, halo=1.5)

    def fragment(self, key_id: str, y: int, x: int, size: int) -> np.ndarray:
        """A fragment of the real sketch around a position, drawn sharp: what an atlas cell's icon shows.

        The window is the position's receptive field, but at most half the sketch's side, so the tile shows the
        stroke the position stands for and a little of its surroundings rather than the whole drawing.

        Args:
            key_id: The sketch.
            y: Position row.
            x: Position column.
            size: The tile's side in pixels.

        Returns:
            (size, size, 3) uint8 RGB, dark ink on white (white past the image border), the position marked.
        """
        from PIL import Image

        window = max(4, min(int(self.meta.receptive_field), self.raster.size // 2))
        scale = max(1, int(np.ceil(size / window)))
        image = self._marked(key_id, int(y), int(x), scale, field=False, halo=0.8)
        cy, cx = self.meta.centre(int(y), int(x))
        top, left = _round((cy + 0.5) * scale - window * scale / 2), _round((cx + 0.5) * scale - window * scale / 2)
        tile = _padded_crop(image, top, left, window * scale, 255)
        return np.asarray(Image.fromarray(tile).resize((size, size), Image.Resampling.LANCZOS))

    def _marked(self, key_id: str, y: int, x: int, scale: int, *, field: bool, halo: float) -> np.ndarray:
        """The sketch drawn sharp at ``scale`` times the input size, the position (and its field) marked.

        ``halo``: the radius of the tint around the position, in strides.
        """
        sketch = self.sketch(key_id)
        s = scale
        if sketch.bitmap is None:
            sharp = replace(self.raster, size=self.raster.size * s, line_width=self.raster.line_width * s,
                            padding=self.raster.padding * s, supersample=2, invert=False)
            ink = rasterize(sketch, sharp)
        else:  # a 28 x 28 bitmap has no strokes to draw again
            ink = np.repeat(np.repeat(self.ink(key_id), s, axis=0), s, axis=1)
        image = np.repeat(np.rint(255.0 * (1.0 - np.clip(ink, 0, 1))).astype(np.uint8)[:, :, None], 3, axis=2)
        size = image.shape[0]
        cy, cx = self.meta.centre(y, x)
        rows, cols = np.ogrid[:size, :size]
        radius = max(2.0, halo * float(self.meta.stride)) * s
        disc = (rows - (cy + 0.5) * s) ** 2 + (cols - (cx + 0.5) * s) ** 2 <= radius ** 2
        image[disc] = (0.5 * image[disc] + 0.5 * np.array([255, 160, 140])).astype(np.uint8)
        rf = int(self.meta.receptive_field)
        if field and rf < self.raster.size:
            top, left = patch_origin(self.meta, y, x)
            _outline(image, top * s, left * s, rf * s, 2, np.asarray(FIELD_COLOUR, dtype=np.uint8))
        top, left, side = stride_cell(self.meta, y, x)
        _outline(image, top * s, left * s, side * s, 1 if s < 3 else 2 if s < 4 else 3,
                 np.asarray(MARK_COLOUR, dtype=np.uint8))
        return image


def select_exemplars(points: np.ndarray, labels: np.ndarray, centres: np.ndarray, n: int, n_random: int = 0,
                     seed: int = 0) -> list[np.ndarray]:
    """The exemplar positions of each cluster: the ``n`` nearest to its centre, then ``n_random`` others.

    Args:
        points: (m, D) the points in the clustering space.
        labels: (m,) cluster of each point.
        centres: (k, D) cluster centres in that space.
        n: Nearest exemplars per cluster.
        n_random: Additional exemplars drawn at random from the rest of the cluster (seeded).
        seed: Random seed.

    Returns:
        For each cluster, the indices of its exemplars (nearest first, by increasing distance).
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in range(len(centres)):
        members = np.flatnonzero(labels == c)
        distance = np.linalg.norm(points[members] - centres[c], axis=1)
        order = members[np.argsort(distance, kind="stable")]
        nearest, rest = order[:n], order[n:]
        extra = rng.choice(rest, size=min(n_random, len(rest)), replace=False) if n_random and len(rest) else []
        out.append(np.concatenate([nearest, np.asarray(extra, dtype=np.int64)]).astype(np.int64))
    return out
