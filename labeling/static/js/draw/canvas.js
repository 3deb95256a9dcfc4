/* Articulate's drawing coach, canvas.js: the drawing pad. Pointer input (mouse, pen, touch) recorded as strokes
 * in drawing units (0..255, the Quick, Draw! layout [[x...], [y...]]), and the ink drawn at the screen's
 * resolution. The layer under the ink (heat maps, picked cells) is heat.js's. The stroke in progress is the state's
 * `current`, changed through update (main.js subscribes the ink to it). */
import { CANVAS_UNITS } from '../shared/canvas.js';
import { onPointer } from '../shared/dom.js';
import { toUnits } from './geometry.js';
import { D, update } from './state.js';

const MIN_STEP = 2; // drawing units: a point closer than this to the one before is skipped
const INK = '#1d2330';
const PICKED = '#2f5fd0';

const P = {
  ink: null,
  under: null,
  pointer: null,  // the pointer id being followed
  hooks: null,
  drag: null,     // talk back: the rectangle being dragged, [x0, y0, x1, y1] in units
};

/** Set the pad up. hooks: canStart() -> bool; strokeMoved(); strokeEnded(stroke); pickStart(pt); pickMove(pt);
 * pickEnd(pt). In draw mode the pad records strokes; in talk mode it reports picks. */
export function initPad(hooks) {
  P.ink = document.getElementById('ink');
  P.under = document.getElementById('under');
  P.hooks = hooks;
  const ink = P.ink;
  onPointer(ink, down, move, up);
  new ResizeObserver(() => resize()).observe(ink);
  resize();
}

/** The scale from drawing units to the canvas's (device) pixels. */
function scaleOf(canvas) {
  return canvas.width / CANVAS_UNITS;
}

function resize() {
  const box = P.ink.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const size = Math.max(1, Math.round(box.width * ratio));
  for (const canvas of [P.ink, P.under]) {
    if (canvas.width !== size) {
      canvas.width = size;
      canvas.height = size;
    }
  }
  renderInk();
  if (P.hooks && P.hooks.resized) P.hooks.resized();
}

function point(ev) {
  return toUnits(ev.clientX, ev.clientY, P.ink.getBoundingClientRect());
}

function down(ev) {
  if (P.pointer !== null || (ev.pointerType === 'mouse' && ev.button !== 0)) return;
  if (D.mode === 'draw' && !P.hooks.canStart()) return;
  ev.preventDefault();
  P.pointer = ev.pointerId;
  try { P.ink.setPointerCapture(ev.pointerId); } catch (err) { /* a synthetic event: nothing to capture */ }
  const [x, y] = point(ev);
  if (D.mode === 'talk') {
    P.drag = [x, y, x, y];
    P.hooks.pickStart([x, y]);
  } else {
    update({ current: [[x], [y]] });
    P.hooks.strokeMoved();
  }
}

function move(ev) {
  if (ev.pointerId !== P.pointer) return;
  const events = typeof ev.getCoalescedEvents === 'function' ? ev.getCoalescedEvents() : [];
  const samples = events.length ? events : [ev];
  if (D.mode === 'talk') {
    const [x, y] = point(samples[samples.length - 1]);
    P.drag[2] = x;
    P.drag[3] = y;
    renderInk();
    P.hooks.pickMove(P.drag);
    return;
  }
  if (!D.current) return;
  const stroke = D.current.map((coords) => [...coords]);
  let added = 0;
  for (const sample of samples) added += addPoint(stroke, point(sample), added);
  if (added) {
    update({ current: stroke });
    P.hooks.strokeMoved();
  }
}

/** Add [x, y] to the end of `stroke`, a copy of the stroke in progress `added` points longer; 1 when added, 0 when
 * it is too close to the point before (unless `force`) or the drawing has no room left. */
function addPoint([xs, ys], [x, y], added, force = false) {
  const last = xs.length - 1;
  const distance = Math.hypot(x - xs[last], y - ys[last]);
  if (distance === 0 || (!force && distance < MIN_STEP) || !P.hooks.roomFor(1 + added)) return 0;
  xs.push(x);
  ys.push(y);
  return 1;
}

function up(ev) {
  if (ev.pointerId !== P.pointer) return;
  P.pointer = null;
  if (D.mode === 'talk') {
    const drag = P.drag;
    P.drag = null;
    if (drag) {
      if (ev.type === 'pointerup') [drag[2], drag[3]] = point(ev);
      P.hooks.pickEnd(drag);
    }
    return;
  }
  if (!D.current) return;
  const stroke = D.current.map((coords) => [...coords]);
  if (ev.type === 'pointerup') addPoint(stroke, point(ev), 0, true); // end where the pen lifted, however close
  update({ current: null });
  P.hooks.strokeEnded(stroke);
}

/** Draw the ink: the strokes shown, the stroke in progress, the picked stroke and the dragged rectangle. */
export function renderInk() {
  const canvas = P.ink;
  if (!canvas) return;
  const ctx = canvas.getContext('2d');
  const s = scaleOf(canvas);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  const picked = D.pick && D.pick.kind === 'stroke' ? D.pick.stroke : -1;
  const strokes = D.strokes.slice(0, D.shown);
  strokes.forEach((stroke, i) => drawStroke(ctx, stroke, s, i === picked ? PICKED : INK, i === picked ? 3.6 : 2.4));
  if (D.current) drawStroke(ctx, D.current, s, INK, 2.4);
  const rect = P.drag || (D.pick && D.pick.kind === 'rect' ? D.pick.rect : null);
  if (rect && D.mode === 'talk') {
    ctx.save();
    ctx.strokeStyle = PICKED;
    ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
    ctx.setLineDash([6 * (window.devicePixelRatio || 1), 4 * (window.devicePixelRatio || 1)]);
    const [x0, y0, x1, y1] = rect;
    ctx.strokeRect(Math.min(x0, x1) * s, Math.min(y0, y1) * s, Math.abs(x1 - x0) * s, Math.abs(y1 - y0) * s);
    ctx.restore();
  }
}

function drawStroke(ctx, [xs, ys], s, colour, width) {
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = width * s;
  if (xs.length === 1) {
    ctx.beginPath();
    ctx.arc(xs[0] * s, ys[0] * s, (width * s) / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(xs[0] * s, ys[0] * s);
  for (let i = 1; i < xs.length; i += 1) ctx.lineTo(xs[i] * s, ys[i] * s);
  ctx.stroke();
}
