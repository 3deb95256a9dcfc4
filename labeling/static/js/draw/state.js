/* Articulate's drawing coach, state.js: the page's store (shared/store.js: one state object, changed through
 * update, which tells the views main.js subscribed), the concepts' colours and lookups. */
import { colourOf } from '../shared/palette.js';
import { createStore } from '../shared/store.js';

export const LEVEL_MAX = 1.5;    // concept bars are clipped at this level (1 = a typical complete drawing)

const store = createStore({
  coach: null,          // GET /api/coach: round, classes, grid, concepts, limits, throttle_ms
  concepts: [],         // the coach's concepts, each with its index and colour
  byId: new Map(),      // concept id -> concept
  strokes: [],          // finished strokes, [[x...], [y...]] in 0..255 units
  current: null,        // the stroke being drawn (same layout), or null
  shown: 0,             // how many strokes the canvas shows (all of them, but during a replay)
  target: null,         // the class the person says they draw (null: whatever the model thinks)
  answer: null,         // the feedback answer shown
  history: [],          // one entry per finished stroke read: {stroke, answer}, by stroke number
  hover: null,          // the concept whose map is overlaid on the drawing
  mode: 'draw',         // 'draw', or 'talk' (talk back: pick a stroke or a rectangle)
  pick: null,           // talk back: {kind: 'stroke'|'rect', stroke, rect, cells: [[y, x]...]}
  store: { version: null, concepts: [] }, // GET /api/concepts
  replaying: false,
  keyId: null,          // the drawing's key_id in exports
  latencies: [],        // ms from a finished stroke to its feedback on screen (the frame after it is drawn)
  ghost: null,          // strokes to trace, under the ink (not part of the drawing): {strokes, what, caption, colour}
  showing: null,        // a "show me" running: {concept, progress}
});

/** The page's state: read it anywhere; what a view shows changes through update. */
export const D = store.get();
export const { update, subscribe } = store;

/** The coach's description, with a stable colour per concept (its place in the coach's list, as the atlas). */
export function setCoach(coach) {
  const concepts = (coach.concepts || []).map((c, index) => ({ ...c, index, colour: colourOf(index) }));
  update({ coach, concepts, byId: new Map(concepts.map((c) => [c.id, c])) });
}

/** Overlay a concept's map on the drawing while the pointer is on its bar or its sentence (``on``), and take it
 * off when the pointer leaves. */
export function setHover(id, on) {
  if (on) update({ hover: id });
  else if (D.hover === id) update({ hover: null });
}

export const conceptName = (id) => (D.byId.get(id) ? D.byId.get(id).name : String(id));
export const colourOfConcept = (id) => (D.byId.get(id) ? D.byId.get(id).colour : '#7f7f7f');

/** The strokes the canvas shows. */
export const shownStrokes = () => D.strokes.slice(0, D.shown);

/** A new drawing's key_id (exports): the time it was started. */
export const newKeyId = () => `articulate-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`
  + `-${Math.random().toString(36).slice(2, 6)}`;

let parser = null;
/** A CSS colour ('#rrggbb', 'hsl(...)') as [r, g, b] (the canvas normalises it). */
export function rgb(colour) {
  parser = parser || document.createElement('canvas').getContext('2d');
  parser.fillStyle = '#7f7f7f';
  parser.fillStyle = colour;
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(parser.fillStyle);
  if (m) return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
  const n = String(parser.fillStyle).match(/\d+/g) || [127, 127, 127];
  return n.slice(0, 3).map(Number);
}
