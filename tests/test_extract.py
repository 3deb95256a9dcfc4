"""Extraction: receptive fields, activations and attribution against hand and autograd computations, ink and
part cells, bounded memory, and the extract stage end to end with its errors."""

from __future__ import annotations

import json
import tracemalloc
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from pipeline.activations import store as store_module
from pipeline.activations.extractor import Extractor, extract, ink_cells, part_cells, render_batch, rendered_batches
from pipeline.activations.geometry import LayerGeometry
from pipeline.activations.receptive_field import receptive_field
from pipeline.activations.store import ActivationStore, ActivationWriter
from pipeline.config import compose
from pipeline.data.generator import DEFAULT_CLASSES
from tests.defaults import SketchGenerator
from pipeline.data.raster import RasterSpec, rasterize
from core.sketch import Sketch
from pipeline.data.store import Manifest, write_manifest, write_split
from core.errors import ConfigError, InputError, UnknownLayerError
from pipeline.models.build import TrainedModel
from pipeline.models.input_spec import InputSpec
from pipeline.models.sketch_cnn import SketchCNN, default_input_spec
from pipeline.stages import extract as extract_stage
from tests.conftest import save_sketch_cnn

GRAY8 = InputSpec(size=8, channels=1, mean=(0.0,), std=(1.0,), invert=False)


# --- receptive field -------------------------------------------------------------------------------------------

def test_receptive_field_of_sketch_cnn_matches_the_analytic_values() -> None:
    net = SketchCNN(3, widths=[4, 8, 8, 8])
    # conv3 (3) -> pool2 (4, stride 2) -> conv3 (8) -> pool2 (10, stride 4) -> conv3 (18); centres 0, .5, 1.5
    assert receptive_field(net, "features.block1", default_input_spec()) == (3, 1.0, 0.0)
    assert receptive_field(net, "features.block2", default_input_spec()) == (8, 2.0, 0.5)
    assert receptive_field(net, "features.block3", default_input_spec()) == (18, 4.0, 1.5)
    assert receptive_field(net, "features.block4", default_input_spec()) == (38, 8.0, 3.5)


def test_receptive_field_of_a_plain_conv_stack() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 4, 3), nn.MaxPool2d(3, stride=1, padding=1))
    spec = InputSpec(size=32, channels=1, mean=(0.0,), std=(1.0,), invert=False)
    # 5 -> 5 + 2*1 = 7 (stride 2) -> 7 + 2*2 = 11 -> 11 + 2*2 = 15; centre of (0, 0): 2, 2, 2 + 2 = 4, 4
    assert receptive_field(net, "2", spec) == (7, 2.0, 2.0)
    assert receptive_field(net, "4", spec) == (11, 2.0, 4.0)
    assert receptive_field(net, "5", spec) == (15, 2.0, 4.0)
    with pytest.raises(UnknownLayerError):
        receptive_field(net, "9", spec)


# --- a hand-computed case --------------------------------------------------------------------------------------

class PatchNet(nn.Module):
    """conv 2x2 stride 2 (channel 0: patch sum, channel 1: top-left pixel), global average, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=2, stride=2, bias=False)
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [0.0, 0.0]]]]))
            self.head.weight.copy_(torch.tensor([[2.0, -1.0], [-3.0, 5.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean((2, 3)))


def _sketch(key: str, word: str, strokes: list[list[list[float]]], parts: list[str] | None = None) -> Sketch:
    return Sketch(key, word, tuple(np.array(s, dtype=np.float32) for s in strokes), tuple(parts) if parts else None)


def test_extraction_shapes_and_index_against_a_hand_computation(tmp_path: Path) -> None:
    raster = RasterSpec(size=8, line_width=1.0, padding=0)
    model = TrainedModel(PatchNet().eval(), ["a", "b"], GRAY8, raster, "conv", 0)
    sketches = [_sketch("k0", "a", [[[0, 255], [0, 255]]], ["x"]),
                _sketch("k1", "b", [[[0, 255], [128, 128]], [[128, 128], [0, 255]]], ["x", "y"]),
                _sketch("k2", "b", [[[40, 200], [200, 40]]], ["y"])]
    summary = extract(model, sketches, tmp_path, parts=["x", "y"], split="test", batch_size=2, dtype="float32",
                      progress=False)
    store = ActivationStore(tmp_path / "conv")
    meta = store.meta
    assert (meta.num_sketches, meta.height, meta.width, meta.channels) == (3, 4, 4, 2)
    assert (meta.stride, meta.receptive_field, meta.rf_offset, meta.input_size) == (2.0, 2, 0.5, 8)
    assert summary.num_positions == 3 * 16

    images = np.stack([rasterize(s, raster) for s in sketches])
    patches = images.reshape(3, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4)  # (n, y, x, 2, 2)
    activations = np.stack([patches.sum((3, 4)), patches[..., 0, 0]], axis=-1)  # (n, y, x, c)
    np.testing.assert_allclose(store.activations, activations, rtol=1e-6, atol=1e-6)
    # logit_c = sum_k W[c, k] * mean_yx A[k]: d logit_c / dA[k, y, x] = W[c, k] / 16
    head = np.array([[2.0, -1.0], [-3.0, 5.0]])
    labels = np.array([0, 1, 1])
    expected = (activations * head[labels][:, None, None, :] / 16).sum(-1)
    np.testing.assert_allclose(store.attribution, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(store.ink, (images >= 0.5).reshape(3, 4, 2, 4, 2).any((2, 4)))

    index = store.index
    assert len(index) == 48 and list(index.columns) == ["sketch", "label", "y", "x", "ink", "part", "attribution"]
    row = index.iloc[1 * 16 + 2 * 4 + 3]  # sketch 1, y 2, x 3: rows run sketch, then y, then x
    assert (row.sketch, row.label, row.y, row.x) == (1, 1, 2, 3)
    assert row.attribution == pytest.approx(expected[1, 2, 3], rel=1e-5, abs=1e-7)
    np.testing.assert_array_equal(index["ink"].to_numpy(), store.ink.ravel())
    assert list(store.sketches["key_id"]) == ["k0", "k1", "k2"]
    assert list(store.sketches["word"]) == ["a", "b", "b"]
    # The diagonal of sketch 0 is all part "x" (id 1) and lies in the diagonal cells.
    assert (np.diag(store.part[0]) == 1).all() and (store.part[0] == 0).sum() >= 10
    assert set(np.unique(store.part[1])) == {0, 1, 2}
    assert ((store.part > 0) == store.ink).all(), "stroke data: a cell has ink exactly where it has a part"


# --- attribution against autograd -------------------------------------------------------------------------------

def _perturbed_cnn(seed: int = 0) -> SketchCNN:
    torch.manual_seed(seed)
    net = SketchCNN(4, widths=[4, 8, 8, 8])
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.normal_()
    return net.eval()


def test_attribution_matches_plain_autograd_for_several_layers_at_once() -> None:
    net = _perturbed_cnn()
    layers = ["features.block2", "features.block3", "features.block3.conv"]
    extractor = Extractor(net, layers, default_input_spec(), dtype="float32")
    images = torch.rand(5, 64, 64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    results = extractor.run(images.numpy(), labels.numpy())

    captured: dict[str, torch.Tensor] = {}
    handles = [net.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: captured.__setitem__(name, out)) for name in layers]
    logits = net(images[:, None])
    grads = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), [captured[n] for n in layers])
    for handle in handles:
        handle.remove()
    for name, grad in zip(layers, grads):
        act = captured[name].detach()
        np.testing.assert_allclose(results[name].attribution, (act * grad).sum(1).numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(results[name].activations, act.permute(0, 2, 3, 1).numpy(), rtol=1e-6)
        assert results[name].activations.flags["C_CONTIGUOUS"]
    assert results["features.block3"].activations.shape == (5, 16, 16, 8)
    assert not any(p.grad is not None for p in net.parameters()), "no weight gradients are computed"
    # activations only (label spreading reads no attribution): the same values, without the backward pass
    forward = extractor.run(images.numpy(), labels.numpy(), attribution=False)
    for name in layers:
        np.testing.assert_array_equal(forward[name].activations, results[name].activations)
        assert not forward[name].attribution.any()


@pytest.mark.slow  # about 10 s on 2 idle cores: the receptive field is measured on a 448x448 canvas
def test_googlenet_inception4d() -> None:
    from pipeline.models.torchvision_zoo import imagenet_input_spec, torchvision_classifier

    torch.manual_seed(0)
    net = torchvision_classifier("googlenet", 3).eval()
    extractor = Extractor(net, ["inception4d"], imagenet_input_spec())
    geometry = extractor.geometry["inception4d"]
    assert (geometry.channels, geometry.height, geometry.width) == (528, 14, 14)
    assert (geometry.receptive_field, geometry.stride, geometry.rf_offset) == (203, 16.0, 14.0)
    images = np.ones((2, 224, 224), dtype=np.float32)  # white paper with dark ink: invert=True
    images[:, 100:110, 20:200] = 0.0
    result = extractor.run(images, np.array([0, 2]))["inception4d"]
    assert result.activations.shape == (2, 14, 14, 528) and result.activations.dtype == np.float16
    assert np.isfinite(result.attribution).all() and np.abs(result.attribution).sum() > 0
    # rows 100..109 lie in the cells of positions 5 (86..101) and 6 (102..117); columns 20..199: 0 (6..21) .. 12
    assert set(np.nonzero(result.ink[0].any(1))[0]) == {5, 6}
    assert set(np.nonzero(result.ink[0].any(0))[0]) == set(range(0, 13))


# --- ink and part cells -----------------------------------------------------------------------------------------

def test_stride_cells_of_a_grid_with_an_offset() -> None:
    geometry = LayerGeometry("l", 1, 14, 14, 224, 16.0, 203, 14.0)
    rows, _ = geometry.cells
    assert (rows[:6] == -1).all() and (rows[6:22] == 0).all() and (rows[214:] == 13).all()
    assert np.bincount(rows[rows >= 0]).tolist() == [16] * 13 + [10]


def test_ink_and_part_cells_of_a_hand_made_mask() -> None:
    geometry = LayerGeometry("l", 1, 2, 2, 8, 4.0, 18, 1.5)  # cells: the four 4x4 quadrants
    parts = np.zeros((1, 8, 8), dtype=np.int16)
    parts[0, 0, 0:3] = 2            # top-left: 3 pixels of part 2 ...
    parts[0, 1, 0:2] = 5            # ... and 2 of part 5: 2 wins
    parts[0, 0, 4:6] = 3            # top-right: a tie of 2 and 2 -> the smaller id, 1
    parts[0, 3, 4:6] = 1
    parts[0, 7, 7] = 4              # bottom-right: one pixel
    np.testing.assert_array_equal(part_cells(parts, geometry)[0], [[2, 1], [0, 4]])
    ink = (parts > 0).astype(np.float32) * 0.7
    ink[0, 5, 1] = 0.49             # bottom-left: below the threshold
    np.testing.assert_array_equal(ink_cells(ink, geometry)[0], [[True, True], [False, True]])
    np.testing.assert_array_equal(ink_cells(ink, geometry, threshold=0.4)[0], [[True, True], [True, True]])


def test_ink_and_parts_of_a_drawn_sketch() -> None:
    sketch = _sketch("s", "house", [[[10, 245], [30, 30]], [[136, 136], [140, 250]]], ["roof", "door"])
    raster = RasterSpec(size=64, line_width=2.0)
    images, parts = render_batch([sketch], raster, {"roof": 1, "door": 2})
    geometry = LayerGeometry("l", 1, 16, 16, 64, 4.0, 18, 1.5)
    ink, cells = ink_cells(images, geometry)[0], part_cells(parts, geometry)[0]
    # Pixel i spans [i, i + 1) in the rasteriser. The roof line at canvas y 30 -> 2 + 30 * 60 / 255 = 9.06, 2 px
    # wide: pixel rows 8 and 9 -> cell row 2; x 10..245 -> cells 0..15.
    assert set(np.nonzero(cells == 1)[0]) == {2} and len(np.nonzero(cells == 1)[1]) >= 14
    # The door line at canvas x 136 -> 34.0: pixel columns 33 and 34 -> cell column 8 (pixels 32..35);
    # y 34.9..60.8 (+1 px caps) -> pixel rows 34..61 -> cells 8..15.
    assert set(np.nonzero(cells == 2)[1]) == {8} and set(np.nonzero(cells == 2)[0]) == set(range(8, 16))
    np.testing.assert_array_equal(ink, cells > 0)


# --- streaming --------------------------------------------------------------------------------------------------

def _tiny_model() -> TrainedModel:
    torch.manual_seed(0)
    net = SketchCNN(10, widths=[4, 4, 8, 8]).eval()
    return TrainedModel(net, sorted(DEFAULT_CLASSES), default_input_spec(), RasterSpec(size=64), "features.block3", 0)


def _repeat(sketches: list[Sketch], count: int):
    for i in range(count):
        yield sketches[i % len(sketches)]


def test_streaming_writes_batch_by_batch_in_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_model()
    sketches = SketchGenerator(num_sketches=16, seed=1, progress=False).load().sketches
    writes: list[int] = []
    original = ActivationWriter.write

    def spy(self: ActivationWriter, activations: np.ndarray, *rest: np.ndarray) -> None:
        writes.append(len(activations))
        original(self, activations, *rest)

    monkeypatch.setattr(ActivationWriter, "write", spy)
    monkeypatch.setattr(store_module, "INDEX_CHUNK_ROWS", 4096)
    extract(model, _repeat(sketches, 8), tmp_path / "warm", num_sketches=8, batch_size=8, progress=False)

    peaks = {}
    for count in (32, 320):
        writes.clear()
        tracemalloc.start()
        extract(model, _repeat(sketches, count), tmp_path / str(count), num_sketches=count, batch_size=16,
                progress=False)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert writes == [16] * (count // 16)
    # Ten times the sketches: the same peak (the batch), give or take the per-sketch key ids.
    assert peaks[320] < 1.3 * peaks[32] + 200_000, peaks
    store = ActivationStore(tmp_path / "320" / "features.block3")
    assert store.activations.shape == (320, 16, 16, 8) and len(store.index) == 320 * 256
    np.testing.assert_array_equal(store.activations[0], store.activations[16])  # the generator repeats


# --- the stage --------------------------------------------------------------------------------------------------

def _dataset(folder: Path, count: int = 24) -> Manifest:
    sketches = SketchGenerator(num_sketches=count, classes=["cat", "house", "car"], seed=0, progress=False).load().sketches
    folder.mkdir(parents=True)
    write_split(folder, "train", sketches[:4])
    write_split(folder, "test", sketches[4:])
    manifest = Manifest(name="generated", kind="strokes", classes=["car", "cat", "house"],
                        parts=sorted({p for s in sketches for p in s.parts}), splits={"train": 4, "test": count - 4})
    write_manifest(folder, manifest)
    return manifest


def _save_model(path: Path, classes: list[str]) -> None:
    torch.manual_seed(0)
    save_sketch_cnn(path, classes, [4, 4, 8, 8])


@pytest.fixture
def stage_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def make(*settings: str):
        return compose([f"paths.dataset={tmp_path / 'dataset'}", f"paths.models={tmp_path / 'models'}",
                        f"paths.activations={tmp_path / 'activations'}",
                        f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                        f"mlflow.artifact_location={tmp_path / 'artifacts'}", "extract.progress=false",
                        "extract.batch_size=8", "extract.split=test", *settings])

    return make


def test_stage_end_to_end(tmp_path: Path, stage_cfg) -> None:
    manifest = _dataset(tmp_path / "dataset")
    _save_model(tmp_path / "models/round_0/model.pt", manifest.classes)
    cfg = stage_cfg()
    cfg.extract.layers = ["features.block2", "features.block3"]
    info = extract_stage.run(cfg)
    out = tmp_path / "activations/round_0"
    assert json.loads((out / "info.json").read_text()) == info
    assert info["n_sketches"] == 20 and info["n_positions"] == 20 * (32 * 32 + 16 * 16)
    assert 0 < info["ink_fraction"] < 1
    store = ActivationStore(out / "features.block3")
    assert store.meta.shape == (20, 16, 16, 8) and store.meta.split == "test"
    assert store.meta.parts == manifest.parts and store.meta.classes == manifest.classes
    assert (store.part > 0).any() and (out / "features.block3/attribution.png").stat().st_size > 10_000
    assert ActivationStore(out / "features.block2").meta.shape == (20, 32, 32, 4)
    assert not list(tmp_path.glob("activations/.round_0*")), "no temporary folder is left"

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(info["mlflow_run_id"])
    assert run.data.tags["stage"] == "extract" and run.data.tags["round"] == "0"
    assert {"n_positions", "ink_fraction", "seconds", "positions_per_s"} <= set(run.data.metrics)
    assert "features.block3/attribution.png" in [a.path for a in client.list_artifacts(run.info.run_id, "features.block3")]

    # A corrupted store is answered with a clear error.
    folder = out / "features.block3"
    data = (folder / "activations.npy").read_bytes()
    (folder / "activations.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="activations.npy"):
        ActivationStore(folder)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(InputError, match="meta.json.*re-run the extract stage"):
        ActivationStore(folder)


def test_stage_errors(tmp_path: Path, stage_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="no trained model here"):
        extract_stage.run(stage_cfg())
    manifest = _dataset(tmp_path / "dataset")
    _save_model(tmp_path / "models/round_0/model.pt", manifest.classes)
    cfg = stage_cfg()
    cfg.extract.layers = ["features.blok3"]
    with pytest.raises(UnknownLayerError, match="extract.layers.*'features.blok3'.*features.block3"):
        extract_stage.run(cfg)
    (tmp_path / "dataset/val.ndjson").write_text("")
    cfg = stage_cfg()
    cfg.extract.split = "val"
    with pytest.raises(InputError, match="val.ndjson.*empty"):
        extract_stage.run(cfg)
    with monkeypatch.context() as patch:
        patch.setattr(extract_stage, "read_split", lambda folder, split: [])
        with pytest.raises(InputError, match="the 'val' split is empty.*extract.split="):
            extract_stage.run(cfg)
    cfg.extract.split = "nope"
    with pytest.raises(InputError, match="no 'nope' split"):
        extract_stage.run(cfg)
    assert not (tmp_path / "activations").exists() or not any((tmp_path / "activations").iterdir())


def test_extraction_on_ray_writes_the_store_the_local_engine_writes(labeling_project, tmp_path: Path) -> None:
    """Two Ray actors, each writing its shards into the one store: the same arrays, index and tables as one
    local process (the float16 activations equal up to rounding of the batch size)."""
    pytest.importorskip("ray")
    import pandas as pd

    from pipeline.activations.store import ActivationStore
    from pipeline.stages import extract as extract_stage

    cfg = labeling_project.cfg(f"paths.activations={tmp_path / 'ray'}", "extract.engine=ray", "extract.ray.workers=2",
                               "extract.batch_size=16")
    info = extract_stage.run(cfg)
    assert info["n_sketches"] == 80
    ray_store = ActivationStore(tmp_path / "ray" / "round_0" / "features.block3")
    local = ActivationStore(labeling_project.folder / "activations" / "round_0" / "features.block3")
    assert ray_store.meta.num_sketches == local.meta.num_sketches and ray_store.meta.extra["engine"] == "ray"
    pd.testing.assert_frame_equal(ray_store.sketches, local.sketches)
    np.testing.assert_allclose(np.asarray(ray_store.activations, dtype=np.float32),
                               np.asarray(local.activations, dtype=np.float32), rtol=1e-2, atol=1e-2)
    np.testing.assert_array_equal(np.asarray(ray_store.ink), np.asarray(local.ink))
    np.testing.assert_array_equal(np.asarray(ray_store.part), np.asarray(local.part))
    np.testing.assert_allclose(np.asarray(ray_store.attribution), np.asarray(local.attribution), rtol=1e-3, atol=1e-4)
    assert len(pd.read_parquet(tmp_path / "ray" / "round_0" / "features.block3" / "index.parquet")) == 80 * 16 * 16


def test_an_unknown_engine_is_one_clear_error(labeling_project) -> None:
    from core.errors import ConfigError
    from pipeline.stages import extract as extract_stage

    with pytest.raises(ConfigError, match="extract.engine: expected one of local, ray, got 'spark'"):
        extract_stage.run(labeling_project.cfg("extract.engine=spark"))


def test_batches_rendered_ahead_or_in_turn_are_the_same() -> None:
    sketches = SketchGenerator(num_sketches=10, seed=3, progress=False).load().sketches
    index = {name: i + 1 for i, name in enumerate(sorted({p for s in sketches for p in s.parts or ()}))}
    raster = RasterSpec(size=32)
    ahead = list(rendered_batches(sketches, 4, raster, index))
    in_turn = list(rendered_batches(sketches, 4, raster, index, ahead=False))
    assert [len(batch) for batch, _ in ahead] == [len(batch) for batch, _ in in_turn] == [4, 4, 2]
    for (batch_a, (images_a, parts_a)), (batch_b, (images_b, parts_b)) in zip(ahead, in_turn, strict=True):
        assert batch_a == batch_b and np.array_equal(images_a, images_b) and np.array_equal(parts_a, parts_b)


def test_the_device_setting(tmp_path: Path) -> None:
    from pipeline.activations.extractor import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="extract.device: expected one of cpu, cuda, auto or cuda:N, got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="extract.device: cuda:1 asked for, but torch sees no GPU"):
            resolve_device("cuda:1")
    # extraction on the device auto picks gives the CPU's store, and leaves the model on the CPU
    sketches = SketchGenerator(num_sketches=6, seed=2, progress=False).load().sketches
    model = _tiny_model()
    on_cpu = extract(model, sketches, tmp_path / "cpu", progress=False, device="cpu")
    on_auto = extract(model, sketches, tmp_path / "auto", progress=False, device="auto")
    assert next(model.net.parameters()).device.type == "cpu" and on_cpu.num_positions == on_auto.num_positions
    a, b = (ActivationStore(tmp_path / name / "features.block3") for name in ("cpu", "auto"))
    assert np.allclose(np.asarray(a.activations, np.float32), np.asarray(b.activations, np.float32), atol=1e-2)
    assert np.allclose(a.attribution, b.attribution, atol=1e-3) and np.array_equal(a.ink, b.ink)
