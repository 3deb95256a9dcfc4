/* Articulate's page, atlas.js: The header, the cluster list and the atlas grid (Plotly heatmap of icons). */
import { $, esc, fmt, h, plural, withToken } from './dom.js';
import { previewCell } from './map.js';
import { select } from './selection.js';
import { colourOf, GREY, S } from './state.js';

// ---------------------------------------------------------------- header and clusters

export function renderHeader() {
  const A = S.atlas;
  const title = `Articulate — round ${A.round} atlas`;
  $('title').textContent = title;
  document.title = title;
  $('layer').textContent = `${A.layer}${A.split ? ` (${A.split})` : ''}`;
  const m = A.metrics || {};
  $('metric-purity').textContent = fmt(m.atlas_purity);
  $('metric-nmi').textContent = fmt(m.atlas_nmi);
}

export function topEntries(counts, k) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, k);
}

export function renderClusters() {
  const list = $('cluster-list');
  list.replaceChildren();
  const sel = S.selection;
  for (const c of S.clusters.values()) {
    const [topClass] = topEntries(c.classes, 1);
    const pressed = Boolean(sel && sel.kind === 'cluster' && sel.key === c.cluster);
    const purity = c.purity === null || c.purity === undefined ? null : c.purity;
    list.append(h('li', null, h('button', {
      type: 'button', class: 'cluster-item', testid: `cluster-${c.cluster}`, 'aria-pressed': String(pressed),
      title: `select cluster ${c.cluster}`, onclick: () => select({ cluster: c.cluster }),
    },
    h('span', { class: 'swatch', style: { background: colourOf(c.cluster) } }),
    h('span', { class: 'cl-name', text: `${c.cluster}` }),
    h('span', { class: 'cl-part', text: c.majority_part || (topClass ? topClass[0] : '') }),
    h('span', { class: 'cl-meta', text: `${c.size}${purity !== null ? ` · ${Math.round(purity * 100)}%` : ''}` }),
    purity !== null ? h('span', { class: 'purity-bar', title: `purity ${fmt(purity)}` },
      h('span', { style: { width: `${Math.round(purity * 100)}%` } })) : null)));
  }
}

// ---------------------------------------------------------------- the atlas grid (Plotly)

export function gridGeometry() {
  const { size, extent } = S.atlas.grid;
  const [x0, x1, y0, y1] = extent;
  return { size, x0, x1, y0, y1, w: (x1 - x0) / size, h: (y1 - y0) / size };
}

export function cellRect(g, row, col, inset = 0) {
  const left = g.x0 + col * g.w;
  const top = g.y1 - row * g.h;
  return { x0: left + inset * g.w, x1: left + g.w - inset * g.w, y0: top - g.h + inset * g.h, y1: top - inset * g.h };
}

export function atlasShapes() {
  const g = gridGeometry();
  const shapes = [];
  for (const c of S.cells.values()) {
    shapes.push({ type: 'rect', xref: 'x', yref: 'y', ...cellRect(g, c.row, c.col, 0.03),
      line: { color: c.cluster === null || c.cluster === undefined ? GREY : colourOf(c.cluster), width: 2 },
      fillcolor: 'rgba(0,0,0,0)', layer: 'above' });
  }
  const sel = S.selection;
  if (sel && sel.points && sel.points.length && S.points.cell) {
    const counts = new Map();
    for (const p of sel.points) {
      const cell = S.points.cell[p];
      if (cell !== undefined && cell >= 0) counts.set(cell, (counts.get(cell) || 0) + 1);
    }
    for (const [cellId, count] of counts) {
      const row = Math.floor(cellId / g.size);
      const col = cellId % g.size;
      const cell = S.cells.get(cellId);
      const share = cell && cell.count ? Math.min(1, count / cell.count) : 0.5;
      shapes.push({ type: 'rect', xref: 'x', yref: 'y', ...cellRect(g, row, col, 0),
        line: { color: '#111', width: sel.kind === 'cell' && sel.key === cellId ? 4 : 1.5 },
        fillcolor: `rgba(255, 190, 0, ${(0.10 + 0.30 * share).toFixed(3)})`, layer: 'above' });
    }
  }
  return shapes;
}

export function renderAtlas() {
  const g = gridGeometry();
  const images = [];
  for (const c of S.cells.values()) {
    if (!c.icon) continue;
    const r = cellRect(g, c.row, c.col, 0);
    images.push({ source: withToken(c.icon), xref: 'x', yref: 'y', x: r.x0, y: r.y1, sizex: g.w, sizey: g.h,
      xanchor: 'left', yanchor: 'top', sizing: 'stretch', layer: 'below' });
  }
  // An invisible heatmap over the grid: hover and click anywhere in a cell (empty cells have gaps).
  const xs = []; const ys = []; const z = []; const text = [];
  for (let col = 0; col < g.size; col += 1) xs.push(g.x0 + (col + 0.5) * g.w);
  for (let i = 0; i < g.size; i += 1) {
    const row = g.size - 1 - i; // z row i is drawn bottom-up; grid row 0 is the top
    ys.push(g.y1 - (row + 0.5) * g.h);
    z.push(new Array(g.size).fill(null));
    text.push(new Array(g.size).fill(''));
  }
  for (const c of S.cells.values()) {
    const i = g.size - 1 - c.row;
    z[i][c.col] = c.count;
    const cluster = S.clusters.get(c.cluster);
    const part = cluster && cluster.majority_part ? ` · ${esc(cluster.majority_part)}` : '';
    text[i][c.col] = `<b>cell ${c.cell}</b> (row ${c.row}, col ${c.col})<br>${plural(c.count, 'point')}`
      + `<br>cluster ${c.cluster ?? '—'}${part}`;
  }
  const trace = {
    type: 'heatmap', x: xs, y: ys, z, text, hovertemplate: '%{text}<extra></extra>', hoverongaps: false,
    colorscale: [[0, 'rgba(0,0,0,0)'], [1, 'rgba(0,0,0,0)']], showscale: false, xgap: 0, ygap: 0,
  };
  const layout = {
    margin: { l: 4, r: 4, t: 4, b: 4 }, dragmode: 'zoom', hovermode: 'closest', uirevision: 'atlas',
    paper_bgcolor: '#ffffff', plot_bgcolor: '#f3f4f6',
    xaxis: { range: [g.x0, g.x1], visible: false, fixedrange: false, constrain: 'domain' },
    yaxis: { range: [g.y0, g.y1], visible: false, scaleanchor: 'x', scaleratio: 1, constrain: 'domain' },
    images, shapes: atlasShapes(),
  };
  const config = { responsive: true, scrollZoom: true, displaylogo: false,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d'] };
  const div = $('atlas-grid');
  // as tall as the grid's aspect asks at the current width (the layout keeps data units square)
  const width = div.getBoundingClientRect().width || 500;
  div.style.height = `${Math.round(Math.min(680, Math.max(300, width * ((g.y1 - g.y0) / (g.x1 - g.x0)) + 8)))}px`;
  Plotly.newPlot(div, [trace], layout, config).then(() => {
    div.on('plotly_click', (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (!pt || !Array.isArray(pt.pointNumber)) return;
      const [i, col] = pt.pointNumber;
      const cellId = (g.size - 1 - i) * g.size + col;
      if (S.cells.has(cellId)) select({ cell: cellId });
    });
    div.on('plotly_hover', (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (!pt || !Array.isArray(pt.pointNumber)) return;
      const [i, col] = pt.pointNumber;
      const cell = S.cells.get((g.size - 1 - i) * g.size + col);
      if (cell) previewCell(cell);
    });
  });
}

export function updateAtlasSelection() {
  if (!S.atlas) return;
  Plotly.relayout($('atlas-grid'), { shapes: atlasShapes() });
}
