/* Articulate's page, map.js: The map of the atlas's points (Plotly scattergl), its lasso, and the preview under the
 * pointer. */
import { api, setStatus } from './api.js';
import { $, esc, fmt, h, withToken } from './dom.js';
import { select } from './selection.js';
import { colourOf, GREY, iconScoreMeaning, S } from './state.js';

// ---------------------------------------------------------------- the map (Plotly scattergl)

// A point no concept explains: the round's concept head gives it a probability below one half.
export const EXPLAINED = 0.5;
export function shown(i) {
  return S.show === 'all' || !(S.points.explained && S.points.explained[i] >= EXPLAINED);
}

export function groupTraces(groupOf, names, colours) {
  const groups = new Map();
  const P = S.points;
  for (let i = 0; i < S.n; i += 1) {
    if (!shown(i)) continue;
    const key = groupOf(i);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(i);
  }
  const keys = [...groups.keys()].sort((a, b) => a - b);
  return keys.map((key) => {
    const ids = groups.get(key);
    return {
      type: S.mapType, mode: 'markers', name: esc(names(key)), x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
      customdata: ids, text: ids.map((i) => S.pointText[i]), hovertemplate: '%{text}<extra></extra>',
      marker: { size: 5, color: colours(key), opacity: 0.8 },
    };
  });
}

export function mapTraces() {
  const P = S.points;
  const A = S.atlas;
  const by = S.colourBy;
  if (by === 'class') {
    return groupTraces((i) => P.label[i], (k) => A.classes[k] ?? `class ${k}`, (k) => colourOf(k));
  }
  if (by === 'attribution') {
    const ids = [...Array(S.n).keys()].filter(shown);
    const values = ids.map((i) => Number(P.attribution[i]));
    const sorted = values.map(Math.abs).sort((a, b) => a - b);
    const lim = sorted.length ? (sorted[Math.floor(0.98 * (sorted.length - 1))] || 1) : 1;
    return [{
      type: S.mapType, mode: 'markers', name: 'attribution', x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
      customdata: ids, text: ids.map((i) => S.pointText[i]),
      hovertemplate: '%{text}<extra></extra>', showlegend: false,
      marker: { size: 5, color: values, colorscale: 'RdBu', cmin: -lim, cmax: lim,
        opacity: 0.85, colorbar: { title: { text: 'attribution' }, thickness: 10, len: 0.6 } },
    }];
  }
  if (by === 'concept') {
    const member = new Map();
    S.concepts.forEach((c, index) => { for (const p of c.points || []) if (!member.has(p)) member.set(p, index); });
    const rest = [];
    for (let i = 0; i < S.n; i += 1) if (!member.has(i) && shown(i)) rest.push(i);
    const traces = [{
      type: S.mapType, mode: 'markers', name: 'no concept', x: rest.map((i) => P.x[i]), y: rest.map((i) => P.y[i]),
      customdata: rest, text: rest.map((i) => S.pointText[i]), hovertemplate: '%{text}<extra></extra>',
      marker: { size: 4, color: GREY, opacity: 0.6 },
    }];
    S.concepts.forEach((c, index) => {
      const ids = (c.points || []).filter((p) => p >= 0 && p < S.n && shown(p));
      traces.push({
        type: S.mapType, mode: 'markers', name: esc(c.name), x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
        customdata: ids, text: ids.map((i) => `${esc(c.name)}<br>${S.pointText[i]}`),
        hovertemplate: '%{text}<extra></extra>', marker: { size: 6, color: colourOf(index), opacity: 0.9 },
      });
    });
    return traces;
  }
  return groupTraces((i) => P.cluster[i], (k) => {
    const c = S.clusters.get(k);
    return c && c.majority_part ? `${k}: ${c.majority_part}` : `cluster ${k}`;
  }, (k) => colourOf(k));
}

/** Each cluster's number at the median of its points, as map.png has them: colours alone can look alike.
 * Annotations, as they are drawn above the WebGL points (a text trace would be drawn under them). */
export function clusterNumbers() {
  const median = (values) => {
    const v = [...values].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const members = new Map();
  for (let i = 0; i < S.n; i += 1) {
    const k = S.points.cluster[i];
    if (!members.has(k)) members.set(k, []);
    members.get(k).push(i);
  }
  return [...members.entries()].filter(([k]) => k >= 0).map(([k, ids]) => ({
    x: median(ids.map((i) => S.points.x[i])), y: median(ids.map((i) => S.points.y[i])), text: String(k),
    showarrow: false, font: { size: 12, color: '#111111', weight: 700 }, bgcolor: 'rgba(255, 255, 255, 0.75)',
    borderpad: 1, captureevents: false,
  }));
}

export function selectionTrace() {
  const P = S.points;
  const ids = S.selection ? S.selection.points.filter((p) => p >= 0 && p < S.n) : [];
  return {
    type: S.mapType, mode: 'markers', name: 'selection', x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
    customdata: ids, hoverinfo: 'skip', showlegend: ids.length > 0,
    marker: { size: 8, color: 'rgba(0,0,0,0)', line: { color: '#111111', width: 1.1 } },
  };
}

/** A concept's points on the previous round's map (this map is aligned onto it), hollow and grey. */
export function previousTrace() {
  const prev = S.selection && S.selection.previous;
  const n = prev ? prev.x.length : 0;
  return {
    type: S.mapType, mode: 'markers', name: prev ? `round ${prev.round}` : 'previous round',
    x: prev ? prev.x : [], y: prev ? prev.y : [], hoverinfo: 'skip', showlegend: n > 0,
    marker: { size: 7, symbol: 'circle-open', color: '#9ca3af', line: { color: '#9ca3af', width: 1 } },
  };
}

export let mapHandlersBound = false;
export let mapRevision = 0;

export function padded(low, high) {
  const pad = 0.04 * (high - low || 1);
  return [low - pad, high + pad];
}

export function renderMap() {
  if (!S.atlas) return;
  const div = $('map');
  const layout = {
    margin: { l: 8, r: 8, t: 8, b: 8 }, dragmode: 'lasso', hovermode: 'closest', uirevision: 'map',
    selectionrevision: `map-${(mapRevision += 1)}`, selections: [], // keep zoom across redraws, not a lasso
    paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
    // The dense region (the atlas grid's extent, clipped to the bulk of the points); zoom out for outliers.
    xaxis: { visible: false, range: padded(S.atlas.grid.extent[0], S.atlas.grid.extent[1]) },
    yaxis: { visible: false, scaleanchor: 'x', scaleratio: 1,
      range: padded(S.atlas.grid.extent[2], S.atlas.grid.extent[3]) },
    legend: { orientation: 'h', x: 0, y: 0, yanchor: 'top', font: { size: 11 }, itemsizing: 'constant' },
    showlegend: S.colourBy !== 'attribution',
    annotations: S.colourBy === 'cluster' ? clusterNumbers() : [],
  };
  const config = { responsive: true, scrollZoom: true, displaylogo: false };
  Plotly.react(div, [...mapTraces(), previousTrace(), selectionTrace()], layout, config);
  if (!mapHandlersBound) {
    mapHandlersBound = true;
    div.on('plotly_selected', (ev) => {
      if (!ev || !ev.points) return;
      const ids = new Set();
      for (const pt of ev.points) {
        const index = pt.pointIndex ?? pt.pointNumber;
        const id = pt.customdata ?? (pt.data && pt.data.customdata ? pt.data.customdata[index] : undefined);
        if (id !== undefined && id !== null) ids.add(Number(id));
      }
      if (ids.size) select({ points: [...ids].sort((a, b) => a - b) });
      else setStatus('The lasso caught no points.', 'info');
    });
    div.on('plotly_click', (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (!pt || pt.customdata === undefined || pt.data.name === 'selection') return;
      const cluster = S.points.cluster[Number(pt.customdata)];
      if (cluster !== undefined && cluster >= 0) select({ cluster });
    });
    div.on('plotly_hover', (ev) => {
      const pt = ev && ev.points && ev.points[0];
      if (pt && pt.customdata !== undefined) previewPoint(Number(pt.customdata));
    });
  }
}

export function updateMapSelection() {
  if (!S.atlas) return;
  const div = $('map');
  if (!div.data) return;
  // Plotly's own lasso state (dimmed points, the lasso outline) goes: the selection trace shows the selection
  if (div.layout && div.layout.selections && div.layout.selections.length) Plotly.relayout(div, { selections: [] });
  if (div.data.some((t) => t.selectedpoints !== undefined && t.selectedpoints !== null)) {
    Plotly.restyle(div, { selectedpoints: [null] });
  }
  const index = div.data.length - 1;
  const trace = selectionTrace();
  const prev = previousTrace();
  Plotly.restyle(div, { x: [prev.x, trace.x], y: [prev.y, trace.y], customdata: [null, trace.customdata],
    showlegend: [prev.showlegend, trace.showlegend], name: [prev.name, trace.name] }, [index - 1, index]);
}

// ---------------------------------------------------------------- preview under the pointer

export function previewPoint(id) {
  const P = S.points;
  const A = S.atlas;
  const img = $('preview-img');
  img.src = withToken(`/api/sketch/${id}.png`);
  img.alt = `sketch behind point ${id}`;
  img.hidden = false;
  const part = P.part && P.part[id] >= 0 && A.parts ? A.parts[P.part[id]] : null;
  const lines = [
    h('div', { class: 'pv-title', text: A.classes[P.label[id]] ?? `class ${P.label[id]}` }),
    part ? h('div', null, h('span', { class: 'k', text: 'part ' }), part) : null,
    h('div', null, h('span', { class: 'k', text: 'point ' }), String(id),
      h('span', { class: 'k', text: ' · cluster ' }), String(P.cluster[id])),
    h('div', null, h('span', { class: 'k', text: 'position ' }), `y ${P.py ? P.py[id] : '?'}, x ${P.px ? P.px[id] : '?'}`),
    h('div', null, h('span', { class: 'k', text: 'attribution ' }), fmt(P.attribution[id], 3)),
    P.key_id ? h('div', { class: 'muted small', text: String(P.key_id[id]) }) : null,
  ];
  const box = $('preview-text');
  box.classList.remove('muted');
  box.replaceChildren(...lines.filter(Boolean));
}

export function previewCell(cell) {
  const img = $('preview-img');
  if (cell.icon) {
    img.src = withToken(cell.icon);
    img.alt = `icon of cell ${cell.cell}`;
    img.hidden = false;
  } else {
    img.hidden = true;
  }
  const cluster = S.clusters.get(cell.cluster);
  const box = $('preview-text');
  box.classList.remove('muted');
  box.replaceChildren(
    h('div', { class: 'pv-title', text: `cell ${cell.cell}` }),
    h('div', null, h('span', { class: 'k', text: 'points ' }), String(cell.count)),
    h('div', null, h('span', { class: 'k', text: 'cluster ' }), String(cell.cluster ?? '—'),
      cluster && cluster.majority_part ? ` · ${cluster.majority_part}` : ''),
    cell.score !== undefined && cell.score !== null
      ? h('div', { title: iconScoreMeaning() }, h('span', { class: 'k', text: 'icon score ' }), fmt(cell.score, 2),
        h('div', { class: 'muted small', testid: 'icon-score-meaning', text: iconScoreMeaning() })) : null,
  );
}
