"""The concept store: the concepts a person names while reading activation atlases.

One git-diffable YAML file (``concepts/concepts.yaml``) holds the current concepts, and every change is also
appended to an event log next to it (``concepts/concepts.events.jsonl``) from which any earlier state can be
replayed. Concepts are defined in data coordinates, positions ``(key_id, y, x)`` on the activation grid of
the concept's layer, so that they outlive the model that suggested them. The concepts and their operations
are in :mod:`conceptstore.concepts`, the two file formats in :mod:`conceptstore.store_format`; this module makes the
changes durable and safe for parallel writers.

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

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock

from conceptstore.concepts import (
    EMPTY_HASH,
    EMPTY_STATE,
    SOURCE_KINDS,
    Change,
    Concept,
    ConceptError,
    ConflictError,
    Position,
    Replayer,
    StoreBusyError,
    StoreState,
    UnknownConceptError,
    add_args,
    apply,
    check_count,
    check_line,
    concept_ids,
    delete_args,
    is_index,
    merge_args,
    move_args,
    next_round_after,
    promote_args,
    rename_args,
    set_notes_args,
    split_args,
    validate_name,
)
from conceptstore.store_format import LogMark, check_log, dump, encode_event, parse, scan_log
from core.errors import InputError
from core.io import fsync_dir, atomic_write_text

__all__ = [
    "CRASH_ENV", "CRASH_POINTS", "Change", "Concept", "ConceptError", "ConceptStore", "ConflictError",
    "LABELING_OPS", "Position", "SOURCE_KINDS", "StoreBusyError", "StoreState", "UnknownConceptError", "validate_name",
]

# Fault injection for the crash tests: the write path calls os._exit(CRASH_EXIT_CODE) at the named point.
CRASH_ENV = "ARTICULATE_STORE_CRASH"
CRASH_POINTS = ("after-pending", "mid-log", "after-log")
CRASH_EXIT_CODE = 70

# The operations that label positions (counted by ConceptStore.human_actions); the others edit concepts.
LABELING_OPS = frozenset({"promote", "add", "move", "split"})
_LOCK_POLL_S = 0.002  # writers hold the lock for milliseconds; filelock's default 50 ms poll would idle


def _crash_if(point: str) -> None:
    """Fault injection for the crash tests: exit on the spot, as a kill or power cut would."""
    if os.environ.get(CRASH_ENV) == point:
        os._exit(CRASH_EXIT_CODE)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        self.log_path = self.path.with_name(self.path.stem + ".events.jsonl")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.pending_path = self.path.with_name(f".{self.path.name}.pending")
        self.actor = check_line(actor, "actor")
        self.lock_timeout = lock_timeout
        self._lock = filelock.FileLock(self.lock_path, timeout=lock_timeout, poll_interval=_LOCK_POLL_S)
        self._mark = LogMark()

    def __repr__(self) -> str:
        return f"ConceptStore({str(self.path)!r}, actor={self.actor!r})"

    # --- reading

    def _load(self, path: Path, derived_next_round: Callable[[], int] | None = None) -> StoreState | None:
        """The state in the file at ``path`` (None: no file).

        ``derived_next_round`` gives next_round for a file written before it was recorded (default: the log's).
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise InputError(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
                             hint=f"restore it with `git checkout -- {path}`") from None
        return parse(text, path, derived_next_round or (lambda: next_round_after(self.events())))

    def state(self) -> StoreState:
        """The current state, read from the file without taking the lock.

        Raises:
            InputError: The file is not a valid concept store (names the file, line and what to do).
        """
        loaded = self._load(self.path)
        if loaded is not None:
            return loaded
        return self.replay() if self.log_path.exists() else EMPTY_STATE

    def _scan(self) -> list[tuple[int, dict[str, Any]]]:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        return scan_log(data, self.log_path)[0]

    def events(self) -> list[dict[str, Any]]:
        """Every event in the log, oldest first (a torn last line, from a crash mid-append, is left out).

        Raises:
            InputError: A line other than the last is not an event; names the log and the line.
        """
        return [event for _, event in self._scan()]

    def _replayer(self, upto: int | None = None, *, check_hashes: bool = False) -> Replayer:
        replayer, hint = Replayer(), f"restore the log with `git checkout -- {self.log_path}`"
        for line, event in self._scan():
            if upto is not None and event["version"] > upto:
                break
            try:
                state = replayer.step(event)
            except (ConceptError, KeyError, TypeError) as exc:
                raise InputError(self.log_path, f"event {event['version']} ({event['op']}) cannot be replayed: {exc}",
                                 line=line, hint=hint) from None
            if check_hashes and state.content_hash() != event["hash"]:
                raise InputError(self.log_path, f"event {event['version']} ({event['op']}) does not replay to its hash",
                                 line=line, hint=hint)
        return replayer

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
        if upto is not None and not is_index(upto):
            raise ConceptError(f"cannot replay to version {upto!r}: give a version number >= 0")
        replayer = self._replayer(upto)
        if upto is not None and upto > replayer.state.version:
            raise ConceptError(f"cannot replay to version {upto}: the log has versions 0 to {replayer.state.version}")
        return replayer.state

    def verify(self) -> None:
        """Check that the file equals the replayed log and that every event replays to its recorded hash.

        Raises:
            InputError: They differ (the message says how), or the log is damaged.
            StoreBusyError: A writer held the lock for too long (the check waits for a write in progress).
        """
        with self._locked():  # not in the middle of a write: between its commit and its rename they differ
            replayed = self._replayer(check_hashes=True).state
            current = self._load(self.path, lambda: replayed.next_round)
        if current is None:
            if replayed.version == 0:
                return
            raise InputError(self.path, f"is missing, but its event log has {replayed.version} events",
                             hint="rebuild it with `articulate concepts replay`")
        if (current.version, current.next_round, current.content_hash()) == (
                replayed.version, replayed.next_round, replayed.content_hash()):
            return
        mine, theirs = ({c.id: c for c in s.concepts} for s in (current, replayed))
        diffs = [f"the file is at version {current.version}, the log at {replayed.version}"]
        for what, ids in (
            ("only in the file", [i for i in mine if i not in theirs]),
            ("only in the log", [i for i in theirs if i not in mine]),
            ("different", [i for i in mine if i in theirs and mine[i] != theirs[i]]),
        ):
            if ids:
                diffs.append(f"concepts {what}: {', '.join(ids)}")
        if current.next_id != replayed.next_id:
            diffs.append(f"next_id {current.next_id} in the file, {replayed.next_id} in the log")
        if current.next_round != replayed.next_round:
            diffs.append(f"next_round {current.next_round} in the file, {replayed.next_round} in the log")
        if self.pending_path.exists():
            diffs.append("a write was interrupted (any change, or recover(), finishes it)")
        raise InputError(
            self.path, f"does not match its event log {self.log_path.name}: " + "; ".join(diffs),
            hint="a hand edit is recorded by the next change; to discard it, run `articulate concepts replay`",
        )

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
        return sum(1 + int(event.get("unticked", 0)) for event in self._effort(round) if event["op"] in LABELING_OPS)

    def human_edits(self, round: int | None = None) -> int:
        """Count the edits a person made to the concepts: renames, notes, merges, deletes and undos.

        Args:
            round: As for :meth:`human_actions`.

        Returns:
            The number of edits (see :meth:`human_actions` for what is not counted).
        """
        return sum(1 for event in self._effort(round) if event["op"] not in LABELING_OPS)

    def _effort(self, round: int | None) -> list[dict[str, Any]]:
        """The events a person performed in ``round`` (all rounds when None) and did not undo."""
        events = self.events()
        undone = {event["args"]["undoes"] for event in events if event["op"] == "undo"}
        return [event for event in events
                if event["op"] != "external_edit" and event["version"] not in undone
                and (round is None or event.get("round") == round)]

    # --- locking, committing and recovering

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise StoreBusyError(
                f"{self.path}: another writer has held the concept store's lock ({self.lock_path.name}) for more "
                f"than {self.lock_timeout:g} s; wait for it to finish and try again"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def _write_pending(self, state: StoreState) -> None:
        with open(self.pending_path, "w", encoding="utf-8", newline="") as file:
            file.write(dump(state))
            file.flush()
            os.fsync(file.fileno())
        # Its name must be on disk before the commit point: a committed event whose pending file vanished in
        # a power cut could not be rolled forward.
        fsync_dir(self.path.parent)

    def _append(self, event: Mapping[str, Any]) -> None:
        line = encode_event(event)
        created = not self.log_path.exists()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.environ.get(CRASH_ENV) == "mid-log":
                _write_all(fd, line[: len(line) // 2])
                os.fsync(fd)
                _crash_if("mid-log")
            _write_all(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.log_path.parent)

    def _commit(self, state: StoreState, op: str, args: dict[str, Any], *, actor: str, unticked: int = 0,
                round: int | None) -> tuple[StoreState, dict[str, Any]]:
        """Write ``state`` as the next version, with its event. Call under the lock, after recovery.

        Returns:
            The state written (its next_round counts the event's round) and the event.
        """
        event: dict[str, Any] = {"version": state.version, "time": _now(), "actor": actor, "op": op, "args": args,
                                 "unticked": unticked}
        if round is not None:
            event["round"] = round
        event["hash"] = state.content_hash()
        state = dataclasses.replace(state, next_round=next_round_after([event], state.next_round))
        self._write_pending(state)
        _crash_if("after-pending")
        self._append(event)  # the commit point
        _crash_if("after-log")
        os.replace(self.pending_path, self.path)
        fsync_dir(self.path.parent)
        return state, event

    def _matches(self, path: Path, event: Mapping[str, Any] | None) -> bool:
        """Whether the file at ``path`` holds the state after ``event`` (None: the empty store, or no file)."""
        try:
            state = self._load(path, lambda: 0)  # next_round is not compared
        except InputError:  # e.g. torn by a crash while it was written
            return False
        if state is None:
            return event is None
        version, content = (0, EMPTY_HASH) if event is None else (event["version"], event["hash"])
        return state.version == version and state.content_hash() == content

    def _roll_forward(self, mark: LogMark) -> bool:
        """Whether the pending file is the write the log's last event committed, its rename all that is left.

        Only if the store file is still the state before that event: a person who edited the file since
        the crash keeps their edit (it is recorded as an external edit; the log keeps the lost write).
        """
        return (mark.last is not None and self._matches(self.pending_path, mark.last)
                and self._matches(self.path, mark.before))

    def _recover_locked(self, *, record_edits: bool = True) -> tuple[StoreState, dict[str, Any] | None]:
        """Bring the file and the log into agreement; call under the lock.

        Returns:
            The current state and the log's last event (None for an empty log).
        """
        mark, size = check_log(self.log_path, self._mark)  # only the lines this object has not checked yet
        self._mark = mark
        last = mark.last
        if self.pending_path.exists():
            if self._roll_forward(mark):
                os.replace(self.pending_path, self.path)  # roll forward: the write had committed
                fsync_dir(self.path.parent)
            else:
                self.pending_path.unlink()  # roll back: the crash came before the commit point
        if mark.offset < size:
            with open(self.log_path, "r+b") as file:
                file.truncate(mark.offset)
                os.fsync(file.fileno())
        version, expected_hash = (0, EMPTY_HASH) if last is None else (last["version"], last["hash"])
        try:
            current = self._load(self.path, lambda: mark.next_round)
        except InputError:
            if record_edits:
                raise
            current = None  # being rebuilt: a damaged file is what a rebuild is for
        if current is None and last is None:
            return EMPTY_STATE, None
        if current is None or not record_edits:
            if last is None:
                raise ConceptError(f"{self.log_path} is empty or missing: there is nothing to rebuild "
                                   f"{self.path} from (the next change records the file as it is)")
            rebuilt = self.replay()  # the log is the record: rebuild the file from it
            if current != rebuilt:
                atomic_write_text(self.path, dump(rebuilt))
            return rebuilt, last
        if current.content_hash() != expected_hash:
            # Edited by hand or restored from git: record the file as it is, so that the log replays to it.
            # next_id never goes back, so that an id in the log's history is never handed out again.
            snapshot = StoreState(version + 1, max(current.next_id, self.replay().next_id), current.concepts,
                                  mark.next_round)
            return self._commit(snapshot, "external_edit", {"state": snapshot.content()}, actor="external",
                                round=None if last is None else last.get("round"))
        # Only what the log decides may be stale: the version (an older copy with the same content), or a
        # hand-edited next_round.
        derived = dataclasses.replace(current, version=version, next_round=mark.next_round)
        if derived != current:
            current = derived
            atomic_write_text(self.path, dump(current))
        return current, last

    def recover(self) -> StoreState:
        """Finish or roll back an interrupted write, and record a hand edit of the file; every write does this first.

        Returns:
            The current state.

        Raises:
            StoreBusyError: Another writer held the lock for too long.
            InputError: The file or the log is damaged beyond what a crash leaves.
        """
        with self._locked():
            return self._recover_locked()[0]

    def rebuild(self) -> StoreState:
        """Rewrite the file from the event log, discarding a hand edit not yet recorded (``concepts replay``).

        Returns:
            The replayed state, now also in the file (a damaged file is replaced too).

        Raises:
            ConceptError: The log is empty or missing: there is nothing to rebuild from.
            InputError: The log is damaged.
            StoreBusyError: Another writer held the lock for too long.
        """
        with self._locked():
            return self._recover_locked(record_edits=False)[0]

    @contextlib.contextmanager
    def _transaction(self, expected_version: int | None) -> Iterator[tuple[StoreState, dict[str, Any] | None]]:
        with self._locked():
            state, last = self._recover_locked()
            if expected_version is not None and expected_version != state.version:
                raise ConflictError(state.version, expected_version)
            yield state, last

    def _write(self, op: str, resolve: Callable[[StoreState], dict[str, Any]], *, expected_version: int | None,
               actor: str | None, unticked: int = 0, round: int | None = None) -> Change:
        """Run one operation: ``resolve`` turns the caller's request into the event's fully resolved args."""

        def plan(state: StoreState) -> tuple[dict[str, Any], StoreState, tuple[str, ...]]:
            args = resolve(state)
            concepts, next_id = apply(state, op, args)
            return args, StoreState(state.version + 1, next_id, concepts, state.next_round), concept_ids(op, args)

        return self._run(op, plan, expected_version=expected_version, actor=actor, unticked=unticked, round=round)

    def _run(self, op: str, plan: Callable[[StoreState], tuple[dict[str, Any], StoreState, tuple[str, ...]]], *,
             expected_version: int | None, actor: str | None, unticked: int, round: int | None) -> Change:
        """Commit one operation; ``plan`` gives its args, the new state and the concepts it touches."""
        actor = self.actor if actor is None else check_line(actor, "actor")
        unticked = check_count(unticked, "unticked")
        round = None if round is None else check_count(round, "round")
        with self._transaction(expected_version) as (state, last):
            args, new, ids = plan(state)
            if round is None and last is not None:
                round = last.get("round")  # the labeling session's current round
            new, event = self._commit(new, op, args, actor=actor, unticked=unticked, round=round)
        return Change(new.version, op, ids, event)

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
        expected_version: int | None = None,
        actor: str | None = None,
        round: int | None = None,
    ) -> Change:
        """Create a concept from the exemplars the human kept (positives) and unticked (negatives).

        Args:
            name: Its name (see :func:`validate_name`).
            positives: Positions that show the concept; at least one.
            negatives: Positions that do not (a position in both lists counts as positive).
            layer: The layer the positions are on.
            born_round: The round it is promoted in.
            source: Where it came from: ``{"kind": "cluster", "cluster": 12, "atlas": ..., "round": 0}``;
                kinds: cluster, cell, lasso, merge, split, manual.
            notes: Free text.
            unticked: How many exemplars the human unticked, counted by :meth:`human_actions`.
            verified: The positives the human looked at and kept (the exemplars shown, minus the unticked);
                the rest of ``positives`` are members of the selection nobody looked at.
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
                                source=source, notes=notes, verified=verified)

        if round is None and is_index(born_round):
            round = born_round
        return self._write("promote", resolve, expected_version=expected_version, actor=actor, unticked=unticked,
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
        return self._write("add", lambda state: add_args(state, ref, positives, negatives, source, verified),
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
        return self._write("move", lambda state: move_args(state, source, target, positions),
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
        return self._write("rename", lambda state: rename_args(state, ref, name),
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
        return self._write("set_notes", lambda state: set_notes_args(state, ref, notes),
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
        return self._write("merge", lambda state: merge_args(state, refs, name),
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
        return self._write("split", lambda state: split_args(state, ref, pairs),
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
        return self._write("delete", lambda state: delete_args(state, ref),
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

        def plan(state: StoreState) -> tuple[dict[str, Any], StoreState, tuple[str, ...]]:
            replayer = self._replayer()
            if replayer.state != state:
                raise InputError(self.log_path, f"does not replay to {self.path.name}, so undo cannot work out the "
                                 "previous state", hint="run verify() (`articulate concepts verify`) to see where")
            target = replayer.undo_target()
            # next_round goes back with the action: a promote undone must not make `dvc repro` build a round
            # with no new labels
            args = {"undoes": target["version"], "next_round": replayer.rounds[target["version"] - 1]}
            return args, replayer.step({"op": "undo", "args": args}), concept_ids(target["op"], target["args"])

        return self._run("undo", plan, expected_version=expected_version, actor=actor, unticked=0, round=round)
