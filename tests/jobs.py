"""Waiting on the labeling app's background jobs (dreams, visualizations, show me) in API tests."""

from __future__ import annotations

import time

import httpx


def wait_for_job(api: httpx.Client, job_id: str, timeout: float) -> dict:
    """Poll ``/api/jobs/<id>`` until the job is done, cancelled or failed, or ``timeout`` seconds have passed.

    Args:
        api: A client of the running server.
        job_id: The job's id, as the request that started it answered.
        timeout: The most seconds to wait (the job's last state is answered then).

    Returns:
        The job's state, as ``GET /api/jobs/<id>`` answers it.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = api.get(f"/api/jobs/{job_id}").json()
        if state["status"] in ("done", "cancelled", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)
