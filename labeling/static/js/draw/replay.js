/* Articulate's drawing coach, replay.js: replaying the drawing stroke by stroke (the feedback read again for each
 * stroke, so bars, sentences, timeline and chart run as they did while drawing) and exporting it.
 *
 * Export downloads two files: <key_id>.ndjson, the drawing as one line of the Quick, Draw! simplified layout
 * ({"word", "key_id", "drawing"}), and <key_id>.events.json, what the coach said stroke by stroke
 * ({"key_id", "word", "target", "round", "exported", "drawing", "strokes": [{"stroke", "target", "chosen",
 * "classes", "unsure", "familiarity", "levels", "events", "missing", "complete", "sentences"}]}). */
import { reset, settled, wantStroke } from './feedback.js';
import { D, update } from './state.js';

export const REPLAY_STEP_MS = 400;
const R = { hooks: { lock: () => {}, cleared: () => {}, done: () => {} } };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** lock(on): the page's controls off during a replay; cleared(): the feedback views emptied; done(). */
export function onReplay(hooks) {
  Object.assign(R.hooks, hooks);
}

/** Read every stroke again in order. animate: the canvas is cleared and redrawn stroke by stroke, REPLAY_STEP_MS
 * apart; otherwise the drawing stays and only the feedback is read again (a new target). */
export async function replay({ animate = true } = {}) {
  if (D.replaying || !D.strokes.length) return;
  update({ replaying: true });
  R.hooks.lock(true);
  try {
    reset();
    await settled();
    update({ history: [] });
    const total = D.strokes.length;
    if (animate) update({ shown: 0 });
    R.hooks.cleared();
    for (let k = 1; k <= total; k += 1) {
      const started = performance.now();
      if (animate) update({ shown: k });
      wantStroke(k);
      await settled();
      if (animate && k < total) await sleep(Math.max(0, REPLAY_STEP_MS - (performance.now() - started)));
    }
  } finally {
    update({ shown: D.strokes.length, replaying: false });
    R.hooks.lock(false);
    R.hooks.done();
  }
}

/** The class the drawing is exported as: the one chosen, else the model's reading of the whole drawing. */
export function exportWord() {
  if (D.target) return D.target;
  const last = D.history[D.history.length - 1];
  return (last && last.answer.target) || (D.answer && D.answer.target) || null;
}

export function exportDrawing() {
  const word = exportWord();
  const drawing = D.strokes.map(([xs, ys]) => [xs.map(Math.round), ys.map(Math.round)]);
  download(`${D.keyId}.ndjson`, `${JSON.stringify({ word, key_id: D.keyId, drawing })}\n`, 'application/x-ndjson');
  const log = {
    key_id: D.keyId, word, target: D.target, round: D.coach ? D.coach.round : null,
    exported: new Date().toISOString(), drawing,
    strokes: D.history.map(({ stroke, answer }) => ({
      stroke, target: answer.target, chosen: answer.chosen, classes: answer.classes, levels: answer.levels,
      unsure: answer.unsure, familiarity: answer.familiarity, events: answer.events, missing: answer.missing,
      complete: answer.complete, sentences: answer.sentences,
    })),
  };
  download(`${D.keyId}.events.json`, `${JSON.stringify(log, null, 1)}\n`, 'application/json');
  return { word, files: [`${D.keyId}.ndjson`, `${D.keyId}.events.json`] };
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
