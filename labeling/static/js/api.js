/* Articulate's page, api.js: Talking to the labeling app's HTTP API (docs/reference/http-api.md): requests, the
 * busy counter, the status line. */
import { $, TOKEN, withToken } from './dom.js';
import { S } from './state.js';

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
  S.busy += 1;
  document.body.dataset.busy = 'true';
  try {
    return await step();
  } finally {
    S.busy -= 1;
    S.actions += 1;
    if (S.busy === 0) delete document.body.dataset.busy;
  }
}
