"""The simulated artist: plays a labeling session on a round's atlas, standing in for a person.

It sees what a person sees in the app: each cluster and a limited number of its exemplar patches (the
``budget``, the points nearest to the cluster's centre). Its "knowledge" is the generator's true part labels:
when one part holds at least ``min_share`` of the exemplars it looked at, it promotes the cluster under that
part's name (or adds it to the concept of that name when one exists), unticking the exemplars of other parts.
Each promote or add counts as one action and each untick as one more, as the concept store counts a person's.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

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
        size: Its number of points.
        seen: Exemplars looked at.
        part: The majority true part among them (None: no known part).
        share: That part's share of the exemplars.
        action: ``promote``, ``add`` or ``skip``.
        concept: The concept's id (None when skipped).
        unticked: Exemplars unticked (of another part, or with no known part).
    """

    cluster: int
    size: int
    seen: int
    part: str | None
    share: float
    action: str
    concept: str | None = None
    unticked: int = 0


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
        lines = [f"{'cluster':>7} {'size':>5} {'seen':>4}  {'majority part':<16} {'share':>5}  {'action':<8} "
                 f"{'concept':<8} {'unticked':>8}"]
        for d in self.decisions:
            lines.append(f"{d.cluster:>7} {d.size:>5} {d.seen:>4}  {d.part or '-':<16} {d.share:>5.2f}  "
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

    Raises:
        ConfigError: A parameter out of range.
    """

    def __init__(self, budget: int = 40, min_share: float = 0.5, min_exemplars: int = 5,
                 actor: str = "simulated-artist") -> None:
        if budget < 1:
            raise ConfigError(f"labeling.artist.budget: expected >= 1 exemplars per cluster, got {budget}")
        if not 0 < min_share <= 1:
            raise ConfigError(f"labeling.artist.min_share: expected a share in (0, 1], got {min_share}")
        if min_exemplars < 1:
            raise ConfigError(f"labeling.artist.min_exemplars: expected >= 1, got {min_exemplars}")
        self.budget, self.min_share, self.min_exemplars, self.actor = budget, min_share, min_exemplars, actor

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
            report.decisions.append(self._judge(view, store, int(entry["cluster"])))
        log.info("simulated artist, round %d: %d actions, concepts %s", view.round, report.actions, report.concepts)
        return report

    def _judge(self, view: AtlasView, store: ConceptStore, cluster: int) -> Decision:
        selection = view.select(cluster=cluster)
        seen = view.exemplars(selection, self.budget)
        parts = view.points["part"].to_numpy()[seen]
        known = Counter(int(p) for p in parts if p > 0)
        size = len(selection.points)
        if len(seen) < self.min_exemplars or not known:
            return Decision(cluster, size, len(seen), None, 0.0, "skip")
        top, count = known.most_common(1)[0]
        name, share = view.parts[top - 1], count / len(seen)
        if share < self.min_share:
            return Decision(cluster, size, len(seen), name, share, "skip")
        unticked = [int(i) for i, p in zip(seen, parts) if p != top]
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
        return Decision(cluster, size, len(seen), name, share, action, change.concept_ids[0], len(unticked))
