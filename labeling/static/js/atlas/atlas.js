/* Articulate's atlas page, atlas.js (a view): the header (and its round switch), the cluster list and the atlas
 * grid (Plotly heatmap of icons, and its keyboard cursor, which this view alone keeps). */
import { setStatus } from '../shared/api.js';
import { $, esc, fmt, h, plural, TOKEN, withToken } from '../shared/dom.js';
import { colourOf, GREY } from '../shared/palette.js';
import { select } from './actions.js';
import { S, topEntries, update } from './state.js';

let cursor = null; // the atlas cell the keyboard is on (row * size + col), null: none yet

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

/** The round switch: every built round; the server's own round is the one shown without ``?round=``. */
export function renderRounds() {
  const R = S.rounds;
  const menu = $('round-switch');
  menu.replaceChildren(...R.rounds.map((r) => h('option', {
    value: String(r), text: `${r}${r === R.session ? ' (this session)' : ''}` })));
  menu.value = String(S.atlas.round);
  menu.disabled = R.rounds.length < 2;
  menu.title = R.rounds.length < 2 ? 'only this round is built' : 'show another round\'s atlas';
}

/** Go to another round's atlas: the page again, its address naming the round (the token kept; its atlas layer,
 * since the rounds need not map the same layers). */
export function switchRound(round) {
  const params = new URLSearchParams();
  if (TOKEN) params.set('token', TOKEN);
  if (Number(round) !== S.rounds.session) params.set('round', String(round));
  const query = params.toString();
  window.location.assign(`${window.location.pathname}${query ? `?${query}` : ''}`);
}

/** The layer switch: the round's atlas layer first, then the extra layers it maps (atlas.layers). */
export function renderLayers() {
  const A = S.atlas;
  const layers = A.layers || [A.layer];
  const menu = $('layer-switch');
  menu.replaceChildren(...layers.map((l) => h('option', {
    value: l, text: `${l}${l === A.atlas_layer ? ' (atlas layer)' : ''}` })));
  menu.value = A.layer;
  menu.disabled = layers.length < 2;
  menu.title = layers.length < 2 ? 'this round maps only its atlas layer (atlas.layers adds others)'
    : 'show another layer\'s atlas of this round';
}

/** Go to another layer's atlas of the round shown: the page again, its address naming the layer (and round). */
export function switchLayer(layer) {
  const params = new URLSearchParams(window.location.search);
  if (layer === S.atlas.atlas_layer) params.delete('layer');
  else params.set('layer', layer);
  const query = params.toString();
  window.location.assign(`${window.location.pathname}${query ? `?${query}` : ''}`);
}

export function renderClusters() {
  const list = $('cluster-list');
  list.replaceChildren();
  const sel = S.selection;
  for (const c of S.clusters.values()) {
    const [topClass] = topEntries(c.classes, 1);
    const pressed = Boolean(sel && sel.kind === 'cluster' && sel.key === c.cluster);
    const purity = c.purity === null || c.purity === undefined ? null : c.purity;
    const what = c.majority_part || (topClass ? topClass[0] : '');
    const caption = `cluster ${c.cluster}: ${plural(c.size, 'position')}${purity === null ? ''
      : `; ${Math.round(purity * 100)}% of them are its most common part${c.majority_part ? `, ${c.majority_part}` : ''} (its purity)`}`;
    list.append(h('li', null, h('button', {
      type: 'button', class: 'cluster-item', testid: `cluster-${c.cluster}`, 'aria-pressed': String(pressed),
      title: `${caption}; click to select it`, onclick: () => select({ cluster: c.cluster }),
    },
    h('span', { class: 'swatch', style: { background: colourOf(c.cluster) } }),
    h('span', { class: 'cl-name', text: `${c.cluster}` }),
    h('span', { class: 'cl-part', text: what }),
    h('span', { class: 'cl-meta', testid: `cluster-meta-${c.cluster}`, title: caption,
      text: `${c.size}${purity !== null ? ` · ${Math.round(purity * 100)}%` : ''}` }),
    purity !== null ? h('span', { class: 'purity-bar', title: `purity ${fmt(purity)}` },
      h('span', { style: { width: `${Math.round(purity * 100)}%` } })) : null)));
  }
}

// ---------------------------------------------------------------- the atlas grid (Plotly)

function gridGeometry() {
  const { size, extent } = S.atlas.grid;
  const [x0, x1, y0, y1] = extent;
  return { size, x0, x1, y0, y1, w: (x1 - x0) / size, h: (y1 - y0) / size };
}

function cellRect(g, row, col, inset = 0) {
  const left = g.x0 + col * g.w;
  const top = g.y1 - row * g.h;
  return { x0: left + inset * g.w, x1: left + g.w - inset * g.w, y0: top - g.h + inset * g.h, y1: top - inset * g.h };
}

function atlasShapes() {
  const g = gridGeometry();
  const shapes = [];
  if (cursor !== null) { // the keyboard's cell: a dashed frame, over everything else
    const row = Math.floor(cursor / g.size);
    shapes.push({ type: 'rect', xref: 'x', yref: 'y', ...cellRect(g, row, cursor % g.size, 0),
      line: { color: '#2f5fd0', width: 3, dash: 'dot' }, fillcolor: 'rgba(0,0,0,0)', layer: 'above' });
  }
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
    // square cells whatever the layout's extent: an icon is a square picture
    yaxis: { range: [g.y0, g.y1], visible: false, scaleanchor: 'x', scaleratio: g.w / g.h, constrain: 'domain' },
    images, shapes: atlasShapes(),
  };
  const config = { responsive: true, scrollZoom: true, displaylogo: false,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d'] };
  const div = $('atlas-grid');
  fitAtlasHeight(div);
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
      const cellId = (g.size - 1 - i) * g.size + col;
      if (S.cells.has(cellId)) update({ pointed: { cell: cellId } });
    });
  });
}

/** The grid square, as large as the card's width and the screen's height below the plot's top allow (room kept
 * for the cursor line under it); never under 360 px. */
export function fitAtlasHeight(div = $('atlas-grid')) {
  const width = div.getBoundingClientRect().width || 500;
  const top = div.getBoundingClientRect().top + window.scrollY;
  const room = window.innerHeight - Math.min(top, window.innerHeight / 3) - 40;
  div.style.height = `${Math.round(Math.max(360, Math.min(width, room)))}px`;
}

export function updateAtlasSelection() {
  if (!S.atlas) return;
  Plotly.relayout($('atlas-grid'), { shapes: atlasShapes() });
}

// ---------------------------------------------------------------- the atlas by keyboard

const STEPS = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };

/** Keys on the focused atlas: arrows move the cursor from cell to cell, Enter or Space selects its cell. */
export function atlasKey(ev) {
  if (!S.atlas) return;
  const g = gridGeometry();
  if (STEPS[ev.key]) {
    ev.preventDefault();
    if (cursor === null) {
      moveAtlasCursor(firstCell());
      return;
    }
    const [dr, dc] = STEPS[ev.key];
    const row = Math.min(g.size - 1, Math.max(0, Math.floor(cursor / g.size) + dr));
    const col = Math.min(g.size - 1, Math.max(0, (cursor % g.size) + dc));
    moveAtlasCursor(row * g.size + col);
  } else if (ev.key === 'Enter' || ev.key === ' ') {
    ev.preventDefault();
    if (cursor === null) moveAtlasCursor(firstCell());
    else if (S.cells.has(cursor)) select({ cell: cursor });
    else setStatus(`Cell ${cursor} is empty: no point of the map falls in it.`, 'info');
  }
}

/** The cell a cursor starts on: the selected cell, else the first cell with points. */
function firstCell() {
  const sel = S.selection;
  if (sel && sel.kind === 'cell') return sel.key;
  return Math.min(...S.cells.keys());
}

/** Put the keyboard's cursor on a cell: its frame, its line under the atlas, its preview beside the map. */
function moveAtlasCursor(cellId) {
  const g = gridGeometry();
  cursor = cellId;
  const cell = S.cells.get(cellId);
  const where = `row ${Math.floor(cellId / g.size)}, col ${cellId % g.size}`;
  if (cell) {
    const cluster = S.clusters.get(cell.cluster);
    $('atlas-cursor').textContent = `cell ${cellId} (${where}): ${plural(cell.count, 'point')}, cluster `
      + `${cell.cluster ?? '—'}${cluster && cluster.majority_part ? ` (${cluster.majority_part})` : ''}`
      + ' · Enter selects it';
    update({ pointed: { cell: cellId } });
  } else {
    $('atlas-cursor').textContent = `cell ${cellId} (${where}): empty`;
  }
  updateAtlasSelection();
}
