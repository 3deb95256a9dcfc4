/* Articulate's pages, shared/jobs.js: following one of the app's jobs (a dream, a feature visualization, a "show
 * me") from its start to its end. POST <path> answers the job (202); GET /api/jobs/<id> is polled every POLL_MS
 * until the job is done, cancelled or failed; DELETE /api/jobs/<id> cancels it (the server stops at its next step and keeps what it
 * has so far). A job the server already had (a cached visualization) may come back done at once: no polling. */
import { api } from './api.js';

export const POLL_MS = 150;
export const FINAL = new Set(['done', 'cancelled', 'failed']);
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Start a job and follow it. shown(job) is called with every state the server answers (the first one too).
 * Answers a handle: `done` (a promise of the job's last state; it rejects with the server's error when the job
 * could not start or a poll failed), `cancel()` (asks the server to stop the job: sent at once when the job has an
 * id, else as soon as the start answers; rejects when the DELETE fails), `job` (the latest state, null before the
 * start answers) and `cancelling` (Cancel was asked for).
 */
export function followJob(path, body, shown) {
  const handle = { job: null, cancelling: false };
  const update = (job) => {
    handle.job = job;
    shown(job);
    return job;
  };
  handle.cancel = async () => {
    handle.cancelling = true;
    const { job } = handle;
    if (!job || !job.id || FINAL.has(job.status)) return; // not started yet: sent once the start answers
    update(await api('DELETE', `/api/jobs/${job.id}`));
  };
  handle.done = (async () => {
    let job = update(await api('POST', path, body));
    if (handle.cancelling) await handle.cancel();
    while (!FINAL.has(job.status)) {
      await sleep(POLL_MS);
      job = update(await api('GET', `/api/jobs/${job.id}`));
    }
    return job;
  })();
  return handle;
}

/** A job's progress on a <progress> bar and a state line ("running 40%"), its status in data-status of both. */
export function showProgress(bar, state, job) {
  bar.hidden = false;
  bar.value = Math.max(0, Math.min(1, Number(job.progress) || 0));
  bar.dataset.status = job.status;
  state.dataset.status = job.status;
  state.textContent = `${job.status} ${Math.round(100 * bar.value)}%`;
}
