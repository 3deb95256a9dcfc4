"""The test run's trained project: generated sketches, a SketchCNN briefly trained by the train_base stage and
registered in MLflow, round 0 (the finetune stage's round 0: the base as it is, alias ``round-0``), and its
activation store and atlas of the val split, built in a temporary folder in about half a minute.

Every stage runs for real (its ``run(cfg)``, logging to a SQLite MLflow store in the folder). The labeling,
coach, fine-tune and evaluate tests share it (``labeling_project`` in conftest.py, once per test process) and
copy what they change. Its data, training and atlas follow one seed (``ARTICULATE_TEST_SEED``, default 0: see
conftest.py); its numbers also depend on the CPU and the torch threads, so tests read what it became from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.config import compose
from tests.defaults import SketchGenerator
from pipeline.data.raster import RasterSpec, rasterize
from pipeline.data.store import Manifest, write_manifest, write_split
from pipeline.models.sketch_cnn import SketchCNN, default_input_spec
from tests.conftest import TEST_SEED

CLASSES = ["bicycle", "car", "cat", "dog", "face", "house"]
WIDTHS = [8, 16, 32, 32]


def overrides(folder: Path, seed: int = TEST_SEED) -> list[str]:
    """The Hydra overrides that point every path of the project at ``folder``, keep the atlas small and set the
    seed (of training, fine-tuning and the atlas)."""
    return [f"seed={seed}",
        f"paths.dataset={folder / 'dataset'}", f"paths.models={folder / 'models'}",
        f"paths.activations={folder / 'activations'}", f"paths.atlases={folder / 'atlases'}",
        f"paths.concepts={folder / 'concepts' / 'concepts.yaml'}", f"paths.evaluation={folder / 'evaluation'}",
        f"paths.checkpoints={folder / 'checkpoints'}", f"paths.cache={folder / 'cache'}",
        f"mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}", f"mlflow.artifact_location={folder / 'artifacts'}",
        "mlflow.experiment=labeling-tests",
        "extract.progress=false", "extract.batch_size=64", f"model.net.widths=[{','.join(map(str, WIDTHS))}]",
        "atlas.sample.count=1500", "atlas.layout.method=pca", "atlas.grid.size=8", "atlas.icons.steps=6",
        "atlas.icons.batch_size=64", "atlas.clusters.k=8", "atlas.exemplars.per_cluster=16",
    ]


def _train(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int = 4, seed: int = TEST_SEED) -> None:
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), 32):
            batch = order[start:start + 32]
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(images[batch]), labels[batch]).backward()
            optimiser.step()
    net.eval()


def write_dataset(folder: Path, classes: list[str], sketches: int = 400, seed: int = TEST_SEED) -> dict[str, list]:
    """Generate sketches of ``classes`` and write them as a dataset folder (60/20/20 splits, manifest); returns
    the splits."""
    drawn = SketchGenerator(num_sketches=sketches, classes=classes, seed=seed, progress=False).load().sketches
    cut1, cut2 = sketches * 3 // 5, sketches * 4 // 5
    splits = {"train": drawn[:cut1], "val": drawn[cut1:cut2], "test": drawn[cut2:]}
    folder.mkdir(parents=True)
    for name, split in splits.items():
        write_split(folder, name, split)
    write_manifest(folder, Manifest(name="generated", kind="strokes", classes=sorted(classes),
                                    parts=sorted({p for s in drawn for p in s.parts}),
                                    splits={name: len(split) for name, split in splits.items()}))
    return splits


def trained_net(train: list, classes: list[str], widths: list[int] = WIDTHS, epochs: int = 4,
                seed: int = TEST_SEED) -> nn.Module:
    """A SketchCNN with ``classes`` as its outputs (in that order), briefly trained on ``train`` (seeded)."""
    raster = RasterSpec(size=64, line_width=2.0)
    spec = default_input_spec()
    images = torch.from_numpy(np.stack([rasterize(s, raster) for s in train])[:, None].astype(np.float32))
    images = (images - spec.mean[0]) / spec.std[0]
    labels = torch.tensor([classes.index(s.word) for s in train])
    torch.manual_seed(seed)  # the same model, hence the same atlas, on every build (of one machine)
    net = SketchCNN(len(classes), widths=widths)
    _train(net, images, labels, epochs, seed)
    return net


#: The base training of the shared project: a few epochs, enough for class-organised atlas clusters.
BASE_TRAINING = ["trainer.max_epochs=10", "data.batch_size=32", "trainer.enable_progress_bar=false", "resume=false",
                 "model.net.context=[]"]  # no dilated context: 18 px receptive fields, small patches, quick pictures


def build(folder: Path, sketches: int = 400, seed: int = TEST_SEED, data: list[str] | None = None) -> list[str]:
    """Write the dataset, the base model (train_base), round 0 (finetune's round 0), its activations and atlas
    under ``folder``, all from ``seed``; returns the overrides.

    ``data``: Hydra overrides of the data (``data=quickdraw data.source.folder=DIR``); the data stage then reads
    them into the dataset (``sketches`` unused), else ``sketches`` generated drawings of ``CLASSES`` are written.
    """
    from pipeline.stages import atlas as atlas_stage
    from pipeline.stages import data as data_stage
    from pipeline.stages import extract as extract_stage
    from pipeline.stages import finetune as finetune_stage
    from pipeline.stages import train_base

    settings = [*overrides(folder, seed), *(data or [])]
    if data:
        data_stage.run(compose(settings))
    else:
        write_dataset(folder / "dataset", CLASSES, sketches, seed)
    train_base.run(compose([*settings, *BASE_TRAINING]))
    cfg = compose(settings)
    finetune_stage.run(compose([*settings, "round=0"]))
    extract_stage.run(cfg)
    atlas_stage.run(cfg)
    return settings


#: The two concepts of the round-1 project, named after the majority part of the round-0 clusters they come from.
ROUND_1_CONCEPTS = 2


def build_round_1(source: Path, folder: Path, seed: int = TEST_SEED) -> tuple[list[str], list[str]]:
    """A round-1 project: the round-0 project at ``source`` copied to ``folder``, two concepts promoted from its
    atlas's purest clusters, then the finetune, extract, atlas and evaluate stages of round 1 run for real (one
    epoch). Returns the overrides and the concept names.
    """
    import shutil

    from conceptstore.store import ConceptStore
    from labeling.atlas_view import AtlasView
    from pipeline.stages import atlas as atlas_stage
    from pipeline.stages import evaluate as evaluate_stage
    from pipeline.stages import extract as extract_stage
    from pipeline.stages import finetune as finetune_stage

    for part in ("dataset", "models/base", "models/round_0", "activations/round_0", "atlases/round_0"):
        shutil.copytree(source / part, folder / part)
    settings = [*overrides(folder, seed), "finetune.epochs=3", "finetune.batch_size=64",
                "finetune.concept_batch_size=64", "finetune.lr=0.0005", "finetune.progress=false", "evaluate.progress=false",
                "evaluate.split=val"]
    view = AtlasView.load(compose(settings), 0)
    clusters = sorted((c for c in view.document["clusters"] if c.get("majority_part")),
                      key=lambda c: -float(c.get("purity") or 0))
    store = ConceptStore(folder / "concepts" / "concepts.yaml")
    names: list[str] = []
    for cluster in clusters:
        name = str(cluster["majority_part"])
        if name in names:
            continue
        positions = view.positions(view.select(cluster=int(cluster["cluster"])).points)
        store.promote(name, positions, layer=view.layer, born_round=0,
                      source={"kind": "cluster", "cluster": int(cluster["cluster"]), "round": 0})
        names.append(name)
        if len(names) == ROUND_1_CONCEPTS:
            break
    cfg = compose([*settings, "round=1"])
    for stage in (finetune_stage, extract_stage, atlas_stage, evaluate_stage):
        stage.run(cfg)
    return settings, names
