"""A model you already have, looked into as it is: its own classes, no training.

A small CNN saved as a plain state dict, with five classes in its own (not alphabetical) order, is imported
onto a dataset of four classes: three map by name, one the model lacks (reported, not fatal). Extract, atlas
and evaluate run on it, and every class accuracy they print equals the model's own when called directly. A
torchvision GoogLeNet with a random state dict and ImageNet's 1000 class names runs the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ConfigError, InputError
from pipeline.models.classes import UNMAPPED, ClassMap, name_key, read_class_names
from tests.conftest import TEST_SEED
from tests.labeling_project import WIDTHS, overrides, trained_net, write_dataset

MODEL_CLASSES = ["house", "fish", "cat", "bird", "car"]  # the model's own order
DATASET_CLASSES = ["car", "cat", "face", "house"]       # face: the model has no such class


# --- the class map ----------------------------------------------------------------------------------------------

def test_classes_map_by_name_whatever_the_case_and_separators() -> None:
    classes = ClassMap.build(["wall_clock", "Apple", "moon"], ["apple", "Wall Clock", "star"])
    assert classes.targets == ((1,), (0,), ())
    assert classes.missing == ["moon"] and not classes.is_identity
    assert classes.labels() == {"wall_clock": 1, "Apple": 0, "moon": UNMAPPED}
    assert name_key("Great_white-shark ") == "great white shark"
    assert "moon" in classes.describe() and "apple" in classes.describe()


def test_an_explicit_map_joins_several_model_classes_and_a_prediction_of_any_of_them_is_right() -> None:
    outputs = ["tabby", "Labrador retriever", "golden retriever", "sports car"]
    classes = ClassMap.build(["cat", "dog", "car"], outputs,
                             {"dog": ["labrador_retriever", "Golden Retriever"], "cat": "tabby", "car": []})
    assert classes.targets == ((0,), (1, 2), ())
    labels = np.array([classes.labels()[w] for w in ["cat", "dog", "dog", "dog", "car"]])
    predictions = np.array([0, 2, 1, 0, 3])  # right, right (golden), right, wrong, (car not counted)
    assert list(classes.canonical()) == [0, 1, 1, 3]
    assert classes.accuracy(labels, predictions) == pytest.approx(3 / 4)
    matrix, names = classes.confusion(labels, predictions)
    assert names == ["cat", "dog", "car", "(other)"]
    assert matrix[1, 1] == 2 and matrix[1, 0] == 1 and matrix[3, 3] == 1 and matrix.sum() == 5
    again = ClassMap.from_dict(json.loads(json.dumps(classes.to_dict())), outputs)
    assert again == classes
    assert classes.summary() == {"mapped": {"cat": ["tabby"], "dog": ["Labrador retriever", "golden retriever"]},
                                 "missing": ["car"], "model_classes": 4}


@pytest.mark.parametrize(("mapping", "words"), [
    ({"dgo": "tabby"}, "model.class_map.dgo: the dataset has no class 'dgo'"),
    ({"dog": "Labrador retreiver"}, "did you mean 'Labrador retriever'"),
    ({"dog": "tabby", "cat": "tabby"}, "mapped to both 'cat' and 'dog'"),
])
def test_a_map_that_names_what_does_not_exist_is_one_clear_error(mapping: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("?", r"\?")):
        ClassMap.build(["cat", "dog"], ["tabby", "Labrador retriever"], mapping)


def test_class_names_from_a_file_and_their_errors(tmp_path: Path) -> None:
    names = tmp_path / "classes.txt"
    names.write_text("# my model's classes\nhouse\n\nfish\n  cat  \n")
    assert read_class_names(str(names)) == ["house", "fish", "cat"]
    with pytest.raises(InputError, match="no class-names file here"):
        read_class_names(str(tmp_path / "nope.txt"))
    names.write_text("cat\ncat\n")
    with pytest.raises(ConfigError, match="'cat' is listed twice"):
        read_class_names(str(names))


# --- a small CNN of one's own ---------------------------------------------------------------------------------------

def _direct_accuracy(net: torch.nn.Module, sketches: list, classes: list[str]) -> tuple[float, int]:
    """The model called directly: render, forward, its top class by name == the drawing's class, over the
    drawings of classes it has."""
    from pipeline.data.raster import RasterSpec, rasterize

    known = [s for s in sketches if s.word in classes]
    images = torch.from_numpy(np.stack([rasterize(s, RasterSpec(size=64, line_width=2.0)) for s in known]))
    with torch.no_grad():
        top = net.eval()(images[:, None].float()).argmax(1).numpy()
    return float(np.mean([classes[t] == s.word for t, s in zip(top, known, strict=True)])), len(known)


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("own_model")
    splits = write_dataset(folder / "dataset", DATASET_CLASSES, sketches=200)
    model_data = write_dataset(folder / "model_data", MODEL_CLASSES, sketches=500, seed=TEST_SEED + 3)
    net = trained_net(model_data["train"], MODEL_CLASSES, epochs=10)
    weights = folder / "my_net.pth"
    torch.save(net.state_dict(), weights)  # a plain state dict, as a researcher has it
    settings = [*overrides(folder), "model.pretrained=true", f"model.checkpoint={weights}",
                f"model.classes=[{','.join(MODEL_CLASSES)}]", "model.net.context=[]", "evaluate.split=test", "evaluate.progress=false"]
    return folder, net, splits, settings


def _compose(settings: list[str]):
    from pipeline.config import compose

    return compose(settings)


def test_a_pretrained_cnn_is_imported_as_it_is_and_looked_into(own_model) -> None:
    from pipeline.activations.store import ActivationStore
    from pipeline.models.build import load_trained
    from pipeline.stages import atlas, evaluate, extract, finetune, train_base

    folder, net, splits, settings = own_model
    cfg = _compose(settings)
    info = train_base.run(cfg)  # imports: no training
    direct, counted = _direct_accuracy(net, splits["test"], MODEL_CLASSES)
    assert counted < len(splits["test"]) and direct > 0.7  # the face drawings do not count; the model works
    # the stage reads the drawings in batches: a drawing on a near tie of two classes may tip (one drawing)
    one = 1.01 / counted
    assert info["imported"] is True and info["test_acc"] == pytest.approx(direct, abs=one)
    assert info["class_map"] == {"mapped": {"car": ["car"], "cat": ["cat"], "house": ["house"]},
                                 "missing": ["face"], "model_classes": 5}
    base = load_trained(folder / "models" / "base" / "model.pt")
    assert base.class_names == MODEL_CLASSES and base.class_map.missing == ["face"]
    for key, value in net.state_dict().items():  # the weights as they came
        assert torch.equal(base.net.state_dict()[key], value), key
    assert (folder / "models" / "base" / "confusion_matrix.png").stat().st_size > 0

    round0 = finetune.run(cfg)
    assert round0["class_acc"] == pytest.approx(direct, abs=one) and round0["classes"] == MODEL_CLASSES
    extract.run(cfg)
    store = ActivationStore(folder / "activations" / "round_0" / "features.block3")
    assert store.meta.classes == DATASET_CLASSES  # the drawings' own classes, for the atlas's class statistics
    assert sorted(set(store.meta.classes[int(i)] for i in store.sketches["label"])) == DATASET_CLASSES
    atlas.run(cfg)
    document = json.loads((folder / "atlases" / "round_0" / "atlas.json").read_text())
    assert document["classes"] == DATASET_CLASSES
    assert {name for c in document["clusters"] for name in c["classes"]} <= set(DATASET_CLASSES)
    evaluated = evaluate.run(cfg)
    assert evaluated["class_acc"] == pytest.approx(direct, abs=one)


def test_a_pretrained_cnn_fine_tunes_in_the_loop_with_its_own_classes(own_model, tmp_path: Path) -> None:
    """Round 1 of a pretrained model keeps its five outputs and adds the concept head; its class accuracy is
    measured through the class map against the model as imported."""
    from conceptstore.store import ConceptStore
    from pipeline.activations.store import ActivationStore
    from pipeline.models.build import load_trained
    from pipeline.stages import finetune

    folder, net, splits, settings = own_model
    base = folder / "models" / "base" / "model.pt"
    if not base.is_file():
        pytest.skip("needs the import of test_a_pretrained_cnn_is_imported_as_it_is_and_looked_into")
    import shutil

    store_file = tmp_path / "concepts.yaml"
    activations = ActivationStore(folder / "activations" / "round_0" / "features.block3")
    keys = list(activations.sketches["key_id"])
    positives = [(keys[n], int(y), int(x)) for n in range(6) for y, x in np.argwhere(activations.ink[n])[:4]]
    ConceptStore(store_file).promote("stroke", positives, layer="features.block3", born_round=0,
                                     source={"kind": "manual"})
    shutil.copytree(folder / "models" / "base", tmp_path / "models" / "base")
    cfg = _compose([*settings, f"paths.concepts={store_file}", "finetune.epochs=1", "finetune.progress=false",
                    f"paths.models={tmp_path / 'models'}", "round=1"])
    info = finetune.run(cfg)
    model = load_trained(tmp_path / "models" / "round_1" / "model.pt")
    assert model.class_names == MODEL_CLASSES and model.class_map.missing == ["face"]
    assert [c["name"] for c in model.concepts] == ["stroke"] and model.concept_head is not None
    direct, counted = _direct_accuracy(load_trained(base).net, splits["test"], MODEL_CLASSES)
    assert info["base_class_acc"] == pytest.approx(direct, abs=1.01 / counted)  # a near tie may tip (see above)


# --- torchvision, ImageNet's classes ----------------------------------------------------------------------------

def test_googlenet_as_it_came_from_imagenet_on_real_drawings(tmp_path: Path, quickdraw_dir: Path) -> None:
    """``experiment=imagenet`` with a random state dict of ImageNet's shape (nothing is downloaded): its 1000
    classes, real Quick, Draw! drawings, extract and atlas of inception4d."""
    import torchvision

    from pipeline.activations.store import ActivationStore
    from pipeline.stages import atlas, data, extract, finetune, train_base

    torch.manual_seed(0)
    weights = tmp_path / "googlenet_random.pth"
    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    for module in net.modules():  # a scale-keeping init, so the layers carry signal as trained weights do
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(net.state_dict(), weights)
    settings = [*overrides(tmp_path), "experiment=imagenet", f"model.net.weights_path={weights}",
                f"paths.quickdraw={quickdraw_dir}", "data.source.max_per_class=8", "atlas.icons.enabled=false",
                "extract.batch_size=8", "atlas.sample.count=400"]
    cfg = _compose([s for s in settings if not s.startswith("model.net.widths")])
    assert cfg.model.input.size == 224 and cfg.model.input.invert  # rendered as GoogLeNet expects
    data.run(cfg)
    info = train_base.run(cfg)
    assert info["imported"] is True and info["class_map"]["model_classes"] == 1000
    assert info["class_map"]["missing"] == ["star"]
    assert info["class_map"]["mapped"]["clock"] == ["analog clock", "wall clock"]
    assert info["class_map"]["mapped"]["banana"] == ["banana"]  # by name
    finetune.run(cfg)
    extract.run(cfg)
    store = ActivationStore(tmp_path / "activations" / "round_0" / "inception4d")
    assert store.meta.height == 14 and "star" in store.meta.classes
    assert np.asarray(store.activations, dtype=np.float32).std() > 0.1 and np.abs(np.asarray(store.attribution)).sum() > 0
    atlas.run(cfg)
    document = json.loads((tmp_path / "atlases" / "round_0" / "atlas.json").read_text())
    assert document["layer"] == "inception4d" and len(document["clusters"]) > 1


# --- what a user gets wrong ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "words"), [
    (["model.checkpoint=null"], "model.pretrained=true imports a model as it is, so it needs its weights"),
    (["+model.class_map.face=[dog]"], "model.class_map.face: the model has no class 'dog'"),
    (["model.classes=[a,b,c,d,e]"], "none of the dataset's classes"),
])
def test_import_mistakes_are_one_clear_line(own_model, extra: list[str], words: str) -> None:
    from pipeline.stages import train_base

    folder, net, splits, settings = own_model
    cfg = _compose([*settings, *extra, f"paths.models={folder / 'mistakes'}"])
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        train_base.run(cfg)
    assert not (folder / "mistakes" / "base").exists()  # nothing half-written


def test_own_classes_without_pretrained_is_a_clear_error() -> None:
    from pipeline.models.build import class_map

    cfg = _compose(["model.classes=[a,b]"])
    with pytest.raises(ConfigError, match="model.classes: only for a model imported as it is"):
        class_map(cfg.model, ["a", "b"])
