/* Articulate's drawing coach, ghost.js: strokes to trace, drawn faint and dashed under the person's ink (D.ghost):
 * a visualization or a dream the sketch page handed over (shared/strokes.js HANDOVER.ghost, kept for the tab until
 * hidden), or the strokes "show me" answered (showme.js). A ghost is never part of the drawing: the coach reads only
 * what the person draws. */
import { CANVAS_UNITS } from '../shared/canvas.js';
import { $ } from '../shared/dom.js';
import { drawStrokes, HANDOVER, handedOver, isDrawing } from '../shared/strokes.js';
import { D, update } from './state.js';

const GHOST = '#7b5fc7';
const GHOST_WIDTH = 3.2; // drawing units: wider than the ink, so a traced stroke shows on top of it
const GHOST_DASH = [6, 5];

/** Draw the ghost (none: an empty layer) at the ink's resolution, and show or hide its bar. */
export function renderGhost() {
  const canvas = $('ghost');
  const ink = $('ink');
  if (canvas.width !== ink.width || canvas.height !== ink.height) {
    canvas.width = ink.width;
    canvas.height = ink.height;
  }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const { ghost } = D;
  $('ghost-bar').hidden = !ghost;
  canvas.dataset.strokes = String(ghost ? ghost.strokes.length : 0);
  if (!ghost) return;
  ctx.globalAlpha = 0.6;
  drawStrokes(ctx, ghost.strokes, canvas.width / CANVAS_UNITS, ghost.colour || GHOST, GHOST_WIDTH, GHOST_DASH);
  $('ghost-caption').textContent = ghost.caption ? `${ghost.what}: ${ghost.caption}` : ghost.what;
}

/** Take the ghost off the pad (a handed-over one is forgotten for the tab too). */
export function hideGhost() {
  if (D.ghost && !D.ghost.concept) window.sessionStorage.removeItem(HANDOVER.ghost);
  update({ ghost: null });
}

/** Show the ghost another page handed over, if any, and wire the bar's button. */
export function initGhost() {
  $('ghost-hide').addEventListener('click', hideGhost);
  const handed = handedOver(HANDOVER.ghost);
  if (handed && isDrawing(handed.strokes)) {
    update({ ghost: { strokes: handed.strokes, what: String(handed.what || 'a drawing to trace'),
      caption: handed.caption ? String(handed.caption) : '' } });
  }
}
