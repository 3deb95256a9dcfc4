"""Stage ``data``: generate or read sketches, split them, and write the dataset folder."""

from __future__ import annotations

import logging
from collections import Counter

import mlflow
from omegaconf import DictConfig

from pipeline import tracking, viz
from pipeline.config import build
from pipeline.stages import stage_main
from pipeline.data.mixed import MixedResult
from core.ndjson import ReadResult
from pipeline.data.splits import assign_splits
from pipeline.data.store import Manifest, attribute_values, write_manifest, write_split
from core.errors import ConfigError, InputError
from core.io import atomic_dir
from pipeline.rounds import FIRST_ROUND

log = logging.getLogger(__name__)
#: Splits training and its test cannot do without.
TRAINED_SPLITS = ("train", "test")


def load_sketches(cfg: DictConfig) -> ReadResult:
    """Build the configured source and read its drawings.

    A source is either a reader function (its ``_target_`` returns a :class:`ReadResult`) or an object with
    a ``load()`` method, such as the generator.
    """
    source = build(cfg.data.source, "data.source")
    result = source.load() if hasattr(source, "load") else source
    if not isinstance(result, ReadResult):
        raise ConfigError(f"data.source._target_ {cfg.data.source._target_!r} did not give sketches; "
                          "it must return a ReadResult or have a load() method")
    return result


def run(cfg: DictConfig) -> Manifest:
    """Write ``paths.dataset``: one file per split, a manifest and a preview image; log them to MLflow."""
    result = load_sketches(cfg)
    for skipped in result.skipped[:10]:
        log.warning("skipped %s", skipped)
    if result.skipped:
        log.warning("skipped %d invalid drawings in all", len(result.skipped))
    source = cfg.data.source.get("folder") or f"the {cfg.data.name} data"
    classes = sorted({s.word for s in result.sketches})
    if len(classes) < 2:
        raise InputError(source, f"{len(classes)} class ({', '.join(classes) or 'none'}): a classifier needs at "
                         "least two", hint="add the drawings of another class (data.source)")
    # The real drawings of mixed data come with their splits (by count: pipeline/data/mixed.py).
    pinned = result.pinned if isinstance(result, MixedResult) else None
    if isinstance(result, MixedResult):
        foreign = sorted({split for counts in result.real["per_class"].values() for split in counts}
                         - set(cfg.data.splits))
        if foreign:
            raise ConfigError(f"data.source.real.splits.{foreign[0]}: data.splits has no '{foreign[0]}' split "
                              f"({', '.join(cfg.data.splits)}); send the real drawings to one of those")
    splits = assign_splits(result.sketches, dict(cfg.data.splits), seed=int(cfg.seed), source=source, pinned=pinned)
    empty = [name for name in TRAINED_SPLITS if not splits.get(name)]
    if empty:
        raise ConfigError(f"data.splits: the {' and '.join(empty)} split would be empty "
                          f"({', '.join(f'{k}={len(v)}' for k, v in splits.items())} drawings); give it a share, or "
                          "give the data more drawings")
    parts = sorted({p for s in result.sketches for p in (s.parts or ())}) or None
    manifest = Manifest(
        name=str(cfg.data.name),
        kind="strokes" if result.sketches[0].strokes else "bitmap",
        classes=classes,
        parts=parts,
        splits={name: len(items) for name, items in splits.items()},
        skipped=len(result.skipped),
        real=result.real if isinstance(result, MixedResult) else None,
        attributes=attribute_values(result.sketches),
    )
    with tracking.stage_run(cfg, "data", tags={"round": str(FIRST_ROUND)}), atomic_dir(cfg.paths.dataset) as folder:
        for name, items in splits.items():
            write_split(folder, name, items)
        write_manifest(folder, manifest)
        preview = _preview(splits["train"], manifest)
        fig = viz.sketch_grid(preview, columns=10, part_names=parts)
        tracking.save_figure(fig, folder / "samples.png", dpi=90)
        viz.close(fig)
        mlflow.log_metrics({f"n_{name}": n for name, n in manifest.splits.items()}
                           | {"n_classes": len(manifest.classes), "n_parts": len(parts or []),
                              "n_skipped": manifest.skipped})
        mlflow.log_dict({"classes": manifest.classes, "parts": parts,
                         "per_class": dict(Counter(s.word for s in result.sketches))}, "dataset.json")
    log.info("wrote %s: %s", cfg.paths.dataset, manifest.splits)
    return manifest


def _preview(sketches: list, manifest: Manifest, per_class: int = 2) -> list:
    """A few training drawings of each class (at most 30), in class order."""
    chosen = []
    for name in manifest.classes[:15]:
        chosen += [s for s in sketches if s.word == name][:per_class]
    return chosen


if __name__ == "__main__":
    raise SystemExit(stage_main(run))
