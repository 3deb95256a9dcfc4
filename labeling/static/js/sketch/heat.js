/* Articulate's sketch page, heat.js: a layer map (H x W) drawn as a heat map, cell by cell (a drawing's strokes:
 * shared/strokes.js). Cell (y, x) covers drawing units origin + step * x .. origin + step * (x + 1) (the same for
 * y). */
const LOW = [255, 255, 255];
const MID = [47, 95, 208];
const HIGH = [16, 24, 72];

/** A value in [0, 1] as an [r, g, b] colour: white, the accent blue, then dark. */
export function heatColour(v) {
  const t = Math.max(0, Math.min(1, Number(v) || 0));
  const [a, b, u] = t < 0.6 ? [LOW, MID, t / 0.6] : [MID, HIGH, (t - 0.6) / 0.4];
  return a.map((c, i) => Math.round(c + (b[i] - c) * u));
}

/** The map scaled to [0, 1] by top (a channel's largest activation; 1 for concept maps). */
export function normalised(map, top = 1) {
  if (!(top > 0)) return map.map((row) => row.map(() => 0));
  return map.map((row) => row.map((v) => Math.max(0, v) / top));
}

/** Draw a normalised map on a whole canvas (a small tile: the map's own cells, no drawing units). */
export function drawTile(canvas, values) {
  const rows = values.length;
  const cols = rows ? values[0].length : 0;
  canvas.width = Math.max(1, cols);
  canvas.height = Math.max(1, rows);
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let y = 0; y < rows; y += 1) {
    for (let x = 0; x < cols; x += 1) {
      const [r, g, b] = heatColour(values[y][x]);
      const at = 4 * (y * cols + x);
      image.data.set([r, g, b, 255], at);
    }
  }
  ctx.putImageData(image, 0, 0);
}

/** Draw a normalised map cell by cell in drawing units (s: canvas pixels per unit). */
export function drawCells(ctx, values, grid, s, alpha = 0.85) {
  values.forEach((row, y) => row.forEach((v, x) => {
    const [r, g, b] = heatColour(v);
    ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${alpha})`;
    ctx.fillRect((grid.origin + grid.step * x) * s, (grid.origin + grid.step * y) * s, grid.step * s + 0.5,
      grid.step * s + 0.5);
  }));
}
