/* Articulate's pages, shared/strokes.js: drawings as strokes [[x...], [y...]] in drawing units (0..255), drawn on
 * canvases, and handed from one page to another. A page hands a drawing over in sessionStorage and opens the
 * other: the sketch page opens HANDOVER.sketch ({strokes}) as its drawing; the drawing page shows HANDOVER.ghost
 * ({strokes, what, caption}) as a ghost to trace under the person's ink. */
import { CANVAS_UNITS } from './canvas.js';
import { withToken } from './dom.js';

export const HANDOVER = { sketch: 'articulate.sketch', ghost: 'articulate.ghost' };
export const INK = '#1d2330';

/** Draw strokes on a context (s: canvas pixels per drawing unit); dash: [on, off] in drawing units, or none. */
export function drawStrokes(ctx, strokes, s, colour = INK, width = 2.4, dash = null) {
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.lineWidth = width * s;
  if (dash) ctx.setLineDash(dash.map((d) => d * s));
  for (const [xs, ys] of strokes) {
    ctx.beginPath();
    ctx.moveTo(xs[0] * s, ys[0] * s);
    for (let i = 1; i < xs.length; i += 1) ctx.lineTo(xs[i] * s, ys[i] * s);
    if (xs.length === 1) ctx.lineTo(xs[0] * s + 0.1, ys[0] * s);
    ctx.stroke();
  }
  ctx.restore();
}

/** Draw a drawing alone on its whole canvas, on white (a canvas of any size: the 0..255 box fills it). */
export function renderStrokes(canvas, strokes, colour = INK) {
  const ctx = canvas.getContext('2d');
  const s = canvas.width / CANVAS_UNITS;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawStrokes(ctx, strokes, s, colour);
}

/** Whether a value is a drawing: a non-empty list of strokes [[x...], [y...]] of numbers, as long as each other. */
export function isDrawing(strokes) {
  const numbers = (xs) => Array.isArray(xs) && xs.length > 0 && xs.every(Number.isFinite);
  return Array.isArray(strokes) && strokes.length > 0 && strokes.every((s) => Array.isArray(s) && s.length === 2
    && numbers(s[0]) && numbers(s[1]) && s[0].length === s[1].length);
}

/** Hand a value over to another page of this tab (sessionStorage); throws a sentence when the browser refuses. */
export function handOver(key, value) {
  try {
    window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch (err) {
    throw new Error(`The drawing could not be handed over (${err.message}).`);
  }
}

/** What another page handed over under key (null: nothing, or not JSON). */
export function handedOver(key) {
  try {
    return JSON.parse(window.sessionStorage.getItem(key) || 'null');
  } catch (err) {
    return null;
  }
}

/** Hand a drawing over and open the page that shows it: '/draw' as a ghost to trace, '/sketch' as its drawing. */
export function openDrawing(page, drawing) {
  handOver(page === '/draw' ? HANDOVER.ghost : HANDOVER.sketch, drawing);
  window.location.href = withToken(page);
}

/**
 * Show a job's result (a visualization, a dream) in the page's elements named `${prefix}-...`: a picture in
 * -image (result.image), or a drawing on the -drawing canvas (result.strokes) with -result shown: the words of
 * what it is (-explain) and its .ndjson download (-download). -caption gets `caption`.
 */
export function showDrawn(prefix, result, caption) {
  const el = (name) => document.getElementById(`${prefix}-${name}`);
  const drawn = Array.isArray(result.strokes);
  el('image').hidden = drawn;
  el('drawing').hidden = !drawn;
  el('result').hidden = !drawn;
  if (drawn) {
    renderStrokes(el('drawing'), result.strokes);
    el('explain').textContent = result.explain || '';
    el('download').href = `data:application/x-ndjson;charset=utf-8,${encodeURIComponent(result.ndjson || '')}`;
    el('drawing').dataset.strokes = String(result.strokes.length);
  } else {
    el('image').src = result.image;
  }
  el('caption').textContent = caption;
}
