"""Reaching into the model: the editing math against hand-computed cases, running on from a layer (exactly the
full forward pass when nothing is edited, with skip connections and for untraceable nets), concept surgery and
its errors, the reliance table, and ``articulate edit`` on a saved round with a concept head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.sketch import Sketch
from pipeline.editing.edits import scale_channel, scale_direction, scale_positions
from pipeline.editing.reliance import concept_reliance
from pipeline.editing.runner import LayerRunner
from pipeline.editing.surgery import Surgeon
from core.errors import ArticulateError
from pipeline.models.sketch_cnn import SketchCNN


def test_ablating_a_direction_leaves_no_component_along_it() -> None:
    torch.manual_seed(0)
    act = torch.randn(2, 5, 3, 3)
    u = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0])  # unit: (0.6, 0.8, 0, 0, 0)
    ablated = scale_direction(act, u, 0.0)
    assert torch.allclose(torch.einsum("nchw,c->nhw", ablated, u / 5), torch.zeros(2, 3, 3), atol=1e-6)
    assert torch.equal(ablated[:, 2:], act[:, 2:])  # orthogonal channels untouched
    doubled = scale_direction(act, u, 2.0)
    assert torch.allclose(torch.einsum("nchw,c->nhw", doubled, u / 5), 2 * torch.einsum("nchw,c->nhw", act, u / 5),
                          atol=1e-6)
    where = torch.zeros(2, 3, 3, dtype=torch.bool)
    where[0, 1, 2] = True
    only = scale_direction(act, u, 0.0, where)
    changed = (only != act).any(dim=1)
    assert changed[0, 1, 2] and changed.sum() == 1  # one position edited
    # a hand case: the vector (1, 2) along (1, 0), ablated, is (0, 2)
    one = torch.tensor([1.0, 2.0]).reshape(1, 2, 1, 1)
    assert torch.equal(scale_direction(one, torch.tensor([2.0, 0.0]), 0.0).flatten(), torch.tensor([0.0, 2.0]))


def test_a_channel_edit_changes_only_that_channel_and_positions_edit_whole_vectors() -> None:
    act = torch.rand(1, 4, 2, 2)
    edited = scale_channel(act, 2, 3.0)
    assert torch.equal(edited[:, [0, 1, 3]], act[:, [0, 1, 3]]) and torch.allclose(edited[:, 2], 3 * act[:, 2])
    where = torch.tensor([[[True, False], [False, False]]])
    erased = scale_positions(act, where, 0.0)
    assert torch.equal(erased[0, :, 0, 0], torch.zeros(4)) and torch.equal(erased[0, :, 1, 1], act[0, :, 1, 1])
    for bad in (float("nan"), 1e6, True):
        with pytest.raises(ArticulateError, match="factor"):
            scale_channel(act, 0, bad)
    with pytest.raises(ArticulateError, match="channels 0..3"):
        scale_channel(act, 4, 1.0)
    with pytest.raises(ArticulateError, match="length 0"):
        scale_direction(act, torch.zeros(4), 0.0)


class _Skip(nn.Module):
    """A skip connection around the edited layer: the tail needs a value from before it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.inner = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        return self.head((torch.relu(self.inner(s)) + s).mean((2, 3)))


class _Branchy(_Skip):
    """Data-dependent control flow: not traceable, so the runner falls back to a hook."""

    def forward(self, x):
        s = torch.relu(self.stem(x))
        if s.sum() > 0:
            s = s * 1.0
        return self.head((torch.relu(self.inner(s)) + s).mean((2, 3)))


@pytest.mark.parametrize("net, layer, traced", [(SketchCNN(4, widths=[8, 16, 32, 32]), "features.block3", True),
                                                (_Skip(), "inner", True), (_Branchy(), "inner", False)])
def test_running_on_from_the_layer_equals_the_full_pass(net: nn.Module, layer: str, traced: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 32, 32)
    runner = LayerRunner(net, layer)
    assert runner.traced == traced
    run = runner.run(x)
    with torch.no_grad():
        full = net.eval()(x)
    assert torch.equal(run.logits, full) and torch.equal(runner.resume(run, run.activations), full)
    edited = run.activations * 0.5
    captured = net.get_submodule(layer).register_forward_hook(lambda _m, _i, _o: edited)
    try:
        with torch.no_grad():
            expected = net(x)
    finally:
        captured.remove()
    assert torch.allclose(runner.resume(run, edited), expected, atol=1e-6)
    some = torch.tensor([True, False, True])  # resuming some of the images: theirs, as in the whole batch
    assert torch.allclose(runner.resume(runner.rows(run, some), edited[some]), expected[some], atol=1e-6)
    with pytest.raises(ArticulateError, match="an edited map of shape"):
        runner.resume(run, edited[:1])


def _round_with_concepts(folder: Path):
    """A saved round 1: a small SketchCNN with a random two-concept head (the file format the stages write)."""
    from pipeline.data.raster import RasterSpec
    from pipeline.models.build import TrainedModel, load_trained, save_trained
    from pipeline.models.concept_head import ConceptHead
    from pipeline.models.sketch_cnn import default_input_spec

    torch.manual_seed(0)
    net = SketchCNN(3, widths=[8, 16, 32, 32])
    head = ConceptHead(channels=32, concepts=2)
    nn.init.normal_(head.conv.weight, std=1.0)
    nn.init.constant_(head.conv.bias, 0.0)
    path = folder / "models" / "round_1" / "model.pt"
    path.parent.mkdir(parents=True)
    save_trained(TrainedModel(net=net, class_names=["cat", "dog", "house"], input_spec=default_input_spec(),
                              raster=RasterSpec(size=64, line_width=2.0), layer="features.block3", round=1,
                              concepts=[{"id": "c1", "name": "ear"}, {"id": "c2", "name": "roof"}],
                              concept_head=head.eval(),
                              net_config={"_target_": "pipeline.models.sketch_cnn.SketchCNN", "widths": [8, 16, 32, 32]}),
                 path)
    return load_trained(path)


def _drawings() -> list[Sketch]:
    strokes = (np.array([[20, 200, 200, 20, 20], [20, 20, 200, 200, 20]], dtype=np.float32),
               np.array([[60, 128, 190], [90, 10, 90]], dtype=np.float32))
    return [Sketch(f"k{i}", word, strokes[:1 + i % 2]) for i, word in enumerate(["cat", "dog", "house", "cat"])]


def test_concept_surgery_and_its_errors(tmp_path: Path) -> None:
    from pipeline.activations.extractor import render_batch

    model = _round_with_concepts(tmp_path)
    surgeon = Surgeon(model, threshold=0.5)
    assert surgeon.concept_index("roof") == 1 == surgeon.concept_index("c2")
    images, _ = render_batch(_drawings(), model.raster, None)
    run = surgeon.prepare(images)
    same = surgeon.edit(run, [0], 1.0)
    assert np.allclose(same.after, same.before, atol=1e-6)  # factor 1 changes nothing
    ablated = surgeon.edit(run, [0], 0.0)
    assert np.allclose(ablated.presence_after[:, 0], 1 / (1 + np.exp(-model.concept_head.conv.bias[0].item())),
                       atol=1e-5)  # nothing left along the ear direction: its logit is the bias everywhere
    assert (ablated.edited_positions == 16 * 16).all()
    boosted = surgeon.edit(run, [0], 3.0, where="fires", mode="direction")
    assert (boosted.presence_after[:, 0] >= boosted.presence_before[:, 0] - 1e-6).all()
    erased = surgeon.edit(run, [1], 0.0, mode="positions", grow=1)
    assert (erased.edited_positions >= (surgeon.maps(run.activations)[:, 1] >= 0.5).flatten(1).sum(1).numpy()).all()
    # Only the images an edit changes run on from the layer: the others' after is their before, the rest as in a
    # pass over the whole batch. A drawing without a roof: its layer zeroed, so the roof's logit is its bias (0).
    highest = surgeon.maps(run.activations)[:, 1].flatten(1).amax(1)
    assert highest.min() > 0.5
    picky = Surgeon(model, threshold=(0.5 + float(highest.min())) / 2)
    partial = picky.prepare(images)
    partial.activations[1] = 0.0
    some = picky.edit(partial, [1], 0.0, mode="positions", grow=1)
    unchanged = some.edited_positions == 0
    assert list(unchanged) == [False, True, False, False]
    whole = scale_positions(partial.activations, picky.fires(picky.maps(partial.activations), 1, 1), 0.0)
    full = torch.softmax(picky.runner.resume(partial, whole), 1).numpy()
    assert np.allclose(some.after[~unchanged], full[~unchanged], atol=1e-6)
    assert np.array_equal(some.after[unchanged], some.before[unchanged])
    assert not np.allclose(some.after[~unchanged], some.before[~unchanged], atol=1e-4)
    for kwargs, words in [(dict(where="nowhere"), "where"), (dict(mode="paint"), "mode"), (dict(grow=-1), "grow"),
                          (dict(factor=float("nan")), "factor")]:
        with pytest.raises(ArticulateError, match=words):
            surgeon.edit(run, [0], **{"factor": 0.0, **kwargs})
    with pytest.raises(ArticulateError, match="unknown concept 'tail'.*ear, roof"):
        surgeon.concept_index("tail")
    from dataclasses import replace

    with pytest.raises(ArticulateError, match="no concepts to edit"):
        Surgeon(replace(model, concepts=[], concept_head=None))


def test_reliance_table(tmp_path: Path) -> None:
    model = _round_with_concepts(tmp_path)
    reliance = concept_reliance(Surgeon(model), _drawings() + [Sketch("z", "zebra", _drawings()[0].strokes)],
                                batch_size=3)
    assert reliance.concepts == ["ear", "roof"] and reliance.classes == ["cat", "dog", "house"]
    assert list(reliance.sketches) == [2, 1, 1]  # the zebra is skipped
    assert reliance.drop.shape == (2, 3) and ((reliance.ablated >= 0) & (reliance.ablated <= 1)).all()
    assert np.allclose(reliance.drop, reliance.accuracy[None] - reliance.ablated)


def test_edit_command(tmp_path: Path, project_cwd, capsys: pytest.CaptureFixture[str]) -> None:
    from articulate.cli import main

    _round_with_concepts(tmp_path)
    sketches = tmp_path / "drawings.ndjson"
    from core.ndjson import write_ndjson

    write_ndjson(sketches, _drawings())
    common = ["--round", "1", f"paths.models={tmp_path / 'models'}"]
    assert main(["edit", "--sketch", f"{sketches}:2", "--ablate", "ear", *common]) == 0
    out = capsys.readouterr().out
    assert "round 1: dog k1, ear x 0 (direction, everywhere; 256 positions edited)" in out
    assert "before" in out and "after" in out and "reads as" in out and "ear " in out
    assert main(["edit", "--sketch", f"{sketches}:1", "--boost", "roof", "--mode", "positions", *common]) == 0
    assert "roof x 3 (positions;" in capsys.readouterr().out
    assert main(["edit", "--sketch", f"{sketches}:1", "--ablate", "tail", *common]) == 2
    assert "unknown concept 'tail'" in capsys.readouterr().err
    assert main(["edit", "--sketch", f"{sketches}:1", "--boost", "ear", "--factor", "1e9", *common]) == 2
    assert "factor: expected a number from -100 to 100" in capsys.readouterr().err


def test_dream_toward_a_concept(tmp_path: Path, project_cwd, capsys: pytest.CaptureFixture[str]) -> None:
    from articulate.cli import main
    from core.ndjson import write_ndjson

    _round_with_concepts(tmp_path)
    model = tmp_path / "models" / "round_1" / "model.pt"
    sketches = tmp_path / "drawings.ndjson"
    write_ndjson(sketches, _drawings())
    out = tmp_path / "dream.png"
    assert main(["dream", "--model", str(model), "--sketch", f"{sketches}:1", "--concept", "roof", "--octaves", "2",
                 "--steps", "3", "--out", str(out)]) == 0
    assert out.stat().st_size > 500 and "wrote" in capsys.readouterr().out
    assert main(["dream", "--model", str(model), "--sketch", f"{sketches}:1", "--concept", "tail"]) == 2
    assert "unknown concept 'tail'" in capsys.readouterr().err


def test_shifting_and_rotating_maps_move_values_and_nothing_else() -> None:
    from pipeline.editing.edits import move_maps, rotate_maps, shift_maps

    maps = torch.arange(16.0).reshape(1, 1, 4, 4)
    shifted = shift_maps(maps, 1, -1)[0, 0]
    assert torch.equal(shifted[1:, :3], maps[0, 0, :3, 1:]) and shifted[0].abs().sum() == 0 and shifted[:, 3].abs().sum() == 0
    assert shift_maps(maps, 4, 0).abs().sum() == 0  # moved off the grid
    quarter = rotate_maps(maps, 90)[0, 0]
    assert torch.equal(quarter[0], maps[0, 0, :, 3])  # counter-clockwise: the right column goes to the top
    assert torch.equal(rotate_maps(maps, 360), maps) and torch.equal(rotate_maps(maps, -90), rotate_maps(maps, 270))
    assert torch.allclose(rotate_maps(maps, 89.9999), quarter[None, None], atol=1e-3)  # any angle agrees with exact
    with pytest.raises(ArticulateError, match="angle"):
        rotate_maps(maps, float("nan"))

    torch.manual_seed(0)
    act = torch.randn(2, 5, 6, 6)
    one = move_maps(act, lambda m: shift_maps(m, 0, 2), channel=3)
    assert torch.equal(one[:, [0, 1, 2, 4]], act[:, [0, 1, 2, 4]]) and torch.equal(one[:, 3, :, 2:], act[:, 3, :, :-2])
    every = move_maps(act, lambda m: rotate_maps(m, 180))
    assert torch.equal(every, torch.rot90(act, 2, dims=(-2, -1)))
    direction = torch.randn(5)
    along = move_maps(act, lambda m: shift_maps(m, 1, 0), direction=direction)
    u = direction / direction.norm()
    rest = lambda a: a - torch.einsum("nchw,c->nhw", a, u)[:, None] * u[None, :, None, None]  # noqa: E731
    assert torch.allclose(rest(along), rest(act), atol=1e-5)  # only the component along the direction moves
    comp = lambda a: torch.einsum("nchw,c->nhw", a, u)  # noqa: E731
    assert torch.allclose(comp(along)[:, 1:], comp(act)[:, :-1], atol=1e-5)
    with pytest.raises(ArticulateError, match="channel 9"):
        move_maps(act, lambda m: m, channel=9)
