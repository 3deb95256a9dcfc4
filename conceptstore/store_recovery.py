"""Bringing the concept store's file and event log into agreement, which every write does first.

A pending file that matches the log's last event is renamed into place (its write had committed), any other
is deleted (its write had not), and a half-written last log line is cut away. A YAML file that no longer
matches the log (edited by hand, or an older copy restored with git) is then recorded as an
``external_edit`` event, so that the log still replays to the file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptstore.concepts import EMPTY_HASH, EMPTY_STATE, ConceptError, StoreState
from conceptstore.store_format import LogMark, check_log, dump
from conceptstore.store_writer import StoreWriter
from core.errors import InputError
from core.io import atomic_write_text

__all__ = ["StoreRecovery"]


class StoreRecovery:
    """Finishes or rolls back an interrupted write and records hand edits; call its methods under the lock.

    It remembers how far it has checked the log, so that each write checks only the lines added since.

    Args:
        writer: The store's writer (an external edit is committed as an event).
    """

    def __init__(self, writer: StoreWriter) -> None:
        self.files = writer.files
        self.writer = writer
        self._mark = LogMark()

    def recover(self, *, record_edits: bool = True) -> tuple[StoreState, dict[str, Any] | None]:
        """Bring the file and the log into agreement.

        Args:
            record_edits: Record a hand edit of the file as an event (False: rebuild the file from the log).

        Returns:
            The current state and the log's last event (None for an empty log).

        Raises:
            ConceptError: Rebuilding, but the log is empty or missing.
            InputError: The file (recording edits) or the log is damaged beyond what a crash leaves.
        """
        mark, size = check_log(self.files.log_path, self._mark)  # only the lines this object has not checked yet
        self._mark = mark
        last = mark.last
        self._finish_interrupted(mark, size)
        try:
            current = self.files.load(self.files.path, lambda: mark.next_round)
        except InputError:
            if record_edits:
                raise
            current = None  # being rebuilt: a damaged file is what a rebuild is for
        if current is None and last is None:
            return EMPTY_STATE, None
        if current is None or not record_edits:
            return self._rebuild(current, last), last
        version, expected_hash = (0, EMPTY_HASH) if last is None else (last["version"], last["hash"])
        if current.content_hash() != expected_hash:
            # Edited by hand or restored from git: record the file as it is, so that the log replays to it.
            # next_id never goes back, so that an id in the log's history is never handed out again.
            snapshot = StoreState(version + 1, max(current.next_id, self.files.replay().next_id), current.concepts,
                                  mark.next_round)
            return self.writer.commit(snapshot, "external_edit", {"state": snapshot.content()}, actor="external",
                                      round=None if last is None else last.get("round"))
        # Only what the log decides may be stale: the version (an older copy with the same content), or a
        # hand-edited next_round.
        derived = dataclasses.replace(current, version=version, next_round=mark.next_round)
        if derived != current:
            current = derived
            atomic_write_text(self.files.path, dump(current))
        return current, last

    def _finish_interrupted(self, mark: LogMark, size: int) -> None:
        """Roll the pending file forward or back, and cut a torn last line off the log."""
        if self.files.pending_path.exists():
            if self._roll_forward(mark):
                self.writer.finish_pending()  # roll forward: the write had committed
            else:
                self.files.pending_path.unlink()  # roll back: the crash came before the commit point
        if mark.offset < size:
            with open(self.files.log_path, "r+b") as file:
                file.truncate(mark.offset)
                os.fsync(file.fileno())

    def _rebuild(self, current: StoreState | None, last: dict[str, Any] | None) -> StoreState:
        """The log's state, written over the file if the file differs (the log is the record)."""
        if last is None:
            raise ConceptError(f"{self.files.log_path} is empty or missing: there is nothing to rebuild "
                               f"{self.files.path} from (the next change records the file as it is)")
        rebuilt = self.files.replay()
        if current != rebuilt:
            atomic_write_text(self.files.path, dump(rebuilt))
        return rebuilt

    def _matches(self, path: Path, event: Mapping[str, Any] | None) -> bool:
        """Whether the file at ``path`` holds the state after ``event`` (None: the empty store, or no file)."""
        try:
            state = self.files.load(path, lambda: 0)  # next_round is not compared
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
        return (mark.last is not None and self._matches(self.files.pending_path, mark.last)
                and self._matches(self.files.path, mark.before))
