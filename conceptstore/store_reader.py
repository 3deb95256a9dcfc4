"""The read side of the concept store: its files' paths and what is read from them without taking the lock.

Readers never lock: the YAML file is only ever replaced by a rename, so a reader sees one version or the
next, never a part; a torn last log line (a crash mid-append) is left out of the events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conceptstore.concepts import EMPTY_STATE, ConceptError, Replayer, StoreState, is_index, next_round_after
from conceptstore.store_format import parse, scan_log
from core.errors import InputError

__all__ = ["LABELING_OPS", "StoreReader"]

# The operations that label positions (counted by human_actions); the others edit concepts.
LABELING_OPS = frozenset({"promote", "add", "move", "split"})


class StoreReader:
    """The concept store's files (the YAML file, its event log, the pending file of a write) and their queries.

    Args:
        path: The YAML file, e.g. ``concepts/concepts.yaml``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log_path = path.with_name(path.stem + ".events.jsonl")
        self.pending_path = path.with_name(f".{path.name}.pending")

    def load(self, path: Path, derived_next_round: Callable[[], int] | None = None) -> StoreState | None:
        """The state in the file at ``path``.

        Args:
            path: The store file or the pending file.
            derived_next_round: Gives next_round for a file written before it was recorded (default: the log's).

        Returns:
            The state, or None when there is no file.

        Raises:
            InputError: The file is not UTF-8 or not a valid concept store.
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
        """The current state: the file, else the replayed log, else the empty store (see ConceptStore.state)."""
        loaded = self.load(self.path)
        if loaded is not None:
            return loaded
        return self.replay() if self.log_path.exists() else EMPTY_STATE

    def scan(self) -> list[tuple[int, dict[str, Any]]]:
        """The log's events with their line numbers, oldest first (none when there is no log)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        return scan_log(data, self.log_path)[0]

    def events(self) -> list[dict[str, Any]]:
        """Every event in the log, oldest first (see ConceptStore.events)."""
        return [event for _, event in self.scan()]

    def replayer(self, upto: int | None = None, *, check_hashes: bool = False) -> Replayer:
        """The log's events applied in order.

        Args:
            upto: The last version to apply; all of them when None.
            check_hashes: Also check that each event replays to the hash it records.

        Returns:
            The replayer after the last event applied.

        Raises:
            InputError: An event cannot be replayed (or, checking hashes, misses its hash); names the line.
        """
        replayer, hint = Replayer(), f"restore the log with `git checkout -- {self.log_path}`"
        for line, event in self.scan():
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
        """Rebuild the state from the event log alone (see ConceptStore.replay)."""
        if upto is not None and not is_index(upto):
            raise ConceptError(f"cannot replay to version {upto!r}: give a version number >= 0")
        replayer = self.replayer(upto)
        if upto is not None and upto > replayer.state.version:
            raise ConceptError(f"cannot replay to version {upto}: the log has versions 0 to {replayer.state.version}")
        return replayer.state

    def check_agree(self, current: StoreState | None, replayed: StoreState) -> None:
        """Check that the file's state equals the replayed log's.

        Args:
            current: The file's state (None: no file).
            replayed: The state the log replays to.

        Raises:
            InputError: They differ; the message says how.
        """
        if current is None:
            if replayed.version == 0:
                return
            raise InputError(self.path, f"is missing, but its event log has {replayed.version} events",
                             hint="rebuild it with `articulate concepts replay`")
        if (current.version, current.next_round, current.content_hash()) == (
                replayed.version, replayed.next_round, replayed.content_hash()):
            return
        raise InputError(
            self.path,
            f"does not match its event log {self.log_path.name}: " + "; ".join(self._diffs(current, replayed)),
            hint="a hand edit is recorded by the next change; to discard it, run `articulate concepts replay`",
        )

    def _diffs(self, current: StoreState, replayed: StoreState) -> list[str]:
        """How the file's state differs from the log's, one phrase a difference."""
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
        return diffs

    def human_actions(self, round: int | None = None) -> int:
        """The labeling a person did in ``round`` (all when None), as ConceptStore.human_actions counts it."""
        return sum(1 + int(event.get("unticked", 0)) for event in self._effort(round) if event["op"] in LABELING_OPS)

    def human_edits(self, round: int | None = None) -> int:
        """The edits a person made in ``round`` (all when None), as ConceptStore.human_edits counts them."""
        return sum(1 for event in self._effort(round) if event["op"] not in LABELING_OPS)

    def _effort(self, round: int | None) -> list[dict[str, Any]]:
        """The events a person performed in ``round`` (all rounds when None) and did not undo."""
        events = self.events()
        undone = {event["args"]["undoes"] for event in events if event["op"] == "undo"}
        return [event for event in events
                if event["op"] != "external_edit" and event["version"] not in undone
                and (round is None or event.get("round") == round)]
