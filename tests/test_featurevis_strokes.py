"""Strokes as a parameterisation: every objective rises, the result is a drawing (valid ndjson), fixed strokes stay,
and "show me" adds strokes that raise a concept on a person's drawing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ConfigError
from core.ndjson import read_ndjson, write_ndjson
from core.sketch import Sketch
from pipeline.config import default
from pipeline.data.raster import RasterSpec, rasterize
from pipeline.featurevis import objectives as obj
from pipeline.featurevis.param import make_param
from pipeline.featurevis.render import render, render_one_by_one
from pipeline.featurevis.soft_raster import soft_rasterize
from pipeline.featurevis.strokes import StrokeSettings, StrokeTransform, strokes_sketch
from pipeline.models.sketch_cnn import SketchCNN

LAYER = "features.block3"
RASTER = RasterSpec(size=64, line_width=2.0)


@pytest.fixture(scope="module")
def net() -> SketchCNN:
    torch.manual_seed(0)
    return SketchCNN(4, widths=(8, 16, 32, 32)).eval()


@pytest.fixture(scope="module")
def settings() -> StrokeSettings:
    return default(StrokeSettings)


@pytest.mark.parametrize(
    "objective",
    [
        obj.channel(LAYER, 3),
        obj.direction(LAYER, torch.linspace(0.0, 1.0, 32), cos_power=1.0),
        obj.class_logit(1),
        obj.deepdream(LAYER),
    ],
    ids=["channel", "direction", "class_logit", "layer"],
)
def test_every_objective_rises(net: SketchCNN, settings: StrokeSettings, objective: obj.Objective) -> None:
    result = render(net, [objective], net.input_spec, steps=60, seed=1, param="strokes", strokes=settings,
                    raster=RASTER)
    start, end = float(result.start_values[0]), float(result.values[0])
    assert end > start + 0.2 * abs(start) + 1e-4, (start, end)
    assert result.images.shape == (1, 1, 64, 64)
    assert 0.0 <= float(result.images.min()) and float(result.images.max()) <= 1.0


def test_the_result_is_a_drawing(net: SketchCNN, settings: StrokeSettings, tmp_path: Path) -> None:
    """Strokes in the 0..255 box, written as ndjson and read back; the image is those strokes, and the project's
    rasteriser draws nearly the same picture of them."""
    result = render(net, [obj.channel(LAYER, 2), obj.channel(LAYER, 5)], net.input_spec, steps=20, seed=3,
                    param="strokes", strokes=settings, raster=RASTER)
    assert result.strokes is not None and len(result.strokes) == 2
    for strokes in result.strokes:
        assert len(strokes) == settings.count
        for stroke in strokes:
            assert stroke.dtype == np.float32 and stroke.shape == (2, settings.points)
            assert 0.0 <= stroke.min() and stroke.max() <= 255.0
    sketches = [strokes_sketch(s, "channel", key_id=f"channel-{i}") for i, s in enumerate(result.strokes)]
    file = tmp_path / "strokes.ndjson"
    assert write_ndjson(file, sketches) == 2
    back = read_ndjson(file).sketches
    assert [s.key_id for s in back] == ["channel-0", "channel-1"] and back[0].word == "channel"
    for read, strokes in zip(back, result.strokes):
        assert len(read.strokes) == len(strokes)
        for got, wanted in zip(read.strokes, strokes):
            np.testing.assert_allclose(got, wanted, atol=0.5)  # ndjson rounds to whole units
    points = torch.from_numpy(np.stack([np.stack([s.T for s in strokes]) for strokes in result.strokes]))
    drawn = soft_rasterize(points, RASTER, softness=settings.softness)
    torch.testing.assert_close(result.images, drawn)
    hard = rasterize(sketches[0], RASTER)
    assert np.abs(soft_rasterize(points[:1], RASTER)[0, 0].numpy() - hard).mean() < 0.04


def test_bezier_strokes_are_drawn_as_their_sampled_curves(net: SketchCNN, settings: StrokeSettings) -> None:
    curved = replace(settings, curve="bezier", points=7, samples=5)  # two cubic pieces a stroke
    result = render(net, [obj.channel(LAYER, 2)], net.input_spec, steps=3, seed=4, param="strokes", strokes=curved,
                    raster=RASTER)
    assert [s.shape for s in result.strokes[0]] == [(2, 9)] * curved.count  # 2 pieces of 4 segments
    points = torch.from_numpy(np.stack([s.T for s in result.strokes[0]]))[None]
    torch.testing.assert_close(result.images, soft_rasterize(points, RASTER, softness=curved.softness))
    with pytest.raises(ConfigError, match="3M \\+ 1"):
        replace(settings, curve="bezier", points=6)


def test_the_smoothness_penalty_straightens_strokes(net: SketchCNN, settings: StrokeSettings) -> None:
    def turning(smooth: float) -> float:
        result = render(net, [obj.channel(LAYER, 3)], net.input_spec, steps=40, seed=6, param="strokes",
                        strokes=replace(settings, smooth=smooth), raster=RASTER)
        points = np.stack([s.T for s in result.strokes[0]]) / 255.0
        return float((np.diff(points, n=2, axis=1) ** 2).sum())

    assert turning(5.0) < 0.5 * turning(0.0)


def test_pixel_params_have_no_strokes(net: SketchCNN) -> None:
    assert render(net, [obj.channel(LAYER, 1)], net.input_spec, steps=2).strokes is None


def test_batched_matches_one_by_one(net: SketchCNN, settings: StrokeSettings) -> None:
    objectives = [obj.channel(LAYER, 2), obj.class_logit(0), obj.channel(LAYER, 7)]
    kwargs = {"steps": 8, "seed": 5, "param": "strokes", "strokes": settings, "raster": RASTER}
    batched = render(net, objectives, net.input_spec, **kwargs)
    single = render_one_by_one(net, objectives, net.input_spec, **kwargs)
    torch.testing.assert_close(batched.values, single.values, rtol=1e-3, atol=1e-4)
    # The same strokes: Adam's first steps are about the sign of each gradient, so a coordinate whose gradient is
    # nearly zero can step either way with the batch's rounding; a point may differ by a step, not more.
    assert len(batched.strokes) == len(single.strokes) == 3
    for ours, theirs in zip(batched.strokes, single.strokes):
        assert max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)) < settings.lr * 255
    assert float((batched.images - single.images).abs().mean()) < 0.01


def test_fixed_strokes_are_drawn_and_never_move(net: SketchCNN, settings: StrokeSettings) -> None:
    drawing = Sketch("mine", "cat", (np.array([[20.0, 60.0, 100.0], [200.0, 210.0, 200.0]], dtype=np.float32),))
    result = render(net, [obj.channel(LAYER, 4)], net.input_spec, steps=10, seed=2, param="strokes",
                    strokes=replace(settings, jitter=0.0, scale=0.0, rotate=0.0, translate=0.0), raster=RASTER,
                    fixed=drawing)
    assert len(result.strokes[0]) == settings.count  # the added strokes only
    under = soft_rasterize(torch.from_numpy(drawing.strokes[0].T[None, None].copy()), RASTER,
                           softness=settings.softness)
    assert bool((result.images >= under - 1e-5).all())  # the drawing is under the strokes, where it was


def test_robustness_moves_the_points_and_only_in_stroke_space(settings: StrokeSettings) -> None:
    image = make_param("strokes", 2, 1, 64, seed=0, raster=RASTER, settings=settings)
    transform = StrokeTransform(settings)
    u = torch.rand(2, transform.num_random, generator=torch.Generator().manual_seed(0))
    moved = transform.points(image.points(), u)
    shift = (moved - image.points()).detach().abs()
    assert float(shift.max()) > 0.5
    most = settings.jitter + settings.translate + 255 * (settings.scale + np.radians(settings.rotate))
    assert float(shift.max()) < most
    with pytest.raises(ConfigError, match="param='strokes'"):
        transform(torch.zeros(1, 1, 64, 64))
    # Fixed strokes are drawn once and moved as pixels: the same picture as moving their points (without jitter).
    steady = StrokeTransform(replace(settings, jitter=0.0, scale=0.1, rotate=20.0, translate=30.0))
    moved_points = steady.points(image.points().detach(), u)
    as_pixels = steady.image(soft_rasterize(image.points().detach(), RASTER, softness=1.0), u, RASTER)
    assert (as_pixels - soft_rasterize(moved_points, RASTER, softness=1.0)).abs().mean() < 0.02


@pytest.mark.parametrize(("key", "value"), [("count", 0), ("points", 1), ("lr", 0.0), ("scale", 1.0), ("jitter", -1.0),
                                            ("curve", "spline"), ("samples", 1)])
def test_bad_settings_name_their_key(settings: StrokeSettings, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"atlas.icons.strokes.{key}"):
        replace(settings, **{key: value})


def test_fixed_strokes_need_the_strokes_param(net: SketchCNN) -> None:
    with pytest.raises(ConfigError, match="fixed strokes need param='strokes'"):
        render(net, [obj.channel(LAYER, 1)], net.input_spec, steps=1, fixed=Sketch("a", "cat"))


def test_show_me_raises_the_concept_on_the_drawing(concept_project) -> None:
    """A round-1 model with concepts: strokes added to a drawing that lacks a concept raise its presence, as the
    project's own rasteriser draws the drawing with them, and more than the same strokes before optimising do."""
    from pipeline.featurevis.show_me import ShowMeSettings, concept_presence, show_me
    from pipeline.models.build import load_trained

    model = load_trained(concept_project.folder / "models" / "round_1" / "model.pt")
    drawings = read_ndjson(concept_project.folder / "dataset" / "val.ndjson", limit=40).sketches
    before = concept_presence(model, drawings)
    for concept in range(len(model.concepts)):
        lacking = drawings[int(np.argmin(before[:, concept]))]  # the drawing with the least of it
        added = show_me(model, lacking, concept, seed=0)
        assert len(added) == default(ShowMeSettings).strokes
        assert all(s.shape[0] == 2 and 0 <= s.min() and s.max() <= 255 for s in added)
        unoptimised = show_me(model, lacking, concept, seed=0, steps=1)
        with_added = [Sketch(lacking.key_id, lacking.word, lacking.strokes + tuple(strokes))
                      for strokes in (added, unoptimised)]
        after = concept_presence(model, [lacking, *with_added])[:, concept]
        spread = float(before[:, concept].max() - before[:, concept].min())  # how much drawings differ in it
        assert after[1] > after[0] + 0.1 * spread, (model.concepts[concept], after, spread)
        assert after[1] > after[2], (model.concepts[concept], after)


def test_show_me_refuses_a_round_without_concepts(net: SketchCNN) -> None:
    from pipeline.featurevis.show_me import show_me
    from pipeline.models.build import TrainedModel

    model = TrainedModel(net=net, class_names=["a", "b", "c", "d"], input_spec=net.input_spec, raster=RASTER,
                         layer=LAYER, round=0)
    with pytest.raises(ConfigError, match="no concept head"):
        show_me(model, Sketch("a", "cat"), 0)
