"""What to look at next: the page ranks the places where a look is likeliest to name something the model uses.

``GET /api/suggestions`` lists two kinds, ranked together by the share of the atlas's attribution (gradient x
activation toward the drawing's own class, counted where above 0) their points carry:

- ``region``: a cluster most of whose points (at least ``unnamed``) are in no concept: the points that are not;
- ``border``: a concept's uncertain border: the points its probe (the preview's, :mod:`labeling.preview`) gives
  a probability within ``border`` of its threshold, on drawings holding none of its labels, where one look
  decides whether the concept reaches that far (Add) or not.

A suggestion is a selection of points (the page selects them as a lasso does); one with fewer than ``least``
points is left out. The simulated artist with ``follow: suggestions`` looks at them in this order instead of
scanning every cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conceptstore.concepts import StoreState
from labeling.atlas_view import AtlasView
from labeling.preview import ProbeCache, ProbeSettings
from core.errors import ConfigError
from pipeline.schema import Conf
from core.text import plural

__all__ = ["SuggestionSettings", "suggestions"]


@dataclass(frozen=True)
class SuggestionSettings:
    """What the page suggests (``labeling.suggestions``).

    Args:
        unnamed: The share of a cluster's points in no concept from which it is an unnamed region, in (0, 1].
        border: How near its threshold a probe's probability is uncertain, in (0, 0.5].
        least: The fewest points of a suggestion.
        items: The most suggestions listed.
    """

    CONF: ClassVar[Conf] = Conf("labeling.suggestions")

    unnamed: float
    border: float
    least: int
    items: int

    def __post_init__(self) -> None:
        if not 0 < self.unnamed <= 1 or not 0 < self.border <= 0.5 or self.least < 1 or self.items < 1:
            raise ConfigError(f"labeling.suggestions: expected unnamed in (0, 1], border in (0, 0.5], least >= 1 and "
                              f"items >= 1, got {self.unnamed}, {self.border}, {self.least} and {self.items}")


def suggestions(view: AtlasView, state: StoreState, settings: SuggestionSettings, probes: ProbeCache,
                probe_settings: ProbeSettings) -> dict[str, Any]:
    """The suggestions on one round's atlas, as ``GET /api/suggestions`` answers them.

    Args:
        settings: What is suggested.
        view, state, probes, probe_settings: As for :func:`labeling.review.review`.

    Returns:
        ``{"round", "version", "items", "found", "seconds"}``: ``items`` the likeliest first, each ``{"kind",
        "score", "points", "size", "why", ...}`` (``cluster`` for a region, ``concept`` and ``name`` for a border);
        ``found`` counts each kind before the cut.
    """
    started = time.perf_counter()
    attribution = np.clip(view.points["attribution"].to_numpy(dtype=np.float64), 0, None)
    total = max(float(attribution.sum()), 1e-12)
    concepts = [c for c in state.concepts if c.layer == view.layer]
    named = np.zeros(len(view), dtype=bool)
    for concept in concepts:
        named[view.points_of(concept.positives)] = True
    clusters = view.points["cluster"].to_numpy()
    regions = []
    for cluster in np.unique(clusters):
        members = np.flatnonzero(clusters == cluster)
        free = members[~named[members]]
        if len(free) < settings.least or len(free) < settings.unnamed * len(members):
            continue
        share = float(attribution[free].sum()) / total
        regions.append({"kind": "region", "cluster": int(cluster), "score": round(share, 4), "points": free.tolist(),
                        "size": int(len(free)),
                        "why": f"cluster {int(cluster)}: {len(free)} of its {plural(len(members), 'point')} are in no "
                               f"concept, with {share:.0%} of the atlas's attribution"})
    borders = []
    for concept in concepts:
        probe = probes.fit(view, concept, probe_settings)
        if probe.model is None:
            continue
        near = probe.candidates[np.abs(probe.chance - probe_settings.threshold) <= settings.border]
        near = near[~named[near]] if len(near) else near
        if len(near) < settings.least:
            continue
        share = float(attribution[near].sum()) / total
        borders.append({"kind": "border", "concept": concept.id, "name": concept.name, "score": round(share, 4),
                        "points": near.tolist(), "size": int(len(near)),
                        "why": f"the border of '{concept.name}': its probe is unsure of {plural(len(near), 'point')} "
                               f"in no concept ({share:.0%} of the attribution): add those that belong"})
    items = sorted([*regions, *borders], key=lambda item: -item["score"])
    return {"round": view.round, "version": state.version, "items": items[:settings.items],
            "found": {"region": len(regions), "border": len(borders)},
            "seconds": round(time.perf_counter() - started, 3)}
