/* Articulate's drawing coach, feedback.js: the feedback client (POST /api/feedback), one request at a time.
 *
 * Two kinds of request: a "stroke" frame after a stroke is finished (its answer becomes the history entry of
 * that stroke; `before` = the levels of the stroke before) and a "live" frame while a stroke is being drawn
 * (the finished strokes plus the one in progress; `before` = the levels after the last finished stroke; shown,
 * never added to the history). Only one request is in flight; what was asked meanwhile is remembered as one
 * wish per kind and sent afterwards for the newest drawing, so requests never queue up (a stroke finished while
 * the one before was still being read is read with the drawing so far; the skipped stroke gets no entry).
 * Anything that rewrites the drawing (undo, clear, a new target, a replay) calls reset(): answers to earlier
 * requests are then dropped.
 */
import { api } from '../shared/api.js';
import { D, update } from './state.js';

const F = {
  commit: null,   // the stroke count of the newest finished drawing to read, or null
  live: false,    // a frame of the stroke in progress is wanted
  running: false, // a request is in flight
  epoch: 0,       // bumped by reset(): answers to older requests are dropped
  waiters: [],    // settled() promises
  askedAt: 0,     // when the newest stroke frame was wanted (performance.now())
  hooks: { answer: () => {}, blank: () => {}, error: () => {} },
};

export const feedbackIdle = () => !F.running && F.commit === null && !F.live;

/** answer(answer, kind), blank() (nothing drawn: nothing to read), error(err). */
export function onFeedback(hooks) {
  Object.assign(F.hooks, hooks);
}

/** Read the first n strokes as a finished drawing (default: the strokes shown). */
export function wantStroke(n = D.shown) {
  F.commit = n;
  F.askedAt = performance.now();
  pump();
}

/** Read the stroke in progress (throttled by the caller). */
export function wantLive() {
  F.live = true;
  pump();
}

/** Drop every wish and every answer still to come. */
export function reset() {
  F.epoch += 1;
  F.commit = null;
  F.live = false;
}

/** Resolves when no request is in flight and none is wanted. */
export function settled() {
  if (feedbackIdle()) return Promise.resolve();
  return new Promise((resolve) => F.waiters.push(resolve));
}

/** The history entry a frame of n strokes is compared with: the newest one for fewer strokes (null: none). */
export function entryBefore(n) {
  let best = null;
  for (const entry of D.history) if (entry.stroke < n && (!best || entry.stroke > best.stroke)) best = entry;
  return best;
}

async function pump() {
  if (F.running) return;
  F.running = true;
  try {
    while (F.commit !== null || F.live) {
      const epoch = F.epoch;
      if (F.commit !== null) {
        const n = F.commit;
        F.commit = null;
        await readStroke(n, epoch);
      } else {
        F.live = false;
        await readLive(epoch);
      }
    }
  } finally {
    F.running = false;
    const waiters = F.waiters.splice(0);
    waiters.forEach((resolve) => resolve());
  }
}

async function ask(body, epoch) {
  try {
    const answer = await api('POST', '/api/feedback', body);
    return epoch === F.epoch ? answer : null;
  } catch (err) {
    if (epoch === F.epoch) F.hooks.error(err);
    return null;
  }
}

async function readStroke(n, epoch) {
  if (n === 0) {
    F.hooks.blank();
    return;
  }
  const askedAt = F.askedAt;
  const previous = entryBefore(n);
  const answer = await ask({
    strokes: D.strokes.slice(0, n), target: D.target, before: previous ? previous.answer.levels : null,
    before_target: previous ? previous.answer.target : null, frame: n,
  }, epoch);
  if (!answer) return;
  update({ history: [...D.history.filter((e) => e.stroke < n), { stroke: n, answer }] });
  F.hooks.answer(answer, 'stroke');
  if (!D.replaying) requestAnimationFrame(() => update({ latencies: [...D.latencies, performance.now() - askedAt] }));
}

async function readLive(epoch) {
  if (!D.current || D.replaying) return;
  const n = D.shown;
  const previous = entryBefore(n + 1);
  const answer = await ask({
    strokes: [...D.strokes.slice(0, n), D.current], target: D.target,
    before: previous ? previous.answer.levels : null, before_target: previous ? previous.answer.target : null,
    frame: n + 1,
  }, epoch);
  // A stroke finished meanwhile is read next: its answer replaces this one, so this one is not shown.
  if (answer && D.current && F.commit === null) F.hooks.answer(answer, 'live');
}
