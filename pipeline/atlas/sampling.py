"""Sampling ink positions, and their activation vectors, from an activation store.

An atlas is built from a sample of the store's *ink positions*: the (sketch, y, x) positions whose stride
cell holds ink. Two weightings are offered:

``uniform``
    Every ink position is equally likely.
``attribution``
    A position is drawn with probability proportional to its *positive* attribution (activation x gradient
    of the sketch's class logit, summed over channels). Positions with zero or negative attribution are
    never drawn: they are evidence against the class, or no evidence at all, and the atlas shows what the
    model uses. This is the Activation Atlas's class-attribution weighting.
``unexplained``
    Attribution weighting times ``1 - p``, where ``p`` is the highest probability any concept of the round's
    concept head gives the position: the atlas of round r+1 shows mostly what no named concept explains yet,
    so parts that never dominated a cluster get room (and clusters) of their own. Without a concept head
    (round 0) it is the attribution weighting. With a ``floor``, ``max(1 - p, floor)``: a concept that fires
    where it should not (a "chassis" over car windows) would otherwise hide that part from every later atlas,
    where a person would have seen it and named it.

With ``class_filter`` only the positions of sketches of that class are eligible. The stored attribution is
for the sketch's own class, so a class-filtered, attribution-weighted sample is exactly "positions of
class c, weighted by their attribution to c", the class-filtered atlas of the Activation Atlas.

Sampling is without replacement (Efraimidis-Spirakis keys, one pass over the eligible positions), seeded.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from pipeline.activations.store import ActivationStore
from core.errors import ConfigError, InputError
from pipeline.schema import Conf

__all__ = ["WEIGHTINGS", "ConceptProbability", "FewerPositionsWarning", "PositionSample", "PositionSampler",
           "explained_by"]

log = logging.getLogger(__name__)

#: The accepted values of ``weighting``.
WEIGHTINGS = ("uniform", "attribution", "unexplained")

#: (n, C) activation vectors -> (n,) the highest concept probability of each (a round's concept head).
ConceptProbability = Callable[[np.ndarray], np.ndarray]

#: Positions whose vectors are read at once when scoring them by the concept head (bounded memory).
_CHUNK = 65536


class FewerPositionsWarning(UserWarning):
    """The store has fewer eligible positions than were asked for: all of them are taken."""


@dataclass
class PositionSample:
    """Sampled positions and their activation vectors.

    Attributes:
        positions: One row per sampled position, sorted by (sketch, y, x): ``sketch`` (row of the store),
            ``key_id``, ``label``, ``word`` (class name), ``y``, ``x``, ``part`` (true part id, 0: none or
            unknown), ``attribution`` and ``explained`` (the highest concept probability; 0 without a concept
            head).
        vectors: (n, C) float32 activation vectors, row i for position i.
        eligible: How many positions could have been drawn.
    """

    positions: pd.DataFrame
    vectors: np.ndarray
    eligible: int

    def __len__(self) -> int:
        return len(self.positions)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f"atlas: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class PositionSampler:
    """Draws ink positions from an :class:`~pipeline.activations.store.ActivationStore`.

    Args:
        count: How many positions to draw. When fewer are eligible, all are taken with a
            :class:`FewerPositionsWarning`.
        weighting: ``"uniform"`` or ``"attribution"`` (probability proportional to positive attribution).
        class_filter: A class name: only positions of sketches of that class (None: all classes).
        seed: Random seed.
        floor: ``unexplained`` weighting's least factor, in [0, 1]: a position every concept explains keeps at
            least this share of its attribution weight (0: none, 1: the attribution weighting).

    Raises:
        ConfigError: A parameter is out of range.

    Example:
        >>> sample = default(PositionSampler, count=20000, weighting="attribution").sample(store)  # doctest: +SKIP
        >>> sample.vectors.shape  # doctest: +SKIP
        (20000, 64)
    """

    CONF = Conf("atlas.sample", seed="atlas.seed")

    def __init__(self, count: int, weighting: str, class_filter: str | None, seed: int, floor: float) -> None:
        self.count = _check_int("sample.count", count, 1)
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"atlas: sample.weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        self.weighting = weighting
        if class_filter is not None and (not isinstance(class_filter, str) or not class_filter):
            raise ConfigError(f"atlas: sample.class_filter must be a class name or null, got {class_filter!r}")
        self.class_filter = class_filter
        self.seed = _check_int("seed", seed, 0)
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
            raise ConfigError(f"atlas: sample.floor must be a share in [0, 1], got {floor!r}")
        self.floor = float(floor)

    def get_params(self) -> dict[str, object]:
        """The parameters, as a plain dict."""
        return {"count": self.count, "weighting": self.weighting, "class_filter": self.class_filter, "seed": self.seed,
                "floor": self.floor}

    def eligible(self, store: ActivationStore, concept_probability: ConceptProbability | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The positions that may be drawn and their weights.

        Args:
            store: The activation store.
            concept_probability: The round's concept head, for ``unexplained`` weighting.

        Returns:
            ``(sketch, y, x, weight)`` arrays; ``weight`` is 1 for uniform sampling.

        Raises:
            ConfigError: ``class_filter`` names no class of the store (the message lists them).
            InputError: The store (or the chosen class) has no ink positions, or none with positive
                attribution when weighting by attribution.
        """
        ink = np.asarray(store.ink)
        where = ""
        if self.class_filter is not None:
            classes = list(store.meta.classes)
            if self.class_filter not in classes:
                raise ConfigError(f"atlas: sample.class_filter {self.class_filter!r} is not a class of the store "
                                  f"{store.folder}; valid classes: {', '.join(classes)}")
            label = classes.index(self.class_filter)
            labels = store.sketches["label"].to_numpy()
            rows = np.flatnonzero(labels == label)
            sketch, y, x = np.nonzero(ink[rows])
            sketch = rows[sketch]
            where = f" for class {self.class_filter!r}"
        else:
            sketch, y, x = np.nonzero(ink)
        if len(sketch) == 0:
            raise InputError(store.folder, f"no ink positions{where} in this activation store",
                             hint="check that the extracted split has drawings, or re-run the extract stage")
        if self.weighting == "uniform":
            return sketch, y, x, np.ones(len(sketch), dtype=np.float64)
        weight = np.asarray(store.attribution[sketch, y, x], dtype=np.float64)
        weight = np.where(np.isfinite(weight) & (weight > 0), weight, 0.0)
        keep = weight > 0
        if not keep.any():
            raise InputError(store.folder, f"no ink position{where} with positive attribution",
                             hint="use atlas.sample.weighting=uniform")
        sketch, y, x, weight = sketch[keep], y[keep], x[keep], weight[keep]
        if self.weighting == "unexplained" and concept_probability is not None:
            explained = explained_by(store, sketch, y, x, concept_probability)
            # fully explained: rare (the floor's share of its weight), never impossible
            weight = weight * np.clip(1.0 - explained, max(self.floor, 1e-6), 1.0)
        return sketch, y, x, weight

    def sample(self, store: ActivationStore, concept_probability: ConceptProbability | None = None) -> PositionSample:
        """Draw the positions and read their activation vectors from the memory map.

        Args:
            store: The activation store.
            concept_probability: The round's concept head (None: no concepts yet); it weights ``unexplained``
                sampling and fills the ``explained`` column.

        Returns:
            The sample, sorted by (sketch, y, x).

        Raises:
            ConfigError: Unknown ``class_filter``.
            InputError: No eligible positions.
        """
        sketch, y, x, weight = self.eligible(store, concept_probability)
        n = len(sketch)
        if n <= self.count:
            if n < self.count:
                warnings.warn(f"asked for {self.count} positions but only {n} are eligible "
                              f"({self.weighting} weighting{', class ' + self.class_filter if self.class_filter else ''}); "
                              "taking all of them", FewerPositionsWarning, stacklevel=2)
            chosen = np.arange(n)
        else:
            rng = np.random.default_rng(self.seed)
            if self.weighting == "uniform":
                chosen = rng.choice(n, size=self.count, replace=False)
            else:
                # Efraimidis-Spirakis: the k largest u^(1/w) are a weighted sample without replacement.
                keys = np.log(rng.random(n)) / weight
                chosen = np.argpartition(keys, n - self.count)[n - self.count:]
        sketch, y, x = sketch[chosen], y[chosen], x[chosen]
        order = np.lexsort((x, y, sketch))
        sketch, y, x = sketch[order], y[order], x[order]
        table = store.sketches
        key_ids = table["key_id"].to_numpy()
        labels = table["label"].to_numpy().astype(np.int32)
        words = table["word"].to_numpy()
        positions = pd.DataFrame({
            "sketch": sketch.astype(np.int32), "key_id": key_ids[sketch], "label": labels[sketch],
            "word": words[sketch], "y": y.astype(np.int16), "x": x.astype(np.int16),
            "part": np.asarray(store.part[sketch, y, x], dtype=np.int16),
            "attribution": np.asarray(store.attribution[sketch, y, x], dtype=np.float32),
        })
        vectors = store.vectors(sketch, y, x)
        if not np.isfinite(vectors).all():
            raise InputError(store.folder / "activations.npy", "holds non-finite activations at sampled positions",
                             hint="re-run the extract stage")
        positions["explained"] = (np.asarray(concept_probability(vectors), dtype=np.float32)
                                  if concept_probability is not None else np.zeros(len(positions), np.float32))
        log.info("sampled %d of %d eligible ink positions (%s weighting%s)", len(positions), n, self.weighting,
                 f", class {self.class_filter}" if self.class_filter else "")
        return PositionSample(positions=positions, vectors=vectors, eligible=n)


def explained_by(store: ActivationStore, sketch: np.ndarray, y: np.ndarray, x: np.ndarray,
                 concept_probability: ConceptProbability) -> np.ndarray:
    """The highest concept probability of each position, reading the store in bounded chunks.

    Returns:
        (n,) float64 in [0, 1].
    """
    out = np.empty(len(sketch), dtype=np.float64)
    for start in range(0, len(sketch), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = concept_probability(store.vectors(sketch[part], y[part], x[part]))
    return np.nan_to_num(out, nan=0.0)
