"""Model code: input specs, the sketch CNN, torchvision models by name, user models and weight files."""

from __future__ import annotations

from pathlib import Path

import hydra.utils
import pytest
import torch
import torchvision
from torch import nn

from core.errors import ArticulateError, ConfigError, InputError
from pipeline.models.checkpoint import load_weights
from pipeline.models.classifier import SketchClassifier, logits_of
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.layers import get_layer, layer_output_shape
from pipeline.models.sketch_cnn import SketchCNN, default_input_spec
from pipeline.models.torchvision_zoo import imagenet_input_spec, torchvision_classifier


# --- input specs ------------------------------------------------------------------------------------------


def test_input_spec_coerces_lists_and_round_trips() -> None:
    spec = InputSpec(size=64, channels=3, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], invert=True)
    assert spec.mean == (0.5, 0.5, 0.5) and isinstance(spec.std, tuple)
    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert hash(spec) == hash(InputSpec.from_dict(spec.to_dict()))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mean": (0.0, 0.0)}, "input_spec.mean: 2 values for 1 channel"),
        ({"std": (0.0,)}, "input_spec.std: every value must be > 0"),
        ({"channels": 2, "mean": (0, 0), "std": (1, 1)}, "input_spec.channels"),
        ({"size": 0}, "input_spec.size"),
        ({"mean": "0.5"}, "input_spec.mean"),
        ({"invert": "yes"}, "input_spec.invert"),
    ],
)
def test_input_spec_rejects_bad_fields(fields: dict, message: str) -> None:
    values = {"size": 64, "channels": 1, "mean": (0.0,), "std": (1.0,), "invert": False, **fields}
    with pytest.raises(ConfigError, match=message):
        InputSpec(**values)


def test_input_spec_from_dict_names_missing_keys() -> None:
    with pytest.raises(ConfigError, match=r"missing \['invert'\]"):
        InputSpec.from_dict({"size": 64, "channels": 1, "mean": [0], "std": [1]})


def test_to_model_input_repeats_channels_and_normalises() -> None:
    images = torch.rand(2, 1, 8, 8)
    spec = imagenet_input_spec(8)
    out = to_model_input(images, spec)
    assert out.shape == (2, 3, 8, 8)
    for c in range(3):
        assert torch.allclose(out[:, c], (images[:, 0] - spec.mean[c]) / spec.std[c])
    # The sketch CNN's spec leaves images as they are.
    assert torch.equal(to_model_input(images, default_input_spec()), images)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(1, 8, 8), r"shape \(N, 1, H, W\)"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "divide uint8 images by 255"),
        (torch.rand(1, 2, 8, 8), "2 channels"),
    ],
)
def test_to_model_input_rejects_bad_images(images: torch.Tensor, message: str) -> None:
    with pytest.raises(ArticulateError, match=message):
        to_model_input(images, imagenet_input_spec(8))


# --- the sketch CNN ---------------------------------------------------------------------------------------


def test_sketch_cnn_outputs_logits_and_has_16x16_atlas_layer() -> None:
    model = SketchCNN(num_classes=10)
    assert model(torch.rand(4, 1, 64, 64)).shape == (4, 10)
    assert model.input_spec == default_input_spec() == InputSpec(64, 1, (0.0,), (1.0,), False)
    assert layer_output_shape(model, "features.block1", (1, 1, 64, 64)) == (1, 16, 64, 64)
    assert layer_output_shape(model, "features.block2", (1, 1, 64, 64)) == (1, 32, 32, 32)
    assert layer_output_shape(model, "features.block3", (1, 1, 64, 64)) == (1, 64, 16, 16)
    assert layer_output_shape(model, "features.block4", (1, 1, 64, 64)) == (1, 128, 8, 8)


def test_sketch_cnn_backward_reaches_every_parameter() -> None:
    model = SketchCNN(num_classes=3, widths=(4, 8, 8))
    model(torch.rand(2, 1, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 0}, "model.num_classes"),
        ({"num_classes": 3, "widths": (8,)}, "at least 2 blocks"),
        ({"num_classes": 3, "widths": (8, -1)}, "model.widths"),
        ({"num_classes": 3, "dropout": 1.0}, "model.dropout"),
    ],
)
def test_sketch_cnn_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SketchCNN(**kwargs)


# --- torchvision models by name ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def googlenet_imagenet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random GoogLeNet state dict laid out like torchvision's googlenet-1378be20.pth (aux heads, 1000 classes)."""
    torch.manual_seed(0)
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False, num_classes=1000)
    path = tmp_path_factory.mktemp("weights") / "googlenet-1378be20.pth"
    torch.save(model.state_dict(), path)
    return path


def test_googlenet_loads_imagenet_file_and_gets_new_head(googlenet_imagenet_file: Path) -> None:
    model = torchvision_classifier("googlenet", num_classes=5, weights_path=str(googlenet_imagenet_file))
    saved = torch.load(googlenet_imagenet_file, weights_only=True)
    assert torch.equal(model.conv1.conv.weight, saved["conv1.conv.weight"])
    assert torch.equal(model.inception4d.branch1.conv.weight, saved["inception4d.branch1.conv.weight"])
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 5
    assert model.aux1 is None and model.aux2 is None
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 112, 112)).shape == (2, 5)
    assert isinstance(get_layer(model, "inception4d"), nn.Module)
    assert layer_output_shape(model, "inception4d", (1, 3, 224, 224)) == (1, 528, 14, 14)


def test_googlenet_loads_its_own_finetuned_checkpoint(tmp_path: Path, googlenet_imagenet_file: Path) -> None:
    tuned = torchvision_classifier("googlenet", num_classes=7, weights_path=googlenet_imagenet_file)
    path = tmp_path / "tuned.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in tuned.state_dict().items()}}, path)
    same = torchvision_classifier("googlenet", num_classes=7, weights_path=path)
    assert torch.equal(same.fc.weight, tuned.fc.weight)
    other = torchvision_classifier("googlenet", num_classes=3, weights_path=path)
    assert other.fc.out_features == 3


def test_torchvision_model_without_weights_has_requested_classes() -> None:
    model = torchvision_classifier("squeezenet1_1", num_classes=4)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 4)


def test_unknown_torchvision_model_suggests_close_names() -> None:
    with pytest.raises(ConfigError) as info:
        torchvision_classifier("googlenett", num_classes=5)
    message = str(info.value)
    assert "'googlenett'" in message and "'googlenet'" in message and "list_models" in message


def test_torchvision_rejects_download_and_bad_options() -> None:
    with pytest.raises(ConfigError, match="weights_path"):
        torchvision_classifier("resnet18", num_classes=5, weights="DEFAULT")
    with pytest.raises(ConfigError, match="resnet18 rejects"):
        torchvision_classifier("resnet18", num_classes=5, no_such_option=1)


def test_missing_weights_file_says_how_to_get_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(InputError) as info:
        torchvision_classifier("googlenet", num_classes=5, weights_path=missing)
    message = str(info.value)
    assert str(missing) in message and "googlenet-1378be20.pth" in message and "download" in message


def test_corrupt_weights_file_is_reported(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a torch file")
    with pytest.raises(InputError, match="not a readable PyTorch weights file") as info:
        torchvision_classifier("googlenet", num_classes=5, weights_path=corrupt)
    assert str(corrupt) in str(info.value)
    truncated = tmp_path / "truncated.pth"
    torch.save(SketchCNN(3).state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(InputError, match="not a readable"):
        load_weights(SketchCNN(3), truncated)


def test_weights_of_another_architecture_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="do not fit the model GoogLeNet") as info:
        torchvision_classifier("googlenet", num_classes=5, weights_path=path)
    assert "missing key" in str(info.value) and "unexpected key" in str(info.value)


# --- user models: a Hydra _target_ and a checkpoint -------------------------------------------------------


def _user_model(num_classes: int = 3) -> nn.Module:
    config = {"_target_": "pipeline.models.sketch_cnn.SketchCNN", "num_classes": num_classes, "widths": [4, 8, 8]}
    return hydra.utils.instantiate(config)


def test_user_model_from_target_loads_a_state_dict(tmp_path: Path) -> None:
    trained = _user_model()
    path = tmp_path / "weights.pt"
    torch.save(trained.state_dict(), path)
    model = load_weights(_user_model(), str(path))
    assert isinstance(model, SketchCNN)
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_user_model_loads_lightning_and_model_dict_layouts(tmp_path: Path) -> None:
    trained = _user_model()
    classifier = SketchClassifier(trained, num_classes=3)
    lightning_like = tmp_path / "lightning.ckpt"
    checkpoint = {"state_dict": classifier.state_dict(), "epoch": 3, "hyper_parameters": dict(classifier.hparams)}
    torch.save(checkpoint, lightning_like)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"model": trained.state_dict(), "optimizer": {}}, wrapped)
    for path in (lightning_like, wrapped):
        model = load_weights(_user_model(), path)
        assert torch.equal(model.classifier.fc.weight, trained.classifier.fc.weight)


def test_user_model_mismatch_lists_keys_and_non_strict_loads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "four_classes.pt"
    trained = _user_model(num_classes=4)
    torch.save(trained.state_dict(), path)
    with pytest.raises(InputError) as info:
        load_weights(_user_model(num_classes=3), path)
    message = str(info.value)
    assert str(path) in message and "classifier.fc.weight: file (4, 8) vs model (3, 8)" in message
    assert "num_classes" in message and "model.pretrained=true and model.classes" in message
    assert "strict=False" not in message  # not a setting a user has
    with pytest.warns(UserWarning, match="shape mismatch"):
        model = load_weights(_user_model(num_classes=3), path, strict=False)
    assert torch.equal(model.features.block1.conv.weight, trained.features.block1.conv.weight)


def test_checkpoint_without_state_dict_or_with_code_is_reported(tmp_path: Path) -> None:
    no_state = tmp_path / "no_state.pt"
    torch.save({"epoch": 1, "notes": "hello"}, no_state)
    with pytest.raises(InputError, match="no state dict found"):
        load_weights(_user_model(), no_state)
    pickled_module = tmp_path / "module.pt"
    torch.save(_user_model(), pickled_module)
    with pytest.raises(InputError, match="torch.save\\(model.state_dict\\(\\), path\\)"):
        load_weights(_user_model(), pickled_module)
    with pytest.raises(InputError, match="not found"):
        load_weights(_user_model(), tmp_path / "missing.pt")


# --- the Lightning module's arguments ---------------------------------------------------------------------


def test_logits_of_handles_googlenet_outputs() -> None:
    logits = torch.rand(2, 5)
    outputs = torchvision.models.GoogLeNetOutputs(logits, torch.rand(2, 5), torch.rand(2, 5))
    assert logits_of(outputs) is logits
    assert logits_of((logits, None)) is logits
    with pytest.raises(ArticulateError, match="expected a logits tensor"):
        logits_of({"logits": logits})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"class_names": ["a", "b"]}, "2 names for 3 classes"),
        ({"scheduler": "step"}, "onecycle, cosine, none"),
        ({"lr": 0}, "classifier.lr"),
        ({"label_smoothing": 1.5}, "label_smoothing"),
    ],
)
def test_classifier_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SketchClassifier(SketchCNN(3, widths=(4, 8)), num_classes=3, **kwargs)


def test_classifier_needs_an_input_spec_for_torchvision_models() -> None:
    net = torchvision_classifier("squeezenet1_1", num_classes=3)
    with pytest.raises(ConfigError, match="imagenet_input_spec"):
        SketchClassifier(net, num_classes=3)
    module = SketchClassifier(net, num_classes=3, input_spec=imagenet_input_spec(64))
    module.eval()
    with torch.no_grad():
        assert module(torch.rand(2, 1, 64, 64)).shape == (2, 3)


def test_the_raster_settings_are_read_without_building_the_model(tmp_path: Path) -> None:
    from pipeline.models.build import load_trained, read_raster
    from tests.conftest import save_sketch_cnn

    path = tmp_path / "model.pt"
    save_sketch_cnn(path, ["a", "b"], [4, 8, 8, 8], size=48)
    assert read_raster(path) == load_trained(path).raster and read_raster(path).size == 48
    path.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a readable model file"):
        read_raster(path)
