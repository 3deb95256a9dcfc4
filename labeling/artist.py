"""The simulated artist: plays a labeling session on a round's atlas, standing in for a person.

It sees what a person sees in the app: each cluster and a limited number of its exemplar patches (the
``budget``, the points nearest to the cluster's centre). Its "knowledge" is the generator's true part labels:
when one part holds at least ``min_share`` of the exemplars it looked at, it promotes the cluster under that
part's name (or adds it to the concept of that name when one exists), unticking the exemplars of other parts.

When a cluster's exemplars are mixed (its majority part below ``clear_share``), it cuts the cluster into ``split_k``
pieces with one of the page's tools (``split``) and looks at each piece's exemplars: ``subclusters``, the selection
panel's Sub-clusters button (k-means of the points' activations: what the layer tells apart), or ``map``, the
map's lasso (k-means of their 2-D layout, so each piece is a region one can lasso). It names only from exemplars
it looked at.

Looking is free; each promote or add counts as one action and each untick as one more, as the concept store
counts a person's, up to ``max_actions`` a session (a person's patience in one round). So, as a person scans
the whole atlas before naming anything, it looks at everything first and then labels the clearest selections
(highest majority share) first, parts not yet named before more of the named ones (with ``novel: class``, also
a named part in a class its concept has no positions from). On the default data,
largest-first spent the 150 actions on unticking four mixed clusters and left pure ones (roof, leg, hair:
85-100% one part) unnamed: 8 concepts; clearest-first named 13 with the same budget.

A person is no oracle. With ``noise`` above 0 a share of its judgments of exemplars is wrong: the position's part
taken for another part of its drawing's class (an eye for an ear), decided per position and ``seed`` by a hash,
so the same session makes the same mistakes. With ``synonyms`` on, it names a part by the words of
:data:`SYNONYMS` in turn (``ear``, ``ears``, ``cat ear``), starting at one the seed picks, so the same part is
promoted under several names unless something catches it. Both are off by default: the oracle.

With ``attributes`` on, it also names ideas that are not parts. Generated drawings record their attributes (which
way they face, their proportions, how wobbly, ...: :data:`pipeline.data.generator.ATTRIBUTES`); when the drawings
of a selection's exemplars are dominated by one value of an attribute (at least ``attribute_share`` of those that
record it, and ``attribute_lift`` above that value's share of all the atlas's drawings), it promotes a drawing-level
concept named after it ("facing left") from those drawings: the exemplars' drawings of that value are its verified
positives, the selection's other drawings its unverified ones, and the exemplars' drawings of another value are
unticked (its negatives). Each value is promoted from its most dominated selection and added from every other
selection it dominates (one action each, plus its unticks; a selection whose drawings it already holds is passed
over): a value is seldom dominant across classes in one cluster, yet "facing left" dominates a piece of the dogs'
heads, another of the fish, another of the bicycles, and a concept from one class alone would be that class. It
does so after the parts, which leave it those actions of ``max_actions``; a value named in an earlier round gets
the drawings added. (With ``follow: suggestions`` it names parts only.)

Where only some drawings name their parts (``data=mixed``: generated drawings do, real ones do not), it judges the
exemplars of the drawings with parts only: the others are neither counted, unticked nor verified, and the shares and
``min_exemplars`` are over the exemplars it could judge.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from labeling.atlas_view import AtlasView
from conceptstore.concepts import DRAWING
from conceptstore.store import ConceptStore, UnknownConceptError
from labeling.artist_review import FOLLOWS, Fix, Guides, follow_suggestions, work_review
from labeling.preview import ProbeCache
from labeling.selections import Selections
from pipeline.data.store import UNKNOWN_PART
from core.errors import ConfigError, InputError
from core.text import plural
from pipeline.schema import Conf

__all__ = ["ArtistReport", "AttributeLook", "Decision", "SYNONYMS", "SimulatedArtist", "attribute_name",
           "attribute_rates"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """What the artist did with one cluster.

    Attributes:
        cluster: The cluster.
        size: Its number of points (of the piece, for a piece of a cluster).
        seen: Exemplars looked at.
        part: The majority true part among them (None: no known part).
        share: That part's share of the exemplars.
        action: ``promote``, ``add`` or ``skip``.
        concept: The concept's id (None when skipped).
        unticked: Exemplars unticked (of another part, or with no known part).
        piece: Which piece of a mixed cluster (None: the whole cluster).
        word: The majority class among the exemplars (None: none looked at).
        name: The name it gave the concept (the part's, or a synonym of it; None when skipped).
        new: Whether the concepts held nothing of its part (of its part in its class, with ``novel: class``) when
            it was judged: a session judges everything new first, the clearest first, then more of what is held.
    """

    cluster: int
    size: int
    seen: int
    part: str | None
    share: float
    action: str
    concept: str | None = None
    unticked: int = 0
    piece: int | None = None
    word: str | None = None
    name: str | None = None
    new: bool = True


@dataclass
class ArtistReport:
    """A session's decisions and the actions it took."""

    round: int
    decisions: list[Decision] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)  # the review queue's items it judged

    @property
    def actions(self) -> int:
        """Promotes and adds, plus one per untick, plus one per review fix taken: what a person would have clicked."""
        return sum(1 + d.unticked for d in self.decisions if d.action != "skip") + sum(f.taken for f in self.fixes)

    @property
    def concepts(self) -> list[str]:
        """The names promoted or added to, in order of first use."""
        return list(dict.fromkeys(d.name or d.part for d in self.decisions if d.action != "skip" and d.part))

    def table(self) -> str:
        """A plain-text table of the decisions, then the totals."""
        lines = [f"{'cluster':>9} {'size':>5} {'seen':>4}  {'majority part':<16} {'class':<10} {'share':>5}  "
                 f"{'action':<8} {'concept':<8} {'unticked':>8}  new"]
        for d in self.decisions:
            where = f"{d.cluster}" if d.piece is None else f"{d.cluster}.{d.piece + 1}"
            lines.append(f"{where:>9} {d.size:>5} {d.seen:>4}  {d.part or '-':<16} {d.word or '-':<10} "
                         f"{d.share:>5.2f}  {d.action:<8} {d.concept or '-':<8} {d.unticked:>8}  "
                         f"{'yes' if d.new else ''}")
        promoted = sum(d.action == "promote" for d in self.decisions)
        added = sum(d.action == "add" for d in self.decisions)
        lines.append(f"round {self.round}: {promoted} promoted, {added} added, "
                     f"{sum(d.action == 'skip' for d in self.decisions)} skipped; {plural(self.actions, 'action')}; "
                     f"concepts: {', '.join(self.concepts) or 'none'}")
        if self.fixes:
            made = Counter(f.op for f in self.fixes if f.taken)
            lines.append(f"review: {plural(len(self.fixes), 'item')} judged, {sum(made.values())} fixed ("
                         f"{', '.join(f'{n} {op}' for op, n in sorted(made.items())) or 'none'})")
        return "\n".join(lines)


SPLITS = ("map", "subclusters")
NOVELTIES = ("part", "class")

#: Other words a person may use for a part (``labeling.artist.synonyms``): the generator's parts that have them.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "ear": ("ears", "cat ear"), "eye": ("eyes", "pupil"), "wheel": ("wheels", "tyre"), "leg": ("legs", "paw"),
    "roof": ("rooftop",), "wall": ("walls", "facade"), "window": ("windows", "pane"), "head": ("face outline",),
    "tail": ("tails",), "wing": ("wings",), "petal": ("petals",), "leaf": ("leaves",), "whisker": ("whiskers",),
    "body": ("torso",), "mouth": ("smile", "lips"), "nose": ("snout",), "hair": ("fringe",), "ray": ("rays",
    "sunbeam"), "crown": ("foliage",), "trunk": ("stem of the tree",), "frame": ("bike frame",),
    "chassis": ("car body",), "handlebar": ("handlebars",), "door": ("doorway",), "chimney": ("smokestack",),
}


class SimulatedArtist:
    """A labeling session driven by true part labels.

    Args:
        budget: Exemplar patches looked at per cluster (docs/design.md: 40, as a person looks at).
        min_share: Promote when the majority part holds at least this share of the exemplars seen (0..1].
        min_exemplars: Skip clusters with fewer exemplars than this.
        actor: The name the concept store records for its changes.
        split_k: Pieces a mixed cluster is cut into (lassoed) and looked at one by one; 0 or 1: never.
        max_actions: The most actions of one session (promotes, adds and unticks).
        clear_share: A cluster whose majority part holds less than this share of its exemplars is also looked at
            in pieces (``split_k``), and the clearer of the two is labelled.
        split: How a mixed cluster is cut: ``subclusters`` (the page's Sub-clusters button: k-means of the
            activations) or ``map`` (lassoed regions of the map: k-means of the 2-D layout).
        split_depth: How many times a piece that is still mixed is cut again (1: the cluster's pieces only).
        name_unticked: After labelling a selection, the exemplars it unticked that share a part, at least this
            many, are named too (the page's "Select the unticked", then Add or Promote: one action): a person who
            just unticked eight cat eyes in a head cluster knows what they are. 0: never.
        novel: What counts as new, to be labelled before more of what the concepts already hold: ``part``, a part
            no concept is named after; ``class``, also a named part in a class none of its concept's positions
            come from (the concept list shows each concept's classes), so "eye" named in faces does not keep cat
            and bird eyes waiting behind every unnamed part.
        held_at: With ``novel: class``, a concept holds a class once at least this many of the positions looked
            at for it (the exemplars a person kept or unticked while labelling it) come from that class's drawings;
            below that the class is still new for it (0: any position at all, looked at or not, as
            ``min_exemplars``). What is held is updated after every label, so a session moves on to what is new.
        noise: The share of its judgments of exemplars that are wrong (0: none, the oracle; below 1): such a
            position's part is taken for another part of its drawing's class, as a hash of (``seed``, the
            sketch's key_id, y, x) decides.
        synonyms: Name a part by its words in :data:`SYNONYMS` in turn, so one part gets several concepts.
        seed: Decides which judgments are wrong, and which synonym comes first.
        follow: What it looks at: ``clusters`` (every cluster and its pieces, then the clearest first) or
            ``suggestions`` (the page's ranked suggestions, :mod:`labeling.artist_review`).
        review: After labelling, the most review-queue items it judges, making the fixes it agrees with (0: never).
            It keeps that many of its ``max_actions`` for them: labelling stops ``review`` actions short.
        guides: The probe, review and suggestion settings.
        attributes: Also name drawing attributes that dominate a selection's exemplars' drawings, as
            drawing-level concepts ("facing left"); off: parts only.
        attribute_share: An attribute value dominates from this share of the exemplars' drawings that record the
            attribute (0..1].
        attribute_lift: ... and from this much above its share of all the atlas's drawings [0, 1).

    Raises:
        ConfigError: A parameter out of range.
    """

    CONF = Conf("labeling.artist")

    def __init__(self, budget: int, min_share: float, min_exemplars: int, actor: str, split_k: int, max_actions: int,
                 clear_share: float, split: str, split_depth: int, name_unticked: int, novel: str, held_at: int,
                 noise: float, synonyms: bool, seed: int, follow: str, review: int, guides: Guides, attributes: bool,
                 attribute_share: float, attribute_lift: float) -> None:
        if budget < 1:
            raise ConfigError(f"labeling.artist.budget: expected >= 1 exemplars per cluster, got {budget}")
        if not 0 < min_share <= 1:
            raise ConfigError(f"labeling.artist.min_share: expected a share in (0, 1], got {min_share}")
        if min_exemplars < 1:
            raise ConfigError(f"labeling.artist.min_exemplars: expected >= 1, got {min_exemplars}")
        if split_k < 0:
            raise ConfigError(f"labeling.artist.split_k: expected >= 0 pieces, got {split_k}")
        if max_actions < 1:
            raise ConfigError(f"labeling.artist.max_actions: expected >= 1, got {max_actions}")
        if not 0 < clear_share <= 1:
            raise ConfigError(f"labeling.artist.clear_share: expected a share in (0, 1], got {clear_share}")
        if name_unticked < 0:
            raise ConfigError(f"labeling.artist.name_unticked: expected >= 0 exemplars (0: never), got {name_unticked}")
        if split_depth < 1:
            raise ConfigError(f"labeling.artist.split_depth: expected >= 1, got {split_depth}")
        if held_at < 0:
            raise ConfigError(f"labeling.artist.held_at: expected >= 0 positions, got {held_at}")
        if not 0 <= noise < 1:
            raise ConfigError(f"labeling.artist.noise: expected a share in [0, 1) of wrong judgments, got {noise}")
        if novel not in NOVELTIES:
            raise ConfigError(f"labeling.artist.novel: expected one of {', '.join(NOVELTIES)}, got {novel!r}")
        if follow not in FOLLOWS:
            raise ConfigError(f"labeling.artist.follow: expected one of {', '.join(FOLLOWS)}, got {follow!r}")
        if not 0 <= review < max_actions:
            raise ConfigError(f"labeling.artist.review: expected 0 (never) up to fewer items than max_actions "
                              f"({max_actions}), whose actions it keeps for them; got {review}")
        if split not in SPLITS:
            raise ConfigError(f"labeling.artist.split: expected one of {', '.join(SPLITS)}, got {split!r}")
        if not isinstance(attributes, bool):
            raise ConfigError(f"labeling.artist.attributes: expected true or false, got {attributes!r}")
        if not 0 < attribute_share <= 1:
            raise ConfigError(f"labeling.artist.attribute_share: expected a share in (0, 1], got {attribute_share}")
        if not 0 <= attribute_lift < 1:
            raise ConfigError(f"labeling.artist.attribute_lift: expected a share in [0, 1), got {attribute_lift}")
        self.budget, self.min_share, self.min_exemplars, self.actor = budget, min_share, min_exemplars, actor
        self.split_k, self.max_actions, self.clear_share = int(split_k), int(max_actions), float(clear_share)
        self.split, self.split_depth, self.name_unticked = split, int(split_depth), int(name_unticked)
        self.novel, self.held_at = novel, int(held_at)
        self.noise, self.synonyms, self.seed = float(noise), bool(synonyms), int(seed)
        self.follow, self.review, self.guides = follow, int(review), guides
        self.attributes, self.attribute_share, self.attribute_lift = attributes, float(attribute_share), \
            float(attribute_lift)

    @property
    def label_actions(self) -> int:
        """The actions labelling may spend: ``max_actions`` less those kept for the review queue."""
        return self.max_actions - self.review

    def play(self, view: AtlasView, store: ConceptStore, *, progress: bool = True) -> ArtistReport:
        """Look at every cluster of the atlas, then label the clearest selections first, within the budget.

        Looking is free, clicking is not: as a person scans the whole atlas before naming anything, the artist
        first looks at every cluster's exemplars (and, for a cluster where the majority part holds less than
        ``clear_share`` of them, at the pieces a lasso would cut it into), then promotes the clearest selections
        first (the highest share of one part), so the action budget goes to many clean concepts rather than
        to unticking a few mixed clusters. Parts not yet named come before more of the concepts it already
        has, as a person in a later round looks for what is new. A piece and its cluster are never both
        labelled.

        Args:
            view: The round's atlas.
            store: The concept store to write.
            progress: Show a progress bar.

        Returns:
            The decisions, one per selection looked at, in the order they were taken.

        Raises:
            InputError: The atlas's data has no true parts (the artist has nothing to know them by).
        """
        if not view.parts:
            raise InputError(view.folder, "the data has no true part labels, so the simulated artist cannot judge "
                                          "clusters", hint="use generated data (data=generated) or label by hand")
        report = ArtistReport(round=view.round)
        judged = self.judged_parts(view)
        uses: Counter[str] = Counter()  # how often each part was named this session (synonyms take turns)
        probes = ProbeCache()  # the guides' probes, fitted once per concept's labels
        if self.follow == "suggestions":
            follow_suggestions(self, view, store, report, judged, uses, probes)
            return self._reviewed(view, store, report, probes)
        clusters = sorted(view.document["clusters"], key=lambda c: -int(c["size"]))
        looks: list[_Look] = []
        for entry in tqdm(clusters, desc=f"artist, round {view.round}", unit="cluster", disable=not progress):
            cluster = int(entry["cluster"])
            whole = self._look(view, judged, view.select(cluster=cluster), cluster, None)
            looks.append(whole)
            mixed, numbered = [whole], 0
            for _ in range(self.split_depth if self.split_k > 1 else 0):  # a piece still mixed is cut again
                pieces = []
                for look in mixed:
                    if look.part is None or look.share >= self.clear_share:
                        continue
                    for points in self._cut(view, look.selection):
                        pieces.append(self._look(view, judged, view.select(points=points), cluster, numbered))
                        numbered += 1
                looks.extend(pieces)
                mixed = pieces
        taken: set[int] = set()
        held = self._held(view, store)
        # the attribute values it will name after the parts, and the actions the parts leave them
        planned = self._attribute_plan(view, looks) if self.attributes else []
        budget = self.label_actions - sum(1 + len(look.negatives) for look in planned)

        def known(look: _Look) -> bool:
            return (look.part, look.word if self.novel == "class" else None) in held

        while looks:
            # the next look: what the concepts do not hold yet first, as of the labels made so far this session
            look = min(looks, key=lambda look: (known(look), *look.order()))
            looks.remove(look)
            new = not known(look)
            if look.part is None or look.share < self.min_share or taken & look.points or \
                    report.actions + 1 + len(look.unticked) > budget:
                report.decisions.append(replace(look.decision("skip"), new=new))
                continue
            report.decisions.append(replace(self._label(view, store, look, uses), new=new))
            taken |= look.points
            for group in self._unticked_groups(view, judged, look):
                if report.actions + 1 > budget:
                    break
                group_new = not known(group)
                # its points are the look's: taken
                report.decisions.append(replace(self._label(view, store, group, uses), new=group_new))
            held = self._held(view, store)
        for look in planned:
            if report.actions + 1 + len(look.negatives) <= self.label_actions:
                report.decisions.append(self._label_attribute(view, store, look))
        return self._reviewed(view, store, report, probes)

    def _attribute_plan(self, view: AtlasView, looks: list[_Look]) -> list[AttributeLook]:
        """The selections whose exemplars' drawings an attribute value dominates, most dominated first, those that
        bring a value drawings it does not hold yet, as many as fit in the session's labelling actions (see the
        module docstring); none where no drawing records attributes (real data)."""
        base = attribute_rates(view.patches.by_key.values())
        found = [look for seen in (looks if base else ())
                 for look in self.attribute_looks(view, seen.selection, base, seen.cluster)]
        held: dict[tuple[str, str], set[str]] = {}
        planned, cost = [], 0
        for look in sorted(found, key=AttributeLook.order):
            drawings = held.setdefault((look.attribute, look.value), set())
            if set(look.members) <= drawings or cost + 1 + len(look.negatives) > self.label_actions:
                continue
            planned.append(look)
            drawings.update(look.members)
            cost += 1 + len(look.negatives)
        return planned

    def attribute_looks(self, view: AtlasView, selection: Any, base: dict[str, dict[str, float]],
                        cluster: int) -> list[AttributeLook]:
        """The attribute values that dominate a selection's exemplars' drawings (see the module docstring).

        Args:
            view: The round's atlas.
            selection: A selection (a cluster, a piece of one).
            base: Each attribute's values' shares among all the atlas's drawings (:func:`attribute_rates`).
            cluster: The cluster it is or is a piece of.

        Returns:
            One look per dominating value (at most one per attribute).
        """
        seen = Selections(view).exemplars(selection, self.budget)
        keys = sorted({str(k) for k in view.points["key_id"].to_numpy()[seen]})
        drawings = [view.patches.by_key[k] for k in keys if k in view.patches.by_key]
        members = sorted({str(k) for k in view.points["key_id"].to_numpy()[selection.points]})
        out = []
        for attribute, rates in sorted(base.items()):
            values = {s.key_id: s.attributes[attribute] for s in drawings if s.attributes and attribute in s.attributes}
            if len(values) < self.min_exemplars:
                continue
            value, count = Counter(values.values()).most_common(1)[0]
            share = count / len(values)
            if share >= self.attribute_share and share - rates.get(value, 0.0) >= self.attribute_lift:
                out.append(AttributeLook(
                    attribute, value, share, share - rates.get(value, 0.0), cluster, selection,
                    verified=sorted(k for k, v in values.items() if v == value),
                    negatives=sorted(k for k, v in values.items() if v != value),
                    members=[k for k in members if k not in values or values[k] == value]))
        return out

    def _label_attribute(self, view: AtlasView, store: ConceptStore, look: AttributeLook) -> Decision:
        """Promote a drawing-level concept named after an attribute value from a selection's drawings, or add them
        to the concept of that name."""
        name = attribute_name(look.attribute, look.value)
        source = {**look.selection.source(view), "attribute": look.attribute, "value": look.value}
        try:
            existing = store.state().get(name)
        except UnknownConceptError:
            change = store.promote(name, look.members, look.negatives, layer=view.layer, born_round=view.round,
                                   source=source, unticked=len(look.negatives), verified=look.verified,
                                   level=DRAWING, actor=self.actor)
            action = "promote"
        else:
            change = store.add(existing.id, look.members, look.negatives, source=source,
                               unticked=len(look.negatives), verified=look.verified, actor=self.actor)
            action = "add"
        return Decision(look.cluster, len(look.selection.points),
                        len(look.verified) + len(look.negatives), name, look.share, action, change.concept_ids[0],
                        len(look.negatives), name=name)

    def _reviewed(self, view: AtlasView, store: ConceptStore, report: ArtistReport,
                  probes: ProbeCache) -> ArtistReport:
        """The session's end: up to ``review`` items of the review queue judged and fixed, then its summary logged."""
        if self.review:
            work_review(self, view, store, report, probes)
        log.info("simulated artist, round %d: %d actions, concepts %s", view.round, report.actions, report.concepts)
        return report

    def _held(self, view: AtlasView, store: ConceptStore) -> set[tuple[str, str | None]]:
        """What the concepts already hold: (name, None) for each, and (name, class) for each class that at least
        ``held_at`` of the positions looked at for it come from (``held_at`` 0: ``min_exemplars`` of any of its
        positions)."""
        held: set[tuple[str, str | None]] = set()
        for concept in store.state().concepts:
            part = self._meant(concept.name)
            held.add((part, None))
            # the positions looked at for it (kept or unticked): one selection's worth holds its class, however
            # many of its exemplars the artist unticked
            counted = (*concept.verified, *concept.negatives) if self.held_at else concept.positives
            least = self.held_at or self.min_exemplars
            held |= {(part, word) for word, n in view.classes_of(counted).items() if n >= least}
        return held

    def judged_parts(self, view: AtlasView) -> np.ndarray:
        """Every atlas point's part as this artist judges it: 1-based into ``view.parts``, 0 for none.

        With ``noise`` 0, the true parts. Otherwise a point with a true part is misjudged where a hash of
        (``seed``, its sketch's key_id, y, x) falls below ``noise``, and taken for another part of its drawing's
        class (any other part where the class shows only one), chosen by the same hash; points with no part stay
        so. The judgment belongs to the position, so a session judges alike wherever the point turns up.
        """
        truth = view.points["part"].to_numpy().astype(np.int64)
        if not self.noise:
            return truth
        words = view.points["word"].astype(str).to_numpy()
        of_class: dict[str, list[int]] = {}
        for word in np.unique(words):
            of_class[str(word)] = sorted({int(p) for p in truth[words == word] if p > 0})
        every = sorted({int(p) for p in truth if p > 0})
        judged = truth.copy()
        rows = zip(view.points["key_id"].astype(str), view.points["y"].astype(int), view.points["x"].astype(int))
        for i, (key, y, x) in enumerate(rows):
            if truth[i] <= 0:
                continue
            wrong, which = _uniform(self.seed, "judge", key, y, x)
            if wrong >= self.noise:
                continue
            others = [p for p in of_class[str(words[i])] if p != truth[i]] or [p for p in every if p != truth[i]]
            if others:
                judged[i] = others[int(which * len(others))]
        return judged

    def name_for(self, part: str, uses: int) -> str:
        """The name it gives a part the ``uses``-th time it names it this session: the part's own without
        ``synonyms``, else its words in :data:`SYNONYMS` in turn, starting at one the seed picks."""
        words = (part, *SYNONYMS.get(part, ())) if self.synonyms else (part,)
        start = int(_uniform(self.seed, "name", part)[0] * len(words))
        return words[(start + uses) % len(words)]

    def _meant(self, name: str) -> str:
        """The part a concept name of this artist stands for (a synonym's part; else the name itself)."""
        if self.synonyms:
            for part, words in SYNONYMS.items():
                if name in words:
                    return part
        return name

    def _cut(self, view: AtlasView, selection: Any) -> list[list[int]]:
        """A mixed selection cut into ``split_k`` pieces (largest first) with the page's tool ``split``: its
        sub-clusters, or regions of the map as a person would lasso them; none where it is too small to cut."""
        if len(selection.points) < self.split_k * self.min_exemplars:
            return []
        space = "activations" if self.split == "subclusters" else "map"
        return [piece.tolist() for piece in Selections(view).subcluster_points(selection, self.split_k, space=space)]

    def _look(self, view: AtlasView, judged: np.ndarray, selection: Any, cluster: int, piece: int | None) -> _Look:
        """What a person sees of a selection: its exemplars, and (from the parts as it judges them,
        :meth:`judged_parts`) what they would untick. Exemplars of drawings whose parts are unknown (mixed data's
        real drawings, :data:`~pipeline.data.store.UNKNOWN_PART`) it cannot judge: they count for
        nothing, are not unticked and not verified, so they stay in the selection as its unseen points do."""
        seen = [i for i in Selections(view).exemplars(selection, self.budget) if judged[i] != UNKNOWN_PART]
        parts = judged[seen]
        known = Counter(int(p) for p in parts if p > 0)
        if len(seen) < self.min_exemplars or not known:
            return _Look(cluster, piece, selection, seen, None, 0.0, [])
        top, count = known.most_common(1)[0]
        unticked = [int(i) for i, p in zip(seen, parts) if p != top]
        return _Look(cluster, piece, selection, seen, view.parts[top - 1], count / len(seen), unticked,
                     _majority_class(view, seen))

    def _unticked_groups(self, view: AtlasView, judged: np.ndarray, look: _Look) -> list[_Look]:
        """The exemplars a labelled selection unticked, grouped by their part (as it judges them), as selections of
        their own (pure: nothing to untick), where a group has at least ``name_unticked`` of them."""
        if not self.name_unticked or not look.unticked:
            return []
        parts = judged
        by_part: dict[int, list[int]] = {}
        for point in look.unticked:
            if parts[point] > 0:
                by_part.setdefault(int(parts[point]), []).append(int(point))
        return [_Look(look.cluster, look.piece, view.select(points=points), sorted(points), view.parts[part - 1], 1.0,
                      [], _majority_class(view, points))
                for part, points in sorted(by_part.items(), key=lambda item: -len(item[1]))
                if len(points) >= self.name_unticked]

    def _label(self, view: AtlasView, store: ConceptStore, look: _Look, uses: Counter[str]) -> Decision:
        """Promote the selection under its majority part's name (or a synonym: :meth:`name_for`), or add it to
        the concept of that name; ``uses`` counts the part's namings."""
        judged = view.judged_positions(look.selection.points, look.unticked, look.seen)
        positives, negatives = judged.positives, judged.negatives
        source = look.selection.source(view)
        name = self.name_for(look.part, uses[look.part])
        uses[look.part] += 1
        try:
            existing = store.state().get(name)
        except UnknownConceptError:
            change = store.promote(name, positives, negatives, layer=view.layer, born_round=view.round,
                                   source=source, unticked=len(look.unticked), verified=judged.verified,
                                   actor=self.actor)
            action = "promote"
        else:
            change = store.add(existing.id, positives, negatives, source=source, unticked=len(look.unticked),
                               verified=judged.verified, actor=self.actor)
            action = "add"
        return look.decision(action, change.concept_ids[0], name)


def attribute_name(attribute: str, value: str) -> str:
    """The name of a drawing-level concept of an attribute value: ``facing left``, ``proportions wide``."""
    return f"{attribute} {value}".replace("_", " ")


def attribute_rates(sketches: Any) -> dict[str, dict[str, float]]:
    """Each attribute's values' shares among the drawings that record it (empty when none records any).

    Args:
        sketches: Drawings (:class:`~core.sketch.Sketch`), with their attributes where they record them.
    """
    counts: dict[str, Counter[str]] = {}
    for sketch in sketches:
        for attribute, value in (sketch.attributes or {}).items():
            counts.setdefault(attribute, Counter())[str(value)] += 1
    return {attribute: {value: n / sum(values.values()) for value, n in values.items()}
            for attribute, values in counts.items()}


@dataclass
class AttributeLook:
    """An attribute value that dominates a selection's exemplars' drawings.

    Attributes:
        attribute: The attribute (``facing``).
        value: Its value there (``left``).
        share: The value's share of the exemplars' drawings that record the attribute.
        lift: That share less the value's share of all the atlas's drawings.
        cluster: The cluster the selection is or is a piece of.
        selection: The selection.
        verified: The exemplars' drawings of the value (looked at and kept).
        negatives: The exemplars' drawings of another value (looked at and unticked).
        members: Every drawing of the selection but those negatives (the positives).
    """

    attribute: str
    value: str
    share: float
    lift: float
    cluster: int
    selection: Any
    verified: list[str]
    negatives: list[str]
    members: list[str]

    def order(self) -> tuple[float, float, int]:
        """The most dominated first: the highest share, then lift, then the most drawings looked at."""
        return (-self.share, -self.lift, -(len(self.verified) + len(self.negatives)))


def _uniform(seed: int, *key: Any) -> tuple[float, float]:
    """Two numbers in [0, 1) fixed by ``seed`` and ``key`` (a hash: the same on every machine and run)."""
    digest = hashlib.blake2b(repr((int(seed), *key)).encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little") / 2 ** 64, int.from_bytes(digest[8:], "little") / 2 ** 64


def _majority_class(view: AtlasView, points: list[int]) -> str:
    """The class most of some atlas points' sketches are drawings of."""
    return str(Counter(view.points["word"].to_numpy()[points]).most_common(1)[0][0])


@dataclass
class _Look:
    """One selection the artist looked at, before deciding."""

    cluster: int
    piece: int | None
    selection: Any
    seen: list[int]
    part: str | None
    share: float
    unticked: list[int]
    word: str | None = None

    @property
    def points(self) -> set[int]:
        return set(int(i) for i in self.selection.points)

    def order(self) -> tuple[float, int]:
        """The clearest first (the highest share of the majority part among the exemplars), then the largest."""
        return (-self.share if self.part is not None else 1.0, -len(self.selection.points))

    def decision(self, action: str, concept: str | None = None, name: str | None = None) -> Decision:
        unticked = len(self.unticked) if action != "skip" else 0
        return Decision(self.cluster, len(self.selection.points), len(self.seen), self.part, self.share, action,
                        concept, unticked, self.piece, self.word, name)
