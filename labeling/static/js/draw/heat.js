/* Articulate's drawing coach, heat.js: the layer under the ink. A concept's map (where the model sees it) as a
 * translucent heat map in the concept's colour, the layer's grid and the cells picked in talk-back mode. Cell
 * (y, x) of the layer covers drawing units origin + step * x .. origin + step * (x + 1) (the same for y). */
import { CANVAS_UNITS } from '../shared/canvas.js';
import { drawGrid } from '../shared/grid.js';
import { cellBox } from './geometry.js';
import { colourOfConcept, D, rgb } from './state.js';

const PICK = [47, 95, 208];
export const H = { shown: null }; // the concept whose map is drawn (null: none)

export function renderUnder() {
  const canvas = document.getElementById('under');
  if (!canvas || !D.coach) return;
  const ctx = canvas.getContext('2d');
  const s = canvas.width / CANVAS_UNITS;
  const grid = D.coach.grid;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  H.shown = null;
  if (D.mode === 'talk') drawGrid(ctx, grid, s);
  const map = D.hover && D.answer && D.answer.maps ? D.answer.maps[D.hover] : null;
  if (map) {
    drawHeat(ctx, map, grid, s, rgb(colourOfConcept(D.hover)));
    H.shown = D.hover;
  }
  if (D.mode === 'talk' && D.pick) drawCells(ctx, D.pick.cells, grid, s);
  canvas.dataset.heat = H.shown || '';
}

function drawHeat(ctx, map, grid, s, [r, g, b]) {
  const rows = map.length;
  const cols = rows ? map[0].length : 0;
  if (!rows || !cols) return;
  const small = document.createElement('canvas');
  small.width = cols;
  small.height = rows;
  const sctx = small.getContext('2d');
  const image = sctx.createImageData(cols, rows);
  for (let y = 0; y < rows; y += 1) {
    for (let x = 0; x < cols; x += 1) {
      const v = Math.max(0, Math.min(1, Number(map[y][x]) || 0));
      const at = 4 * (y * cols + x);
      image.data[at] = r;
      image.data[at + 1] = g;
      image.data[at + 2] = b;
      image.data[at + 3] = Math.round(200 * Math.sqrt(v)); // sqrt: the weaker places stay visible
    }
  }
  sctx.putImageData(image, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(small, grid.origin * s, grid.origin * s, cols * grid.step * s, rows * grid.step * s);
  ctx.restore();
}

function drawCells(ctx, cells, grid, s) {
  ctx.save();
  ctx.fillStyle = `rgba(${PICK.join(',')}, 0.22)`;
  ctx.strokeStyle = `rgba(${PICK.join(',')}, 0.7)`;
  ctx.lineWidth = Math.max(1, s * 0.6);
  for (const [y, x] of cells) {
    const [x0, y0, x1, y1] = cellBox(y, x, grid);
    ctx.fillRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
    ctx.strokeRect(x0 * s + 0.5, y0 * s + 0.5, (x1 - x0) * s - 1, (y1 - y0) * s - 1);
  }
  ctx.restore();
}
