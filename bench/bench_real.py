"""Benchmark: generated to real: a model trained on generated drawings, tested on real Quick, Draw! drawings.

The model is the project's base model (``paths.models/base/model.pt``), or ``--model PATH``, or with ``--train`` one
trained here by the project's own data and train_base stages on the configured (generated) data, in a work folder
(a temporary one by default): the project's own data/, models/ and mlflow.db are not touched. It is run on the real
drawings of its classes in ``--real`` (default ``paths.quickdraw``/ndjson, one ``<class>.ndjson`` a class); classes
of the model without a file there are listed as having no real drawings. Printed:

- per class with real drawings: how many, the accuracy, the mean top probability, what it is most often taken for;
- overall: accuracy, expected calibration error (ECE, 15 equal-width bins of the top probability, torchmetrics),
  the mean top probability when right and when wrong (a model confident when wrong is not calibrated);
- the confusion matrix (rows: the true class, columns: the predicted), also as a figure ``confusion_real.png`` in
  ``--out``;
- with ``--realism``: how well a classifier tells real drawings from generated ones of the same classes, needing
  no class label: a logistic regression, 5-fold cross-validated, on two kinds of features: the drawings' pixels
  (32x32) and the model's penultimate features. Equal numbers of each, so 0.5 is indistinguishable and 1.0 is
  told apart every time; lower is more realistic. The generated drawings are new ones (seed + 1) from the
  configured generator. Then the same without any class: the stroke statistics of every real drawing in ``--real``
  (all its classes) against new drawings of the configured generator's own classes (what is true of how people
  draw, whatever they draw: strokes a drawing, points a stroke, segment length, ink length, the share of the canvas
  the shorter side spans, how far an outline's end is from its start), their medians and the same classifier's
  accuracy on them.

Typical runs::

    python bench/bench_real.py                                     # the project's base model (after make run)
    python bench/bench_real.py --model models/round_2/model.pt --realism
    python bench/bench_real.py --train --realism \\
        'data.source.classes=[flower,apple,sun,umbrella,cup,mushroom,snowman,candle,cactus,clock]' \\
        data.source.num_sketches=6000 trainer.max_epochs=6
    python bench/bench_real.py --train --realism data=generated_human ...     # the same drawn as people draw

The smallest run (seconds): ``--train --per-class 4 --realism experiment=tiny 'data.source.classes=[flower,apple,sun]'
data.source.num_sketches=90 trainer.max_epochs=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ceiling import _stage, console, say, workdir_config  # noqa: E402 - after the path is set

#: Equal-width bins of the top probability for the expected calibration error.
ECE_BINS = 15
#: Folds of the real-vs-generated classifier's cross-validation.
FOLDS = 5
#: Side of the pixel features of the realism classifier.
PIXELS = 32


@dataclass
class Predictions:
    """The model's outputs on a set of drawings.

    Attributes:
        probs: (N, classes) softmax probabilities.
        features: (N, F) the input of the model's last linear layer (its penultimate features).
        images: (N, PIXELS * PIXELS) the drawings' pixels, downsampled.
    """

    probs: Any
    features: Any
    images: Any


def predict(model: Any, sketches: Sequence[Any], batch_size: int = 128) -> Predictions:
    """Run ``model`` over ``sketches``: probabilities, penultimate features and small images.

    Raises:
        ArticulateError: The network has no linear layer to read penultimate features from.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from pipeline.data.raster import rasterize_batch
    from core.errors import ArticulateError
    from pipeline.models.input_spec import to_model_input
    from pipeline.models.outputs import logits_of

    linears = [m for m in model.net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ArticulateError("the model has no linear layer: its penultimate features are the input of one")
    captured: list[Any] = []
    hook = linears[-1].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].flatten(1)))
    probs, features, images = [], [], []
    try:
        with torch.no_grad():
            for start in range(0, len(sketches), batch_size):
                batch = torch.from_numpy(rasterize_batch(sketches[start:start + batch_size], model.raster))[:, None]
                captured.clear()
                probs.append(torch.softmax(logits_of(model.net(to_model_input(batch, model.input_spec))), 1))
                features.append(captured[-1])
                images.append(F.adaptive_avg_pool2d(batch, PIXELS).flatten(1))
    finally:
        hook.remove()
    return Predictions(*(torch.cat(parts).numpy().astype(np.float64) for parts in (probs, features, images)))


def read_real(folder: Path, classes: Sequence[str], per_class: int | None) -> tuple[list[Any], list[str]]:
    """The real drawings of those of ``classes`` that have a ``<class>.ndjson`` in ``folder``.

    Returns:
        (the drawings, the classes without a file).

    Raises:
        InputError: The folder is missing or holds no ndjson file, or a file is not valid ndjson.
    """
    from core.ndjson import find_class_files, read_ndjson

    available = find_class_files(folder, ".ndjson", lambda stem: stem)
    sketches = []
    for name in classes:
        for path in sorted(available.get(name, [])):
            sketches.extend(read_ndjson(path, word=name, limit=per_class).sketches)
    return sketches, [c for c in classes if c not in available]


def expected_calibration_error(probs: Any, labels: Any) -> float:
    """ECE over :data:`ECE_BINS` equal-width bins of the top probability (torchmetrics' L1 calibration error)."""
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    return float(multiclass_calibration_error(torch.as_tensor(probs), torch.as_tensor(labels), probs.shape[1],
                                              n_bins=ECE_BINS, norm="l1"))


def real_metrics(probs: Any, labels: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy per class and overall, calibration, confusion over the classes seen (true or predicted).

    Args:
        probs: (N, classes) probabilities.
        labels: (N,) the true output index of each drawing.
        class_names: Output index -> class name.
    """
    import numpy as np

    predicted, top = probs.argmax(1), probs.max(1)
    right = predicted == labels
    per_class = {}
    for k in np.unique(labels):
        mine = labels == k
        taken = np.bincount(predicted[mine & ~right], minlength=len(class_names))
        per_class[class_names[k]] = {"drawings": int(mine.sum()), "accuracy": float(right[mine].mean()),
                                     "mean_top_prob": float(top[mine].mean()),
                                     "most_often_taken_for": class_names[int(taken.argmax())] if taken.any() else None}
    shown = sorted(set(labels.tolist()) | set(predicted.tolist()))
    index = {k: i for i, k in enumerate(shown)}
    confusion = np.zeros((len(shown), len(shown)), dtype=np.int64)
    np.add.at(confusion, ([index[k] for k in labels], [index[k] for k in predicted]), 1)
    return {"drawings": int(len(labels)), "accuracy": float(right.mean()), "ece": expected_calibration_error(probs, labels),
            "mean_top_prob_right": float(top[right].mean()) if right.any() else None,
            "mean_top_prob_wrong": float(top[~right].mean()) if (~right).any() else None,
            "per_class": per_class, "confusion": confusion.tolist(), "confusion_classes": [class_names[k] for k in shown]}


def generated_like(cfg: Any, classes: Sequence[str], count: int) -> list[Any]:
    """``count`` new generated drawings of ``classes`` (balanced), from the configured generator's settings when the
    data is generated or mixed (its own defaults otherwise), with seed + 1 so that none is a training drawing."""
    from pipeline.config import to_container
    from pipeline.data.generator import SketchGenerator
    from pipeline.config import default

    settings: dict[str, Any] = {}
    if cfg.data.name in ("generated", "mixed"):  # mixed: the generator's settings beside its real drawings'
        settings = {k: v for k, v in to_container(cfg.data.source).items() if k not in ("_target_", "real", "augment")}
    settings.update(classes=list(classes), num_sketches=count, seed=int(cfg.seed) + 1, progress=False)
    return default(SketchGenerator, **settings).load().sketches


#: What :func:`stroke_statistics` measures of a drawing, in its columns' order.
STROKE_STATISTICS = ("strokes", "points a stroke", "segment length", "ink length", "shorter side", "loop gap")


def stroke_statistics(sketches: Sequence[Any]) -> Any:
    """How each drawing is drawn, whatever it shows (:data:`STROKE_STATISTICS`), on the 0..255 canvas.

    "loop gap" is the median, over strokes longer than 60, of the distance from a stroke's end to its start over its
    length (0: every long stroke closes on itself).

    Returns:
        (N, len(STROKE_STATISTICS)) float array.
    """
    import numpy as np

    rows = []
    for sketch in sketches:
        strokes = [np.asarray(s, dtype=np.float64) for s in sketch.strokes]
        points = np.concatenate(strokes, axis=1)
        segments = [np.hypot(*np.diff(s, axis=1)) for s in strokes]
        steps = np.concatenate(segments)  # empty when every stroke is a single point (dots)
        lengths = np.array([seg.sum() for seg in segments])
        gaps = [np.hypot(*(s[:, -1] - s[:, 0])) / length for s, length in zip(strokes, lengths) if length > 60]
        rows.append([len(strokes), np.mean([s.shape[1] for s in strokes]),
                     float(np.median(steps)) if steps.size else 0.0, lengths.sum(),
                     float(np.ptp(points, axis=1).min()), float(np.median(gaps)) if gaps else 0.0])
    return np.asarray(rows, dtype=np.float64)


def realism(real: Predictions, generated: Predictions) -> dict[str, dict[str, float]]:
    """Cross-validated accuracy of telling real from generated drawings, per kind of feature (0.5: alike)."""
    import numpy as np

    is_real = np.r_[np.ones(len(real.probs)), np.zeros(len(generated.probs))]
    out = {}
    for kind in ("images", "features"):
        x = np.concatenate([getattr(real, kind), getattr(generated, kind)])
        out["pixels" if kind == "images" else "penultimate"] = tell_apart(x, is_real)
    return out


def tell_apart(features: Any, is_real: Any) -> dict[str, float]:
    """Cross-validated balanced accuracy of a logistic regression telling real (1) from generated (0) rows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = StratifiedKFold(n_splits=min(FOLDS, int(is_real.sum()), int((1 - is_real).sum())), shuffle=True,
                            random_state=0)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = cross_val_score(classifier, np.asarray(features), is_real, cv=folds, scoring="balanced_accuracy")
    return {"accuracy": float(scores.mean()), "std": float(scores.std())}


def stroke_realism(real: Sequence[Any], generated: Sequence[Any]) -> dict[str, Any]:
    """Real drawings of any class against generated ones: each statistic's median, and how well they tell them apart."""
    import numpy as np

    real_stats, generated_stats = stroke_statistics(real), stroke_statistics(generated)
    is_real = np.r_[np.ones(len(real_stats)), np.zeros(len(generated_stats))]
    return {"real_drawings": len(real), "generated_drawings": len(generated),
            "median": {name: {"real": float(np.median(real_stats[:, i])), "generated": float(np.median(generated_stats[:, i]))}
                       for i, name in enumerate(STROKE_STATISTICS)},
            **tell_apart(np.log1p(np.concatenate([real_stats, generated_stats])), is_real)}


def table(metrics: dict[str, Any], no_real: Sequence[str]) -> str:
    """The per-class table and the overall figures, as text."""
    rows = [f"{'class':14s} {'real':>5s} {'accuracy':>9s} {'top prob':>9s}  most often taken for"]
    for name, row in metrics["per_class"].items():
        rows.append(f"{name:14s} {row['drawings']:5d} {row['accuracy']:9.3f} {row['mean_top_prob']:9.3f}  "
                    f"{row['most_often_taken_for'] or '-'}")
    right, wrong = metrics["mean_top_prob_right"], metrics["mean_top_prob_wrong"]
    rows.append(f"{'all':14s} {metrics['drawings']:5d} {metrics['accuracy']:9.3f}")
    rows.append(f"ECE ({ECE_BINS} bins) {metrics['ece']:.3f}; mean top probability when right "
                f"{'-' if right is None else f'{right:.3f}'}, when wrong {'-' if wrong is None else f'{wrong:.3f}'}")
    if no_real:
        rows.append(f"no real drawings: {', '.join(no_real)}")
    names = metrics["confusion_classes"]
    width = max(6, *(len(n) for n in names)) + 1
    rows += ["", "confusion (rows: true class, columns: predicted)",
             " " * width + "".join(f"{n[:5]:>6s}" for n in names)]
    names_true = set(metrics["per_class"])
    rows += [f"{name:{width}s}" + "".join(f"{v:6d}" for v in counts)
             for name, counts in zip(names, metrics["confusion"]) if name in names_true]
    return "\n".join(rows)


def confusion_figure(metrics: dict[str, Any], path: Path, title: str) -> None:
    """Write the confusion matrix as a PNG figure."""
    import numpy as np

    from pipeline import viz

    fig = viz.confusion_figure(np.asarray(metrics["confusion"]), metrics["confusion_classes"], title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    viz.close(fig)


def measure(args: argparse.Namespace, workdir: Path | None) -> dict[str, Any]:
    """Get the model, run it on the real drawings, print the table (and the realism figure); returns the figures.

    Args:
        args: The parsed command line.
        workdir: With ``--train``, where the dataset, model and MLflow store go.

    Raises:
        ArticulateError: A user's mistake (no model, no real drawings, bad overrides), said in one line.
    """
    import numpy as np
    import torch

    from pipeline.config import compose
    from core.errors import InputError
    from pipeline.models.build import load_trained
    from pipeline.rounds import base_model_path

    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir_config(args.overrides, workdir)
        torch.set_num_threads(int(cfg.threads) or (os.cpu_count() or 1))
        say(f"workdir {workdir}; overrides: {' '.join(args.overrides) or 'none'}")
        # The data and train_base stages, as bench_ceiling runs them (reused when already there); any data, parts or not.
        _stage("data", Path(cfg.paths.dataset) / "manifest.json", cfg, {}, f"making the dataset in {cfg.paths.dataset}")
        model_file = base_model_path(cfg)
        _stage("train_base", model_file, cfg, {},
               f"training the model ({int(cfg.trainer.max_epochs)} epochs) into {model_file.parent}")
    else:
        cfg = compose(args.overrides)
        torch.set_num_threads(int(cfg.threads) or (os.cpu_count() or 1))
        model_file = args.model.resolve() if args.model else (ROOT / base_model_path(cfg)).resolve()
        if not model_file.is_file():
            raise InputError(model_file, "no trained model here",
                             hint="run `make run` first (the base model), or pass --model PATH, or --train")
    model = load_trained(model_file)
    folder = args.real.resolve() if args.real else (ROOT / str(cfg.paths.quickdraw) / "ndjson").resolve()
    sketches, no_real = read_real(folder, model.class_names, args.per_class)
    if not sketches:
        raise InputError(folder, f"no real drawings of any class of the model ({', '.join(model.class_names)})",
                         hint="name a folder of <class>.ndjson files with --real, or train on classes that have "
                              "real drawings (data.source.classes=[...])")
    say(f"model {model_file}: {len(model.class_names)} classes; {len(sketches)} real drawings of "
        f"{len(model.class_names) - len(no_real)} of them from {folder}")
    index = {name: i for i, name in enumerate(model.class_names)}
    labels = np.array([index[s.word] for s in sketches])
    real = predict(model, sketches)
    metrics = real_metrics(real.probs, labels, model.class_names)
    out = args.out.resolve() if args.out else (ROOT / str(cfg.paths.cache) / "bench_real").resolve()
    figure = out / "confusion_real.png"
    confusion_figure(metrics, figure, f"{model_file.parent.name} model on real drawings, "
                                      f"accuracy {metrics['accuracy']:.3f}")
    document: dict[str, Any] = {"model": str(model_file), "real": str(folder), "overrides": args.overrides,
                                "no_real_drawings": no_real, **metrics}
    print()
    print(f"Generated to real: {model_file} on {len(sketches)} real Quick, Draw! drawings")
    print(table(metrics, no_real))
    print(f"confusion figure: {figure}")
    if args.realism:
        from pipeline.data.generator import CLASSES, DEFAULT_CLASSES
        from core.ndjson import find_class_files

        drawn = sorted({s.word for s in sketches} & set(CLASSES))  # the classes the generator draws too
        if not drawn:
            raise InputError(folder, "realism: none of the classes with real drawings is one the generator draws",
                             hint=f"the generator draws {', '.join(CLASSES)}")
        keep = np.array([s.word in drawn for s in sketches])
        real = Predictions(real.probs[keep], real.features[keep], real.images[keep])
        generated = predict(model, generated_like(cfg, drawn, int(keep.sum())))
        document["realism"] = realism(real, generated)
        print()
        print(f"Realism: real vs generated ({int(keep.sum())} each, {', '.join(drawn)}), logistic regression, "
              f"{FOLDS}-fold balanced accuracy (0.5: indistinguishable, 1.0: always told apart)")
        for kind, r in document["realism"].items():
            print(f"  {kind:12s} {r['accuracy']:.3f} +- {r['std']:.3f}")
        every_class, _ = read_real(folder, sorted(find_class_files(folder, ".ndjson", lambda stem: stem)), args.per_class)
        own = (list(cfg.data.source.classes) if cfg.data.name in ("generated", "mixed") and cfg.data.source.classes
               else DEFAULT_CLASSES)
        strokes = document["stroke_realism"] = stroke_realism(every_class, generated_like(cfg, own, len(every_class)))
        print()
        print(f"How people draw, any class: {strokes['real_drawings']} real drawings of every class in {folder} vs "
              f"{strokes['generated_drawings']} generated of {', '.join(own)}")
        print(f"  {'median':16s} {'real':>8s} {'generated':>10s}")
        for name, pair in strokes["median"].items():
            print(f"  {name:16s} {pair['real']:8.2f} {pair['generated']:10.2f}")
        print(f"  told apart by these statistics: {strokes['accuracy']:.3f} +- {strokes['std']:.3f}")
    return document


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained model.pt (default: the project's base model, paths.models/base/model.pt)")
    parser.add_argument("--train", action="store_true",
                        help="train a model on the configured data with the data and train_base stages, in --workdir")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="with --train: where the dataset, model and MLflow store go (default: a temporary folder)")
    parser.add_argument("--real", type=Path, default=None,
                        help="the folder of real <class>.ndjson files (default: paths.quickdraw/ndjson)")
    parser.add_argument("--per-class", type=int, default=None, help="at most this many real drawings a class")
    parser.add_argument("--realism", action="store_true", help="also tell real from generated drawings")
    parser.add_argument("--out", type=Path, default=None,
                        help="where confusion_real.png goes (default: paths.cache/bench_real)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (data, model, trainer, seed), e.g. for --train")
    args = parser.parse_args(argv)
    if args.model and args.train:
        parser.error("give --model or --train, not both")
    if args.per_class is not None and args.per_class < 1:
        parser.error(f"--per-class: expected a number >= 1, got {args.per_class}")

    from core.errors import ArticulateError

    console()
    scratch = tempfile.TemporaryDirectory(prefix="articulate-real-") if args.train and not args.workdir else nullcontext()
    try:
        with scratch as folder:
            document = measure(args, Path(folder) if folder else args.workdir.resolve() if args.train else None)
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
