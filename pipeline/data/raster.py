"""Rasterisation: sketches to model input images, and generated sketches to part masks.

Strokes are drawn with PIL at ``supersample`` times the output size and box-averaged down, which gives
anti-aliased lines whose grey levels are exactly the fraction of each output pixel the stroke covers. The
part mask is drawn with the same geometry, so a pixel is labelled exactly where the image is at least half
ink.

The canvas mapping is fixed (0..255 onto ``[padding, size - padding]`` on both axes) rather than fitted to
each drawing's bounding box, so a partial drawing (its first k strokes) lines up pixel for pixel with the
finished one. Quick, Draw! "simplified" drawings are already scaled so their longer side spans 0..255.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from PIL import Image, ImageDraw

from core.sketch import CANVAS_MAX, Sketch
from core.errors import ArticulateError, ConfigError

__all__ = ["PartLabelError", "RasterSpec", "rasterize", "rasterize_batch", "rasterize_parts"]


class PartLabelError(ArticulateError, ValueError):
    """A part mask was asked for a sketch without part names, or with a part the index does not know."""


@dataclass(frozen=True)
class RasterSpec:
    """How sketches are turned into images.

    Attributes:
        size: Output side in pixels (images are square).
        line_width: Stroke width in output pixels.
        padding: Blank margin, in output pixels, around the 0..255 drawing canvas.
        supersample: Strokes are drawn at this many times the output size and averaged down
            (anti-aliasing); 1 draws hard-edged strokes.
        invert: False: ink 1 on background 0. True: dark ink (0) on white (1), as ImageNet models expect.
    """

    size: int = 64
    line_width: float = 2.0
    padding: int = 2
    supersample: int = 4
    invert: bool = False

    def __post_init__(self) -> None:
        """Check the fields.

        Raises:
            ConfigError: Naming the first invalid field and the allowed values.
        """
        if not _is_int(self.size) or self.size < 8:
            raise ConfigError(f"RasterSpec.size must be an integer >= 8 (pixels), got {self.size!r}")
        if (
            isinstance(self.line_width, bool)
            or not isinstance(self.line_width, Real)
            or not math.isfinite(self.line_width)
            or self.line_width <= 0
        ):
            raise ConfigError(f"RasterSpec.line_width must be a number > 0 (output pixels), got {self.line_width!r}")
        if not _is_int(self.padding) or not 0 <= self.padding < self.size / 2:
            raise ConfigError(
                f"RasterSpec.padding must be an integer from 0 to less than half the size ({self.size}), "
                f"got {self.padding!r}"
            )
        if not _is_int(self.supersample) or not 1 <= self.supersample <= 8:
            raise ConfigError(f"RasterSpec.supersample must be an integer from 1 to 8, got {self.supersample!r}")
        if not isinstance(self.invert, (bool, np.bool_)):
            raise ConfigError(f"RasterSpec.invert must be true or false, got {self.invert!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _draw_strokes(image: Image.Image, strokes: Sequence[np.ndarray], fills: Sequence[int], spec: RasterSpec) -> None:
    """Draw strokes in order on a supersampled canvas, each with its own fill value.

    Each stroke is a round-capped, round-joined pen stroke: straight segments of the line width plus a
    disc of the same width at every point. PIL's own ``joint="curve"`` computes its joints in
    Python and is about five times slower, so the core drawing calls are used directly.

    Coordinates are rounded to whole supersampled pixels so that the segments and the discs, which PIL
    positions by different rules, line up exactly.
    """
    if not strokes:
        return
    s = spec.supersample
    width = max(1, round(spec.line_width * s))
    scale = (spec.size - 2 * spec.padding) * s / CANVAS_MAX
    # Continuous position u (pixel i spans [i, i+1)) -> the PIL pixel index p whose width-w line is centred
    # on u: an odd-width line through p spans p-(w-1)/2 .. p+(w-1)/2 (centre p+0.5), an even-width one
    # p-w/2+1 .. p+w/2 (centre p+1).
    offset = spec.padding * s - (0.5 if width % 2 else 1.0)
    low = (width - 1) // 2  # a disc's box runs from p-low to p-low+width-1

    # All strokes are prepared at once, on (2, n) rows: strokes are short, and numpy's per-call cost
    # would otherwise exceed the drawing itself.
    lengths = [stroke.shape[1] for stroke in strokes]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    p = np.rint(np.concatenate(strokes, axis=1) * np.float32(scale) + np.float32(offset)).astype(np.int32)
    first = np.zeros(p.shape[1], dtype=bool)
    first[starts[starts < p.shape[1]]] = True
    # Drop a point equal to the one before it in the same stroke: PIL draws zero-length wide segments as
    # spikes.
    keep = first.copy()
    keep[1:] |= (p[0, 1:] != p[0, :-1]) | (p[1, 1:] != p[1, :-1])
    # Stroke i is kept points bounds[i]:bounds[i+1] (empty strokes give empty ranges).
    bounds = np.concatenate([[0], np.cumsum(keep)])[np.concatenate([[0], ends])]
    p = p[:, keep]

    # A disc at every point: the round caps and joints. PIL ends each wide segment flat at its points,
    # and even at a nearly straight joint the two segments leave a seam of unfilled pixels between them.
    corner = p - low
    boxes = np.concatenate([corner, corner + (width - 1)]).T.tolist()  # inclusive boxes, as PIL wants
    bounds = bounds.tolist()
    xy = p.T.tolist()

    core = ImageDraw.Draw(image).draw
    for i, fill in enumerate(fills):
        begin, end = bounds[i], bounds[i + 1]
        if end - begin > 1:
            core.draw_lines(xy[begin:end], fill, width)
        if width == 1:
            core.draw_points(xy[begin:end], fill)  # a 1-pixel disc is the pixel itself
        else:
            for box in boxes[begin:end]:
                core.draw_ellipse(box, fill, 1)


def _bitmap_image(bitmap: np.ndarray, spec: RasterSpec) -> np.ndarray:
    """A numpy_bitmap drawing resized to the output size, ink 1 on background 0."""
    array = np.asarray(bitmap)
    if array.ndim != 2:
        raise ValueError(f"a sketch bitmap must be a 2-D image, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    image = Image.fromarray(array).resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def _ink(sketch: Sketch, spec: RasterSpec) -> np.ndarray:
    """Ink coverage in [0, 1] before any inversion."""
    if sketch.strokes:
        s, n = spec.supersample, spec.size
        canvas = Image.new("L", (n * s, n * s), 0)
        _draw_strokes(canvas, sketch.strokes, [255] * len(sketch.strokes), spec)
        if s == 1:
            return np.asarray(canvas, dtype=np.float32) / np.float32(255.0)
        # Image.reduce averages each s x s block to round(255 * k / s**2) for k covered sub-pixels. For
        # s <= 8 those levels are more than one apart, so k is recovered exactly: the image is then exactly
        # the covered fraction, >= 0.5 exactly where rasterize_parts labels a pixel.
        average = np.asarray(canvas.reduce(s), dtype=np.float32)
        return np.rint(average * np.float32(s * s / 255.0)) / np.float32(s * s)
    if sketch.bitmap is not None:
        return _bitmap_image(sketch.bitmap, spec)
    return np.zeros((spec.size, spec.size), dtype=np.float32)  # no strokes yet: a blank canvas


def rasterize(sketch: Sketch, spec: RasterSpec = RasterSpec()) -> np.ndarray:
    """Draw a sketch as an anti-aliased grey-level image.

    Stroke drawings are drawn with round caps and joints; a one-point stroke is a dot. numpy_bitmap
    drawings are resized to the output size (bilinear; ``padding`` and ``line_width`` do not apply, the
    28x28 images carry their own margin and stroke width). A sketch with no strokes and no bitmap (the
    partial drawing of 0 strokes) is blank.

    Args:
        sketch: The drawing, or a partial drawing from :meth:`Sketch.first_strokes`.
        spec: Output size, stroke width, padding, anti-aliasing and polarity.

    Returns:
        A float32 (size, size) array in [0, 1]: ink 1 on background 0, or the reverse when ``spec.invert``.

    Raises:
        ValueError: If the sketch's bitmap is not a 2-D array.
    """
    ink = _ink(sketch, spec)
    return np.float32(1.0) - ink if spec.invert else ink


def rasterize_batch(sketches: Sequence[Sketch], spec: RasterSpec = RasterSpec()) -> np.ndarray:
    """Rasterise several sketches (see :func:`rasterize`).

    Args:
        sketches: The drawings.
        spec: The raster settings.

    Returns:
        A float32 (N, size, size) array; (0, size, size) for no sketches.

    Raises:
        ValueError: If a sketch's bitmap is not a 2-D array.
    """
    out = np.empty((len(sketches), spec.size, spec.size), dtype=np.float32)
    for i, sketch in enumerate(sketches):
        out[i] = rasterize(sketch, spec)
    return out


def rasterize_parts(sketch: Sketch, spec: RasterSpec, part_index: Mapping[str, int]) -> np.ndarray:
    """Draw a part-annotated sketch as a label mask, with the geometry of :func:`rasterize`.

    A pixel is labelled where at least half of it is ink (``rasterize(...) >= 0.5``, whatever
    ``spec.invert``), with the part that covers most of it; where strokes overlap, the later stroke is on
    top, as when drawing. No anti-aliasing: labels are whole part ids.

    Args:
        sketch: A drawing with ``parts`` (one part name per stroke), possibly partial.
        spec: The raster settings (``invert`` is ignored).
        part_index: Part name -> id, ids from 1 to 32767 (0 is the background).

    Returns:
        An int16 (size, size) array: 0 for background, else the part id.

    Raises:
        PartLabelError: (a ValueError) if the sketch has strokes but no part names, if one of its parts is
            missing from ``part_index``, or if an id is outside 1..32767.
    """
    if sketch.parts is None:
        if not sketch.strokes and sketch.bitmap is None:
            return np.zeros((spec.size, spec.size), dtype=np.int16)  # an empty drawing has nothing to label
        raise PartLabelError(
            f"sketch {sketch.key_id!r} ({sketch.word}) has no part names, so it has no part mask; "
            "part masks need generated data or ndjson lines with a 'parts' list"
        )
    # Draw with dense ids (1..number of distinct parts of this sketch), mapped back to part ids at the end:
    # they fit an 8-bit canvas and keep the per-pixel vote below small.
    dense: dict[str, int] = {}
    for part in sketch.parts:
        if part in dense:
            continue
        if part not in part_index:
            known = ", ".join(sorted(part_index)) or "none"
            raise PartLabelError(
                f"sketch {sketch.key_id!r} ({sketch.word}) has part {part!r}, which the part index does not "
                f"list (known parts: {known})"
            )
        label = part_index[part]
        if not _is_int(label) or not 1 <= label <= np.iinfo(np.int16).max:
            raise PartLabelError(f"part {part!r} has id {label!r}; part ids must be integers from 1 to 32767")
        dense[part] = len(dense) + 1
    n = spec.size
    if not sketch.strokes:
        return np.zeros((n, n), dtype=np.int16)
    to_label = np.array([0, *(part_index[part] for part in dense)], dtype=np.int16)

    s, k = spec.supersample, len(dense)
    canvas = Image.new("L" if k < 256 else "I", (n * s, n * s), 0)
    _draw_strokes(canvas, sketch.strokes, [dense[part] for part in sketch.parts], spec)
    # The sub-pixels of each output pixel, one row per pixel.
    blocks = np.asarray(canvas).reshape(n, s, n, s).swapaxes(1, 2).reshape(n * n, s * s)
    # Labelled where at least half the sub-pixels are ink, as rasterize(...) >= 0.5.
    inked = 2 * np.count_nonzero(blocks, axis=1) >= s * s
    # Vote among the sub-pixels of the inked pixels only (a small fraction of the image): counts[pixel, id].
    sub = blocks[inked].astype(np.int64)
    votes = np.arange(len(sub))[:, None] * (k + 1) + sub
    counts = np.bincount(votes.ravel(), minlength=len(sub) * (k + 1)).reshape(len(sub), k + 1)
    # The part covering most of the pixel (after painting later strokes over earlier ones); a tie goes to
    # the part that appears later in the drawing.
    winner = k - np.argmax(counts[:, :0:-1], axis=1)
    labels = np.zeros(n * n, dtype=np.int16)
    labels[inked] = to_label[winner]
    return labels.reshape(n, n)
