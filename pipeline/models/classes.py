"""Which model outputs mean which of the dataset's classes.

A model trained here has the dataset's classes as its outputs, one for one. A pretrained model keeps its own:
GoogLeNet's 1000 ImageNet classes, or a user's 20-class Quick, Draw! CNN in its own order. A
:class:`ClassMap` joins the two: each dataset class (a drawing's ``word``) maps to zero or more model outputs,
by name (``apple`` = ``Apple``; ``_``, ``-`` and spaces alike) or by an explicit mapping in config
(``model.class_map: {dog: [Labrador retriever, golden retriever]}``). A class that maps to nothing is
reported, not fatal: its drawings count for no class accuracy, and attribution goes to the model's top class.

Labels stay in the model's output space, so every stage trains and attributes as before:

- a drawing's *label* is the first output its class maps to (-1 when it maps to none);
- a prediction counts as right when its output belongs to the drawing's class: :meth:`ClassMap.canonical`
  sends every output to the first output of its class, so ``canonical[prediction] == label`` is the test.

For a model trained on the dataset the map is the identity and nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, InputError

#: The label of a drawing whose class maps to no model output.
UNMAPPED = -1


def name_key(name: str) -> str:
    """How class names are compared: case, ``_``, ``-`` and runs of spaces do not matter."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


@dataclass(frozen=True)
class ClassMap:
    """The dataset's classes onto a model's outputs.

    Attributes:
        words: The dataset's classes, in its label order.
        outputs: The model's class names, in output order.
        targets: Per dataset class, the indices of the outputs that mean it (empty: the model lacks it).
    """

    words: tuple[str, ...]
    outputs: tuple[str, ...]
    targets: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.targets) != len(self.words):
            raise ValueError(f"ClassMap: {len(self.targets)} target lists for {len(self.words)} classes")
        owner: dict[int, str] = {}
        for word, outs in zip(self.words, self.targets, strict=True):
            for out in outs:
                if not 0 <= out < len(self.outputs):
                    raise ValueError(f"ClassMap: output {out} of {word!r} is not one of the {len(self.outputs)}")
                if out in owner:
                    raise ConfigError(f"model.class_map: the model's class {self.outputs[out]!r} is mapped to both "
                                      f"{owner[out]!r} and {word!r}; map each model class to one dataset class")
                owner[out] = word

    @classmethod
    def identity(cls, names: Sequence[str]) -> ClassMap:
        """The map of a model trained on the dataset: output ``i`` is class ``i``."""
        names = tuple(str(n) for n in names)
        return cls(names, names, tuple((i,) for i in range(len(names))))

    @classmethod
    def build(cls, words: Sequence[str], outputs: Sequence[str],
              mapping: Mapping[str, Any] | None = None) -> ClassMap:
        """Map the dataset's classes onto a model's by name, with ``mapping`` taking precedence.

        Args:
            words: The dataset's classes.
            outputs: The model's class names, in output order.
            mapping: Dataset class -> a model class name or a list of them (``[]``: the model lacks it).

        Returns:
            The map.

        Raises:
            ConfigError: ``mapping`` names a dataset class or a model class that does not exist.
        """
        words, outputs = tuple(str(w) for w in words), tuple(str(o) for o in outputs)
        by_name: dict[str, int] = {}
        for i, name in enumerate(outputs):
            by_name.setdefault(name_key(name), i)
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - set(words))
        if unknown:
            raise ConfigError(f"model.class_map.{unknown[0]}: the dataset has no class {unknown[0]!r} (its classes: "
                              f"{_listed(words)}); map the dataset's own class names")
        targets = []
        for word in words:
            if word not in mapping:
                out = by_name.get(name_key(word))
                targets.append(() if out is None else (out,))
                continue
            wanted = mapping[word]
            wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
            found = []
            for name in wanted:
                out = by_name.get(name_key(str(name)))
                if out is None:
                    raise ConfigError(f"model.class_map.{word}: the model has no class {name!r}"
                                      f"{_close(str(name), outputs)}; give its names as in model.classes")
                found.append(out)
            targets.append(tuple(dict.fromkeys(found)))
        return cls(words, outputs, tuple(targets))

    @property
    def is_identity(self) -> bool:
        """True when output ``i`` is class ``i`` for every class (a model trained on the dataset)."""
        return self.words == self.outputs and all(t == (i,) for i, t in enumerate(self.targets))

    @property
    def missing(self) -> list[str]:
        """The dataset's classes the model has no output for."""
        return [w for w, t in zip(self.words, self.targets, strict=True) if not t]

    def labels(self) -> dict[str, int]:
        """Dataset class -> the label of its drawings: its first output, or :data:`UNMAPPED`."""
        return {w: (t[0] if t else UNMAPPED) for w, t in zip(self.words, self.targets, strict=True)}

    def canonical(self) -> np.ndarray:
        """(outputs,) int64: each output's class's first output; outputs of no class stay themselves, so they
        never equal a label. A prediction ``p`` is right for label ``y`` when ``canonical()[p] == y``."""
        out = np.arange(len(self.outputs), dtype=np.int64)
        for targets in self.targets:
            if targets:
                out[list(targets)] = targets[0]
        return out

    def word_of_output(self) -> np.ndarray:
        """(outputs,) int64: the dataset class (word index) each output means, :data:`UNMAPPED` for none."""
        out = np.full(len(self.outputs), UNMAPPED, dtype=np.int64)
        for w, targets in enumerate(self.targets):
            out[list(targets)] = w
        return out

    def accuracy(self, labels: np.ndarray, predictions: np.ndarray) -> float:
        """The share of drawings whose predicted output means their class, over drawings of mapped classes.

        Args:
            labels: (N,) labels as :meth:`labels` gives them (:data:`UNMAPPED` ones are left out).
            predictions: (N,) the predicted outputs (argmax over all of the model's classes).
        """
        labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
        counted = labels != UNMAPPED
        if not counted.any():
            return 0.0
        return float((self.canonical()[predictions[counted]] == labels[counted]).mean())

    def confusion(self, labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Counts of (true class, predicted class) over the dataset's classes, plus "(other)" for outputs of no
        class (and drawings of classes the model lacks) when the model has such outputs.

        Returns:
            The (C, C) matrix (rows: true) and the C row/column names.
        """
        word = self.word_of_output()
        names = list(self.words)
        other = len(self.outputs) > sum(len(t) for t in self.targets) or bool(self.missing)
        if other:
            names.append("(other)")
        size = len(names)
        truth = np.where(np.asarray(labels) == UNMAPPED, size - 1, word[np.maximum(np.asarray(labels), 0)])
        guess = word[np.asarray(predictions, dtype=np.int64)]
        guess = np.where(guess == UNMAPPED, size - 1, guess)
        matrix = np.zeros((size, size), dtype=np.int64)
        np.add.at(matrix, (truth, guess), 1)
        return matrix, names

    def describe(self) -> str:
        """One line for the log: how the classes map."""
        if self.is_identity:
            return f"{len(self.words)} classes, the model's own"
        parts = [f"{w} -> {', '.join(self.outputs[i] for i in t)}" for w, t in zip(self.words, self.targets,
                                                                                   strict=True) if t]
        text = f"{len(self.words) - len(self.missing)} of {len(self.words)} dataset classes map onto the model's " \
               f"{len(self.outputs)}: {'; '.join(parts[:8])}{' ...' if len(parts) > 8 else ''}"
        if self.missing:
            text += f"; the model has no class for {_listed(self.missing)} (attribution to its top class)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A plain form for ``model.pt``: the dataset's classes and their outputs' indices (names can repeat:
        ImageNet has two classes called "crane")."""
        return {"words": list(self.words),
                "targets": {w: list(t) for w, t in zip(self.words, self.targets, strict=True)}}

    def summary(self) -> dict[str, Any]:
        """A readable form for ``info.json``: dataset class -> the names of its outputs, and what is missing."""
        return {"mapped": {w: [self.outputs[i] for i in t] for w, t in zip(self.words, self.targets, strict=True)
                           if t}, "missing": self.missing, "model_classes": len(self.outputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], outputs: Sequence[str]) -> ClassMap:
        """Read :meth:`to_dict`'s form back for a model with these outputs."""
        words = [str(w) for w in data["words"]]
        targets = tuple(tuple(int(i) for i in data["targets"].get(w, [])) for w in words)
        return cls(tuple(words), tuple(str(o) for o in outputs), targets)


def read_class_names(value: Any, key: str = "model.classes") -> list[str]:
    """The model's class names from config: a list, or a text file with one name a line (``#`` comments).

    Raises:
        ConfigError: Not a list or a path; a duplicate or empty name.
        InputError: The file is missing or unreadable.
    """
    if isinstance(value, str):
        path = Path(value).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise InputError(path, "no class-names file here", hint=f"set {key} to a text file with one class "
                             "name a line, in the model's output order, or to a list") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(path, f"unreadable ({err})", hint=f"{key}: a UTF-8 text file, one name a line") from None
        names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        source = str(path)
    elif isinstance(value, Sequence):
        names, source = [str(v).strip() for v in value], key
    else:
        raise ConfigError(f"{key}: expected a list of class names or the path of a text file, got "
                          f"{type(value).__name__}")
    if not names:
        raise ConfigError(f"{key}: no class names in {source}")
    if any(not n for n in names):
        raise ConfigError(f"{key}: an empty class name in {source}")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{key}: the class {name!r} is listed twice in {source}; one name an output")
        seen.add(name)
    return names


def _listed(names: Sequence[str], shown: int = 8) -> str:
    return ", ".join(names[:shown]) + (f", ... {len(names) - shown} more" if len(names) > shown else "")


def _close(name: str, outputs: Sequence[str]) -> str:
    import difflib

    keys = {name_key(o): o for o in outputs}
    close = difflib.get_close_matches(name_key(name), list(keys), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(keys[c]) for c in close)}?)" if close else ""
