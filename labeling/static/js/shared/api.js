/* Articulate's pages, shared/api.js: Talking to the labeling app's HTTP API (docs/reference/http-api.md): requests,
 * the busy counter (its own: every page's steps count, whatever the page's state), the status line. */
import { $, TOKEN, withToken } from './dom.js';

// Steps running now (busy) and finished so far (done): a page's test hook reads them as idle and actions.
const activity = { busy: 0, done: 0 };

/** Whether no step is running (window.articulate.idle on every page). */
export const idle = () => activity.busy === 0;

/** How many steps have finished since the page opened (window.articulate.actions). */
export const actionsDone = () => activity.done;

export function setStatus(message, kind = 'info') {
  const box = $('status');
  box.textContent = message;
  box.dataset.kind = kind;
}

class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

export async function api(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  if (TOKEN) options.headers.Authorization = `Bearer ${TOKEN}`;
  let response;
  try {
    response = await fetch(withToken(path), options);
  } catch (err) {
    throw new ApiError(0, `The server did not answer (${err.message}); is articulate label still running?`, null);
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    const message = (data && typeof data.error === 'string' && data.error)
      || `${method} ${path} failed: ${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, data);
  }
  return data;
}

/** Run an async step, counting it as busy (window.articulate.idle) and reporting failures in the status. */
export async function busy(step) {
  activity.busy += 1;
  document.body.dataset.busy = 'true';
  try {
    return await step();
  } finally {
    activity.busy -= 1;
    activity.done += 1;
    if (activity.busy === 0) delete document.body.dataset.busy;
  }
}
