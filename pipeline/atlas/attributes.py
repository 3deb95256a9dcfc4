"""How well a layer's clusters align with the drawings' attributes: ideas that are not parts.

The generator records what it chose for a whole drawing (``Sketch.attributes``: which way it faces, how it is
turned and stretched, how much its strokes wobble, the order they were drawn in, the parts it left out). A position
inherits its drawing's attributes, so the clusters of an atlas (or of any clustering of positions or drawings) can
be compared with each attribute as :mod:`pipeline.atlas.stats` compares them with the true parts:

``attribute_nmi_<name>``
    :func:`~pipeline.atlas.stats.atlas_nmi` of cluster and attribute value, over the positions whose drawing
    records the attribute (``facing`` is not recorded for classes that face the viewer).
``attribute_precision_<name>``
    Best-cluster precision: the highest share of one value of the attribute among the positions of one cluster,
    over the clusters whose positions come from at least :data:`MIN_CLUSTER` drawings (the positions of one drawing
    share its attributes: a cluster of thirty positions of two drawings is "precise" by chance). Read it against
    that value's share of all the positions (``base`` in :class:`AttributeAlignment`): a cluster of 90% "some
    strokes reversed" says nothing where 90% of the drawings have some.

Nothing is measured where no drawing records attributes (real drawings, data read from files without them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.sketch import Sketch
from pipeline.atlas.stats import atlas_nmi

__all__ = ["MIN_CLUSTER", "AttributeAlignment", "align", "attribute_alignment", "attribute_codes",
           "attribute_metrics", "describe"]

#: The fewest drawings (with a known value) whose positions a cluster must hold for its precision to count.
MIN_CLUSTER = 20


@dataclass(frozen=True)
class AttributeAlignment:
    """How one attribute lines up with a clustering.

    Attributes:
        attribute: The attribute's name ("facing").
        nmi: Normalised mutual information of cluster and value, over the positions with a known value.
        precision: The best cluster's share of its most common value (None: no cluster is large enough).
        cluster: That cluster (None with ``precision``).
        value: That value (None with ``precision``).
        base: That value's share of all the positions with a known value (None with ``precision``).
        positions: The positions with a known value.
    """

    attribute: str
    nmi: float
    precision: float | None
    cluster: int | None
    value: str | None
    base: float | None
    positions: int

    def to_dict(self) -> dict:
        """Plain-Python form for JSON."""
        return asdict(self)


def attribute_codes(key_ids: Sequence[str], sketches: Iterable[Sketch]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Each attribute's value at each position, as codes (0: the drawing does not record it, i: ``values[i - 1]``).

    Args:
        key_ids: (n,) the drawing of each position (or of each drawing, for drawing-level clusterings).
        sketches: The drawings, with their attributes.

    Returns:
        Attribute name -> ``(codes, values)``: (n,) int codes and the sorted value names; empty when no drawing
        records attributes.
    """
    recorded = {s.key_id: s.attributes for s in sketches if s.attributes}
    names = sorted({name for attributes in recorded.values() for name in attributes})
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    for name in names:
        per_drawing = {key: attributes[name] for key, attributes in recorded.items() if name in attributes}
        values = sorted(set(per_drawing.values()))
        code = {value: i + 1 for i, value in enumerate(values)}
        out[name] = (np.array([code.get(per_drawing.get(key, ""), 0) for key in key_ids], dtype=np.int64), values)
    return out


def align(labels: np.ndarray, codes: np.ndarray, values: Sequence[str], attribute: str,
          min_cluster: int = MIN_CLUSTER, drawings: Sequence[str] | None = None) -> AttributeAlignment | None:
    """How one attribute lines up with a clustering.

    Args:
        labels: (n,) cluster of each position.
        codes: (n,) the attribute's code at each position (0: unknown; i: ``values[i - 1]``).
        values: The value names.
        attribute: The attribute's name.
        min_cluster: The fewest drawings with a known value a cluster must hold for its precision to count.
        drawings: (n,) the drawing of each position (None: each position is a drawing of its own).

    Returns:
        The alignment, or None where fewer than two values occur among the known positions (nothing to align).
    """
    labels, codes = np.asarray(labels), np.asarray(codes)
    known = codes > 0
    if len(np.unique(codes[known])) < 2:
        return None
    nmi = atlas_nmi(labels, codes)
    assert nmi is not None, "some positions have a known value"
    table = pd.crosstab(labels[known], codes[known])
    if drawings is None:
        size = table.sum(axis=1)
    else:
        size = pd.Series(np.asarray(drawings)[known]).groupby(labels[known]).nunique()
    table = table[size.reindex(table.index) >= min_cluster]
    if table.empty:
        return AttributeAlignment(attribute, nmi, None, None, None, None, int(known.sum()))
    shares = table.div(table.sum(axis=1), axis=0)
    cluster, code = np.unravel_index(int(np.argmax(shares.to_numpy())), shares.shape)
    best = int(shares.columns[code])
    return AttributeAlignment(attribute, nmi, precision=float(shares.iloc[cluster, code]),
                              cluster=int(shares.index[cluster]), value=values[best - 1],
                              base=float(np.mean(codes[known] == best)), positions=int(known.sum()))


def attribute_alignment(labels: np.ndarray, key_ids: Sequence[str], sketches: Iterable[Sketch],
                        min_cluster: int = MIN_CLUSTER) -> list[AttributeAlignment]:
    """How every attribute the drawings record lines up with a clustering of their positions (or of the drawings).

    Args:
        labels: (n,) cluster of each position.
        key_ids: (n,) the drawing of each position.
        sketches: The drawings, with their attributes.
        min_cluster: The fewest drawings with a known value a cluster must hold for its precision to count.

    Returns:
        One entry per attribute with at least two values among the positions, by name; empty without attributes.
    """
    codes = attribute_codes(key_ids, sketches)
    aligned = (align(labels, c, values, name, min_cluster, key_ids) for name, (c, values) in codes.items())
    return [a for a in aligned if a is not None]


def attribute_metrics(alignments: Iterable[AttributeAlignment]) -> dict[str, float]:
    """The metrics ``attribute_nmi_<name>`` and ``attribute_precision_<name>`` (where a cluster is large enough).

    Args:
        alignments: The attributes' alignments.

    Returns:
        Metric name -> value.
    """
    metrics: dict[str, float] = {}
    for a in alignments:
        metrics[f"attribute_nmi_{a.attribute}"] = round(a.nmi, 5)
        if a.precision is not None:
            metrics[f"attribute_precision_{a.attribute}"] = round(a.precision, 5)
    return metrics


def describe(alignments: Iterable[AttributeAlignment]) -> Mapping[str, str]:
    """One line per attribute for a log: NMI, and the best cluster's value and share against its base rate."""
    return {a.attribute: f"NMI {a.nmi:.3f}" + ("" if a.precision is None else
                                               f", cluster {a.cluster} {a.precision:.0%} {a.value} "
                                               f"(of all: {a.base:.0%})") for a in alignments}
