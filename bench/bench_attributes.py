"""Benchmark: which layer of a trained model holds which idea that is not a part.

The generator records each drawing's attributes (``Sketch.attributes``: which way it faces, how it is turned and
stretched, how much it wobbles, the order and direction of its strokes, the parts it left out;
:data:`pipeline.data.generator.ATTRIBUTES`). For each of several layers of a kept project's model this extracts
the activations of a split's drawings (:func:`pipeline.activations.extractor.extract`), clusters them as the atlas
does (the project's ``atlas.clusters``: k-means, k=24, normalised vectors) at two levels, and measures how each
attribute lines up with the clusters (:mod:`pipeline.atlas.attributes`: NMI, and best-cluster precision with the
value's share of all as its base rate):

- ``position``: the ink positions an attribution-weighted atlas would sample (the project's ``atlas.sample.count``),
  each inheriting its drawing's attributes;
- ``drawing``: one vector per drawing, the layer's mean over all its positions (the model's own pooling: for the
  last block this is the penultimate layer, the vector the classifier reads).

Two rows of each table are baselines: ``class`` clusters the drawings by their class (what an attribute shares
with the class alone, since every cluster of a class-trained model leans toward classes) and ``chance`` by a
random cluster of the same sizes as the layer's.

Beside the clusters, a linear probe per attribute value (logistic regression on the pooled vectors, trained on the
measured split, its average precision on ``--probe-split``, test by default): what a drawing-level concept of that
value read from the layer could reach.

A dataset written before the generator recorded attributes has none: the drawings are generated again from the
project's ``data.source`` (the generator is deterministic given its settings), checked to be the same drawings
(key_id, class, parts and every stroke), and given their attributes. The project is only read; the extracted
activations go to ``--workdir`` (a temporary folder by default)::

    python bench/bench_attributes.py --project DIR [--round 0] [--split val]
        [--layers features.block1,features.block2,features.block3,features.block4] [--probe-split test]
        [--json OUT] [--workdir DIR]

An attribute counts as aligned (the target) where some cluster of some layer has NMI >= 0.3 or best-cluster
precision >= 0.8, and more than the same clusters score by chance; ``strict`` also asks that the precise cluster
hold its value at least 0.3 more often than all the drawings do (its base rate), since a cluster 100% "some strokes
reversed" says little where 91% of the drawings have some.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.errors import ArticulateError, InputError  # noqa: E402
from core.sketch import Sketch  # noqa: E402
from pipeline.activations.extractor import extract  # noqa: E402
from pipeline.activations.store import ActivationStore, layer_folder  # noqa: E402
from pipeline.atlas.attributes import AttributeAlignment, attribute_alignment  # noqa: E402
from pipeline.atlas.clustering import Clusterer  # noqa: E402
from pipeline.atlas.sampling import FewerPositionsWarning, PositionSampler  # noqa: E402
from pipeline.data.generator import SketchGenerator  # noqa: E402
from pipeline.data.store import read_manifest, read_split  # noqa: E402
from pipeline.models.build import TrainedModel, load_trained  # noqa: E402
from pipeline.schema import configured  # noqa: E402

#: The target's thresholds.
NMI_ALIGNED, PRECISION_ALIGNED, STRICT_LIFT = 0.3, 0.8, 0.3
#: The fewest drawings of a value, and of the other values, in each split for its probe to be measured.
PROBE_LEAST = 10
#: How many times the attributes are dealt out again among each class's drawings for the chance levels.
PERMUTATIONS = 5
_START = time.perf_counter()


def say(message: str) -> None:
    """Progress, with the time since the start."""
    print(f"[{time.perf_counter() - _START:6.0f} s] {message}", flush=True)


def project_settings(project: Path) -> Any:
    """The project's recorded settings (``params.yaml``, read as it is: it may predate keys conf/ has now)."""
    from omegaconf import OmegaConf

    path = project / "params.yaml"
    if not path.is_file():
        raise InputError(path, "no params.yaml here", hint="give --project the folder of a built project")
    return OmegaConf.load(path)


def with_attributes(splits: list[list[Sketch]], settings: Any, project: Path) -> list[list[Sketch]]:
    """The drawings of each split with their attributes: as they are when they record them, else generated again
    from the project's ``data.source`` (once for all the splits) and checked to be the same drawings.

    Raises:
        InputError: The data is not the generator's, or a drawing differs from the one generated again.
    """
    if all(s.attributes for sketches in splits for s in sketches):
        return splits
    source = settings.data.source
    if source.get("_target_") != "pipeline.data.generator.SketchGenerator":
        raise InputError(project / "params.yaml", f"data.source is {source.get('_target_')}, not the generator: its "
                         "drawings have no attributes", hint="give a project whose data the generator drew")
    generator = configured(SketchGenerator, settings, progress=False)
    say(f"generating {generator.num_sketches} drawings again from {project / 'params.yaml'}: data.source")
    drawn = {s.key_id: s for s in generator}
    out = []
    for sketches in splits:
        for sketch in sketches:
            again = drawn.get(sketch.key_id)
            same = again is not None and again.word == sketch.word and again.parts == sketch.parts and \
                len(again.strokes) == len(sketch.strokes) and \
                all(np.array_equal(np.rint(a), b) for a, b in zip(again.strokes, sketch.strokes, strict=True))
            if not same:
                raise InputError(project / "data", f"drawing {sketch.key_id} is not the one its data.source draws "
                                 "now", hint="the generator changed since the project was built; attributes cannot "
                                 "be attached")
        out.append([drawn[s.key_id] for s in sketches])
        say(f"{len(sketches)} drawings are the same when generated again: attributes attached")
    return out


def pooled(store: ActivationStore, batch: int = 256) -> np.ndarray:
    """(N, C) the mean of each drawing's activations over all its positions (the model's global average pool)."""
    return np.concatenate([store.activations[i:i + batch].astype(np.float32).mean(axis=(1, 2))
                           for i in range(0, store.meta.num_sketches, batch)])


@dataclass
class Level:
    """One clustering of a layer and how the attributes align with it.

    Attributes:
        found: The alignments, one per attribute.
        chance: Attribute -> the highest (NMI, precision) of the same clusters against the attributes dealt out
            again among the drawings of each class (:data:`PERMUTATIONS` times): what the clusters score by
            chance, the positions of one drawing sharing its attributes as they do.
        where: Attribute -> the class whose class-filtered clusters are shown (class level only).
    """

    found: list[AttributeAlignment]
    chance: dict[str, tuple[float, float]]
    where: dict[str, str] = field(default_factory=dict)

    def beats_chance(self, a: AttributeAlignment, strict: bool) -> bool:
        """Whether an alignment meets the target and beats chance (``strict``: a precise cluster must also hold its
        value at least :data:`STRICT_LIFT` more often than all the positions do)."""
        nmi, precision = self.chance.get(a.attribute, (0.0, 0.0))
        high = a.nmi >= NMI_ALIGNED and a.nmi > nmi
        precise = a.precision is not None and a.precision >= PRECISION_ALIGNED and a.precision > precision and (
            not strict or (a.base is not None and a.precision - a.base >= STRICT_LIFT))
        return high or precise

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for JSON."""
        return {"found": [a.to_dict() for a in self.found], "chance": self.chance, "where": self.where}


def dealt_again(sketches: list[Sketch], rng: np.random.Generator) -> list[Sketch]:
    """The drawings with their attributes shuffled among the drawings of each class."""
    out = list(sketches)
    for word in sorted({s.word for s in sketches}):
        rows = [i for i, s in enumerate(sketches) if s.word == word]
        for i, j in zip(rows, rng.permutation(rows), strict=True):
            out[i] = dataclasses.replace(sketches[i], attributes=sketches[j].attributes)
    return out


def level(labels: np.ndarray, keys: np.ndarray, sketches: list[Sketch], seed: int) -> Level:
    """The alignments of one clustering and their chance levels."""
    chance: dict[str, tuple[float, float]] = {}
    rng = np.random.default_rng(seed)
    for _ in range(PERMUTATIONS):
        for a in attribute_alignment(labels, keys, dealt_again(sketches, rng)):
            nmi, precision = chance.get(a.attribute, (0.0, 0.0))
            chance[a.attribute] = (round(max(nmi, a.nmi), 4), round(max(precision, a.precision or 0.0), 4))
    return Level(attribute_alignment(labels, keys, sketches), chance)


def class_level(store: ActivationStore, sketches: list[Sketch], clusterer: Clusterer, count: int, seed: int) -> Level:
    """Class-filtered atlases (``atlas.sample.class_filter``): each class's positions clustered on their own; per
    attribute the class whose clusters hold its most precise cluster."""
    best = Level([], {})
    by_name: dict[str, AttributeAlignment] = {}
    for word in sorted({s.word for s in sketches}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewerPositionsWarning)  # a class has fewer: all of them
            sample = PositionSampler(count=count, weighting="attribution", class_filter=word, seed=seed,
                                     floor=0.0).sample(store)
        mine = [s for s in sketches if s.word == word]
        found = level(clusterer.fit(sample.vectors).labels, sample.positions["key_id"].to_numpy(), mine, seed)
        for a in found.found:
            held = by_name.get(a.attribute)
            if held is None or (a.precision or 0.0) > (held.precision or 0.0):
                by_name[a.attribute] = a
                best.chance[a.attribute] = found.chance.get(a.attribute, (0.0, 0.0))
                best.where[a.attribute] = word
    best.found = [by_name[name] for name in sorted(by_name)]
    return best


def measure_layer(store: ActivationStore, sketches: list[Sketch], clusterer: Clusterer, count: int,
                  seed: int) -> dict[str, Level]:
    """Attribute alignments of one layer's clusters: of its positions, of its drawings and of each class's
    positions."""
    sample = PositionSampler(count=count, weighting="attribution", class_filter=None, seed=seed,
                             floor=0.0).sample(store)
    keys = store.sketches["key_id"].to_numpy()
    return {"position": level(clusterer.fit(sample.vectors).labels, sample.positions["key_id"].to_numpy(),
                              sketches, seed),
            "drawing": level(clusterer.fit(pooled(store)).labels, keys, sketches, seed),
            "class": class_level(store, sketches, clusterer, count, seed)}


def _cell(a: AttributeAlignment | None, found: Level, width: int) -> str:
    if a is None:
        return "-".rjust(width)
    at = f"@{found.where[a.attribute]}" if a.attribute in found.where else ""
    chance = found.chance.get(a.attribute, (0.0, 0.0))[1]
    return f"{a.nmi:.3f} {a.precision or 0:.2f}({chance:.2f}) {a.value}{at}"[:width - 1].rjust(width)


def table(results: dict[str, dict[str, Level]], baseline: Level) -> str:
    """Layer x level rows, one column per attribute: NMI, best-cluster precision (chance precision) and its value
    (class level: @ the class)."""
    names = [a.attribute for a in baseline.found]
    width = 34
    rows = [("(class only)", "drawing", baseline)]
    rows += [(layer, name, found) for layer, levels in results.items() for name, found in levels.items()]
    lines = [f"{'layer':<16} {'level':<9}" + "".join(n.rjust(width) for n in names)]
    for layer, name_of_level, found in rows:
        by_name = {a.attribute: a for a in found.found}
        lines.append(f"{layer:<16} {name_of_level:<9}" + "".join(_cell(by_name.get(n), found, width) for n in names))
    return "\n".join(lines)


def summary(results: dict[str, dict[str, Level]]) -> dict[str, dict[str, Any]]:
    """Per attribute: the layer and level with the highest NMI and the highest precision, and where it is
    aligned beyond chance (the target, and strictly)."""
    best: dict[str, dict[str, Any]] = {}
    for layer, levels in results.items():
        for name_of_level, found in levels.items():
            for a in found.found:
                entry = best.setdefault(a.attribute, {"nmi": [-1.0, ""], "precision": [-1.0, "", "", 0.0, 0.0],
                                                      "aligned": [], "strict": []})
                where = f"{layer} {name_of_level}" + (f"@{found.where[a.attribute]}" if a.attribute in found.where
                                                      else "")
                if a.nmi > entry["nmi"][0]:
                    entry["nmi"] = [round(a.nmi, 4), where]
                if a.precision is not None and a.precision > entry["precision"][0]:
                    entry["precision"] = [round(a.precision, 4), where, a.value, round(a.base or 0.0, 4),
                                          found.chance[a.attribute][1]]
                for key, strict in (("aligned", False), ("strict", True)):
                    if found.beats_chance(a, strict):
                        entry[key].append(where)
    return best


def probe_aps(train: tuple[np.ndarray, list[Sketch]], test: tuple[np.ndarray, list[Sketch]]) -> dict[str, dict]:
    """Per attribute value, the test AP of a linear probe of the pooled vectors trained on the measured split.

    Args:
        train: The measured split's pooled vectors (N, C) and drawings.
        test: The probe split's.

    Returns:
        Attribute -> ``{"values": {value: AP}, "base": {value: share on test}}``, for the values with at least
        :data:`PROBE_LEAST` drawings in both splits.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from pipeline.evaluation.metrics import presence_ap

    scaler = StandardScaler().fit(train[0])
    out: dict[str, dict] = {}
    for name in sorted({n for s in train[1] for n in (s.attributes or {})}):
        rows = [[i for i, s in enumerate(sketches) if name in (s.attributes or {})] for _, sketches in (train, test)]
        values = [[sketches[i].attributes[name] for i in r] for r, (_, sketches) in zip(rows, (train, test),
                                                                                       strict=True)]
        entry: dict[str, dict[str, float]] = {"values": {}, "base": {}}
        for value in sorted(set(values[0])):
            truth = [np.array([v == value for v in vs]) for vs in values]
            if min(int(t.sum()) for t in truth) < PROBE_LEAST or min(int((~t).sum()) for t in truth) < PROBE_LEAST:
                continue
            probe = LogisticRegression(max_iter=2000).fit(scaler.transform(train[0][rows[0]]), truth[0])
            scores = probe.decision_function(scaler.transform(test[0][rows[1]]))
            entry["values"][value] = round(float(presence_ap(scores, truth[1]) or 0.0), 4)
            entry["base"][value] = round(float(truth[1].mean()), 4)
        if entry["values"]:
            out[name] = entry
    return out


def probe_table(probes: dict[str, dict[str, dict]]) -> str:
    """Layer rows, one column per attribute: the value whose probe has the highest test AP (its base rate)."""
    names = sorted({name for found in probes.values() for name in found})
    width = 26
    lines = [f"{'layer':<16}" + "".join(n.rjust(width) for n in names)]
    for layer, found in probes.items():
        cells = []
        for name in names:
            entry = found.get(name)
            if not entry:
                cells.append("-".rjust(width))
                continue
            value = max(entry["values"], key=entry["values"].get)
            cells.append(f"{entry['values'][value]:.3f} ({entry['base'][value]:.2f}) {value}"[:width - 1].rjust(width))
        lines.append(f"{layer:<16}" + "".join(cells))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="a built project (read only)")
    parser.add_argument("--round", type=int, default=0, help="the round whose model is measured (default 0)")
    parser.add_argument("--split", default="val", help="the split whose drawings are measured (default val)")
    parser.add_argument("--layers", default="features.block1,features.block2,features.block3,features.block4",
                        help="comma-separated module paths")
    parser.add_argument("--probe-split", default="test",
                        help="the split the linear probes are measured on (default test; '' for none)")
    parser.add_argument("--workdir", type=Path, help="where the activations go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


def report(results: dict[str, dict[str, Level]], baseline: Level) -> dict[str, Any]:
    """Print the tables and the summary; returns the summary and the attributes aligned (and strictly)."""
    print(table(results, baseline))
    best = summary(results)
    for name, entry in best.items():
        print(f"{name:<12} best NMI {entry['nmi'][0]:.3f} ({entry['nmi'][1]}); best precision "
              f"{entry['precision'][0]:.2f} {entry['precision'][2]} (of all: {entry['precision'][3]:.2f}, chance: "
              f"{entry['precision'][4]:.2f}; {entry['precision'][1]}); aligned beyond chance: "
              f"{', '.join(entry['aligned']) or 'nowhere'}")
    met = [name for name, entry in best.items() if entry["aligned"]]
    strict = [name for name, entry in best.items() if entry["strict"]]
    print(f"aligned with some cluster of some layer beyond chance (NMI >= {NMI_ALIGNED} or precision >= "
          f"{PRECISION_ALIGNED}): {len(met)} ({', '.join(met)}); strictly (precision at least {STRICT_LIFT} above the "
          f"base rate): {len(strict)} ({', '.join(strict)})")
    return {"summary": best, "aligned": met, "strict": strict}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Measure every layer; returns what ``--json`` writes."""
    project = args.project
    settings = project_settings(project)
    dataset = project / str(settings.paths.dataset)
    manifest = read_manifest(dataset)
    model: TrainedModel = load_trained(project / str(settings.paths.models) / f"round_{args.round}" / "model.pt")
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    names = [args.split, *([args.probe_split] if args.probe_split else [])]
    splits = with_attributes([read_split(dataset, name) for name in names], settings, project)
    stores: list[dict[str, ActivationStore]] = []
    for name, sketches in zip(names, splits, strict=True):
        say(f"extracting {len(sketches)} {name} drawings at {', '.join(layers)}")
        extract(model, sketches, workdir / name, layers=layers, parts=manifest.parts, split=name, batch_size=64,
                progress=False)
        stores.append({layer: ActivationStore(layer_folder(workdir / name, layer)) for layer in layers})
    sketches = splits[0]
    clusterer = configured(Clusterer, settings)
    count, seed = int(settings.atlas.sample.count), int(settings.atlas.seed)
    results: dict[str, dict[str, Level]] = {}
    for layer in layers:
        say(f"clustering {layer}: {count} positions and {len(sketches)} drawings, k={clusterer.k}")
        results[layer] = measure_layer(stores[0][layer], sketches, clusterer, count, seed)
    classes = sorted({s.word for s in sketches})
    baseline = level(np.array([classes.index(s.word) for s in sketches]), np.array([s.key_id for s in sketches]),
                     sketches, seed)
    out = {"project": str(project), "round": args.round, "split": args.split, "k": clusterer.k, "positions": count,
           "layers": {layer: {name: found.to_dict() for name, found in levels.items()}
                      for layer, levels in results.items()},
           "class_baseline": baseline.to_dict(), **report(results, baseline)}
    if args.probe_split:
        say(f"linear probes of the pooled vectors: trained on {args.split}, AP on {args.probe_split}")
        out["probes"] = {layer: probe_aps((pooled(stores[0][layer]), sketches), (pooled(stores[1][layer]), splits[1]))
                         for layer in layers}
        print(probe_table(out["probes"]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            out = run(args, args.workdir / "activations")
        else:
            with tempfile.TemporaryDirectory(prefix="bench_attributes_") as folder:
                out = run(args, Path(folder))
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    say("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
