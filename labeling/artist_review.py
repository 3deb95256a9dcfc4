"""The simulated artist with the page's guides: it follows the suggestions instead of scanning every cluster
(``labeling.artist.follow: suggestions``), and works through the review queue after labelling
(``labeling.artist.review``), one action a fix it takes.

Following the suggestions, it looks at the first one not looked at yet (a region of unnamed points, or a
concept's uncertain border, :mod:`labeling.suggestions`), judges its exemplars as it judges a cluster's (cut into
pieces when mixed, the clearest labelled), and asks again, so each label changes what comes next; a suggestion
that comes back unchanged is not looked at twice.

Working through the review queue (:mod:`labeling.review`), it takes a closer look at each item and takes the fix
where its knowledge agrees: at one flagged position it sees the true part (a person who is shown one drawing and
told "the probe doubts this" looks carefully, so the slip of the first look is not repeated); two concepts it
merges when their positives' commonest true part is the same. Each fix taken is one store event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from conceptstore.store import ConceptStore
from pipeline.schema import Conf
from labeling.atlas_view import AtlasView
from labeling.preview import ProbeCache, ProbeSettings
from labeling.review import ReviewSettings, apply_fix, review
from labeling.suggestions import SuggestionSettings, suggestions

if TYPE_CHECKING:
    from labeling.artist import ArtistReport, SimulatedArtist

__all__ = ["FOLLOWS", "Fix", "Guides", "follow_suggestions", "work_review"]

#: What the artist looks at (``labeling.artist.follow``).
FOLLOWS = ("clusters", "suggestions")


@dataclass(frozen=True)
class Guides:
    """The page's guides as the artist uses them: the probe, the review queue, the suggestions (``labeling``'s
    ``preview``, ``review`` and ``suggestions``)."""

    CONF: ClassVar[Conf] = Conf("labeling")

    probe: ProbeSettings
    review: ReviewSettings
    suggestions: SuggestionSettings


@dataclass(frozen=True)
class Fix:
    """One review item the artist judged.

    Attributes:
        kind: The item's kind (``label``, ``shared``, ``pair``).
        op: Its fix (``untick``, ``tick``, ``move``, ``merge``).
        taken: Whether the artist made the fix.
        concepts: The concepts it named.
        why: The queue's reason.
    """

    kind: str
    op: str
    taken: bool
    concepts: tuple[str, ...]
    why: str


def follow_suggestions(artist: SimulatedArtist, view: AtlasView, store: ConceptStore, report: ArtistReport,
                       judged: np.ndarray, uses: Counter[str], probes: ProbeCache) -> None:
    """Label by the page's suggestions, the first not yet looked at each time, within the artist's action budget.

    Args:
        artist: The artist (its exemplar budget, shares, cuts, names and guides).
        view: The round's atlas.
        store: The concept store to write.
        report: Where its decisions go.
        judged: Every atlas point's part as it judges them.
        uses: How often it named each part this session.
        probes: The concepts' probes, kept between suggestions.
    """
    looked: set[tuple[Any, ...]] = set()
    taken: set[int] = set()
    while report.actions < artist.label_actions:
        listed = suggestions(view, store.state(), artist.guides.suggestions, probes, artist.guides.probe)["items"]
        item = next((i for i in listed if _key(i) not in looked), None)
        if item is None:
            break
        looked.add(_key(item))
        points = [p for p in item["points"] if p not in taken]
        if len(points) < artist.min_exemplars:
            continue
        cluster = int(item.get("cluster", -1))
        whole = artist._look(view, judged, view.select(points=points), cluster, None)
        looks = [whole]
        if whole.part is not None and whole.share < artist.clear_share and artist.split_k > 1:
            looks += [artist._look(view, judged, view.select(points=piece), cluster, i)
                      for i, piece in enumerate(artist._cut(view, whole.selection))]
        best = min(looks, key=lambda look: look.order())
        report.decisions.extend(look.decision("skip") for look in looks if look is not best)
        if best.part is None or best.share < artist.min_share or \
                report.actions + 1 + len(best.unticked) > artist.label_actions:
            report.decisions.append(best.decision("skip"))
            continue
        report.decisions.append(artist._label(view, store, best, uses))
        taken |= best.points


def work_review(artist: SimulatedArtist, view: AtlasView, store: ConceptStore, report: ArtistReport,
                probes: ProbeCache) -> None:
    """Judge up to ``artist.review`` items of the review queue, likeliest first, making each fix it agrees with
    (one store event, one action, within the action budget); the queue is asked again after each fix.

    Args:
        artist: The artist (its review count, action budget, actor and guides).
        view: The round's atlas.
        store: The concept store to write.
        report: Where its fixes go (:attr:`ArtistReport.fixes`).
        probes: The concepts' probes, kept between items.
    """
    truth = view.points["part"].to_numpy().astype(np.int64)
    judged: set[tuple[Any, ...]] = set()
    while len(report.fixes) < artist.review:
        state = store.state()
        queue = review(view, state, artist.guides.review, probes, artist.guides.probe)["items"]
        item = next((i for i in queue if _key(i) not in judged), None)
        if item is None:
            break
        judged.add(_key(item))
        take = _agrees(view, state, item, truth)
        if take and report.actions + 1 > artist.max_actions:
            break
        if take:
            apply_fix(store, item["fix"], actor=artist.actor)
        fix = item["fix"]
        named = tuple(fix.get("ids") or [c for c in (fix.get("concept"), fix.get("to")) if c])
        report.fixes.append(Fix(item["kind"], fix["op"], take, named, item["why"]))


def _agrees(view: AtlasView, state: Any, item: dict[str, Any], truth: np.ndarray) -> bool:
    """Whether a closer look agrees with an item's fix: the true part at its position, the commonest true part of
    two concepts' positives."""
    fix = item["fix"]
    if fix["op"] == "merge":
        first, second = (_commonest(view, state.get(ref).positives, truth) for ref in fix["ids"][:2])
        return first is not None and first == second
    if item.get("point") is None:
        return False  # a position the atlas did not sample: nothing to look at
    part = int(truth[int(item["point"])])
    if part < 0:
        return False  # a drawing that names no parts (mixed data's real ones): the artist cannot judge it
    meant = _commonest(view, state.get(fix["concept"]).positives, truth)
    if fix["op"] == "untick":
        return part != meant
    if fix["op"] == "tick":
        return part > 0 and part == meant
    return part > 0 and part == _commonest(view, state.get(fix["to"]).positives, truth)


def _commonest(view: AtlasView, positions: Any, truth: np.ndarray) -> int | None:
    """The commonest true part (1-based) among some positions' atlas points; None: none with a part."""
    parts = Counter(int(truth[p]) for p in view.points_of(positions) if truth[p] > 0)
    return parts.most_common(1)[0][0] if parts else None


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a suggestion or a review item the same as one seen before."""
    fix = item.get("fix") or {}
    return (item["kind"], item.get("cluster"), item.get("concept"), item.get("size"), fix.get("op"),
            tuple(fix.get("ids") or ()), tuple(map(tuple, fix.get("positions") or ())))
