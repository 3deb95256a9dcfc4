"""The concept store's durable writes: the writers' lock, and the three-step commit of one event.

A write (1) writes the new YAML to the pending file and flushes it (with its folder entry), (2) appends the
event to the log and flushes it: the commit point, and (3) renames the pending file over the YAML file. A
crash at any point loses at most the write in progress; :mod:`conceptstore.store_recovery` finishes or
rolls back what a crash left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import filelock

from conceptstore.concepts import StoreBusyError, StoreState, next_round_after
from conceptstore.store_format import dump, encode_event
from conceptstore.store_reader import StoreReader
from core.io import fsync_dir

__all__ = ["CRASH_ENV", "CRASH_EXIT_CODE", "CRASH_POINTS", "StoreWriter"]

# Fault injection for the crash tests: the write path calls os._exit(CRASH_EXIT_CODE) at the named point.
CRASH_ENV = "ARTICULATE_STORE_CRASH"
CRASH_POINTS = ("after-pending", "mid-log", "after-log")
CRASH_EXIT_CODE = 70

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


class StoreWriter:
    """The writers' lock file (``concepts.yaml.lock``) and the commit of one event to the file and the log.

    Args:
        files: The store's files.
        lock_timeout: Seconds to wait for another writer before giving up with :class:`StoreBusyError`.
    """

    def __init__(self, files: StoreReader, lock_timeout: float) -> None:
        self.files = files
        self.lock_path = files.path.with_name(files.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._lock = filelock.FileLock(self.lock_path, timeout=lock_timeout, poll_interval=_LOCK_POLL_S)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' lock (creating the store's folder).

        Raises:
            StoreBusyError: Another writer held it for longer than the timeout.
        """
        path = self.files.path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise StoreBusyError(
                f"{path}: another writer has held the concept store's lock ({self.lock_path.name}) for more "
                f"than {self.lock_timeout:g} s; wait for it to finish and try again"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def commit(self, state: StoreState, op: str, args: dict[str, Any], *, actor: str, unticked: int = 0,
               round: int | None) -> tuple[StoreState, dict[str, Any]]:
        """Write ``state`` as the next version, with its event. Call under the lock, after recovery.

        Args:
            state: The new state (its version is the event's).
            op: The operation.
            args: Its fully resolved args.
            actor: Who does it.
            unticked: How many exemplars the person unticked.
            round: The labeling round it counts for (None: none recorded).

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
        self.finish_pending()
        return state, event

    def finish_pending(self) -> None:
        """Rename the pending file over the store file, the last step of a committed write."""
        os.replace(self.files.pending_path, self.files.path)
        fsync_dir(self.files.path.parent)

    def _write_pending(self, state: StoreState) -> None:
        with open(self.files.pending_path, "w", encoding="utf-8", newline="") as file:
            file.write(dump(state))
            file.flush()
            os.fsync(file.fileno())
        # Its name must be on disk before the commit point: a committed event whose pending file vanished in
        # a power cut could not be rolled forward.
        fsync_dir(self.files.path.parent)

    def _append(self, event: Mapping[str, Any]) -> None:
        log_path = self.files.log_path
        line = encode_event(event)
        created = not log_path.exists()
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
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
            fsync_dir(log_path.parent)
