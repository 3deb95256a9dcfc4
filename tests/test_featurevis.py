"""Feature visualization: objectives rise, batching matches one-by-one, params, transforms, errors, CLI."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ConfigError, UnknownLayerError
from pipeline.featurevis import objectives as obj
from articulate.commands.featurevis import add_commands
from pipeline.featurevis.dream import deepdream
from pipeline.featurevis.param import fourier_image, pixel_image
from pipeline.featurevis.render import render, render_one_by_one
from pipeline.featurevis.transforms import Jitter, Pad, RandomRotate, RandomScale, default_transforms
from pipeline.models.sketch_cnn import SketchCNN

LAYER = "features.block3"


@pytest.fixture(scope="module")
def net() -> SketchCNN:
    torch.manual_seed(0)
    return SketchCNN(4, widths=(8, 16, 32, 32)).eval()


@pytest.mark.parametrize(
    "objective",
    [
        obj.channel(LAYER, 3),
        obj.neuron(LAYER, 5),
        obj.direction(LAYER, torch.linspace(0.0, 1.0, 32), cos_power=2.0),
        obj.class_logit(1),
        obj.deepdream(LAYER),
    ],
    ids=["channel", "neuron", "direction", "class_logit", "deepdream"],
)
def test_objective_rises(net: SketchCNN, objective: obj.Objective) -> None:
    # No regularisers: a random-weight net's activations are tiny next to their default weights.
    result = render(net, [objective], net.input_spec, steps=25, seed=1, regularizers=None)
    start, end = float(result.start_values[0]), float(result.values[0])
    assert end > 2.0 * abs(start) + 1e-4, (start, end)
    assert result.images.shape == (1, 1, 64, 64)
    assert 0.0 <= float(result.images.min()) and float(result.images.max()) <= 1.0


def test_batched_matches_one_by_one(net: SketchCNN) -> None:
    objectives = [obj.channel(LAYER, 2), obj.direction(LAYER, torch.rand(32, generator=torch.Generator().manual_seed(3))),
                  obj.channel(LAYER, 7)]
    batched = render(net, objectives, net.input_spec, steps=15, seed=5)
    single = render_one_by_one(net, objectives, net.input_spec, steps=15, seed=5)
    torch.testing.assert_close(batched.values, single.values, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(batched.images, single.images, rtol=1e-3, atol=1e-3)


def test_model_is_restored(net: SketchCNN) -> None:
    net.train()
    render(net, [obj.channel(LAYER, 0)], net.input_spec, steps=2)
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())
    net.eval()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("make", [fourier_image, pixel_image])
def test_param_shape_and_range(channels: int, make) -> None:
    images = make(5, channels, 48, seed=0)()
    assert images.requires_grad
    assert images.shape == (5, channels, 48, 48)
    assert float(images.detach().min()) >= 0.0 and float(images.detach().max()) <= 1.0
    images.sum().backward()  # differentiable to its parameters


def test_transforms_keep_shape_and_are_differentiable() -> None:
    x = torch.rand(4, 1, 64, 64, requires_grad=True)
    for transform in (Jitter(3), RandomScale(), RandomRotate(10.0), default_transforms(64)):
        y = transform(x)
        assert y.shape == x.shape
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert Pad(4)(x).shape == (4, 1, 72, 72)
    # Jitter moves content by whole pixels: a shift of 0 (u in the middle bin) is the identity.
    torch.testing.assert_close(Jitter(2)(x, torch.full((4, 2), 0.5)), x)


def test_direction_formula() -> None:
    act = torch.tensor([[[[1.0, -2.0]], [[2.0, 0.5]]]])  # (1, C=2, 1, 2): positions (1, 2) and (-2, 0.5)
    v = torch.tensor([1.0, 1.0])
    expected = []
    for a in (torch.tensor([1.0, 2.0]), torch.tensor([-2.0, 0.5])):
        dot = float(a @ v)
        cos = max(dot / (float(a.norm()) * float(v.norm())), 0.1)
        expected.append(dot * cos**3)
    value = obj.direction("l", v, cos_power=3.0)(act.to(memory_format=torch.channels_last))
    assert value.item() == pytest.approx(np.mean(expected), rel=1e-4)


def test_unknown_layer(net: SketchCNN) -> None:
    with pytest.raises(UnknownLayerError, match="features.block3"):
        render(net, [obj.channel("block9", 0)], net.input_spec, steps=1)


def test_bad_arguments(net: SketchCNN) -> None:
    with pytest.raises(ConfigError, match="steps"):
        render(net, [obj.channel(LAYER, 0)], net.input_spec, steps=-1)
    with pytest.raises(ConfigError, match=r"features\.block3.*C=32"):
        render(net, [obj.direction(LAYER, torch.ones(10))], net.input_spec, steps=1)
    with pytest.raises(ConfigError, match="32 channels"):
        render(net, [obj.channel(LAYER, 40)], net.input_spec, steps=1)
    with pytest.raises(ConfigError, match="octaves"):
        deepdream(net, torch.zeros(64, 64), net.input_spec, LAYER, octaves=12)


def test_dream_changes_sketch(net: SketchCNN) -> None:
    sketch = torch.zeros(64, 64)
    sketch[20:44, 30:33] = 1.0
    dreamed = deepdream(net, sketch, net.input_spec, LAYER, octaves=2, steps=5)
    assert dreamed.shape == (1, 1, 64, 64) and not torch.equal(dreamed[0, 0], sketch)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, net: SketchCNN):
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(
        {"state_dict": net.state_dict(),
         "net": {"_target_": "pipeline.models.sketch_cnn.SketchCNN", "widths": [8, 16, 32, 32]},
         "class_names": ["a", "b", "c", "d"], "input_spec": net.input_spec.to_dict(),
         "raster": {"size": 64, "line_width": 2.0, "invert": False, "channels": 1, "mean": [0.0], "std": [1.0]},
         "layer": LAYER, "round": 0},
        path,
    )
    return path


def _run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.action(args)


def test_cli_render_and_dream(model_file, tmp_path, capsys) -> None:
    out = tmp_path / "icons.png"
    _run(["render", "--model", str(model_file), "--channels", "0-3", "--steps", "3", "--grid", "--out", str(out)])
    assert Image.open(out).size[0] > 128 and "score" in capsys.readouterr().out
    ndjson = tmp_path / "s.ndjson"
    ndjson.write_text('{"word": "a", "key_id": "k1", "drawing": [[[10, 200, 120], [10, 30, 220]]]}\n')
    dream = tmp_path / "dream.png"
    _run(["dream", "--model", str(model_file), "--sketch", f"{ndjson}:k1", "--octaves", "2", "--steps", "3",
          "--out", str(dream)])
    image = Image.open(dream)
    assert image.size[0] > 2 * image.size[1] * 0.8  # two panels side by side
    with pytest.raises(ConfigError, match="--class"):
        _run(["render", "--model", str(model_file), "--class", "zebra", "--out", str(out)])


def test_cli_render_as_strokes_writes_the_drawings_beside_the_picture(model_file, tmp_path, capsys) -> None:
    from core.ndjson import read_ndjson

    out = tmp_path / "strokes.png"
    _run(["render", "--model", str(model_file), "--channels", "0-1", "--steps", "4", "--param", "strokes", "--grid",
          "--out", str(out)])
    drawings = read_ndjson(out.with_suffix(".ndjson")).sketches
    assert out.is_file() and len(drawings) == 2 and "wrote" in capsys.readouterr().out
    for drawing in drawings:
        assert drawing.word in ("a", "b", "c", "d") and drawing.strokes  # a drawing of a class the model reads it as
        assert all(0 <= s.min() and s.max() <= 255 for s in drawing.strokes)


def test_a_direction_at_the_centre_counts_only_the_centre_position() -> None:
    from pipeline.atlas.icons import fragment_box
    from pipeline.featurevis.objectives import Direction, direction

    act = torch.randn(3, 5, 7, 7)
    vectors = torch.randn(3, 5)
    centre = [direction("l", v, cos_power=0.0, at_centre=True) for v in vectors]
    everywhere = [direction("l", v, cos_power=0.0) for v in vectors]
    expected = (act[:, :, 3, 3] * vectors).sum(1)
    torch.testing.assert_close(Direction.diag(centre, act), expected)
    torch.testing.assert_close(Direction.diag(everywhere, act), torch.einsum("kchw,kc->k", act, vectors) / 49)
    changed = act.clone()
    changed[:, :, 0, 0] += 100.0  # far from the centre: a fragment does not see it
    torch.testing.assert_close(Direction.diag(centre, changed), expected)
    assert centre[0].group_key() != everywhere[0].group_key(), "never optimised in one group"
    # The crop shown for a fragment holds the centre position's whole receptive field (SketchCNN block3).
    first, side = fragment_box(64, stride=4.0, receptive_field=18, rf_offset=1.5)
    rf_centre = 1.5 + 4.0 * 8
    assert first <= rf_centre - 9 and rf_centre + 9 <= first + side <= 64 and side < 32
