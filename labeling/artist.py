"""The simulated artist: plays a labeling session on a round's atlas, standing in for a person.

It sees what a person sees in the app: each cluster and a limited number of its exemplar patches (the
``budget``, the points nearest to the cluster's centre). Its "knowledge" is the generator's true part labels:
when one part holds at least ``min_share`` of the exemplars it looked at, it promotes the cluster under that
part's name (or adds it to the concept of that name when one exists), unticking the exemplars of other parts.

When a cluster's exemplars are mixed, it does what a person does with the map's lasso: it cuts the cluster's
points into ``split_k`` pieces by where they lie on the map (k-means of their 2-D layout, so each piece is a
region one can lasso), looks at each piece's exemplars and promotes the pure ones. It names only from
exemplars it looked at.

Each promote or add counts as one action and each untick as one more, as the concept store counts a person's;
a session stops when the next promote would pass ``max_actions`` (a person's patience in one round).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tqdm.auto import tqdm

from labeling.atlas_view import AtlasView
from conceptstore.store import ConceptStore, UnknownConceptError
from pipeline.errors import ConfigError, InputError
from pipeline.text import plural

__all__ = ["ArtistReport", "Decision", "SimulatedArtist"]

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


@dataclass
class ArtistReport:
    """A session's decisions and the actions it took."""

    round: int
    decisions: list[Decision] = field(default_factory=list)

    @property
    def actions(self) -> int:
        """Promotes and adds, plus one per untick: what a person would have clicked."""
        return sum(1 + d.unticked for d in self.decisions if d.action != "skip")

    @property
    def concepts(self) -> list[str]:
        """The names promoted or added to, in order of first use."""
        return list(dict.fromkeys(d.part for d in self.decisions if d.action != "skip" and d.part))

    def table(self) -> str:
        """A plain-text table of the decisions, then the totals."""
        lines = [f"{'cluster':>9} {'size':>5} {'seen':>4}  {'majority part':<16} {'share':>5}  {'action':<8} "
                 f"{'concept':<8} {'unticked':>8}"]
        for d in self.decisions:
            where = f"{d.cluster}" if d.piece is None else f"{d.cluster}.{d.piece + 1}"
            lines.append(f"{where:>9} {d.size:>5} {d.seen:>4}  {d.part or '-':<16} {d.share:>5.2f}  "
                         f"{d.action:<8} {d.concept or '-':<8} {d.unticked:>8}")
        promoted = sum(d.action == "promote" for d in self.decisions)
        added = sum(d.action == "add" for d in self.decisions)
        lines.append(f"round {self.round}: {promoted} promoted, {added} added, "
                     f"{sum(d.action == 'skip' for d in self.decisions)} skipped; {plural(self.actions, 'action')}; "
                     f"concepts: {', '.join(self.concepts) or 'none'}")
        return "\n".join(lines)


class SimulatedArtist:
    """A labeling session driven by true part labels.

    Args:
        budget: Exemplar patches looked at per cluster (DESIGN.md suggests 40).
        min_share: Promote when the majority part holds at least this share of the exemplars seen (0..1].
        min_exemplars: Skip clusters with fewer exemplars than this.
        actor: The name the concept store records for its changes.
        split_k: Pieces a mixed cluster is cut into (lassoed) and looked at one by one; 0 or 1: never.
        max_actions: The most actions of one session (promotes, adds and unticks).

    Raises:
        ConfigError: A parameter out of range.
    """

    def __init__(self, budget: int = 40, min_share: float = 0.5, min_exemplars: int = 5,
                 actor: str = "simulated-artist", split_k: int = 3, max_actions: int = 150) -> None:
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
        self.budget, self.min_share, self.min_exemplars, self.actor = budget, min_share, min_exemplars, actor
        self.split_k, self.max_actions = int(split_k), int(max_actions)

    @classmethod
    def from_config(cls, node: Any) -> SimulatedArtist:
        """From the ``labeling.artist`` config group."""
        return cls(budget=int(node.budget), min_share=float(node.min_share), min_exemplars=int(node.min_exemplars),
                   actor=str(node.actor), split_k=int(node.split_k), max_actions=int(node.max_actions))

    def play(self, view: AtlasView, store: ConceptStore, *, progress: bool = True) -> ArtistReport:
        """Look at every cluster of the atlas, largest first, and promote what it recognises.

        Args:
            view: The round's atlas.
            store: The concept store to write.
            progress: Show a progress bar.

        Returns:
            The decisions, one per cluster.

        Raises:
            InputError: The atlas's data has no true parts (the artist has nothing to know them by).
        """
        if not view.parts:
            raise InputError(view.folder, "the data has no true part labels, so the simulated artist cannot judge "
                                          "clusters", hint="use generated data (data=generated) or label by hand")
        report = ArtistReport(round=view.round)
        clusters = sorted(view.document["clusters"], key=lambda c: -int(c["size"]))
        for entry in tqdm(clusters, desc=f"artist, round {view.round}", unit="cluster", disable=not progress):
            cluster = int(entry["cluster"])
            decision = self._judge(view, store, view.select(cluster=cluster), cluster, None, report.actions)
            report.decisions.append(decision)
            if decision.action == "skip" and decision.part is not None and self.split_k > 1:
                for piece, points in enumerate(self._pieces(view, cluster)):
                    report.decisions.append(self._judge(view, store, view.select(points=points), cluster, piece,
                                                        report.actions))
        log.info("simulated artist, round %d: %d actions, concepts %s", view.round, report.actions, report.concepts)
        return report

    def _pieces(self, view: AtlasView, cluster: int) -> list[list[int]]:
        """A mixed cluster cut into regions of the map, as a person would lasso them (largest first)."""
        from sklearn.cluster import KMeans

        ids = view.select(cluster=cluster).points
        if len(ids) < self.split_k * self.min_exemplars:
            return []
        layout = view.points[["umap_x", "umap_y"]].to_numpy(dtype=np.float64)[ids]
        labels = KMeans(n_clusters=self.split_k, n_init=4, random_state=0).fit_predict(layout)
        pieces = [ids[labels == k].tolist() for k in range(self.split_k)]
        return sorted((p for p in pieces if p), key=len, reverse=True)

    def _judge(self, view: AtlasView, store: ConceptStore, selection: Any, cluster: int, piece: int | None,
               actions: int) -> Decision:
        seen = view.exemplars(selection, self.budget)
        parts = view.points["part"].to_numpy()[seen]
        known = Counter(int(p) for p in parts if p > 0)
        size = len(selection.points)
        if len(seen) < self.min_exemplars or not known:
            return Decision(cluster, size, len(seen), None, 0.0, "skip", piece=piece)
        top, count = known.most_common(1)[0]
        name, share = view.parts[top - 1], count / len(seen)
        unticked = [int(i) for i, p in zip(seen, parts) if p != top]
        if share < self.min_share or actions + 1 + len(unticked) > self.max_actions:
            return Decision(cluster, size, len(seen), name, share, "skip", piece=piece)
        judged = view.judged_positions(selection.points, unticked, seen)
        positives, negatives = judged.positives, judged.negatives
        source = selection.source(view)
        try:
            existing = store.state().get(name)
        except UnknownConceptError:
            change = store.promote(name, positives, negatives, layer=view.layer, born_round=view.round, source=source,
                                   unticked=len(unticked), verified=judged.verified, actor=self.actor)
            action = "promote"
        else:
            change = store.add(existing.id, positives, negatives, source=source, unticked=len(unticked),
                               verified=judged.verified, actor=self.actor)
            action = "add"
        return Decision(cluster, size, len(seen), name, share, action, change.concept_ids[0], len(unticked), piece)
