"""Generated drawings (with parts) and real drawings (without) in one dataset: ``data=mixed``.

The generator draws part-annotated drawings of its classes; a folder of real Quick, Draw! ndjson files (one
``<class>.ndjson`` a class: ``paths.quickdraw``/ndjson, or a user's own 10-25 drawings a class) adds real drawings
of the same classes, with no part names. The class loss trains on both; part supervision and the part metrics
only ever use the drawings that name their parts (the generated ones).

The real drawings are split by count, not by share (the few-shot protocol: train on 15 a class, test on the
rest): each class's drawings in an order fixed by the seed and each drawing's content
(:func:`~pipeline.data.splits.split_position`, so the same drawings land in the same split on every machine and
run, and adding a drawing moves no other), the first ``splits.train`` to train, and so on in the order
``real.splits`` lists them; ``null`` takes the rest. The generated drawings are split by ``data.splits`` as usual.

Real drawings are few, so the base model would hardly see them: ``real.share`` is the share of each training
batch drawn from them, and ``augment`` redraws every training drawing at random (:class:`Augment`: a little
turned, stretched and moved) each time it is drawn, so that 15 drawings a class are learnt rather than memorised.
Both are recorded in the manifest (``real``), and training draws the train split by them
(:func:`~pipeline.data.datamodule.training_split`: the base model, and the fine-tune's class loss).

Real drawings of a class the generator does not draw are refused with one error: the model's classes are the
generator's, and a drawing of another class could be neither trained nor tested on its own class.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data.generator import SketchGenerator
from core.ndjson import ReadResult, find_class_files, read_ndjson, select_class_files
from core.sketch import CANVAS_MAX, Sketch
from pipeline.data.splits import split_position
from core.errors import ConfigError, InputError

__all__ = ["Augment", "MixedResult", "MixedSource", "RealDrawings"]

log = logging.getLogger(__name__)

#: The config key of the real drawings' settings, for messages.
REAL_KEY = "data.source.real"


@dataclass(frozen=True)
class Augment:
    """A random redraw of a drawing's strokes about the canvas centre, new at every draw: few real drawings a class
    (``data=mixed``) are learnt, not memorised, when each is seen a little turned, stretched and moved (and the
    generated ones, redrawn too, cover more of how people draw).

    Attributes:
        rotation: Largest rotation, degrees.
        scale: Largest relative stretch along x and along y (each drawn on its own).
        shift: Largest move along x and along y, as a share of the canvas side.
    """

    rotation: float
    scale: float
    shift: float

    def __post_init__(self) -> None:
        for name, value, top in (("rotation", self.rotation, 180.0), ("scale", self.scale, 0.9),
                                 ("shift", self.shift, 0.5)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise ConfigError(f"data.source.augment.{name} must be a number from 0 to {top:g}, got {value!r}")

    @classmethod
    def from_node(cls, node: Mapping[str, Any] | None) -> Augment | None:
        """``data.source.augment`` checked (None: no redrawing).

        Raises:
            ConfigError: Not a mapping of exactly the fields, or a value out of range.
        """
        if node is None:
            return None
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(node, Mapping) or sorted(node) != sorted(names):
            raise ConfigError(f"data.source.augment must hold {', '.join(names)} (or be null: no redrawing), got "
                              f"{node!r}")
        return cls(**{name: node[name] for name in names})

    def __call__(self, sketch: Sketch, draw: Sequence[float]) -> Sketch:
        """The sketch redrawn by the five uniform numbers in [0, 1) of ``draw`` (angle, two stretches, two moves)."""
        u = 2.0 * np.asarray(draw, dtype=np.float64) - 1.0
        angle = math.radians(self.rotation * u[0])
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        matrix = turn @ np.diag(1.0 + self.scale * u[1:3])
        centre = CANVAS_MAX / 2
        offset = centre + CANVAS_MAX * self.shift * u[3:5, None]
        strokes = tuple((matrix @ (np.asarray(s, dtype=np.float64) - centre) + offset).astype(np.float32)
                        for s in sketch.strokes)
        return dataclasses.replace(sketch, strokes=strokes)


@dataclass
class MixedResult(ReadResult):
    """The drawings of both kinds, some with their split fixed in advance.

    Attributes:
        pinned: key_id -> split, for the real drawings (the data stage splits the others by share).
        real: What the manifest records of the real drawings (:meth:`RealDrawings.summary`).
    """

    pinned: dict[str, str] = field(default_factory=dict)
    real: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RealDrawings:
    """The real drawings' settings (``data.source.real``).

    Attributes:
        folder: The folder of ``<class>.ndjson`` files.
        classes: The classes to read; None: every class of the generator that has a file there.
        splits: Split -> how many drawings of each class go there, in this order; None: the rest (at most one).
        share: The share of each training batch drawn from the real drawings; None: as many as they are.
        max_per_class: Read at most this many drawings a class (None: all).
        on_error: ``raise`` or ``skip`` bad lines, as the ndjson reader does.
    """

    folder: str
    classes: list[str] | None
    splits: dict[str, int | None]
    share: float | None
    max_per_class: int | None
    on_error: str

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> RealDrawings:
        """Check and read ``data.source.real`` (the data stage checks its split names against ``data.splits``).

        Args:
            node: The settings.

        Raises:
            ConfigError: A missing or unknown key, or a value out of range.
        """
        if not isinstance(node, Mapping):
            raise ConfigError(f"{REAL_KEY} must be a mapping ({', '.join(f.name for f in dataclasses.fields(cls))}), "
                              f"got {node!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(node) - set(names))
        missing = [name for name in names if name not in node]
        if unknown or missing:
            problem = f"unknown key '{REAL_KEY}.{unknown[0]}'" if unknown else f"'{REAL_KEY}.{missing[0]}' is missing"
            raise ConfigError(f"config: {problem}; its keys are {', '.join(names)} (conf/data/mixed.yaml)")
        splits = dict(node["splits"] or {})
        if not splits or any(not isinstance(k, str) for k in splits):
            raise ConfigError(f"{REAL_KEY}.splits must map split names to counts, e.g. {{train: 15, test: null}}, "
                              f"got {node['splits']!r}")
        for name, count in splits.items():
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
                raise ConfigError(f"{REAL_KEY}.splits.{name} must be a count >= 0 or null (the rest), got {count!r}")
        if sum(count is None for count in splits.values()) > 1:
            raise ConfigError(f"{REAL_KEY}.splits: at most one split takes the rest (null), got "
                              f"{', '.join(k for k, v in splits.items() if v is None)}")
        share = node["share"]
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0 < share < 1):
            raise ConfigError(f"{REAL_KEY}.share must be a share in (0, 1) of each training batch, or null (as "
                              f"many as the real drawings are), got {share!r}")
        classes = node["classes"]
        if classes is not None and (isinstance(classes, str) or not list(classes)):
            raise ConfigError(f"{REAL_KEY}.classes must be a non-empty list of class names, or null (the "
                              f"generator's classes that have a file), got {classes!r}")
        return cls(folder=str(node["folder"]), classes=None if classes is None else [str(c) for c in classes],
                   splits=splits, share=None if share is None else float(share),
                   max_per_class=node["max_per_class"], on_error=str(node["on_error"]))

    def read(self, generated: list[str], seed: int) -> MixedResult:
        """The real drawings of the generator's classes, each pinned to its split.

        Args:
            generated: The generator's classes.
            seed: The split seed.

        Raises:
            InputError: The folder is missing or holds none of the classes, a file is bad, or a drawing names a
                class the generator does not draw.
            ConfigError: A listed class is not one of the generator's.
        """
        folder = Path(self.folder)
        available = find_class_files(folder, ".ndjson", lambda stem: stem)
        if self.classes is None:
            classes = [c for c in generated if c in available]
            if not classes:
                raise InputError(folder, f"no <class>.ndjson for any class of the generator ({', '.join(generated)})",
                                 hint=f"name another folder ({REAL_KEY}.folder), or give the generator classes that "
                                      "have real drawings (data.source.classes)")
        else:
            foreign = [c for c in self.classes if c not in generated]
            if foreign:
                raise ConfigError(f"{REAL_KEY}.classes: {', '.join(repr(c) for c in foreign)} "
                                  f"{'is' if len(foreign) == 1 else 'are'} not among the generator's classes "
                                  f"({', '.join(generated)}): the model learns the generator's classes; add it to "
                                  "data.source.classes or leave it out")
            classes = list(self.classes)
        result = MixedResult()
        counts: dict[str, dict[str, int]] = {}
        for name in classes:
            drawings = ReadResult()
            for path in select_class_files(available, [name], folder, ".ndjson file"):
                drawings.extend(read_ndjson(path, on_error=self.on_error, limit=self.max_per_class))
            stray = next((s for s in drawings.sketches if s.word != name), None)
            if stray is not None:
                raise InputError(folder / f"{name}.ndjson", f"drawing {stray.key_id!r} is a {stray.word!r}, not a "
                                 f"{name!r}", hint="keep one class a file, named after it")
            result.skipped.extend(drawings.skipped)
            counts[name] = self._pin(drawings.sketches, seed, result)
        result.real = self.summary(counts)
        for name, split_counts in counts.items():
            if not split_counts.get("test"):
                log.warning("real %s: all %d drawings train, none is held out for the test split", name,
                            sum(split_counts.values()))
        return result

    def _pin(self, sketches: list[Sketch], seed: int, result: MixedResult) -> dict[str, int]:
        """Put one class's drawings into ``result``, the first ``splits[...]`` of them (in seeded order) in each
        split; returns how many went where."""
        ordered = sorted(sketches, key=lambda s: split_position(seed, s))
        counts: dict[str, int] = {}
        start = 0
        rest = len(ordered) - sum(n for n in self.splits.values() if n is not None)
        for split, count in self.splits.items():
            taken = ordered[start:start + (max(rest, 0) if count is None else count)]
            start += len(taken)
            counts[split] = len(taken)
            result.sketches.extend(taken)
            result.pinned.update((s.key_id, split) for s in taken)
        return counts

    def summary(self, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
        """What the manifest records: the folder, the share of the training batches, and per class how many
        drawings each split got."""
        return {"folder": self.folder, "share": self.share, "per_class": counts}


class MixedSource:
    """``data.source`` of ``data=mixed``: the generator's drawings and real ones, in one dataset.

    Args:
        real: The real drawings' settings (:class:`RealDrawings`: folder, classes, splits, share, max_per_class,
            on_error).
        augment: How far training redraws every drawing of the train split at random (:class:`Augment`: rotation,
            scale, shift); None: never.
        **kwargs: The generator's settings (:class:`~pipeline.data.generator.SketchGenerator`), as
            ``data=generated`` has them.

    Raises:
        ConfigError: An unknown or bad setting.
    """

    def __init__(self, real: Mapping[str, Any], augment: Mapping[str, Any] | None, **kwargs: Any) -> None:
        known = [f.name for f in dataclasses.fields(SketchGenerator) if f.init]
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise ConfigError(f"config: unknown key 'data.source.{unknown[0]}'; the generator's keys are "
                              f"{', '.join(known)}; 'real' holds the real drawings' and 'augment' the redrawing's (conf/data/mixed.yaml)")
        self.generator = SketchGenerator(**kwargs)
        self.real = RealDrawings.from_node(real)
        self.augment = Augment.from_node(augment)

    def load(self) -> MixedResult:
        """The generated drawings, then the real ones (each pinned to its split)."""
        result = self.real.read(list(self.generator.class_names), int(self.generator.seed))
        result.real["augment"] = None if self.augment is None else dataclasses.asdict(self.augment)
        generated = self.generator.load()
        result.sketches[:0] = generated.sketches
        log.info("mixed data: %d generated drawings, %d real of %s", len(generated.sketches), len(result.pinned),
                 ", ".join(result.real["per_class"]))
        return result
