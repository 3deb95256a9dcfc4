"""The soft rasteriser: its gradient is right, its picture is the project's rasteriser's, its errors are clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ConfigError
from core.ndjson import read_ndjson
from core.sketch import Sketch
from pipeline.data.raster import RasterSpec, rasterize
from pipeline.featurevis import soft_raster
from pipeline.featurevis.soft_raster import bezier_polylines, canvas_to_pixels, edge_profile, soft_rasterize
from pipeline.featurevis.strokes import pack_strokes

SMALL = RasterSpec(size=12, line_width=2.0, padding=1)


def _brute_force(points: torch.Tensor, spec: RasterSpec, softness: float, opacity: torch.Tensor | None) -> torch.Tensor:
    """The definition, written directly: every pixel's distance to every segment, the minimum per stroke, the
    edge profile, times the opacity, the maximum over strokes."""
    pixels = canvas_to_pixels(points, spec)
    start, end = (pixels, pixels) if pixels.shape[2] == 1 else (pixels[:, :, :-1], pixels[:, :, 1:])
    centres = torch.arange(spec.size, dtype=points.dtype) + 0.5
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack([xs, ys], -1).reshape(-1, 2)  # (P, 2)
    edge = end - start  # (B, N, S, 2)
    rel = grid[None, None, None] - start[:, :, :, None]  # (B, N, S, P, 2)
    t = ((rel * edge[:, :, :, None]).sum(-1) / (edge * edge).sum(-1).clamp_min(1e-12)[..., None]).clamp(0, 1)
    gap = rel - t[..., None] * edge[:, :, :, None]
    distance = torch.sqrt((gap * gap).sum(-1).amin(dim=2) + soft_raster.DISTANCE_EPS)  # (B, N, P)
    ink = edge_profile(distance, spec.line_width / 2, softness)
    if opacity is not None:
        ink = ink * opacity[:, :, None]
    return ink.amax(dim=1).reshape(points.shape[0], 1, spec.size, spec.size)


def _points(seed: int, shape: tuple[int, ...] = (2, 3, 4, 2)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 255


@pytest.mark.parametrize("softness", [0.0, 0.5, 1.5])
@pytest.mark.parametrize("opacity", [None, "mask", "fractional"])
def test_matches_the_definition(softness: float, opacity: str | None) -> None:
    points = _points(1)
    alpha = {None: None, "mask": torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64),
             "fractional": torch.tensor([[0.3, 1.0, 0.7], [0.5, 0.2, 0.0]], dtype=torch.float64)}[opacity]
    torch.testing.assert_close(soft_rasterize(points, SMALL, softness=softness, opacity=alpha),
                               _brute_force(points, SMALL, softness, alpha))


@pytest.mark.parametrize("opacity", [None, "fractional"])
def test_gradient_is_right(opacity: str | None) -> None:
    """Finite differences (torch.autograd.gradcheck, float64) on a tiny case, points and opacities."""
    points = _points(2, (1, 2, 3, 2)).requires_grad_(True)
    if opacity is None:
        assert torch.autograd.gradcheck(lambda p: soft_rasterize(p, SMALL, softness=0.7), (points,), eps=1e-6,
                                        atol=1e-5)
    else:
        alpha = torch.tensor([[0.4, 0.9]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda p, a: soft_rasterize(p, SMALL, softness=0.7, opacity=a),
                                        (points, alpha), eps=1e-6, atol=1e-5)


def test_gradient_equals_the_definitions() -> None:
    """The fast path picks the nearest segment without autograd: its gradient is the direct formula's."""
    points = _points(3, (2, 4, 5, 2))
    weights = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    grads = []
    for draw in (lambda p: soft_rasterize(p, SMALL, softness=0.5), lambda p: _brute_force(p, SMALL, 0.5, None)):
        p = points.clone().requires_grad_(True)
        (draw(p) * weights).sum().backward()
        grads.append(p.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def _as_points(sketch: Sketch) -> torch.Tensor:
    points, _ = pack_strokes([sketch])
    return points.double()


def test_matches_the_project_rasteriser(quickdraw_dir: Path) -> None:
    """Real drawings: at zero and small softness the image is the anti-aliased raster the model is trained on."""
    spec = RasterSpec(size=64, line_width=2.0)
    files = sorted((quickdraw_dir / "ndjson").glob("*.ndjson"))[:4]
    assert files, f"no ndjson files in {quickdraw_dir / 'ndjson'}"
    for file in files:
        for sketch in read_ndjson(file, limit=2).sketches:
            reference = rasterize(sketch, spec)
            for softness in (0.0, 0.25):
                image = soft_rasterize(_as_points(sketch), spec, softness=softness)[0, 0].numpy()
                assert np.abs(image - reference).mean() < 0.04, (file.name, softness)
                ours, theirs = image >= 0.5, reference >= 0.5
                assert (ours & theirs).sum() / (ours | theirs).sum() > 0.75, (file.name, softness)


def test_a_one_point_stroke_is_a_dot_and_masked_strokes_are_not_drawn() -> None:
    spec = RasterSpec(size=16, line_width=3.0, padding=0)
    dot = soft_rasterize(torch.tensor([[[[127.5, 127.5]]]]), spec)[0, 0]
    assert float(dot[8, 8]) == 1.0 and float(dot[0, 0]) == 0.0
    assert dot.sum() == pytest.approx(np.pi * 1.5**2, rel=0.2)  # about the disc's area in pixels
    hidden = soft_rasterize(torch.tensor([[[[127.5, 127.5]]]]), spec, opacity=torch.zeros(1, 1))
    assert float(hidden.sum()) == 0.0


def test_chunks_give_the_same_image(monkeypatch: pytest.MonkeyPatch) -> None:
    points = _points(5, (5, 3, 4, 2))
    whole = soft_rasterize(points, SMALL, softness=0.5)
    monkeypatch.setattr(soft_raster, "CHUNK_ELEMENTS", 1)  # one image at a time
    torch.testing.assert_close(soft_rasterize(points, SMALL, softness=0.5), whole)


def test_bezier_keeps_ends_and_straight_lines() -> None:
    control = torch.tensor([[[[0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0], [50.0, 50.0],
                              [60.0, 60.0]]]])
    line = bezier_polylines(control, 5)
    assert line.shape == (1, 1, 9, 2)
    torch.testing.assert_close(line[0, 0, 0], control[0, 0, 0])
    torch.testing.assert_close(line[0, 0, -1], control[0, 0, -1])
    torch.testing.assert_close(line[..., 0], line[..., 1])  # on the diagonal throughout
    with pytest.raises(ConfigError, match="3M \\+ 1"):
        bezier_polylines(control[:, :, :6], 5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: soft_rasterize(torch.zeros(2, 3, 2), SMALL), "points must be a tensor"),
        (lambda: soft_rasterize(torch.zeros(1, 2, 3, 2), SMALL, softness=-1.0), "softness must be a number >= 0"),
        (lambda: soft_rasterize(torch.zeros(1, 2, 3, 2), SMALL, opacity=torch.ones(2)), "opacity must be a tensor"),
    ],
    ids=["shape", "softness", "opacity"],
)
def test_bad_input_is_one_clear_error(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()
