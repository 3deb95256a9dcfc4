"""Rasterisation: where the ink goes, anti-aliasing, settings, partial drawings, part masks, bitmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.ndjson import read_ndjson
from pipeline.data.raster import PartLabelError, RasterSpec, rasterize, rasterize_batch, rasterize_parts
from core.sketch import Sketch
from core.errors import ArticulateError, ConfigError


def stroke(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float32).T.copy()


#: A horizontal line at y=128 and a vertical one at x=64 that crosses it.
HORIZONTAL = stroke((0, 128), (128, 128), (255, 128))
VERTICAL = stroke((64, 0), (64, 255))
CROSS = Sketch("x", "cross", (HORIZONTAL, VERTICAL), parts=("bar", "post"))


def to_pixel(coordinate: float, spec: RasterSpec) -> float:
    """Where a 0..255 coordinate lands, in continuous output-pixel units."""
    return spec.padding + coordinate * (spec.size - 2 * spec.padding) / 255


def test_ink_where_the_stroke_is_and_nowhere_else() -> None:
    spec = RasterSpec()  # 64 px, width 2, padding 2
    image = rasterize(Sketch("h", "line", (HORIZONTAL,)), spec)
    assert image.dtype == np.float32 and image.shape == (64, 64)
    assert image.min() == 0.0 and image.max() == 1.0
    y = to_pixel(128, spec)  # 32.1: the line covers rows 31.1 .. 33.1
    assert int(y) == 32
    np.testing.assert_array_equal(image[32, 4:60], 1.0)  # fully covered row, caps aside
    assert image[31, 4:60].min() > 0.5 and image[33, 4:60].max() < 0.5
    assert image[:30].sum() == 0 and image[35:].sum() == 0
    # Round caps: the ink starts one half-width before x = padding and ends one after size - padding.
    assert image[32, 0] == 0 and image[32, 1] > 0 and image[32, 62] > 0 and image[32, 63] == 0


def test_axes_are_not_swapped() -> None:
    spec = RasterSpec()
    image = rasterize(Sketch("v", "line", (VERTICAL,)), spec)
    x = int(to_pixel(64, spec))  # column 17
    np.testing.assert_array_equal(image[4:60, x], 1.0)
    assert image[:, : x - 3].sum() == 0 and image[:, x + 3 :].sum() == 0


def test_anti_aliased_with_supersampling_and_hard_without() -> None:
    diagonal = Sketch("d", "line", (stroke((10, 20), (240, 200)),))
    smooth = rasterize(diagonal, RasterSpec(supersample=4))
    levels = np.unique(smooth)
    assert ((levels > 0) & (levels < 1)).sum() >= 5  # many intermediate grey levels
    np.testing.assert_allclose(levels * 16, np.rint(levels * 16), atol=1e-5)  # coverage in 1/16ths
    hard = rasterize(diagonal, RasterSpec(supersample=1))
    assert set(np.unique(hard).tolist()) == {0.0, 1.0}


def test_size_width_and_padding_are_configurable() -> None:
    line = Sketch("h", "line", (HORIZONTAL,))
    for size in (8, 32, 128):
        assert rasterize(line, RasterSpec(size=size, padding=1)).shape == (size, size)
    thin = rasterize(line, RasterSpec(line_width=2)).sum()
    thick = rasterize(line, RasterSpec(line_width=6)).sum()
    assert 2.7 < thick / thin < 3.3  # ink grows with the width (caps aside)
    edge = Sketch("e", "line", (stroke((0, 0), (0, 255)),))
    padded = rasterize(edge, RasterSpec(padding=10, line_width=2))
    assert padded[:, :8].sum() == 0 and padded[12:52, 9:11].min() == 1  # the stroke covers x = 9 .. 11


def test_invert_gives_dark_ink_on_white() -> None:
    plain = rasterize(CROSS, RasterSpec())
    inverted = rasterize(CROSS, RasterSpec(invert=True))
    np.testing.assert_allclose(inverted, 1.0 - plain)
    assert inverted[0, 0] == 1.0 and inverted.min() == 0.0


def test_single_point_is_a_round_dot() -> None:
    spec = RasterSpec(size=64, line_width=6, padding=0)
    image = rasterize(Sketch("p", "dot", (stroke((127.5, 127.5)),)), spec)
    assert image[30:34, 30:34].min() == 1.0  # the dot is centred at 32, 32
    assert image.sum() == pytest.approx(np.pi * 3**2, rel=0.15)  # a disc of diameter 6
    assert image[:26].sum() == 0 and image[39:].sum() == 0


def test_repeated_points_draw_like_one() -> None:
    spec = RasterSpec()
    once = rasterize(Sketch("a", "l", (stroke((10, 10), (100, 50)),)), spec)
    repeated = rasterize(Sketch("b", "l", (stroke((10, 10), (10, 10), (100, 50), (100, 50)),)), spec)
    np.testing.assert_array_equal(once, repeated)


def test_partial_drawings_build_up_to_the_full_one() -> None:
    sketch = Sketch(
        "s", "shape", (HORIZONTAL, VERTICAL, stroke((200, 30)), stroke((30, 220), (220, 240), (120, 160)))
    )
    spec = RasterSpec()
    full = rasterize(sketch, spec)
    previous = rasterize(sketch.first_strokes(0), spec)
    np.testing.assert_array_equal(previous, 0.0)  # no strokes: a blank canvas
    for k in range(1, sketch.num_strokes + 1):
        partial = rasterize(sketch.first_strokes(k), spec)
        assert (partial >= previous).all() and partial.sum() > previous.sum()  # each stroke adds ink
        assert (partial <= full).all()  # and in the same place as in the full drawing
        previous = partial
    np.testing.assert_array_equal(previous, full)


def test_part_mask_labels_match_the_geometry() -> None:
    spec = RasterSpec()
    index = {"bar": 1, "post": 2, "unused": 3}
    labels = rasterize_parts(CROSS, spec, index)
    assert labels.dtype == np.int16 and labels.shape == (64, 64)
    # Exactly the pixels that are at least half ink are labelled.
    np.testing.assert_array_equal(labels > 0, rasterize(CROSS, spec) >= 0.5)
    y, x = int(to_pixel(128, spec)), int(to_pixel(64, spec))
    assert labels[y, 40] == 1 and labels[y, 5] == 1  # the bar, away from the crossing
    assert labels[10, x] == 2 and labels[50, x] == 2  # the post
    assert labels[y, x] == 2  # the post is drawn last, so it is on top
    assert set(np.unique(labels).tolist()) == {0, 1, 2}
    swapped = Sketch("x", "cross", (VERTICAL, HORIZONTAL), parts=("post", "bar"))
    assert rasterize_parts(swapped, spec, index)[y, x] == 1
    # invert does not change the mask.
    np.testing.assert_array_equal(rasterize_parts(CROSS, RasterSpec(invert=True), index), labels)


def test_part_mask_of_partial_drawings() -> None:
    index = {"bar": 1, "post": 2}
    assert not rasterize_parts(CROSS.first_strokes(0), RasterSpec(), index).any()
    first = rasterize_parts(CROSS.first_strokes(1), RasterSpec(), index)
    assert set(np.unique(first).tolist()) == {0, 1}


def test_part_mask_errors() -> None:
    no_parts = Sketch("n", "cross", (HORIZONTAL,))
    with pytest.raises(PartLabelError, match="has no part names"):
        rasterize_parts(no_parts, RasterSpec(), {"bar": 1})
    with pytest.raises(PartLabelError, match=r"part 'post', which the part index does not list \(known parts: bar\)"):
        rasterize_parts(CROSS, RasterSpec(), {"bar": 1})
    with pytest.raises(PartLabelError, match="from 1 to 32767"):
        rasterize_parts(CROSS, RasterSpec(), {"bar": 1, "post": 0})
    bitmap = Sketch("b", "cat", bitmap=np.full((28, 28), 255, np.uint8))
    with pytest.raises(ValueError, match="no part names"):  # PartLabelError is also a ValueError ...
        rasterize_parts(bitmap, RasterSpec(), {"bar": 1})
    assert issubclass(PartLabelError, ArticulateError)  # ... and a user-facing error


def test_bitmap_is_resized() -> None:
    bitmap = np.zeros((28, 28), np.uint8)
    bitmap[7:14, 14:21] = 255  # a square in the top-right quarter
    bitmap[20, 3] = 100
    image = rasterize(Sketch("b", "square", bitmap=bitmap), RasterSpec(size=56))
    assert image.dtype == np.float32 and image.shape == (56, 56)
    assert 0.0 <= image.min() and image.max() <= 1.0
    np.testing.assert_allclose(image[16:26, 30:40], 1.0)  # inside the square, scaled by 2
    assert image[:12].sum() == 0 and image[30:38, 20:].sum() == 0
    assert 0.2 < image[40:42, 6:8].max() < 0.5  # the grey pixel, interpolated
    inverted = rasterize(Sketch("b", "square", bitmap=bitmap), RasterSpec(size=56, invert=True))
    np.testing.assert_allclose(inverted, 1.0 - image)


def test_batch_matches_single() -> None:
    sketches = [CROSS, CROSS.first_strokes(1), Sketch("b", "x", bitmap=np.eye(28, dtype=np.uint8) * 255)]
    spec = RasterSpec(size=32, padding=1)
    batch = rasterize_batch(sketches, spec)
    assert batch.shape == (3, 32, 32) and batch.dtype == np.float32
    for image, sketch in zip(batch, sketches):
        np.testing.assert_array_equal(image, rasterize(sketch, spec))
    assert rasterize_batch([], spec).shape == (0, 32, 32)


def test_real_drawings(quickdraw_dir: Path) -> None:
    sketches = read_ndjson(quickdraw_dir / "ndjson" / "alarm clock.ndjson").sketches
    batch = rasterize_batch(sketches, RasterSpec())
    assert batch.shape == (25, 64, 64)
    assert (batch >= 0).all() and (batch <= 1).all()
    ink = batch.reshape(25, -1).mean(axis=1)
    assert (ink > 0.02).all() and (ink < 0.5).all()  # every drawing shows, none is a blob


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 4),
        ("size", 64.0),
        ("size", True),
        ("line_width", 0),
        ("line_width", float("nan")),
        ("line_width", "2"),
        ("padding", -1),
        ("padding", 32),
        ("supersample", 0),
        ("supersample", 9),
        ("invert", "yes"),
    ],
)
def test_spec_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"RasterSpec.{field} must be"):
        RasterSpec(**{field: value})


def test_spec_defaults() -> None:
    spec = RasterSpec()
    assert (spec.size, spec.line_width, spec.padding, spec.supersample, spec.invert) == (64, 2.0, 2, 4, False)
    assert RasterSpec(size=8, padding=3, supersample=8, line_width=0.1).size == 8
