"""The concept store: the concepts a person names while reading activation atlases.

One git-diffable YAML file (``concepts/concepts.yaml``) holds the current concepts, and every change is also
appended to an event log next to it (``concepts/concepts.events.jsonl``) from which any earlier state can be
replayed. Concepts are defined in data coordinates, positions ``(key_id, y, x)`` on the activation grid of
the concept's layer, so that they outlive the model that suggested them. The concepts and their operations
are in :mod:`conceptstore.concepts`, the two file formats in :mod:`conceptstore.store_format`; this module makes the
changes durable and safe for parallel writers, with four collaborators: :mod:`conceptstore.store_reader` (the
files and the read-side queries), :mod:`conceptstore.store_writer` (the lock and the commit of one event),
:mod:`conceptstore.store_recovery` (finishing an interrupted write, recording a hand edit) and
:mod:`conceptstore.store_ops` (from a request to a committed event).

Writers take a lock file (``concepts.yaml.lock``) and commit in three steps, so that a crash at any point
loses at most the write in progress and never leaves a damaged store:

1. the new YAML is written to ``.concepts.yaml.pending`` and flushed to disk (with its folder entry);
2. the event is appended to the log and flushed: this is the commit point;
3. the pending file is renamed over the YAML file (and the folder flushed).

Every write first recovers from an interrupted one: a pending file that matches the log's last event is
renamed into place (its write had committed), any other is deleted (its write had not), and a half-written
last log line is cut away. A YAML file that no longer matches the log (edited by hand, or an older copy
restored with git) is then recorded as an ``external_edit`` event, so that the log still replays to the
file. Readers never take the lock: the file is only ever replaced by a rename, so they see one version or
the next, never a part. (After a crash between the commit point and the rename, readers see the previous
version until the next write or :meth:`ConceptStore.recover`, which a long-running app calls at start-up.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conceptstore.concepts import (
    LEVELS,
    POSITION,
    SOURCE_KINDS,
    Change,
    Concept,
    ConceptError,
    ConflictError,
    Position,
    StoreBusyError,
    StoreState,
    UnknownConceptError,
    add_args,
    check_line,
    delete_args,
    is_index,
    merge_args,
    move_args,
    promote_args,
    rename_args,
    set_notes_args,
    split_args,
    validate_name,
)
from conceptstore.store_ops import StoreOperations
from conceptstore.store_reader import LABELING_OPS, StoreReader
from conceptstore.store_recovery import StoreRecovery
from conceptstore.store_writer import CRASH_ENV, CRASH_POINTS, StoreWriter

__all__ = [
    "CRASH_ENV", "CRASH_POINTS", "Change", "Concept", "ConceptError", "ConceptStore", "ConflictError",
    "LABELING_OPS", "LEVELS", "Position", "SOURCE_KINDS", "StoreBusyError", "StoreState", "UnknownConceptError", "validate_name",
]


class ConceptStore:
    """The concept store at ``path`` (a YAML file), its event log and its lock.

    A missing file (and folder) is an empty store at version 0, created by the first write. If the file is
    missing but its event log is not, the log is the record: reads replay it and the next write rebuilds the
    file.

    Every write takes the lock, recovers from an interrupted write, checks ``expected_version`` (when given)
    against the store's version, validates, appends its event to the log and replaces the file atomically.

    Args:
        path: The YAML file, e.g. ``concepts/concepts.yaml``.
        actor: Who writes, recorded on each event (``cli``, ``web``, ``artist``); each write may override it.
        lock_timeout: Seconds to wait for another writer before giving up with :class:`StoreBusyError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, actor: str = "cli", lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.actor = check_line(actor, "actor")
        self.lock_timeout = lock_timeout
        self._files = StoreReader(self.path)
        self._writer = StoreWriter(self._files, lock_timeout)
        self._recovery = StoreRecovery(self._writer)
        self._ops = StoreOperations(self._recovery, self.actor)
        self.log_path, self.pending_path = self._files.log_path, self._files.pending_path
        self.lock_path = self._writer.lock_path

    def __repr__(self) -> str:
        return f"ConceptStore({str(self.path)!r}, actor={self.actor!r})"

    # --- reading

    def state(self) -> StoreState:
        """The current state, read from the file without taking the lock.

        Raises:
            InputError: The file is not a valid concept store (names the file, line and what to do).
        """
        return self._files.state()

    def events(self) -> list[dict[str, Any]]:
        """Every event in the log, oldest first (a torn last line, from a crash mid-append, is left out).

        Raises:
            InputError: A line other than the last is not an event; names the log and the line.
        """
        return self._files.events()

    def replay(self, upto: int | None = None) -> StoreState:
        """Rebuild the state from the event log alone.

        Args:
            upto: The last version to apply; all of them when None.

        Returns:
            The state at version ``upto`` (or at the log's last version).

        Raises:
            ConceptError: ``upto`` is negative or past the end of the log.
            InputError: The log is damaged.
        """
        return self._files.replay(upto)

    def verify(self) -> None:
        """Check that the file equals the replayed log and that every event replays to its recorded hash.

        Raises:
            InputError: They differ (the message says how), or the log is damaged.
            StoreBusyError: A writer held the lock for too long (the check waits for a write in progress).
        """
        with self._writer.locked():  # not in the middle of a write: between its commit and its rename they differ
            replayed = self._files.replayer(check_hashes=True).state
            current = self._files.load(self.path, lambda: replayed.next_round)
        self._files.check_agree(current, replayed)

    def human_actions(self, round: int | None = None) -> int:
        """Count the labeling a person did: one per promote, add or split, plus one per exemplar they unticked.

        A lasso or a cell selection is a promote or an add like a cluster's. Edits of the concepts (rename,
        notes, merge, delete, undo) are counted by :meth:`human_edits`; an action later undone counts in
        neither (its undo is an edit); external edits are recorded, not performed, by the store: never counted.

        Args:
            round: Only events of this labeling round (the event's ``round`` field); all when None.

        Returns:
            The number of labeling actions.
        """
        return self._files.human_actions(round)

    def human_edits(self, round: int | None = None) -> int:
        """Count the edits a person made to the concepts: renames, notes, merges, deletes and undos.

        Args:
            round: As for :meth:`human_actions`.

        Returns:
            The number of edits (see :meth:`human_actions` for what is not counted).
        """
        return self._files.human_edits(round)

    # --- recovering

    def recover(self) -> StoreState:
        """Finish or roll back an interrupted write, and record a hand edit of the file; every write does this first.

        Returns:
            The current state.

        Raises:
            StoreBusyError: Another writer held the lock for too long.
            InputError: The file or the log is damaged beyond what a crash leaves.
        """
        with self._writer.locked():
            return self._recovery.recover()[0]

    def rebuild(self) -> StoreState:
        """Rewrite the file from the event log, discarding a hand edit not yet recorded (``concepts replay``).

        Returns:
            The replayed state, now also in the file (a damaged file is replaced too).

        Raises:
            ConceptError: The log is empty or missing: there is nothing to rebuild from.
            InputError: The log is damaged.
            StoreBusyError: Another writer held the lock for too long.
        """
        with self._writer.locked():
            return self._recovery.recover(record_edits=False)[0]

    # --- operations

    def promote(
        self,
        name: str,
        positives: Iterable[Position],
        negatives: Iterable[Position] = (),
        *,
        layer: str,
        born_round: int,
        source: Mapping[str, Any],
        notes: str = "",
        unticked: int = 0,
        verified: Iterable[Position] = (),
        level: str = POSITION,
        expected_version: int | None = None,
        actor: str | None = None,
        round: int | None = None,
    ) -> Change:
        """Create a concept from the exemplars the human kept (positives) and unticked (negatives).

        Args:
            name: Its name (see :func:`validate_name`).
            positives: Positions that show the concept; at least one. For a drawing-level concept, the key_ids
                of whole drawings that have it.
            negatives: Positions that do not (a position in both lists counts as positive); for a drawing-level
                concept, key_ids of drawings that do not.
            layer: The layer the positions are on.
            born_round: The round it is promoted in.
            source: Where it came from: ``{"kind": "cluster", "cluster": 12, "atlas": ..., "round": 0}``;
                kinds: cluster, cell, lasso, merge, split, manual.
            notes: Free text.
            unticked: How many exemplars the human unticked, counted by :meth:`human_actions`.
            verified: The positives the human looked at and kept (the exemplars shown, minus the unticked);
                the rest of ``positives`` are members of the selection nobody looked at.
            level: ``position`` (the default) or ``drawing``: whether the concept is somewhere in a drawing, or
                something a whole drawing has or not (which way it faces, a part left out). Later operations
                take the concept's own kind of example: positions, or drawings' key_ids.
            expected_version: The version the caller read; a different current version raises ConflictError.
            actor: Who does it, instead of the store's actor.
            round: The labeling round the action counts for in :meth:`human_actions` (and that sets the
                state's ``next_round``); ``born_round`` when None. (Operations with no round of their own count
                for the round of the event before them: the labeling session's current round.)

        Returns:
            The change; ``concept_ids`` holds the new id.

        Raises:
            ConceptError: A bad name, bad positions or an empty positive list.
            ConflictError: ``expected_version`` is stale.
        """

        def resolve(state: StoreState) -> dict[str, Any]:
            return promote_args(state, name, positives, negatives, layer=layer, born_round=born_round,
                                source=source, notes=notes, verified=verified, level=level)

        if round is None and is_index(born_round):
            round = born_round
        return self._ops.write("promote", resolve, expected_version=expected_version, actor=actor, unticked=unticked,
                           round=round)

    def add(
        self,
        ref: str,
        positives: Iterable[Position],
        negatives: Iterable[Position] = (),
        *,
        source: Mapping[str, Any] | None = None,
        unticked: int = 0,
        verified: Iterable[Position] = (),
        expected_version: int | None = None,
        actor: str | None = None,
        round: int | None = None,
    ) -> Change:
        """Add exemplars to an existing concept.

        New positives leave the negatives; new negatives (exemplars the human unticked) leave the positives.
        A position in both lists counts as positive.

        Args:
            ref: The concept's id or name.
            positives: Positions that show the concept.
            negatives: Positions that do not.
            source: Where the new exemplars came from (recorded on the event; the concept keeps its own source).
            unticked: How many exemplars the human unticked.
            verified: The new positives the human looked at and kept (see :meth:`promote`).
            expected_version: See :meth:`promote`.
            actor: See :meth:`promote`.
            round: The labeling round; ``source["round"]`` when None.

        Returns:
            The change.

        Raises:
            UnknownConceptError: No such concept.
            ConceptError: Bad positions, nothing to add, or no positive example would be left.
            ConflictError: ``expected_version`` is stale.
        """
        if round is None and isinstance(source, Mapping) and is_index(source.get("round")):
            round = int(source["round"])
        return self._ops.write("add", lambda state: add_args(state, ref, positives, negatives, source, verified),
                           expected_version=expected_version, actor=actor, unticked=unticked, round=round)

    def move(self, source: str, target: str, positions: Iterable[Position], *, expected_version: int | None = None,
             actor: str | None = None, round: int | None = None) -> Change:
        """Move positions from one concept to another in one change: they leave the first's positives (becoming
        its negatives, as if unticked there) and join the second's positives (leaving its negatives).

        Args:
            source: The id or name of the concept they leave.
            target: The id or name of the concept they join.
            positions: Positives of ``source``.
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change; ``concept_ids`` holds the two ids, ``source``'s first.

        Raises:
            UnknownConceptError: No such concept.
            ConceptError: The same concept twice, no positions, a position that is not a positive of ``source``,
                or none of its positives left.
            ConflictError: ``expected_version`` is stale.
        """
        return self._ops.write("move", lambda state: move_args(state, source, target, positions),
                           expected_version=expected_version, actor=actor, round=round)

    def rename(self, ref: str, name: str, *, expected_version: int | None = None, actor: str | None = None,
               round: int | None = None) -> Change:
        """Rename a concept (its id stays).

        Args:
            ref: The concept's id or name.
            name: The new name (see :func:`validate_name`); the concept's own name in another case is fine.
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change.

        Raises:
            UnknownConceptError: No such concept.
            ConceptError: The new name is invalid or taken.
            ConflictError: ``expected_version`` is stale.
        """
        return self._ops.write("rename", lambda state: rename_args(state, ref, name),
                           expected_version=expected_version, actor=actor, round=round)

    def set_notes(self, ref: str, notes: str, *, expected_version: int | None = None, actor: str | None = None,
                  round: int | None = None) -> Change:
        """Replace a concept's notes.

        Args:
            ref: The concept's id or name.
            notes: Free text (line ends normalised, outer whitespace dropped).
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change.

        Raises:
            UnknownConceptError: No such concept.
            ConceptError: The notes are not text or too long.
            ConflictError: ``expected_version`` is stale.
        """
        return self._ops.write("set_notes", lambda state: set_notes_args(state, ref, notes),
                           expected_version=expected_version, actor=actor, round=round)

    def merge(self, refs: Sequence[str], name: str | None = None, *, expected_version: int | None = None,
              actor: str | None = None, round: int | None = None) -> Change:
        """Merge concepts into the first: it keeps its id (and its name unless ``name`` is given).

        Positives are the union, negatives the union less the positives, notes are joined, and the source
        becomes ``{"kind": "merge", "from": [ids]}``. The other concepts are removed.

        Args:
            refs: Ids or names, the one to keep first.
            name: A new name for the result; it may be the name of any of the merged concepts.
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change; ``concept_ids`` lists the merged ids, the kept one first.

        Raises:
            UnknownConceptError: A ref names no concept.
            ConceptError: Fewer than two different concepts, different layers, or a bad or taken name.
            ConflictError: ``expected_version`` is stale.
        """
        if isinstance(refs, str) or not isinstance(refs, Iterable):
            raise ConceptError(f"merge takes a list of concepts, got {refs!r}")
        refs = list(refs)
        return self._ops.write("merge", lambda state: merge_args(state, refs, name),
                           expected_version=expected_version, actor=actor, round=round)

    def split(self, ref: str, groups: Sequence[tuple[str, Iterable[Position]]], *,
              expected_version: int | None = None, actor: str | None = None,
              round: int | None = None) -> Change:
        """Split positives off a concept into new concepts, one per ``(name, positions)`` group.

        The new concepts get the original's layer and born_round and the source
        ``{"kind": "split", "from": id}``; their positions leave the original, which is removed if none are
        left. Negatives stay with the original.

        Args:
            ref: The concept's id or name.
            groups: ``(name, positions)`` pairs; the positions must be positives of the concept, and no two
                groups may share one.
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change; ``concept_ids`` holds the original's id, then the new ids.

        Raises:
            UnknownConceptError: No such concept.
            ConceptError: No groups; a group's name is bad or taken; its positions are empty, not positives
                of the original, or shared with another group.
            ConflictError: ``expected_version`` is stale.
        """
        pairs = list(groups.items()) if isinstance(groups, Mapping) else list(groups)
        return self._ops.write("split", lambda state: split_args(state, ref, pairs),
                           expected_version=expected_version, actor=actor, round=round)

    def delete(self, ref: str, *, expected_version: int | None = None, actor: str | None = None,
               round: int | None = None) -> Change:
        """Delete a concept (its id is not reused; undo brings it back).

        Args:
            ref: The concept's id or name.
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change.

        Raises:
            UnknownConceptError: No such concept.
            ConflictError: ``expected_version`` is stale.
        """
        return self._ops.write("delete", lambda state: delete_args(state, ref),
                           expected_version=expected_version, actor=actor, round=round)

    def undo(self, *, expected_version: int | None = None, actor: str | None = None,
             round: int | None = None) -> Change:
        """Revert the latest action not yet undone; repeated undos walk further back, never past a hand edit.

        Undo restores the concepts as they were before that action, and the store's ``next_round`` too (the
        event records the value it restores); ids it handed out are not reused.

        Args:
            expected_version, actor, round: As for :meth:`promote`.

        Returns:
            The change; ``concept_ids`` are those of the undone event.

        Raises:
            ConceptError: Nothing to undo.
            ConflictError: ``expected_version`` is stale.
        """

        return self._ops.undo(expected_version=expected_version, actor=actor, round=round)
