"""Stage ``finetune``: the model of round ``round``, from the base model and every concept of the concept store.

Round 0 is the base model as it is: ``paths.models/base/`` is copied to ``paths.models/round_0/`` (``round``
set to 0) and the base's registered model version gets the alias ``round-0``.

Round r >= 1 starts again from the base model (not from round r-1: every round sees all concepts so far, so
nothing depends on the order in which they were named), adds a concept head on the atlas layer (a 1x1
convolution: per-position concept logits; presence by max over positions, see
:mod:`pipeline.models.concept_head`) and trains the class loss and the concept loss together with Lightning
(:class:`~pipeline.finetune.module.ConceptFinetuner`): each step a batch of the train split and a batch of the
concept-labelled sketches. Targets come from the concepts' positive and negative positions; how unlabeled
positions count is a deliberate choice documented in :mod:`pipeline.finetune.targets`. Then it measures class
accuracy on the test split (and the base model's, with the same code), and writes ``paths.models/round_<r>/``
atomically::

    model.pt             the base's entries + the fine-tuned state dict, "concepts" (id, name, born_round, in
                         head order), "concept_head" (its state dict), "round"; with drawing-level concepts also
                         "drawing_concepts" and "drawing_head"
    info.json            round, class_acc, base_class_acc, concepts with their positive/negative counts, losses
                         per epoch, seconds, the MLflow run and the registered model version
    concept_maps.png     labelled sketches per concept with the predicted concept map overlaid

Drawing-level concepts (``level: drawing``: whole drawings have them or not, e.g. "facing left") have no position
targets: they train a :class:`~pipeline.models.concept_head.DrawingHead` beside the concept head (a linear layer on
the atlas layer pooled over each drawing's ink), their drawings joining the labelled sketches
(:mod:`pipeline.finetune.targets`); info.json lists them under ``drawing_concepts``. A round needs at least one
concept of positions. The model MLflow logs is the concept model's (the drawing head is in model.pt).

Everything is logged in an MLflow run (stage ``finetune``, tag ``round``): the config, per-epoch
``train_class_loss``, ``train_concept_loss``, ``train_loss``, ``train_acc``, then ``class_acc``,
``base_class_acc``, ``concept_loss``, the figure and the model (``(class logits, concept logits)`` from
model-ready images), registered as ``mlflow.registered_model`` with the alias ``round-<r>``.

Settings: ``conf/finetune/default.yaml``; concepts from ``paths.concepts``; ink as ``extract.ink_threshold``
defines it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import mlflow
import numpy as np
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig

from core import text
from pipeline import tracking, viz
from pipeline.stages import stage_main
from pipeline.config import build, to_container
from pipeline.activations.geometry import LayerGeometry
from pipeline.data.datamodule import SketchDataset, training_split
from pipeline.data.raster import rasterize
from pipeline.data.store import read_manifest
from core.errors import ConfigError, InputError
from pipeline.finetune.data import ConceptDataset, SketchIndex, combined_loader, ink_maps, layer_vectors
from pipeline.finetune.spread import LabelSpreading
from pipeline.finetune.strokes import StrokeGrowing, stroke_cells
from pipeline.evaluation.figures import concept_maps_figure
from pipeline.finetune.measure import LABEL_MARKS, class_accuracy, concept_eval, map_rows, pick_examples
from pipeline.finetune.module import ConceptFinetuner, ExportedConceptModel
from pipeline.finetune.targets import DrawingConcepts, build_targets
from core.io import atomic_dir
from pipeline.models.build import load_trained, save_trained
from pipeline.models.callbacks import progress_callbacks
from pipeline.models.distributed import prepare_strategy
from pipeline.models.concept_head import ConceptHead, DrawingHead
from pipeline.rounds import MODEL_FILE, base_model_dir, base_model_path, model_dir, round_index
from pipeline.schema import configured
from conceptstore.concepts import DRAWING

log = logging.getLogger(__name__)

INFO_FILE = "info.json"
FIGURE_FILE = "concept_maps.png"
TRAIN_SPLIT, TEST_SPLIT = "train", "test"
LABEL_HINT = ("name concepts first: `articulate label` (in the web page) or `articulate artist` (the simulated "
              "artist), then run this round again")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Write the model of round ``cfg.round``; returns the contents of its ``info.json``."""
    round_ = round_index(cfg)
    return copy_base(cfg) if round_ == 0 else finetune(cfg, round_)


# --- round 0 ---------------------------------------------------------------------------------------------------

def _base_info(cfg: DictConfig) -> dict[str, Any]:
    path = base_model_dir(cfg) / INFO_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable ({err})",
                         hint="train the base model again: `dvc repro train_base`") from None


def copy_base(cfg: DictConfig) -> dict[str, Any]:
    """Round 0: the base model as it is, in ``models/round_0/``, with the alias ``round-0`` on its version."""
    source = base_model_path(cfg)
    model = load_trained(source)  # a clear error when it is missing or not a model
    base = _base_info(cfg)
    name = str(base.get("registered_model") or cfg.mlflow.registered_model)
    version = base.get("model_version")
    with tracking.stage_run(cfg, "finetune", tags={"round": "0"}) as active:
        if base.get("test_acc") is not None:
            class_acc = float(base["test_acc"])
        else:
            index = SketchIndex.read(cfg.paths.dataset)
            test = SketchDataset(_split(index, cfg, TEST_SPLIT), model.class_map.labels(), model.raster)
            class_acc = class_accuracy(model.net, test, model.input_spec, model.class_map)
        mlflow.log_metrics({"class_acc": class_acc, "base_class_acc": class_acc})
        with atomic_dir(model_dir(cfg, 0)) as folder:
            for path in base_model_dir(cfg).iterdir():
                if path.is_file() and path.name not in (MODEL_FILE, INFO_FILE):
                    shutil.copy2(path, folder / path.name)
            save_trained(dataclasses.replace(model, round=0), folder / MODEL_FILE)
            alias = None
            if version is not None:
                alias = "round-0"
                try:
                    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version))
                except mlflow.exceptions.MlflowException as err:
                    raise InputError(base_model_dir(cfg) / INFO_FILE,
                                     f"registered model {name!r} version {version} is not in the MLflow store "
                                     f"{tracking.tracking_uri(cfg)} ({str(err).splitlines()[0]})",
                                     hint="train the base model again (`dvc repro train_base`) or point "
                                          "mlflow.tracking_uri at the store it was registered in") from None
            else:
                log.warning("round 0: the base model has no registered version in %s; no alias round-0 set",
                            base_model_dir(cfg) / INFO_FILE)
            info = {"round": 0, "class_acc": class_acc, "base_class_acc": class_acc, "concepts": [],
                    "base": str(source), "base_mlflow_run_id": base.get("mlflow_run_id"),
                    "registered_model": name, "model_version": version, "alias": alias,
                    "mlflow_run_id": active.info.run_id, "classes": model.class_names}
            (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
            mlflow.log_dict(info, INFO_FILE)
    log.info("round 0: the base model as it is (class accuracy %.4f)%s", class_acc,
             f", alias round-0 on {name} version {version}" if alias else "")
    return info


# --- rounds >= 1 -----------------------------------------------------------------------------------------------

def _split(index: SketchIndex, cfg: DictConfig, split: str) -> list:
    sketches = index.splits.get(split)
    if not sketches:
        raise InputError(Path(cfg.paths.dataset), f"no '{split}' sketches to fine-tune with",
                         hint="the dataset needs train and test splits (data.splits)")
    return sketches


def _concepts(cfg: DictConfig, layer: str) -> list:
    from conceptstore.store import ConceptStore

    path = Path(cfg.paths.concepts)
    concepts = list(ConceptStore(path).state().concepts)
    if not concepts:
        raise InputError(path, "the concept store has no concepts to fine-tune on", hint=LABEL_HINT)
    other = [c for c in concepts if c.layer != layer]
    if other:
        raise ConfigError(other_layers_message(other, layer, path))
    return concepts


def other_layers_message(other: list, layer: str, path: Path) -> str:
    """Why a fine-tune refuses concepts of layers other than the atlas layer: which, with their layers, and what to do.

    Args:
        other: The concepts on other layers.
        layer: The atlas layer (``model.layer``), the one the round's concept head reads.
        path: The concept store's file.
    """
    named = ", ".join(f"{c.name!r} ({c.id}, layer {c.layer})" for c in other[:10])
    more = f" and {len(other) - 10} more" if len(other) > 10 else ""
    return (f"{path}: concepts on another layer than the atlas layer: {named}{more}; this round trains a concept "
            f"head only on the atlas layer {layer!r} (model.layer), so concepts named on another layer's atlas "
            "(atlas.layers) cannot train yet: delete them (`articulate concepts delete NAME`) to build the round, or "
            "set model.layer to their layer and train the base model again")


def _spread(cfg: DictConfig, model: Any, concepts: list, index: SketchIndex, geometry: LayerGeometry,
            threshold: float) -> tuple[list, dict[str, int], dict[str, np.ndarray]]:
    """The concepts with their labels grown along strokes (``finetune.spread.strokes``) and spread to near
    neighbours (``finetune.spread``), how many positions each added, and the ink maps of the sketches spread over
    (computed on the way; the targets need them).

    Works over every sketch of the splits the concepts were labelled on (``scope: labelled``) or of every split
    (``all``), never the test split: the measure of every round stays unseen."""
    node = cfg.finetune.spread
    if not bool(node.members):
        # only what the person looked at: a promoted selection's other members are left unlabelled
        concepts = [dataclasses.replace(c, positives=tuple(c.verified)) if c.verified else c for c in concepts]
    if not bool(node.enabled):
        return concepts, {}, {}
    spreading = LabelSpreading(neighbours=int(node.neighbours), agreement=float(node.agreement),
                               radius_quantile=float(node.radius_quantile))
    growing = StrokeGrowing(similarity=float(node.strokes.similarity)) if bool(node.strokes.enabled) else None
    if str(node.scope) == "all":
        splits = set(index.splits) - {TEST_SPLIT}
    elif str(node.scope) == "labelled":
        splits = {index.split_of(str(p[0])) for c in concepts for p in c.positives if str(p[0]) in index}
        splits -= {TEST_SPLIT}
    else:
        raise ConfigError(f"finetune.spread.scope: expected labelled or all, got {node.scope!r}")
    sketches = [s for split in sorted(splits) for s in index.splits[split]]
    vectors, ink = layer_vectors(model, sketches, threshold)
    seeds = [tuple(c.verified or c.positives) for c in concepts]
    labelled = {(str(k), int(y), int(x)) for c in concepts for k, y, x in (*c.positives, *c.negatives)}
    grown: list[list] = [[] for _ in concepts]
    if growing is not None:
        strokes = stroke_cells(sketches, model.raster, geometry)
        grown = growing.grow(seeds, vectors, ink, strokes)
        grown = [[p for p in extra if p not in labelled] for extra in grown]
        # what a stroke grew to is as good as seen: the neighbours spread from it too
        seeds = [(*s, *extra) for s, extra in zip(seeds, grown, strict=True)]
        labelled |= {p for extra in grown for p in extra}
    added = spreading.spread(seeds, [c.negatives for c in concepts], vectors, ink)
    added = [[p for p in extra if p not in labelled] for extra in added]  # spread only to what nobody labelled
    # grown and spread positions join the positives unverified: nobody looked at them
    spread = [dataclasses.replace(c, positives=(*c.positives, *g, *extra), verified=tuple(c.verified or c.positives))
              for c, g, extra in zip(concepts, grown, added, strict=True)]
    return spread, {"grown": sum(map(len, grown)), "spread": sum(map(len, added))}, ink


def _log_model(exported: ExportedConceptModel, spec: Any) -> Any:
    """Log the round's model as an exported graph (``pt2``: loads without the project's code), or as a pickle
    where torch.export cannot trace it. Its two outputs need an explicit input signature for ``pt2``."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    example = np.zeros((2, spec.channels, spec.size, spec.size), dtype=np.float32)
    shape = (-1, spec.channels, spec.size, spec.size)
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), shape)]))
    try:
        return mlflow.pytorch.log_model(exported, name="model", input_example=example, signature=signature,
                                        serialization_format="pt2", pip_requirements=tracking.pip_requirements(),
                                        validate_serving_input=False)  # serving takes one output tensor, not two
    except Exception as err:  # noqa: BLE001 - torch.export rejects many user models, for many reasons
        log.warning("torch.export could not trace the model (%s); logging it as a pickle", str(err).splitlines()[0])
        return tracking.log_torch_model(exported, example, tracking.pip_requirements())


@dataclasses.dataclass
class Prepared:
    """What a round trains on: the base model, the concepts with their targets, and the datasets."""

    source: Path
    model: Any
    concepts: list
    left_out: list
    geometry: LayerGeometry
    targets: Any
    labelled: list
    concept_set: ConceptDataset
    train_set: SketchDataset
    test_set: SketchDataset
    spread: dict[str, int]
    train_sampler: Any = None  # mixed data: draws the real drawings' share of the class batches (training_split)
    drawing: Any = None  # the drawing-level concepts and their codes (DrawingConcepts); None without any


@dataclasses.dataclass
class Trained:
    """What the training made: the module (net and head), its class accuracy against the base's, the concept
    loss and the example maps for the figure."""

    module: ConceptFinetuner
    class_acc: float
    base_acc: float
    loss: float
    maps: dict
    examples: list
    fit_seconds: float


def prepare(cfg: DictConfig, round_: int) -> Prepared:
    """The base model, the store's concepts with their labels grown and spread, their targets, the datasets.

    Raises:
        InputError: No concept with a usable position, or sketches of classes the base model does not know.
    """
    source = base_model_path(cfg)
    model = load_trained(source)
    concepts = _concepts(cfg, model.layer)
    drawing = [c for c in concepts if c.level == DRAWING]  # trained by a head of their own (DrawingConcepts)
    concepts = [c for c in concepts if c.level != DRAWING]

    from conceptstore.drawings import DrawingBook, drawings_path

    index = SketchIndex.read(cfg.paths.dataset, drawn=DrawingBook(drawings_path(cfg.paths.concepts)).sketches())
    class_index = model.class_map.labels()  # a pretrained model keeps its own outputs (pipeline.models.classes)
    train_sketches, test_sketches = _split(index, cfg, TRAIN_SPLIT), _split(index, cfg, TEST_SPLIT)
    geometry = LayerGeometry.of(model)
    threshold = float(cfg.extract.ink_threshold)
    concepts, spread, ink = _spread(cfg, model, concepts, index, geometry, threshold)
    if any(spread.values()):
        log.info("round %d: labels grown along strokes to %s, spread to %s of near neighbours", round_,
                 text.plural(spread["grown"], "position"), text.plural(spread["spread"], "position"))
    referenced = dict.fromkeys([*(str(p[0]) for c in concepts for p in (*c.positives, *c.negatives)),
                                *(k for c in drawing for k in (*c.positives, *c.negatives))])
    # ink of the labelled sketches the spreading did not already render (every one of them, without it)
    ink.update(ink_maps([index.sketch(k) for k in referenced if k in index and k not in ink], model.raster,
                        geometry, threshold))
    drawings = [k for c in drawing for k in (*c.positives, *c.negatives)]
    targets = build_targets(concepts, ink, geometry.height, geometry.width, drawings)
    if targets.skipped_unknown:
        log.warning("%d concept positions are of sketches the dataset %s does not have; skipped",
                    targets.skipped_unknown, cfg.paths.dataset)
    if targets.skipped_outside:
        log.warning("%d concept positions are outside the %dx%d grid of %s; skipped", targets.skipped_outside,
                    geometry.height, geometry.width, model.layer)
    empty = [c for c, n in zip(concepts, targets.positives, strict=True) if n == 0]
    empty += [c for c in drawing if not any(k in ink for k in c.positives)]
    drawing = [c for c in drawing if c not in empty]
    if empty:
        log.warning("concepts without a usable positive position are left out: %s",
                    ", ".join(f"{c.name!r} ({c.id})" for c in empty))
        concepts = [c for c in concepts if c not in empty]
        drawings = [k for c in drawing for k in (*c.positives, *c.negatives)]
        targets = build_targets(concepts, ink, geometry.height, geometry.width, drawings)
    if not concepts:
        raise InputError(Path(cfg.paths.concepts), "no position-level concept has a positive position in this "
                         f"dataset's sketches on the {geometry.height}x{geometry.width} grid of {model.layer}",
                         hint="label on an atlas of this dataset and model (a round trains drawing-level concepts "
                              "beside at least one concept of positions)")
    unknown_classes = sorted({s.word for s in train_sketches + test_sketches} - set(class_index))
    if unknown_classes:
        raise InputError(Path(cfg.paths.dataset), f"sketches of classes the base model does not know: "
                         f"{', '.join(unknown_classes[:5])}", hint="train the base model on this dataset")
    labelled = [index.sketch(k) for k in targets.key_ids]
    drawn = DrawingConcepts.of(drawing, targets.key_ids) if drawing else None
    concept_set = ConceptDataset(
        labelled, [class_index[s.word] for s in labelled], targets.codes,
        [index.split_of(k) != TEST_SPLIT for k in targets.key_ids], model.raster,
        None if drawn is None else drawn.codes)
    train_set, sampler = training_split(read_manifest(cfg.paths.dataset), train_sketches, class_index, model.raster,
                                        int(cfg.seed) + round_)
    return Prepared(source, model, concepts, empty, geometry, targets, labelled, concept_set, train_set,
                    SketchDataset(test_sketches, class_index, model.raster), spread, sampler, drawn)


def train(cfg: DictConfig, round_: int, ready: Prepared, run_id: str) -> Trained:
    """Train the concept head and the network together (Lightning, logged into the MLflow run ``run_id``), then
    measure class accuracy on the test split against the base model's, and the concept loss."""
    settings, model = cfg.finetune, ready.model
    module = configured(
        ConceptFinetuner, cfg, net=model.net.train(), layer=model.layer,
        head=ConceptHead(ready.geometry.channels, len(ready.concepts)), concept_names=[c.name for c in ready.concepts],
        input_spec=model.input_spec,
        drawing_head=(None if ready.drawing is None
                      else DrawingHead(ready.geometry.channels, len(ready.drawing.concepts))),
        canonical=None if model.class_map.is_identity else model.class_map.canonical().tolist())
    loader = combined_loader(ready.train_set, ready.concept_set, int(settings.batch_size),
                             int(settings.concept_batch_size), seed=int(cfg.seed) + round_,
                             num_workers=int(cfg.data.num_workers), class_sampler=ready.train_sampler)
    base_acc = class_accuracy(module.net, ready.test_set, model.input_spec, model.class_map)
    log.info("round %d: fine-tuning on %s (%s, %s) from %s; base test accuracy %.4f", round_,
             text.plural(len(ready.concepts), "concept"),
             text.plural(len(ready.labelled), "labelled sketch", "labelled sketches"), ready.targets.counts(),
             ready.source, base_acc)
    mlflow.log_params({"n_concepts": len(ready.concepts), "n_labelled_sketches": len(ready.labelled),
                       "frozen_modules": ",".join(module.frozen) or "none"})
    logger = MLFlowLogger(experiment_name=str(cfg.mlflow.experiment), tracking_uri=tracking.tracking_uri(cfg),
                          run_id=run_id, log_model=False)
    trainer: L.Trainer = build(
        cfg.trainer, "trainer", max_epochs=int(settings.epochs), logger=logger,
        callbacks=progress_callbacks(bool(settings.progress)),
        enable_checkpointing=False, enable_progress_bar=bool(settings.progress), num_sanity_val_steps=0,
        default_root_dir=str(Path(cfg.paths.checkpoints) / "finetune"))
    fit_start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    fit_seconds = time.perf_counter() - fit_start
    class_acc = class_accuracy(module.net.eval(), ready.test_set, model.input_spec, model.class_map)
    examples = pick_examples(ready.targets.codes, int(settings.examples))
    rows = sorted({i for e in examples for i in e})
    loss, maps = concept_eval(module.model, ready.concept_set, model.input_spec, module.weights, keep=rows)
    mlflow.log_metrics({"class_acc": class_acc, "base_class_acc": base_acc, "class_acc_change": class_acc - base_acc,
                        "concept_loss": loss, "n_concepts": len(ready.concepts), "seconds": fit_seconds})
    return Trained(module, class_acc, base_acc, loss, maps, examples, fit_seconds)


def save(cfg: DictConfig, round_: int, ready: Prepared, done: Trained, run_id: str, seconds: float) -> dict[str, Any]:
    """Write ``models/round_<r>/`` (model.pt, the concept maps figure, info.json) atomically, log the model to
    MLflow and register it with the alias ``round-<r>``; returns the info."""
    model, module = ready.model, done.module
    with atomic_dir(model_dir(cfg, round_)) as folder:
        module.model.cpu().eval()
        head_concepts = [{"id": c.id, "name": c.name, "born_round": int(c.born_round)} for c in ready.concepts]
        drawn = ready.drawing.summary() if ready.drawing is not None else []
        save_trained(dataclasses.replace(model, net=module.net, round=round_, concepts=head_concepts,
                                         concept_head=module.head,
                                         drawing_concepts=[{k: c[k] for k in ("id", "name", "born_round")}
                                                           for c in drawn],
                                         drawing_head=module.drawing_head), folder / MODEL_FILE)

        shown = sorted({i for e in done.examples for i in e})
        ink_images = {i: rasterize(ready.labelled[i], model.raster) for i in shown}
        if model.raster.invert:
            ink_images = {i: 1.0 - image for i, image in ink_images.items()}
        targets = ready.targets
        details = [f"{text.plural(p, 'positive')} \u00b7 {text.plural(n, 'negative')}"
                   for p, n in zip(targets.positives, targets.negatives, strict=True)]
        rows = map_rows([c.name for c in ready.concepts], details, ink_images, done.maps, targets.codes, done.examples)
        fig = concept_maps_figure(rows, ready.geometry, f"Round {round_}: predicted concept maps on {model.layer}, "
                                  "labelled sketches", marks=LABEL_MARKS)
        tracking.save_figure(fig, folder / FIGURE_FILE, dpi=90)
        viz.close(fig)

        logged = _log_model(ExportedConceptModel(module.model).eval(), model.input_spec)
        name = str(cfg.mlflow.registered_model)
        alias = f"round-{round_}"
        version = tracking.register_model(logged.model_uri, name, alias)
        info = {
            "round": round_, "class_acc": done.class_acc, "base_class_acc": done.base_acc,
            "base_test_acc": _base_info(cfg).get("test_acc"), "class_acc_change": done.class_acc - done.base_acc,
            "concept_loss": done.loss,
            "concepts": [{**c, "positives": p, "negatives": n, "layer": model.layer}
                         for c, p, n in zip(head_concepts, targets.positives, targets.negatives, strict=True)],
            **({"drawing_concepts": [{**c, "layer": model.layer} for c in drawn]} if drawn else {}),
            "left_out": [{"id": c.id, "name": c.name} for c in ready.left_out],
            "labelled_sketches": len(ready.labelled), "spread_positions": sum(ready.spread.values()),
            "grown_positions": ready.spread.get("grown", 0), "codes": targets.counts(),
            "skipped_positions": {"unknown_sketch": targets.skipped_unknown, "outside_grid": targets.skipped_outside},
            "frozen_modules": module.frozen, "epochs": module.history,
            "seconds": round(seconds, 2), "fit_seconds": round(done.fit_seconds, 2),
            "settings": to_container(cfg.finetune), "base": str(ready.source), "mlflow_run_id": run_id,
            "registered_model": name, "model_version": version, "alias": alias, "classes": model.class_names,
        }
        (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        mlflow.log_dict(info, INFO_FILE)
    log.info("round %d: class accuracy %.4f (base %.4f), concept loss %.4f, %s, %.0f s; registered %s version %d "
             "(alias %s)", round_, done.class_acc, done.base_acc, done.loss,
             text.plural(len(ready.concepts), "concept"), seconds, name, version, alias)
    return info


def finetune(cfg: DictConfig, round_: int) -> dict[str, Any]:
    """Round ``round_`` >= 1: base model + concept head, trained on all concepts of the store."""
    prepare_strategy(cfg.trainer)
    start = time.perf_counter()
    L.seed_everything(int(cfg.seed) + round_, workers=True, verbose=False)
    ready = prepare(cfg, round_)
    with tracking.stage_run(cfg, "finetune", tags={"round": str(round_)}) as active:
        done = train(cfg, round_, ready, active.info.run_id)
        return save(cfg, round_, ready, done, active.info.run_id, time.perf_counter() - start)


if __name__ == "__main__":
    raise SystemExit(stage_main(run))
