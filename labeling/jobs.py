"""Work that takes seconds (a dream), run one at a time on a worker thread, with progress and cancel.

A job is a function of one argument, ``progress(fraction) -> bool``: it reports how far it is and stops when
that returns False (the job was cancelled). The page polls ``GET /api/jobs/<id>`` and may ``DELETE`` it.
Finished jobs are kept (their results are small) until ``keep`` newer ones have finished.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.errors import ArticulateError

__all__ = ["Job", "Jobs", "UnknownJobError"]


class UnknownJobError(ArticulateError):
    """No such job (never started, or long finished)."""

    status_code = 404


@dataclass
class Job:
    """One job's state.

    Attributes:
        id: Its number, as text.
        status: ``queued``, ``running``, ``done``, ``cancelled`` or ``failed``.
        progress: Fraction done, 0 to 1.
        result: What the function returned (when done).
        error: One sentence (when failed).
    """

    id: str
    status: str = "queued"
    progress: float = 0.0
    result: Any = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "progress": round(self.progress, 3), "error": self.error,
                "result": self.result if self.status in ("done", "cancelled") else None}


class Jobs:
    """The app's jobs: one worker, so jobs never compete for the two cores.

    Args:
        keep: Finished jobs kept for their results.
    """

    def __init__(self, keep: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articulate-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.keep = keep

    def start(self, work: Callable[[Callable[[float], bool]], Any]) -> Job:
        """Queue ``work``; returns its job at once."""
        job = Job(str(next(self._ids)))
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.status in ("done", "cancelled", "failed")]
            for old in finished[:max(0, len(finished) - self.keep)]:
                self._jobs.pop(old.id, None)
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job:
        """The job.

        Raises:
            UnknownJobError: No such job.
        """
        with self._lock:
            job = self._jobs.get(str(job_id))
        if job is None:
            raise UnknownJobError(f"no job {job_id!r} (never started, or long finished)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop (it stops at its next progress report; a queued one never starts)."""
        job = self.get(job_id)
        job.cancel.set()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Callable[[float], bool]], Any]) -> None:
        if job.cancel.is_set():
            job.status = "cancelled"
            return
        job.status = "running"

        def progress(fraction: float) -> bool:
            job.progress = min(1.0, max(0.0, float(fraction)))
            return not job.cancel.is_set()

        try:
            job.result = work(progress)
            job.status = "cancelled" if job.cancel.is_set() else "done"
            if job.status == "done":
                job.progress = 1.0
        except ArticulateError as err:
            job.status, job.error = "failed", str(err)
        except Exception as err:  # noqa: BLE001 - a bug: say so in one line rather than lose the job
            job.status, job.error = "failed", f"{type(err).__name__}: {err}"
