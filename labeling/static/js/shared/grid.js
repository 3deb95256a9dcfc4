/* Articulate's pages, shared/grid.js: the layer's grid lines over a drawing (the drawing page's talk-back mode and
 * the sketch page's editor). A grid is {origin, step, rows, cols} in drawing units. */

/** The layer's grid lines over a canvas drawn at `s` pixels per drawing unit. */
export function drawGrid(ctx, grid, s, alpha = 0.08) {
  ctx.save();
  ctx.strokeStyle = `rgba(29, 35, 48, ${alpha})`;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 0; i <= Math.max(grid.rows, grid.cols); i += 1) {
    const u = (grid.origin + grid.step * i) * s;
    if (i <= grid.cols) { ctx.moveTo(u, 0); ctx.lineTo(u, ctx.canvas.height); }
    if (i <= grid.rows) { ctx.moveTo(0, u); ctx.lineTo(ctx.canvas.width, u); }
  }
  ctx.stroke();
  ctx.restore();
}
