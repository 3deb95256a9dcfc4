"""The review queue: the labels most likely wrong, and concepts that are probably one, each with its one-click fix.

A person is no oracle: an ear unticked as an eye, the same part promoted as "ear" and as "ears". The queue
(``GET /api/review``) lists, likeliest first:

- ``label``: a label its concept's probe disagrees with strongly. The probe is the preview's
  (:func:`labeling.preview.fit_probe`), and the probability it gives a labelled position comes from a fold that
  did not see the position's drawing, so a label cannot vouch for itself; where the round's model has a concept
  head the page's session round shows, the head's probability counts too. A positive given at most
  ``1 - disagree`` is proposed to be unticked, or moved to the concept whose probe claims it (at least
  ``move``); a negative given at least ``disagree`` is proposed to be ticked again.
- ``shared``: a position among the positives of two concepts; it stays in the one whose probe gives it the
  higher probability and is unticked from the other.
- ``pair``: two concepts whose names are near-synonyms (``names``: plurals and word order set aside, one name's
  words within the other's, or alike letter by letter) or whose directions nearly coincide (``direction``: the
  cosine of their positives' mean activations, each less the atlas's mean): proposed to merge into the larger.

Each item's ``fix`` is what ``POST /api/review/fix`` takes: one concept-store action (``untick`` and ``tick``
are adds, ``move`` and ``merge`` the store's own), so one event, undone by Undo like any other.
"""

from __future__ import annotations

import difflib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from conceptstore.concepts import Change, Concept, ConceptError, StoreState
from conceptstore.store import ConceptStore
from labeling.atlas_view import AtlasView
from labeling.preview import FittedProbe, ProbeCache, ProbeSettings
from labeling.selections import Selections
from core.errors import ConfigError
from pipeline.schema import Conf

__all__ = ["FIXES", "HeadScores", "ReviewSettings", "apply_fix", "name_likeness", "review"]

#: The fixes an item may propose (``fix.op``), as ``POST /api/review/fix`` takes them.
FIXES = ("untick", "tick", "move", "merge")

#: The round's concept head as a scorer: raw activation vectors (n, C) -> each head concept's probability, by id.
HeadScores = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ReviewSettings:
    """What the review queue lists (``labeling.review``; the module's docstring says how each is used).

    Args:
        disagree: How strongly a probe or the head must disagree with a label, in (0.5, 1).
        move: The probability from which another concept's probe takes a listed positive, in (0, 1).
        names: How alike two names must be, in (0, 1].
        direction: The cosine from which two concepts' directions nearly coincide, in (0, 1].
        items: The most items listed.
    """

    CONF: ClassVar[Conf] = Conf("labeling.review")

    disagree: float
    move: float
    names: float
    direction: float
    items: int

    def __post_init__(self) -> None:
        if not 0.5 < self.disagree < 1 or not 0 < self.move < 1:
            raise ConfigError(f"labeling.review: expected disagree in (0.5, 1) and move in (0, 1), got "
                              f"{self.disagree} and {self.move}")
        if not 0 < self.names <= 1 or not 0 < self.direction <= 1 or self.items < 1:
            raise ConfigError(f"labeling.review: expected names and direction in (0, 1] and items >= 1, got "
                              f"{self.names}, {self.direction} and {self.items}")


def review(view: AtlasView, state: StoreState, settings: ReviewSettings, probes: ProbeCache,
           probe_settings: ProbeSettings, head: HeadScores | None = None) -> dict[str, Any]:
    """The review queue of a store on one round's atlas, as ``GET /api/review`` answers it.

    Args:
        view: The round's atlas.
        state: The concept store's state.
        settings: What it lists.
        probes: The concepts' fitted probes, kept between calls.
        probe_settings: How a probe is fitted (``labeling.preview``).
        head: The round's concept head, when the view's round model has one (None: the probes alone).

    Returns:
        ``{"round", "version", "head", "items", "found", "seconds"}``: ``items`` likeliest first (at most
        ``settings.items``), each ``{"kind", "score", "why", ..., "fix"}``; ``found`` counts every kind before
        the cut.
    """
    started = time.perf_counter()
    concepts = [c for c in state.concepts if c.layer == view.layer and c.level == "position"]
    fitted = {c.id: probes.fit(view, c, probe_settings) for c in concepts}
    shared = _shared(view, concepts, fitted)
    taken = {(item["fix"]["concept"], tuple(item["position"])) for item in shared}
    labels = [item for c in concepts for item in _labels(view, c, concepts, fitted, settings, head)
              if (c.id, tuple(item["position"])) not in taken]
    pairs = _pairs(view, concepts, settings)
    items = sorted([*labels, *shared, *pairs], key=lambda item: -item["score"])
    return {"round": view.round, "version": state.version, "head": head is not None,
            "items": items[:settings.items],
            "found": {"label": len(labels), "shared": len(shared), "pair": len(pairs)},
            "seconds": round(time.perf_counter() - started, 3)}


def apply_fix(store: ConceptStore, fix: Mapping[str, Any], *, expected_version: int | None = None,
              actor: str | None = None) -> Change:
    """Make an item's fix as one concept-store action: ``untick`` and ``tick`` add the positions to the concept as
    negatives or (looked at and kept) positives; ``move`` and ``merge`` are the store's own.

    Args:
        store: The concept store.
        fix: The item's ``fix``: ``{"op", "concept", "to", "ids", "name", "positions"}`` as its op needs them.
        expected_version, actor: As for the store's writes.

    Returns:
        The store's change.

    Raises:
        ConceptError: An unknown op, or a fix without what its op needs (the message says what to send); the
            store's own errors (an unknown concept, a stale version...).
    """
    op, positions = fix.get("op"), [tuple(p) for p in fix.get("positions") or []]
    if op == "merge":
        if not fix.get("ids"):
            raise ConceptError('a merge fix needs "ids": the concepts to merge, the one to keep first')
        return store.merge(fix["ids"], fix.get("name"), expected_version=expected_version, actor=actor)
    if op not in FIXES:
        raise ConceptError(f"fix op: expected one of {', '.join(FIXES)}, got {op!r}")
    if fix.get("concept") is None or not positions:
        raise ConceptError(f'the {op} fix needs "concept" and "positions" ([key_id, y, x] each), as GET /api/review '
                           "lists it")
    if op == "move":
        if fix.get("to") is None:
            raise ConceptError('a move fix needs "to": the concept the positions join')
        return store.move(fix["concept"], fix["to"], positions, expected_version=expected_version, actor=actor)
    if op == "untick":
        return store.add(fix["concept"], [], positions, expected_version=expected_version, actor=actor)
    return store.add(fix["concept"], positions, [], verified=positions, expected_version=expected_version,
                     actor=actor)


def _labels(view: AtlasView, concept: Concept, concepts: Sequence[Concept], fitted: dict[str, FittedProbe],
            settings: ReviewSettings, head: HeadScores | None) -> list[dict[str, Any]]:
    """The concept's labels its probe (held out) or the round's head disagrees with, each with its fix."""
    probe = fitted[concept.id]
    positions = [*probe.positives, *probe.negatives]
    if not positions:
        return []
    label = np.concatenate([np.ones(len(probe.positives)), np.zeros(len(probe.negatives))])
    by_probe = probe.held_out if len(probe.held_out) else np.full(len(positions), np.nan)
    by_head = np.full(len(positions), np.nan)
    if head is not None:
        scores = head(view.position_vectors(positions, raw=True)[1])
        if concept.id in scores:
            by_head = scores[concept.id]
    # how far each source's probability is from the label (NaN: that source does not judge it)
    doubt = np.fmax(np.abs(label - by_probe), np.abs(label - by_head))
    listed = np.flatnonzero(np.nan_to_num(doubt) >= settings.disagree)
    if not len(listed):
        return []
    others = [c for c in concepts if c.id != concept.id and fitted[c.id].model is not None]
    _, vectors = view.position_vectors([positions[i] for i in listed])
    claims = np.array([fitted[c.id].probability(vectors) for c in others]) if others else np.zeros((0, len(listed)))
    items = []
    for row, i in enumerate(listed):
        position, positive = positions[i], bool(label[i])
        sources = [name for name, p in (("probe", by_probe[i]), ("head", by_head[i]))
                   if not np.isnan(p) and abs(label[i] - p) >= settings.disagree]
        # the message says the probabilities the item holds (rounded once), so the two always agree
        held = {"probe": _rounded(by_probe[i]), "head": _rounded(by_head[i])}
        said = " and ".join(f"its {name} gives it {held[name]:.2f}" for name in sources)
        if positive:
            best = int(np.argmax(claims[:, row])) if len(others) else -1
            if best >= 0 and claims[best, row] >= settings.move:
                target = others[best]
                fix = {"op": "move", "concept": concept.id, "to": target.id, "positions": [list(position)],
                       "label": f"Move to '{target.name}'"}
                why = (f"a positive of '{concept.name}', but {said}, and the probe of '{target.name}' claims it "
                       f"({claims[best, row]:.2f})")
            else:
                fix = {"op": "untick", "concept": concept.id, "positions": [list(position)],
                       "label": f"Untick from '{concept.name}'"}
                why = f"a positive of '{concept.name}', but {said}"
        else:
            fix = {"op": "tick", "concept": concept.id, "positions": [list(position)],
                   "label": f"Tick for '{concept.name}'"}
            why = f"unticked from '{concept.name}', but {said}"
        items.append({**_position_item(view, "label", position, float(doubt[i]), why, fix),
                      "concept": concept.id, "name": concept.name, "positive": positive,
                      **held, "by": sources})
    return items


def _shared(view: AtlasView, concepts: Sequence[Concept], fitted: dict[str, FittedProbe]) -> list[dict[str, Any]]:
    """Positions among the positives of two or more concepts: each stays in the concept whose probe gives it the
    highest probability and is unticked from the least likely one (one fix at a time)."""
    owners: dict[tuple[str, int, int], list[Concept]] = defaultdict(list)
    for concept in concepts:
        for position in concept.positives:
            owners[position].append(concept)
    doubled = [p for p, held in owners.items() if len(held) > 1]
    if not doubled:
        return []
    kept, vectors = view.position_vectors(doubled)
    items = []
    for row, position in enumerate(kept):
        held = owners[position]
        chance = [float(fitted[c.id].probability(vectors[row:row + 1])[0]) for c in held]
        order = np.argsort(chance, kind="stable")
        low, high = held[int(order[0])], held[int(order[-1])]
        names = ", ".join(f"'{c.name}' ({p:.2f})" for c, p in zip(held, chance))
        fix = {"op": "untick", "concept": low.id, "positions": [list(position)], "label": f"Untick from '{low.name}'"}
        why = f"a positive of {names}: it fits '{high.name}' best"
        items.append({**_position_item(view, "shared", position, 0.5 + 0.5 * (max(chance) - min(chance)), why, fix),
                      "concepts": [c.id for c in held], "names": [c.name for c in held]})
    return items


def _pairs(view: AtlasView, concepts: Sequence[Concept], settings: ReviewSettings) -> list[dict[str, Any]]:
    """Concepts that are probably one: near-synonym names or nearly the same direction; merged into the larger."""
    centre = view.vectors().mean(axis=0)
    directions: dict[str, np.ndarray] = {}
    for concept in concepts:
        _, vectors = view.position_vectors(list(concept.positives))
        if len(vectors):
            direction = vectors.mean(axis=0) - centre
            directions[concept.id] = direction / max(float(np.linalg.norm(direction)), 1e-8)
    items = []
    for a, b in combinations(concepts, 2):
        likeness = name_likeness(a.name, b.name)
        cosine = float(directions[a.id] @ directions[b.id]) if a.id in directions and b.id in directions else None
        reasons = []
        if likeness >= settings.names:
            reasons.append(f"their names are alike ({likeness:.2f})")
        if cosine is not None and cosine >= settings.direction:
            reasons.append(f"their directions nearly coincide (cosine {cosine:.2f})")
        if not reasons:
            continue
        keep, other = (a, b) if len(a.positives) >= len(b.positives) else (b, a)
        fix = {"op": "merge", "ids": [keep.id, other.id], "name": keep.name,
               "label": f"Merge '{other.name}' into '{keep.name}'"}
        score = max([likeness] * (likeness >= settings.names) + [cosine or 0.0] * (cosine is not None
                                                                                   and cosine >= settings.direction))
        items.append({"kind": "pair", "score": round(score, 4), "concepts": [keep.id, other.id],
                      "names": [keep.name, other.name], "name_likeness": round(likeness, 4),
                      "cosine": None if cosine is None else round(cosine, 4),
                      "why": f"'{keep.name}' and '{other.name}' are probably one: {' and '.join(reasons)}", "fix": fix})
    return items


def name_likeness(one: str, other: str) -> float:
    """How alike two concept names are, in [0, 1]: 1 for the same words once case, plurals and word order are set
    aside (``ear``, ``Ears``); 0.9 when one name's words are all in the other's (``ear``, ``cat ear``); else
    difflib's ratio of the two (singular) names."""
    a, b = _words(one), _words(other)
    if not a or not b:
        return 0.0
    if set(a) == set(b):
        return 1.0
    if set(a) <= set(b) or set(b) <= set(a):
        return 0.9
    return difflib.SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()


def _words(name: str) -> list[str]:
    return [_singular(w) for w in re.findall(r"[^\W_]+", name.lower())]


def _singular(word: str) -> str:
    """A word's singular by English's regular endings (leaves -> leaf, wheels -> wheel); others as they are."""
    for ending, singular in (("ies", "y"), ("ves", "f"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"),
                             ("xes", "x")):
        if word.endswith(ending) and len(word) > len(ending) + 1:
            return word[:-len(ending)] + singular
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _position_item(view: AtlasView, kind: str, position: Sequence, score: float, why: str,
                   fix: dict[str, Any]) -> dict[str, Any]:
    """An item about one position: where it is, its atlas point and picture (where the atlas sampled it)."""
    points = view.points_of([position])
    return {"kind": kind, "score": round(float(score), 4), "position": [str(position[0]), int(position[1]),
                                                                        int(position[2])],
            "point": points[0] if points else None,
            "exemplar": Selections(view).exemplar(points[0]) if points else None,
            "why": why, "fix": fix}


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
