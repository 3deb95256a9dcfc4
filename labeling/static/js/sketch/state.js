/* Articulate's sketch page, state.js: the page's store (shared/store.js: one state object, changed through
 * update, which tells the views main.js subscribed), the field ranges and the drawing it opens. */
import { createStore } from '../shared/store.js';
import { HANDOVER, handedOver } from '../shared/strokes.js';

export const CHANNELS = 24;          // how many channels POST /api/layer answers

const store = createStore({
  coach: null,        // GET /api/coach: round, classes, grid
  drawing: null,      // the request's drawing: {point: N} or {strokes: [...]}
  source: '',         // in words: "atlas point 3" or "from the drawing page"
  target: null,       // the class the channels are sorted for (null: the model's top class)
  layer: null,        // POST /api/layer answer shown
  open: null,         // the map in the editor: {key, kind: 'channel'|'concept', channel, id, name, label, map, max}
  cells: new Map(),   // painted cells of the editor: "y,x" -> 'paint' | 'darken'
  tool: 'paint',      // 'paint', 'darken' or 'erase'
  stack: [],          // the edits applied, in order: {edit (the API's), label}
  result: null,       // POST /api/edit answer shown
  stale: false,       // the stack changed since the result was predicted
  pending: 0,         // requests in flight
  dream: null,        // the last dream job's state (GET /api/jobs/<id>)
  dreaming: false,    // a dream is running (started, polled until it ends)
  dreamJob: null,     // the running (or last) dream's job handle (jobs.js followJob: cancel(), done)
  vis: null,          // the last feature visualization job's state
  visualizing: false, // a feature visualization is running
  visJob: null,       // its job handle
  visResult: null,    // the visualization shown: {what, strokes (a drawing) or image, explain, ndjson, cached}
  dreamResult: null,  // the dream shown, the same way
  drawnAs: null,      // GET /api/visualize/options: {as: the choices, default} for this round's model
  reliance: null,     // GET /api/reliance: how much each class's accuracy leans on each concept
  limits: null,       // GET /api/limits: each limited field's {min, max}, the very ranges the server checks
});

/** The page's state: read it anywhere (never assign to it or change its maps and lists in place); change it
 * through update. */
export const K = store.get();
export const { update, subscribe } = store;

/** The fields whose range is the server's (GET /api/limits, from conf/labeling/default.yaml): never written here. */
const LIMITED = { 'dream-octaves': 'dream_octaves', 'dream-steps': 'dream_steps', 'vis-steps': 'visualize_steps',
  'factor-paint': 'factor', 'factor-darken': 'factor' };

/** Give the limited fields the server's ranges (their min and max attributes). */
export function applyLimits() {
  for (const [id, name] of Object.entries(LIMITED)) {
    const input = document.getElementById(id);
    input.min = String(K.limits[name].min);
    input.max = String(K.limits[name].max);
  }
}

/** Offer the "as" choices of the visualization and the dream the round's model allows (strokes: sketch models
 * only), its default chosen. */
export function applyDrawnAs() {
  for (const id of ['vis-as', 'dream-as']) {
    const select = document.getElementById(id);
    for (const option of select.options) option.hidden = !K.drawnAs.as.includes(option.value);
    select.value = K.drawnAs.default;
  }
}

/** A field's value as a number within the server's range for `limit` (whole: an integer); throws a sentence. */
export function withinLimit(id, limit, name, whole = true) {
  const { min, max } = K.limits[limit];
  const raw = document.getElementById(id).value.trim();
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || (whole && !Number.isInteger(value)) || value < min || value > max) {
    throw new Error(`${name}: give a ${whole ? 'whole ' : ''}number from ${min} to ${max}`);
  }
  return value;
}

/** The drawing the page opens: ?point=N, or the strokes the drawing page handed over; null when neither. */
export function drawingFromPage() {
  const params = new URLSearchParams(window.location.search);
  const point = params.get('point');
  if (point !== null && /^\d+$/.test(point.trim())) {
    return { drawing: { point: Number(point) }, source: `atlas point ${Number(point)}` };
  }
  const handed = handedOver(HANDOVER.sketch); // {"strokes": [...]} from the drawing page or a visualization
  if (handed && Array.isArray(handed.strokes) && handed.strokes.length) {
    const n = handed.strokes.length;
    return { drawing: { strokes: handed.strokes }, source: `${handed.what || 'your drawing'} (${n} strokes)` };
  }
  return null;
}

export const cellKey = (y, x) => `${y},${x}`;
export const sortedCells = (keys) => [...keys].map((k) => k.split(',').map(Number))
  .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
