"""Layer paths: listing, resolving, helpful errors for unknown ones, and output shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import ArticulateError, UnknownLayerError
from pipeline.models.layers import get_layer, layer_names, layer_output_shape
from pipeline.models.sketch_cnn import SketchCNN
from pipeline.models.torchvision_zoo import torchvision_classifier


@pytest.fixture
def model() -> SketchCNN:
    return SketchCNN(num_classes=4)


def test_layer_names_are_dotted_paths_without_the_root(model: SketchCNN) -> None:
    names = layer_names(model)
    assert "" not in names
    assert names[:2] == ["features", "features.block1"]
    for expected in ("features.block3", "features.block3.conv", "features.pool3", "pool", "classifier.fc"):
        assert expected in names


def test_get_layer_resolves_a_path(model: SketchCNN) -> None:
    assert get_layer(model, "features.block3") is model.features.block3
    assert get_layer(model, "classifier.fc") is model.classifier.fc


def test_unknown_layer_suggests_the_close_name_and_lists_all(model: SketchCNN) -> None:
    with pytest.raises(UnknownLayerError) as info:
        get_layer(model, "features.blok3", key="extract.layer")
    error = info.value
    assert isinstance(error, ArticulateError) and isinstance(error, KeyError)
    message = str(error)
    assert message.startswith("extract.layer: unknown layer 'features.blok3' in SketchCNN.")
    assert "Did you mean 'features.block3'" in message
    for name in layer_names(model):  # a small model: every valid name is listed
        assert name in message


def test_unknown_layer_missing_its_parent_suggests_the_full_path(model: SketchCNN) -> None:
    with pytest.raises(UnknownLayerError, match="Did you mean 'features.block3'\\?"):
        get_layer(model, "block3")


@pytest.mark.parametrize("bad", ["", "features.block3.conv.weight", "features..block3"])
def test_paths_that_are_not_modules_are_unknown(model: SketchCNN, bad: str) -> None:
    with pytest.raises(UnknownLayerError):
        get_layer(model, bad)


def test_unknown_layer_in_a_large_model_gives_count_and_how_to_list() -> None:
    googlenet = torchvision_classifier("googlenet", num_classes=3)
    with pytest.raises(UnknownLayerError) as info:
        get_layer(googlenet, "inception4f")
    message = str(info.value)
    assert "Did you mean 'inception4e'" in message
    assert f"{len(layer_names(googlenet))} layers" in message and "articulate layers" in message
    assert "inception4d.branch1.conv" not in message  # not the whole list
    assert get_layer(googlenet, "aux1" if googlenet.aux1 is not None else "inception4d") is not None
    with pytest.raises(UnknownLayerError):
        get_layer(googlenet, "aux1")  # built without auxiliary heads: the attribute is None


def test_layer_output_shape_restores_training_flags(model: SketchCNN) -> None:
    model.train()
    model.features.block1.bn.eval()  # a frozen BatchNorm must stay frozen
    assert layer_output_shape(model, "features.block3", (2, 1, 64, 64)) == torch.Size([2, 64, 16, 16])
    assert model.training and model.features.block2.bn.training
    assert not model.features.block1.bn.training
    assert layer_output_shape(model, "pool", (1, 1, 64, 64)) == (1, 128, 1, 1)


def test_layer_output_shape_reports_bad_input_and_unused_layers(model: SketchCNN) -> None:
    with pytest.raises(ArticulateError, match="cannot run on an input of shape \\(1, 3, 64, 64\\)"):
        layer_output_shape(model, "features.block3", (1, 3, 64, 64))
    model.unused = nn.Linear(2, 2)
    with pytest.raises(ArticulateError, match="not used"):
        layer_output_shape(model, "unused", (1, 1, 64, 64))
    with pytest.raises(UnknownLayerError, match="'features.block9'"):
        layer_output_shape(model, "features.block9", (1, 1, 64, 64))


def test_a_model_built_for_another_input_fails_in_one_line_naming_the_input() -> None:
    from omegaconf import OmegaConf

    from core.errors import ConfigError
    from pipeline.models.build import build_net

    cfg = OmegaConf.create({"net": {"_target_": "tests.user_nets.FlatNet", "size": 28}, "checkpoint": None,
                            "input": {"size": 64, "channels": 1, "invert": False, "mean": [0.0], "std": [1.0],
                                      "line_width": 2.0}})
    with pytest.raises(ConfigError) as info:
        build_net(cfg, num_classes=3)
    message = str(info.value)
    assert message.startswith("model.input: tests.user_nets.FlatNet cannot take a 1 x 64 x 64 input")
    assert "model.input.size=64" in message and "mat1 and mat2" in message and "\n" not in message
    cfg.input.size = 28
    assert build_net(cfg, num_classes=3).training, "the check leaves the model's mode as it was"


def test_layers_command_suggests_an_atlas_layer(project_cwd, capsys: pytest.CaptureFixture[str]) -> None:
    from articulate.cli import main
    from pipeline.models.layers import layer_output_shapes, suggest_layer

    assert main(["layers", "model.layer=features.nope"]) == 0
    out = capsys.readouterr().out
    assert "model.layer=features.nope is not a layer of this model; a likely atlas layer: features.block4" in out
    shapes = layer_output_shapes(torchvision_classifier("googlenet", num_classes=5), (1, 3, 224, 224))
    assert suggest_layer(shapes) == "inception4e"  # a whole inception module: its branches share one grid
    assert suggest_layer(shapes, min_side=200) is None
