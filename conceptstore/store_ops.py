"""Running one operation on the concept store: from the caller's request to a committed event.

Under the lock and after recovery, the request is resolved against the current state into the event's
args, applied, and committed with the actor, the unticked count and the labeling round.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from conceptstore.concepts import Change, ConflictError, StoreState, apply, check_count, check_line, concept_ids
from conceptstore.store_recovery import StoreRecovery
from core.errors import InputError

__all__ = ["Plan", "StoreOperations"]

# What an operation does to a state: its args, the new state and the concepts it touches.
Plan = Callable[[StoreState], tuple[dict[str, Any], StoreState, tuple[str, ...]]]


class StoreOperations:
    """Builds and commits the events of the store's operations.

    Args:
        recovery: The store's recovery (it reaches the files and the writer).
        actor: Who writes when an operation names no actor.
    """

    def __init__(self, recovery: StoreRecovery, actor: str) -> None:
        self.recovery = recovery
        self.files = recovery.files
        self.actor = actor

    @contextlib.contextmanager
    def transaction(self, expected_version: int | None) -> Iterator[tuple[StoreState, dict[str, Any] | None]]:
        """Hold the lock over a recovered store: yields its state and the log's last event.

        Raises:
            ConflictError: ``expected_version`` (when given) is not the store's version.
        """
        with self.recovery.writer.locked():
            state, last = self.recovery.recover()
            if expected_version is not None and expected_version != state.version:
                raise ConflictError(state.version, expected_version)
            yield state, last

    def write(self, op: str, resolve: Callable[[StoreState], dict[str, Any]], *, expected_version: int | None,
              actor: str | None, unticked: int = 0, round: int | None = None) -> Change:
        """Run one operation other than undo.

        Args:
            op: The operation.
            resolve: Turns the caller's request into the event's fully resolved args, given the current state.
            expected_version, actor, unticked, round: As for :meth:`run`.

        Returns:
            The change.
        """

        def plan(state: StoreState) -> tuple[dict[str, Any], StoreState, tuple[str, ...]]:
            args = resolve(state)
            concepts, next_id = apply(state, op, args)
            return args, StoreState(state.version + 1, next_id, concepts, state.next_round), concept_ids(op, args)

        return self.run(op, plan, expected_version=expected_version, actor=actor, unticked=unticked, round=round)

    def run(self, op: str, plan: Plan, *, expected_version: int | None, actor: str | None, unticked: int,
            round: int | None) -> Change:
        """Commit one operation.

        Args:
            op: The operation.
            plan: Gives its args, the new state and the concepts it touches, from the current state.
            expected_version: The version the caller read; a different current version raises ConflictError.
            actor: Who does it; the store's actor when None.
            unticked: How many exemplars the person unticked.
            round: The labeling round it counts for; the round of the event before it when None.

        Returns:
            The change.
        """
        actor = self.actor if actor is None else check_line(actor, "actor")
        unticked = check_count(unticked, "unticked")
        round = None if round is None else check_count(round, "round")
        with self.transaction(expected_version) as (state, last):
            args, new, ids = plan(state)
            if round is None and last is not None:
                round = last.get("round")  # the labeling session's current round
            new, event = self.recovery.writer.commit(new, op, args, actor=actor, unticked=unticked, round=round)
        return Change(new.version, op, ids, event)

    def undo(self, *, expected_version: int | None, actor: str | None, round: int | None) -> Change:
        """Revert the latest action not yet undone (see ConceptStore.undo)."""

        def plan(state: StoreState) -> tuple[dict[str, Any], StoreState, tuple[str, ...]]:
            replayer = self.files.replayer()
            if replayer.state != state:
                raise InputError(self.files.log_path, f"does not replay to {self.files.path.name}, so undo cannot "
                                 "work out the previous state",
                                 hint="run verify() (`articulate concepts verify`) to see where")
            target = replayer.undo_target()
            # next_round goes back with the action: a promote undone must not make `dvc repro` build a round
            # with no new labels
            args = {"undoes": target["version"], "next_round": replayer.rounds[target["version"] - 1]}
            return args, replayer.step({"op": "undo", "args": args}), concept_ids(target["op"], target["args"])

        return self.run("undo", plan, expected_version=expected_version, actor=actor, unticked=0, round=round)
