/* Articulate's sketch page, editor.js: one map opened large, its grid's cells painted with the mouse. Drag:
 * paint (shift-drag: darken); the erase tool unpaints; fill paints every cell (shift-click: darkens them). The
 * painted cells become an edit's "cells" (paint and darken each with its own factor).
 *
 * Moves: the open map's target (this channel, all channels, or along a concept's direction: the "apply to"
 * choice) shifted by whole cells (the arrows: one cell; or dy, dx) or rotated about the map's centre (±90°, or
 * any degrees), each pushed as one edit ({"shift": [dy, dx]} or {"rotate": degrees}, no cells) onto the stack.
 *
 * The painted cells are K.cells, changed through update; main.js subscribes renderEditor to them and the open map. */
import { setStatus } from '../shared/api.js';
import { CANVAS_UNITS } from '../shared/canvas.js';
import { $, onPointer } from '../shared/dom.js';
import { drawGrid } from '../shared/grid.js';
import { drawStrokes } from '../shared/strokes.js';
import { drawCells, normalised } from './heat.js';
import { cellKey, K, update } from './state.js';

const PAINT = [255, 127, 14];
const DARK = [29, 35, 48];
const E = { canvas: null, dragging: null, last: null, changed: null, target: null, push: null };

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/**
 * Set the editor up. changed(): called when the painted cells change. target(): what the "apply to" choice edits,
 * {what: the edit's target fields, named: in words} (null when no map is open). push(added, done): puts edits
 * ([{edit, label}]) on the stack, saying `done` in the status; false when the stack has no room.
 */
export function initEditor(changed, target, push) {
  E.canvas = document.getElementById('editor-canvas');
  E.changed = changed;
  E.target = target;
  E.push = push;
  onPointer(E.canvas, down, move, up);
  for (const b of document.querySelectorAll('[data-shift]')) {
    b.addEventListener('click', () => shiftBy(...b.dataset.shift.split(',').map(Number)));
  }
  for (const b of document.querySelectorAll('[data-rotate]')) {
    b.addEventListener('click', () => rotateBy(Number(b.dataset.rotate)));
  }
  $('shift').addEventListener('click', () => {
    try {
      shiftBy(wholeIn('shift-dy', K.coach.grid.rows - 1, 'dy'), wholeIn('shift-dx', K.coach.grid.cols - 1, 'dx'));
    } catch (err) {
      setStatus(err.message, 'error');
    }
  });
  $('rotate').addEventListener('click', () => {
    const raw = $('rotate-degrees').value.trim();
    const degrees = Number(raw);
    if (raw === '' || !Number.isFinite(degrees) || Math.abs(degrees) > 360) {
      setStatus('rotate: give degrees from -360 to 360', 'error');
      return;
    }
    rotateBy(degrees);
  });
}

/** A whole number of cells from an input, within ±limit (throws a sentence when it is off). */
function wholeIn(id, limit, name) {
  const raw = $(id).value.trim();
  const value = Number(raw);
  if (raw === '' || !Number.isInteger(value) || Math.abs(value) > limit) {
    throw new Error(`shift ${name}: give a whole number of cells from -${limit} to ${limit}`);
  }
  return value;
}

// ---------------------------------------------------------------- moves: shift and rotate

/** Push "shift the open map's target by (dy, dx) cells" (zero fill where it moves away from). */
export function shiftBy(dy, dx) {
  const target = E.target();
  if (!target) return false;
  if (dy === 0 && dx === 0) {
    setStatus('A shift by (0, 0) changes nothing: give dy or dx.', 'error');
    return false;
  }
  const label = `${target.named} shifted by (${dy}, ${dx})`;
  return E.push([{ edit: { ...target.what, shift: [dy, dx] }, label }], `Shifted ${target.named} by (${dy}, ${dx})`);
}

/** Push "rotate the open map's target by `degrees` about the map's centre". */
export function rotateBy(degrees) {
  const target = E.target();
  if (!target) return false;
  if (degrees === 0) {
    setStatus('A rotation by 0° changes nothing: give some degrees.', 'error');
    return false;
  }
  const label = `${target.named} rotated by ${degrees}°`;
  return E.push([{ edit: { ...target.what, rotate: degrees }, label }], `Rotated ${target.named} by ${degrees}°`);
}

function units(ev) {
  const box = E.canvas.getBoundingClientRect();
  return [((ev.clientX - box.left) / box.width) * CANVAS_UNITS,
    ((ev.clientY - box.top) / box.height) * CANVAS_UNITS];
}

function cellAt([ux, uy]) {
  const { grid } = K.coach;
  return [clamp(Math.floor((uy - grid.origin) / grid.step), 0, grid.rows - 1),
    clamp(Math.floor((ux - grid.origin) / grid.step), 0, grid.cols - 1)];
}

/** Paint, darken or erase (as the drag does) the cell under `point` in `cells`, a copy of the state's. */
function mark(cells, point) {
  const [y, x] = cellAt(point);
  const key = cellKey(y, x);
  if (E.dragging === 'erase') cells.delete(key);
  else cells.set(key, E.dragging);
}

function down(ev) {
  if (E.dragging || ev.button !== 0 || !K.open) return;
  ev.preventDefault();
  try { E.canvas.setPointerCapture(ev.pointerId); } catch (err) { /* synthetic event */ }
  E.dragging = K.tool === 'paint' && ev.shiftKey ? 'darken' : K.tool;
  E.last = units(ev);
  const cells = new Map(K.cells);
  mark(cells, E.last);
  update({ cells });
}

function move(ev) {
  if (!E.dragging) return;
  const now = units(ev);
  const [dx, dy] = [now[0] - E.last[0], now[1] - E.last[1]];
  const steps = Math.max(1, Math.ceil(Math.hypot(dx, dy) / (K.coach.grid.step / 4)));
  const cells = new Map(K.cells);
  for (let i = 1; i <= steps; i += 1) mark(cells, [E.last[0] + (dx * i) / steps, E.last[1] + (dy * i) / steps]);
  E.last = now;
  update({ cells });
}

function up() {
  if (!E.dragging) return;
  E.dragging = null;
  E.last = null;
  E.changed();
}

/** Paint (or darken) every cell of the grid. */
export function fillAll(kind) {
  const { grid } = K.coach;
  const cells = new Map(K.cells);
  for (let y = 0; y < grid.rows; y += 1) for (let x = 0; x < grid.cols; x += 1) cells.set(cellKey(y, x), kind);
  update({ cells });
  E.changed();
}

/** Unpaint every cell. */
export function clearCells() {
  update({ cells: new Map() });
  E.changed();
}

/** Draw the open map cell by cell, the drawing over it, the grid and the painted cells. */
export function renderEditor() {
  const canvas = E.canvas;
  if (!canvas || !K.open || !K.coach) return;
  const ctx = canvas.getContext('2d');
  const s = canvas.width / CANVAS_UNITS;
  const { grid } = K.coach;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  drawCells(ctx, normalised(K.open.map, K.open.max), grid, s, 0.8);
  drawStrokes(ctx, K.layer ? K.layer.strokes : [], s, 'rgba(255, 170, 60, 0.9)', 2.4);
  drawGrid(ctx, grid, s, 0.12);
  ctx.save();
  for (const [key, kind] of K.cells) {
    const [y, x] = key.split(',').map(Number);
    const [r, g, b] = kind === 'darken' ? DARK : PAINT;
    const x0 = (grid.origin + grid.step * x) * s;
    const y0 = (grid.origin + grid.step * y) * s;
    ctx.fillStyle = `rgba(${r}, ${g}, ${b}, 0.5)`;
    ctx.strokeStyle = `rgba(${r}, ${g}, ${b}, 0.95)`;
    ctx.lineWidth = 2;
    ctx.fillRect(x0, y0, grid.step * s, grid.step * s);
    ctx.strokeRect(x0 + 1, y0 + 1, grid.step * s - 2, grid.step * s - 2);
  }
  ctx.restore();
  canvas.dataset.cells = String(K.cells.size);
}
