"""Stage ``evaluate``: the metrics of docs/design.md for one round, its concept maps and IoU matrix.

Reads the round's trained model (``paths.models/round_<r>/model.pt``), its atlas (``paths.atlases/round_<r>/
atlas.json``, for ``atlas_purity`` and ``atlas_nmi``), the dataset (``paths.dataset``, split
``evaluate.split``) and the concept store (``paths.concepts``, for ``human_actions``), and writes
``paths.evaluation/round_<r>/`` atomically::

    metrics.json              every metric (flat, the MLflow names; null where undefined), round, split, layer,
                              threshold, iou_discovered, and the lists ``concepts`` (per concept: id, exact name,
                              iou_key, ap_key, matched_part, iou, ap, iou_by_part (top 3), predicted_fraction,
                              present_fraction) and ``parts`` (per true part of the split: part, positions,
                              sketches, best_concept, best_iou, discovered). DVC shows its numbers and strings
                              and skips the lists, so nothing in it changes from run to run for the same inputs.
    info.json                 what was read (model, atlas, dataset, concept store), the MLflow run id, seconds
    figures/concept_maps.png  per concept, the sketches of the split where it is most present, its map over the ink
    figures/iou_matrix.png    concepts x true parts IoU, matched parts framed, discovered parts in green
    figures/reliance.png      concepts x classes: the accuracy each class loses when the concept is erased

Concept IoU (``concept_iou``, ``mean_concept_iou``, ``parts_discovered``) is measured as Network Dissection does,
at input resolution (``evaluate.iou_resolution: pixel``): each concept map upsampled to the sketch, thresholded, and
compared with the true part mask over the ink pixels, since a part is made of strokes and a map's value on empty
paper is neither a hit nor a miss. The coarser stride-cell figures (a cell's true part: the majority part of its
ink) are kept beside them as ``mean_concept_iou_cell`` and ``parts_discovered_cell``; ``iou_resolution: cell``
makes them the headline.

Metrics (definitions in :mod:`pipeline.evaluation.metrics`): ``class_acc``; per concept
``concept_iou/<key>`` and ``concept_ap/<key>`` (key: slug of the name + id, see
:func:`~pipeline.evaluation.metrics.metric_key`; the exact names are in metrics.json); ``mean_concept_iou``,
``mean_concept_ap``, ``n_concepts``; ``parts_discovered``, ``parts_total``, ``parts_discovered_fraction``;
``atlas_purity``, ``atlas_nmi`` (of this round's atlas, whose sample may lean toward what no concept explains
yet) and ``layer_purity``, ``layer_nmi`` (the same clustering of an attribution-weighted sample: how the layer
is organised, comparable from round to round); ``human_actions`` (the labeling of round r - 1,
which made this round's concepts: promotes, adds and splits plus unticked exemplars, see
:meth:`~conceptstore.store.ConceptStore.human_actions`; 0 in round 0) and ``human_actions_total`` (all rounds);
``human_edits`` and ``human_edits_total`` (renames, notes, merges, deletes and undos, counted the same way);
``n_sketches``, ``seconds``; for mixed data (``data=mixed``) also ``class_acc_real`` and ``class_acc_generated``
(the accuracy on the split's real drawings, ``n_real`` of them, and on its generated ones; the part metrics count
the generated drawings only, the ones that name their parts). Round 0's base model has no concept head: no per-concept metrics,
``n_concepts`` and ``parts_discovered`` 0.

Drawing-level concepts (``level: drawing``, trained by the round's drawing head): ``concept_ap/<key>`` is each
one's average precision against the attribute value of the drawings it ranks best (``facing=left``; generated
drawings record their attributes), and metrics.json's ``drawing_concepts`` lists per concept its id, exact name,
ap_key, ap, the ``matched`` value, its best values' APs and the share of drawings it finds present
(:mod:`pipeline.evaluation.drawing`). A model without drawing-level concepts writes neither.

Which concepts the model relies on (``evaluate.reliance``, a causal check; :mod:`pipeline.editing.reliance`):
each concept is erased from the atlas layer where it fires, grown by ``reliance.grow`` positions, and the
layers after it run again over the split; ``concept_reliance/<key>`` is the largest accuracy a class loses
without it, and metrics.json's ``reliance`` holds the whole table (per concept, per class).

Logged to MLflow as the stage run "evaluate" (tag ``round``): the metrics, and as artifacts metrics.json, the
figures and a snapshot of the concept store (``concepts/concepts.yaml``). Settings: ``evaluate.split``,
``threshold``, ``batch_size``, ``iou_discovered``, ``examples``, ``progress`` (``conf/evaluate/default.yaml``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
from omegaconf import DictConfig

from core import text
from pipeline import tracking, viz
from pipeline.stages import stage_main
from pipeline.data.raster import RasterSpec, rasterize, rasterize_parts
from core.sketch import Sketch
from pipeline.data.store import Manifest, read_manifest, read_split
from core.errors import ConfigError, InputError
from pipeline.evaluation.figures import MapPanel, MapRow, concept_maps_figure, iou_matrix_figure, message_figure, \
    reliance_figure
from pipeline.evaluation.drawing import DrawingConceptResult, drawing_results, drawing_scores
from pipeline.evaluation.inference import ConceptMaps, Evaluator, SplitPass, concept_maps, run_split
from pipeline.evaluation.metrics import ConceptResult, OverlapCounts, PartResult, concept_results, iou_matrix, \
    match_concepts, metric_key, part_results
from core.io import atomic_dir
from pipeline.models.build import TrainedModel, load_trained
from pipeline.rounds import atlas_dir, evaluation_dir, model_path, round_index

if TYPE_CHECKING:
    from pipeline.editing.reliance import Reliance

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
INFO_FILE = "info.json"
FIGURES = "figures"
CONCEPT_MAPS = "concept_maps.png"
IOU_MATRIX = "iou_matrix.png"
RELIANCE = "reliance.png"
#: Where concept IoU is measured: over the ink pixels with the maps upsampled, or per stride cell of the layer.
IOU_RESOLUTIONS = ("pixel", "cell")


def _settings(cfg: DictConfig) -> dict[str, Any]:
    """The ``evaluate`` settings, their ranges checked (their types are the schema's: :mod:`pipeline.schema`)."""
    node = cfg.evaluate
    if not 0.0 < node.threshold < 1.0:
        raise ConfigError(f"evaluate.threshold: expected a sigmoid threshold in (0, 1), got {node.threshold!r}")
    if not 0.0 < node.iou_discovered <= 1.0:
        raise ConfigError(f"evaluate.iou_discovered: expected an IoU in (0, 1], got {node.iou_discovered!r}")
    if node.batch_size < 1:
        raise ConfigError(f"evaluate.batch_size: expected a positive integer, got {node.batch_size!r}")
    if not 0 <= node.examples <= 32:
        raise ConfigError(f"evaluate.examples: expected a number of sketches from 0 to 32, got {node.examples!r}")
    if node.iou_resolution not in IOU_RESOLUTIONS:
        raise ConfigError(f"evaluate.iou_resolution: expected one of {', '.join(IOU_RESOLUTIONS)}, "
                          f"got {node.iou_resolution!r}")
    if not 0 <= node.reliance.grow <= 8:
        raise ConfigError(f"evaluate.reliance.grow: expected 0 to 8 positions, got {node.reliance.grow!r}")
    return {"split": str(node.split), "threshold": float(node.threshold), "iou_discovered": float(node.iou_discovered),
            "batch_size": int(node.batch_size), "examples": int(node.examples), "progress": bool(node.progress),
            "iou_resolution": str(node.iou_resolution), "reliance": bool(node.reliance.enabled),
            "reliance_grow": int(node.reliance.grow)}


def _check_inputs(cfg: DictConfig, round_: int) -> None:
    """One clear error for a missing model or atlas, naming the path and what to run."""
    model = model_path(cfg, round_)
    if not model.is_file():
        how = ("build it: `articulate repro`, or `python -m pipeline.stages.train_base`, then "
               "`python -m pipeline.stages.finetune round=0`") if round_ == 0 else \
            (f"fine-tune it: label round {round_ - 1}'s atlas, then `articulate repro`, or run "
             f"`python -m pipeline.stages.finetune round={round_}`")
        raise InputError(model, f"no round {round_} model here", hint=how)
    atlas = atlas_dir(cfg, round_) / "atlas.json"
    if not atlas.is_file():
        raise InputError(atlas, f"no round {round_} atlas here",
                         hint=f"build it: `python -m pipeline.stages.extract round={round_}`, then "
                              f"`python -m pipeline.stages.atlas round={round_}` (or `articulate repro`)")


def _atlas_metrics(cfg: DictConfig, round_: int) -> dict[str, float | None]:
    path = atlas_dir(cfg, round_) / "atlas.json"
    try:
        metrics = json.loads(path.read_text()).get("metrics") or {}
    except (OSError, ValueError, AttributeError) as err:
        raise InputError(path, f"unreadable atlas ({err})",
                         hint=f"rebuild it: `python -m pipeline.stages.atlas round={round_}`") from None
    out = {}
    for key in ("atlas_purity", "atlas_nmi", "layer_purity", "layer_nmi"):
        value = metrics.get(key, metrics.get(key.replace("layer_", "atlas_")))  # atlases built before layer_*
        out[key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return out


def _human_effort(cfg: DictConfig, round_: int) -> tuple[dict[str, int], Path]:
    """The labeling and the edits that made round ``round_`` (those of labeling round r - 1) and of all rounds."""
    from conceptstore.store import ConceptStore

    path = Path(cfg.paths.concepts)
    store = ConceptStore(path)
    effort: dict[str, int] = {}
    for name, count in (("human_actions", store.human_actions), ("human_edits", store.human_edits)):
        effort[name] = count(round=round_ - 1) if round_ > 0 else 0
        effort[f"{name}_total"] = count()
    return effort, path


@dataclass
class Inputs:
    """What a round is evaluated on: its model, the split's sketches, and the figures measured elsewhere."""

    model: TrainedModel
    manifest: Manifest
    split: str
    sketches: list[Sketch]
    parts: list[str] | None
    atlas: dict[str, float | None]
    human: dict[str, int]
    concepts_file: Path


@dataclass
class Measured:
    """What one pass over the split measured: the pass itself, the concepts' and parts' results, the metrics, the
    reliance table (None unless asked for) and the examples of the concept maps figure."""

    result: SplitPass
    concepts: list[ConceptResult]
    found: list[PartResult]
    counts: OverlapCounts
    metrics: dict[str, Any]
    reliance: Reliance | None
    examples: list[ConceptMaps]
    drawing: list[DrawingConceptResult] = field(default_factory=list)  # the drawing-level concepts, if any


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate round ``cfg.round``; returns the contents of ``metrics.json`` (``info.json`` holds the run id)."""
    round_ = round_index(cfg)
    settings = _settings(cfg)
    _check_inputs(cfg, round_)
    inputs = read_inputs(cfg, round_, settings)
    started = time.perf_counter()
    with tracking.stage_run(cfg, "evaluate", tags={"round": str(round_)}) as active:
        measured = measure(cfg, inputs, settings)
        document = describe(round_, inputs, measured, settings)
        info = save(cfg, round_, inputs, measured, document, settings, active.info.run_id, started)
        log_run(cfg, round_, inputs, measured.metrics, info)
    metrics = measured.metrics
    log.info("round %d evaluated on %d '%s' sketches: class_acc %.4f, %s, mean IoU %s, parts discovered %s "
             "of %s -> %s", round_, len(inputs.sketches), inputs.split, metrics["class_acc"],
             text.plural(len(measured.concepts), "concept"), text.metric(metrics.get("mean_concept_iou")),
             metrics.get("parts_discovered"), metrics.get("parts_total"), evaluation_dir(cfg, round_))
    return document


def read_inputs(cfg: DictConfig, round_: int, settings: dict[str, Any]) -> Inputs:
    """The round's model, the split's sketches, the atlas's metrics and the human effort.

    Raises:
        InputError: The split is empty, or the atlas is unreadable.
    """
    model = load_trained(model_path(cfg, round_))
    if model.round != round_:
        log.warning("%s says it is the round %d model, evaluated as round %d", model_path(cfg, round_), model.round,
                    round_)
    manifest = read_manifest(cfg.paths.dataset)
    split = settings["split"]
    sketches = read_split(cfg.paths.dataset, split)
    if not sketches:
        raise InputError(Path(cfg.paths.dataset), f"the '{split}' split is empty",
                         hint=f"choose another split with evaluate.split= (splits: {', '.join(manifest.splits)})")
    atlas = _atlas_metrics(cfg, round_)
    human, concepts_file = _human_effort(cfg, round_)
    parts = list(manifest.parts) if manifest.parts else None
    return Inputs(model, manifest, split, sketches, parts, atlas, human, concepts_file)


def measure(cfg: DictConfig, inputs: Inputs, settings: dict[str, Any]) -> Measured:
    """One pass over the split: class accuracy, concept IoU and AP against the true parts, the parts discovered,
    the reliance table, and the examples of highest presence for the figure."""
    model, sketches, parts, atlas = inputs.model, inputs.sketches, inputs.parts, inputs.atlas
    evaluator = Evaluator(model)
    pixels = settings["iou_resolution"] == "pixel" and bool(parts) and bool(model.concepts)
    result = run_split(evaluator, sketches, parts, threshold=settings["threshold"],
                       batch_size=settings["batch_size"], progress=settings["progress"],
                       source=str(Path(cfg.paths.dataset) / inputs.split), pixels=pixels)
    counts = result.pixel_counts if pixels else result.counts
    # presence against true parts: over the drawings that name theirs (mixed data's real drawings do not)
    rows = result.known if parts is not None else slice(None)
    presence, contains = result.presence[rows], result.contains[rows]
    concepts = concept_results(model.concepts, parts or [], counts, presence, contains, settings["threshold"])
    found = part_results(model.concepts, parts or [], counts, contains, settings["iou_discovered"])
    if pixels:  # the stride-cell figures beside the headline ones, for comparison with earlier rounds
        cells = part_results(model.concepts, parts or [], result.counts, contains, settings["iou_discovered"])
        cell_concepts = concept_results(model.concepts, parts or [], result.counts, presence, contains,
                                        settings["threshold"])
        atlas = {**atlas, "parts_discovered_cell": sum(p.discovered for p in cells),
                 "mean_concept_iou_cell": float(np.mean([c.iou for c in cell_concepts]))}
    if parts is None:
        for entry in concepts:
            entry.iou = entry.ap = None  # type: ignore[assignment]  # undefined without true parts
    metrics = _metrics(result, concepts, found, parts is not None, atlas, inputs.human)
    if inputs.manifest.real is not None:  # mixed data: how the model does on the real drawings and on the generated
        metrics.update(class_acc_real=result.accuracy_of(~result.known), n_real=int((~result.known).sum()),
                       class_acc_generated=result.accuracy_of(result.known))
    reliance = _reliance(model, sketches, settings) if settings["reliance"] and model.concepts else None
    if reliance is not None:
        for entry, row in zip(concepts, reliance.drop):
            metrics[metric_key("concept_reliance", entry.name, entry.id)] = float(row.max())
    examples = concept_maps(evaluator, sketches, result.presence, settings["examples"],
                            batch_size=settings["batch_size"])
    drawing = []
    if model.drawing_head is not None:
        scores = drawing_scores(model, sketches, float(cfg.extract.ink_threshold), settings["batch_size"])
        drawing = drawing_results(model.drawing_concepts, scores, sketches, settings["threshold"])
        metrics.update({entry.ap_key: entry.ap for entry in drawing})
    return Measured(result, concepts, found, counts, metrics, reliance, examples, drawing)


def describe(round_: int, inputs: Inputs, measured: Measured, settings: dict[str, Any]) -> dict[str, Any]:
    """The contents of ``metrics.json``: the metrics, the settings they were measured with, the per concept and per
    part results and the reliance table."""
    concepts, reliance = measured.concepts, measured.reliance
    return {
        **measured.metrics, "round": round_, "split": inputs.split, "layer": inputs.model.layer,
        "threshold": settings["threshold"], "iou_discovered": settings["iou_discovered"],
        "concepts": [vars(c) for c in concepts], "parts": [vars(p) for p in measured.found] if inputs.parts else None,
        **({"drawing_concepts": [vars(d) for d in measured.drawing]} if measured.drawing else {}),
        "reliance": None if reliance is None else {
            "grow": settings["reliance_grow"], "classes": reliance.classes,
            "accuracy": [round(float(a), 4) for a in reliance.accuracy],
            "drop": {c.id: {name: round(float(v), 4) for name, v in zip(reliance.classes, row)}
                     for c, row in zip(concepts, reliance.drop)}},
    }


def save(cfg: DictConfig, round_: int, inputs: Inputs, measured: Measured, document: dict[str, Any],
         settings: dict[str, Any], run_id: str, started: float) -> dict[str, Any]:
    """Write ``evaluation/round_<r>/`` atomically (the figures, ``metrics.json``, ``info.json``); returns the info."""
    model, split, reliance = inputs.model, inputs.split, measured.reliance
    with atomic_dir(evaluation_dir(cfg, round_)) as folder:
        (folder / FIGURES).mkdir()
        title = (f"Round {round_}: concept maps on the {split} sketches of highest presence "
                 f"({len(inputs.sketches)} sketches, layer {model.layer})")
        _save(_maps_figure(model, inputs.sketches, inputs.parts, measured.concepts, measured.examples,
                           measured.result, settings["threshold"], title, round_), folder / FIGURES / CONCEPT_MAPS,
              dpi=100)
        _save(_matrix_figure(round_, split, measured.concepts, measured.found, measured.counts, inputs.parts,
                             settings), folder / FIGURES / IOU_MATRIX, dpi=110)
        if reliance is not None:
            _save(reliance_figure(reliance.drop, reliance.concepts, reliance.classes,
                                  f"Round {round_}: accuracy each class loses when a concept is erased where it "
                                  f"fires (+{settings['reliance_grow']} positions), {split} split"),
                  folder / FIGURES / RELIANCE, dpi=110)
        (folder / METRICS_FILE).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        info = {"round": round_, "split": split, "model": str(model_path(cfg, round_)),
                "atlas": str(atlas_dir(cfg, round_)), "dataset": str(cfg.paths.dataset),
                "concepts_file": str(inputs.concepts_file), "mlflow_run_id": run_id,
                "seconds": round(time.perf_counter() - started, 3)}
        (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def log_run(cfg: DictConfig, round_: int, inputs: Inputs, metrics: dict[str, Any], info: dict[str, Any]) -> None:
    """Log the metrics, ``metrics.json``, the figures and the concept store to the stage's MLflow run, and what
    compares rounds to the round's parent run."""
    out, concepts_file = evaluation_dir(cfg, round_), inputs.concepts_file
    logged = {**metrics, "seconds": info["seconds"]}
    mlflow.log_metrics({k: float(v) for k, v in logged.items() if v is not None})
    mlflow.log_artifact(str(out / METRICS_FILE))
    mlflow.log_artifacts(str(out / FIGURES), FIGURES)
    if concepts_file.is_file():
        mlflow.log_artifact(str(concepts_file), "concepts")
    # The round's parent run carries what compares rounds: the metrics, the atlas and the concept set.
    tracking.log_to_round_run(
        {k: float(v) for k, v in metrics.items() if v is not None},
        {atlas_dir(cfg, round_) / "atlas.png": "", out / FIGURES / CONCEPT_MAPS: "",
         out / METRICS_FILE: "", concepts_file: "concepts"})


def _metrics(result: SplitPass, concepts: list[ConceptResult], found: list[PartResult], has_parts: bool,
             atlas: dict[str, float | None], human: dict[str, int]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"class_acc": result.class_acc, "n_sketches": len(result.labels),
                               "n_concepts": len(concepts)}
    metrics.update(atlas)
    if has_parts:
        total = len(found)
        discovered = sum(p.discovered for p in found)
        metrics.update(parts_discovered=discovered, parts_total=total,
                       parts_discovered_fraction=discovered / total if total else None)
        if concepts:
            metrics["mean_concept_iou"] = float(np.mean([c.iou for c in concepts]))
            metrics["mean_concept_ap"] = float(np.mean([c.ap for c in concepts]))
            for c in concepts:
                metrics[c.iou_key] = c.iou
                metrics[c.ap_key] = c.ap
        else:
            metrics.update(mean_concept_iou=None, mean_concept_ap=None)
    else:
        metrics.update(parts_discovered=None, parts_total=None, parts_discovered_fraction=None,
                       mean_concept_iou=None, mean_concept_ap=None)
    metrics.update(human)
    return metrics


def _reliance(model: TrainedModel, sketches: list[Sketch], settings: dict[str, Any]) -> Reliance:
    """The reliance table of the round's concepts over the split (:func:`~pipeline.editing.reliance.concept_reliance`)."""
    from pipeline.editing.reliance import concept_reliance
    from pipeline.editing.surgery import Surgeon

    started = time.perf_counter()
    table = concept_reliance(Surgeon(model, threshold=settings["threshold"]), sketches,
                             batch_size=settings["batch_size"], grow=settings["reliance_grow"])
    log.info("reliance of %s over %d sketches in %.1f s", text.plural(len(table.concepts), "concept"),
             int(table.sketches.sum()), time.perf_counter() - started)
    return table


def _save(fig, path: Path, dpi: int) -> None:
    fig.savefig(path, dpi=dpi, facecolor="white")
    viz.close(fig)


def _maps_figure(model: TrainedModel, sketches: list[Sketch], parts: list[str] | None,
                 concepts: list[ConceptResult], examples: list[ConceptMaps], result: SplitPass, threshold: float,
                 title: str, round_: int):
    if not concepts:
        return message_figure(f"Round {round_}: no concepts yet",
                              "The base model has no concept head. Name concepts in the atlas (articulate label), "
                              "then the next round is fine-tuned with them." if round_ == 0 else
                              "This round's model has no concept head.")
    geometry = result.geometry
    raster = model.raster
    spec = RasterSpec(size=geometry.input_size, line_width=raster.line_width, padding=raster.padding,
                      supersample=raster.supersample, invert=False)
    part_index = {name: i + 1 for i, name in enumerate(parts or [])}
    rows = []
    for k, (concept, shown) in enumerate(zip(concepts, examples, strict=True)):
        matched = part_index.get(concept.matched_part or "", 0)
        panels = []
        for row, heat in zip(shown.sketches, shown.maps, strict=True):
            sketch = sketches[row]
            ink = rasterize(sketch, spec)
            part = np.zeros(ink.shape, dtype=bool)
            if matched and sketch.parts is not None:
                part = rasterize_parts(sketch, spec, part_index) == matched
            panels.append(MapPanel(ink, part, heat, f"{sketch.word} \u00b7 {result.presence[row, k]:.2f}"))
        if concept.iou is None:
            detail = "no true parts in the data"
        elif concept.matched_part is None:
            detail = "matches no true part\nIoU 0 \u00b7 AP 0"
        else:
            detail = f"\u2192 {concept.matched_part}\nIoU {concept.iou:.2f} \u00b7 AP {concept.ap:.2f}"
        rows.append(MapRow(concept.name, detail, panels))
    return concept_maps_figure(rows, geometry, title, threshold=threshold)


def _matrix_figure(round_: int, split: str, concepts: list[ConceptResult], found: list[PartResult],
                   counts: Any, parts: list[str] | None, settings: dict[str, Any]):
    if not concepts:
        return message_figure(f"Round {round_}: no concepts yet", "No concept x part IoU to show: the round's model "
                              "has no concept head.")
    if not parts or not found:
        return message_figure(f"Round {round_}: no true parts", "The data has no part annotations: IoU against "
                              "true parts is not defined.")
    iou = iou_matrix(counts)
    shown = [i for i, occurs in enumerate(counts.occurring) if occurs]
    matched, _ = match_concepts(iou)
    column = {p: j for j, p in enumerate(shown)}
    return iou_matrix_figure(
        iou[:, shown], [c.name for c in concepts], [parts[p] for p in shown],
        [column.get(int(m), -1) for m in matched], [p.discovered for p in found],
        f"Round {round_}: IoU of concept maps with true parts ({split} split, sigmoid >= {settings['threshold']:g}, "
        f"per {'ink pixel' if settings['iou_resolution'] == 'pixel' else 'stride cell'}); "
        f"framed: matched part; {sum(p.discovered for p in found)} of {len(found)} parts discovered "
        f"(IoU >= {settings['iou_discovered']:g})", iou_discovered=settings["iou_discovered"],
    )


if __name__ == "__main__":
    raise SystemExit(stage_main(run, targets=False))  # builds no _target_: its model comes from model.pt
