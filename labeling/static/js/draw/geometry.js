/* Articulate's drawing coach, geometry.js: drawing units, the layer's grid cells, and picking strokes. Pure. */
import { CANVAS_UNITS } from '../shared/canvas.js';

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** A pointer position (client pixels) in drawing units 0..255, rounded to integers. */
export function toUnits(clientX, clientY, box) {
  const x = ((clientX - box.left) / box.width) * CANVAS_UNITS;
  const y = ((clientY - box.top) / box.height) * CANVAS_UNITS;
  return [clamp(Math.round(x), 0, CANVAS_UNITS - 1), clamp(Math.round(y), 0, CANVAS_UNITS - 1)];
}

/** The grid index (row or column) holding drawing coordinate u, clamped to the grid. */
export const cellIndex = (u, grid, n) => clamp(Math.floor((u - grid.origin) / grid.step), 0, n - 1);

/** The drawing-unit box of cell (y, x): [x0, y0, x1, y1]. */
export function cellBox(y, x, grid) {
  const x0 = grid.origin + grid.step * x;
  const y0 = grid.origin + grid.step * y;
  return [x0, y0, x0 + grid.step, y0 + grid.step];
}

const key = (y, x) => `${y},${x}`;
const unkey = (k) => k.split(',').map(Number);
const sortCells = (cells) => cells.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

/** The cells a stroke passes through, [[y, x]...] sorted (its segments sampled every quarter cell). */
export function cellsOfStroke(stroke, grid) {
  const [xs, ys] = stroke;
  const seen = new Set();
  const add = (x, y) => seen.add(key(cellIndex(y, grid, grid.rows), cellIndex(x, grid, grid.cols)));
  add(xs[0], ys[0]);
  for (let i = 1; i < xs.length; i += 1) {
    const dx = xs[i] - xs[i - 1];
    const dy = ys[i] - ys[i - 1];
    const steps = Math.max(1, Math.ceil(Math.hypot(dx, dy) / (grid.step / 4)));
    for (let s = 1; s <= steps; s += 1) add(xs[i - 1] + (dx * s) / steps, ys[i - 1] + (dy * s) / steps);
  }
  return sortCells([...seen].map(unkey));
}

/** The cells whose centre lies inside a rectangle [x0, y0, x1, y1] (any corner order); at least the cell at its
 * centre. */
export function cellsInRect(rect, grid) {
  const [x0, x1] = [Math.min(rect[0], rect[2]), Math.max(rect[0], rect[2])];
  const [y0, y1] = [Math.min(rect[1], rect[3]), Math.max(rect[1], rect[3])];
  const cells = [];
  for (let y = 0; y < grid.rows; y += 1) {
    const cy = grid.origin + grid.step * (y + 0.5);
    if (cy < y0 || cy > y1) continue;
    for (let x = 0; x < grid.cols; x += 1) {
      const cx = grid.origin + grid.step * (x + 0.5);
      if (cx >= x0 && cx <= x1) cells.push([y, x]);
    }
  }
  if (!cells.length) {
    cells.push([cellIndex((y0 + y1) / 2, grid, grid.rows), cellIndex((x0 + x1) / 2, grid, grid.cols)]);
  }
  return cells;
}

function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 > 0 ? clamp(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** The index of the stroke nearest to (x, y) within `within` units, or -1. */
export function nearestStroke(strokes, x, y, within) {
  let best = -1;
  let bestDistance = within;
  strokes.forEach(([xs, ys], index) => {
    for (let i = 0; i < xs.length; i += 1) {
      const j = Math.max(0, i - 1);
      const d = segmentDistance(x, y, xs[j], ys[j], xs[i], ys[i]);
      if (d <= bestDistance) {
        bestDistance = d;
        best = index;
      }
    }
  });
  return best;
}

/** Points in a drawing, all strokes together. */
export const pointCount = (strokes) => strokes.reduce((n, s) => n + s[0].length, 0);
