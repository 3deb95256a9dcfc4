"""How the coach's torch work runs in a process that does other torch work too.

**Its own thread count.** A live update scores one drawing: a few milliseconds of small convolutions. With two
intra-op threads on a machine whose cores other processes hold, each operator's OpenMP barrier waits for a thread
the scheduler has parked, and an update takes hundreds of milliseconds (docs/benchmarks.md, "The drawing
coach"); on one thread it stays near its idle time. ``torch.set_num_threads`` looks process-wide, but what
OpenMP, MKL and oneDNN read is the calling thread's own count: a thread keeps the count it set for itself, and
a thread's first torch operation takes the process's count of that moment. :class:`InferenceThread` runs the
coach's single-drawing inference on one thread of its own, set once to ``coach.threads``, and gives the process
its count back at once, so the app's other torch work (dreams, previews, sub-clusters) keeps ``threads``.

**A build that can be stopped.** A coach's first build (the model, then its canon and calibration: seconds to
a minute) runs on a thread when the labeling app starts. A process that exits while that thread is inside torch
aborts ("terminate called without an active exception"). :class:`StoppableThread` runs such a build: its
:meth:`~StoppableThread.stop` asks it to stop and waits for it (the app's shutdown calls it, and so does the
process's exit for every one still under way); inside, :func:`checkpoint` (called between two batches of
drawings, where no torch call is under way) raises :class:`BuildStopped` once asked.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from core.errors import ArticulateError

__all__ = ["BuildStopped", "InferenceThread", "StoppableThread", "checkpoint", "stoppable"]

T = TypeVar("T")


class InferenceThread:
    """One thread, started on first use, that runs the coach's inference with its own torch intra-op threads.

    Args:
        threads: Its intra-op threads; 0: one per core.
    """

    def __init__(self, threads: int) -> None:
        self.threads = int(threads) if threads > 0 else (os.cpu_count() or 1)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, action: Callable[..., T], *args: Any) -> T:
        """``action(*args)`` on the inference thread; the caller waits for it (and gets its exception)."""
        return self._started().submit(action, *args).result()

    def close(self) -> None:
        """End the thread (a later :meth:`run` starts another)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _started(self) -> ThreadPoolExecutor:
        import torch

        with self._lock:
            if self._executor is None:
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articulate-coach-inference")
                own = torch.get_num_threads()
                executor.submit(_set_own_threads, self.threads).result()
                # set_num_threads also set the count threads take at their first torch operation: give it back
                # (this thread's own count stays what it was), so that only the inference thread runs on ours.
                torch.set_num_threads(own)
                self._executor = executor
            return self._executor


def _set_own_threads(threads: int) -> None:
    import torch

    torch.get_num_threads()  # this thread's first use takes the process's count: before ours, not after it
    torch.set_num_threads(threads)


class BuildStopped(ArticulateError):
    """A coach's build was asked to stop (the app is stopping)."""

    status_code = 503


_scope = threading.local()


@contextmanager
def stoppable(stop: threading.Event) -> Iterator[None]:
    """Within the block, this thread's :func:`checkpoint` raises :class:`BuildStopped` once ``stop`` is set."""
    previous = getattr(_scope, "stop", None)
    _scope.stop = stop
    try:
        yield
    finally:
        _scope.stop = previous


def checkpoint() -> None:
    """A safe point to stop at (no torch call under way): raise where this thread's work was asked to stop.

    Raises:
        BuildStopped: The :func:`stoppable` block's event is set.
    """
    stop = getattr(_scope, "stop", None)
    if stop is not None and stop.is_set():
        raise BuildStopped("the coach's build was stopped: the app is stopping")


class StoppableThread:
    """A daemon thread running ``action`` inside :func:`stoppable`: :meth:`stop` asks it to stop at its next
    :func:`checkpoint` and waits for it. The process's exit stops those still under way first (``atexit`` runs
    before the interpreter tears down what a daemon thread inside torch still uses).

    Args:
        action: The work (its exceptions are its own to catch: the thread ends with them).
        name: The thread's name.
    """

    def __init__(self, action: Callable[[], Any], name: str) -> None:
        self._stop = threading.Event()
        self._action = action
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        _UNDER_WAY.add(self)
        self.thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the work to stop at its next safe point and wait for it.

        Args:
            timeout: Seconds to wait at most; None: until it ends.

        Returns:
            Whether the thread has ended.
        """
        self._stop.set()
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        try:
            with stoppable(self._stop):
                self._action()
        finally:
            _UNDER_WAY.discard(self)


#: The stoppable threads still running, stopped and waited for before the process exits.
_UNDER_WAY: set[StoppableThread] = set()


@atexit.register
def _stop_at_exit() -> None:
    for thread in list(_UNDER_WAY):
        thread.stop()
