"""What the supervised-ceiling benchmark (bench/bench_ceiling.py) adds to the project: fully supervised part codes,
concept maps upsampled to the input, IoU over ink pixels, and the evaluate pass counting it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.activations.extractor import part_cells, render_batch
from pipeline.activations.geometry import LayerGeometry
from tests.defaults import SketchGenerator
from pipeline.data.raster import RasterSpec
from pipeline.evaluation.inference import Evaluator, run_split
from pipeline.evaluation.metrics import OverlapCounts, ink_pixel_predictions, iou_matrix, upsample_maps
from pipeline.finetune.targets import BACKGROUND, OTHER, POSITIVE, part_codes
from pipeline.models.build import TrainedModel
from pipeline.models.concept_head import ConceptHead
from pipeline.models.sketch_cnn import SketchCNN

# SketchCNN's features.block3 at 64x64 input, as receptive_field measures it.
BLOCK3 = LayerGeometry("features.block3", 64, 16, 16, 64, 4.0, 18, 1.5)


def test_part_codes_by_hand() -> None:
    parts = np.array([[[1, 2], [0, 1]],
                      [[3, 0], [0, 0]]])
    codes = part_codes(parts, [1, 3])
    P, O, B = POSITIVE, OTHER, BACKGROUND
    np.testing.assert_array_equal(codes, np.array([
        [[[P, O], [B, P]], [[O, O], [B, O]]],
        [[[O, B], [B, B]], [[P, B], [B, B]]],
    ], dtype=np.uint8))
    assert codes.dtype == np.uint8


def test_upsampling_matches_bilinear_interpolation_between_position_centres() -> None:
    maps = np.random.default_rng(0).random((2, 3, 16, 16)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(maps), scale_factor=4, mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(upsample_maps(maps, BLOCK3), expected, atol=1e-5)
    # Any grid: a position's value lands on the pixel at its centre, constants stay constant.
    geometry = LayerGeometry("l", 1, 3, 3, 12, 4.0, 9, 2.0)
    grid = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    up = upsample_maps(grid, geometry)
    assert up.shape == (1, 1, 12, 12)
    np.testing.assert_allclose(up[0, 0][np.ix_([2, 6, 10], [2, 6, 10])], grid[0, 0])
    np.testing.assert_allclose(up[0, 0, 4, 2], 1.5)  # halfway between rows 0 and 1
    np.testing.assert_allclose(upsample_maps(np.full((1, 1, 3, 3), 0.7), geometry), 0.7, atol=1e-6)


def test_ink_pixel_iou_by_hand() -> None:
    # A 2x2 grid on a 4x4 image (stride 2, centres at pixels 0.5 and 2.5): nearest-like when the map is flat.
    geometry = LayerGeometry("l", 1, 2, 2, 4, 2.0, 3, 0.5)
    mask = np.array([[[1, 1, 0, 0],
                      [0, 1, 0, 2],
                      [0, 0, 0, 0],
                      [0, 0, 2, 2]]])
    maps = np.zeros((1, 2, 2, 2), dtype=np.float32)
    maps[0, 0] = [[1, 1], [0, 0]]  # concept 0 on the top row of cells
    maps[0, 1] = [[0, 0], [0, 1]]  # concept 1 on the bottom-right cell
    predicted = ink_pixel_predictions(maps, mask, geometry, threshold=0.5)
    assert not predicted[:, :, mask[0] == 0].any()  # only ink pixels count
    counts = OverlapCounts(2, 2)
    counts.update(predicted, mask)
    iou = iou_matrix(counts)
    # Concept 0 covers the top half: all three part-1 pixels and the part-2 pixel at (1, 3).
    assert iou[0, 0] == pytest.approx(3 / 4) and iou[0, 1] == pytest.approx(1 / 6)
    # Concept 1 reaches 0.5 on rows and columns >= 2 (0.75 x 0.75 at (2, 2)): the two bottom part-2 pixels.
    assert iou[1, 1] == pytest.approx(2 / 3) and iou[1, 0] == 0.0


def test_the_evaluate_pass_counts_ink_pixels_too() -> None:
    torch.manual_seed(0)
    generator = SketchGenerator(num_sketches=6, classes=["cat", "car"], seed=3, progress=False)
    sketches = generator.load().sketches
    parts = sorted({p for s in sketches for p in s.parts})
    raster = RasterSpec(size=64, line_width=2.0)
    net = SketchCNN(num_classes=2, widths=(4, 4, 4, 4), channels_last=False).eval()
    head = ConceptHead(4, 2).eval()
    with torch.no_grad():
        head.conv.bias.copy_(torch.tensor([10.0, -10.0]))  # concept 0 everywhere, concept 1 nowhere
    model = TrainedModel(net=net, class_names=["car", "cat"], input_spec=net.input_spec, raster=raster,
                         layer="features.block3", round=1, concepts=[{"id": "a", "name": "all"},
                                                                      {"id": "n", "name": "none"}],
                         concept_head=head)
    result = run_split(Evaluator(model), sketches, parts, batch_size=4, pixels=True)
    assert run_split(Evaluator(model), sketches, parts, batch_size=4).pixel_counts is None

    _images, masks = render_batch(sketches, raster, {p: i + 1 for i, p in enumerate(parts)})
    pixels = result.pixel_counts
    ink = int((masks > 0).sum())
    assert pixels.positions == masks.size and pixels.predicted.tolist() == [ink, 0]
    np.testing.assert_array_equal(pixels.area[1:], np.bincount(masks.ravel(), minlength=len(parts) + 1)[1:])
    # Everywhere-on concept: IoU with part p is its share of the ink pixels; at the cells, of the inked cells.
    np.testing.assert_allclose(iou_matrix(pixels)[0], pixels.area[1:] / ink)
    cells = part_cells(masks, result.geometry)
    np.testing.assert_allclose(iou_matrix(result.counts)[0], result.counts.area[1:] / cells.size)
