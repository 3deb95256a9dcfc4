/* Articulate's atlas page, map.js (a view): the map of the atlas's points (Plotly scattergl), its lasso, and its
 * keyboard cursor (which this view alone keeps). The point under the pointer goes to the store (pointed), for the
 * preview beside the map (hover.js). */
import { setStatus } from '../shared/api.js';
import { $, esc, plural } from '../shared/dom.js';
import { colourOf, GREY } from '../shared/palette.js';
import { select } from './actions.js';
import { S, update } from './state.js';

let cursor = null; // the map cluster the keyboard is on, null: none yet
let handlersBound = false;
let revision = 0;

// ---------------------------------------------------------------- the map (Plotly scattergl)

// A point no concept explains: the round's concept head gives it a probability below one half.
const EXPLAINED = 0.5;
function shown(i) {
  return S.show === 'all' || !(S.points.explained && S.points.explained[i] >= EXPLAINED);
}

function groupTraces(groupOf, names, colours) {
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

function mapTraces() {
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
function clusterNumbers() {
  return clusterCentres().map(({ cluster, x, y }) => {
    const on = cluster === cursor; // the keyboard's cluster: framed
    return {
      x, y, text: String(cluster), showarrow: false, font: { size: on ? 15 : 12, color: '#111111', weight: 700 },
      bgcolor: on ? 'rgba(255, 255, 255, 0.95)' : 'rgba(255, 255, 255, 0.75)', borderpad: on ? 3 : 1,
      bordercolor: on ? '#2f5fd0' : 'rgba(0,0,0,0)', borderwidth: on ? 2 : 0, captureevents: false,
    };
  });
}

/** Each cluster (by number) at the median of its points. */
function clusterCentres() {
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
  return [...members.entries()].filter(([k]) => k >= 0).sort((a, b) => a[0] - b[0]).map(([k, ids]) => ({
    cluster: k, x: median(ids.map((i) => S.points.x[i])), y: median(ids.map((i) => S.points.y[i])), size: ids.length,
  }));
}

function selectionTrace() {
  const P = S.points;
  const ids = S.selection ? S.selection.points.filter((p) => p >= 0 && p < S.n) : [];
  return {
    type: S.mapType, mode: 'markers', name: 'selection', x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
    customdata: ids, hoverinfo: 'skip', showlegend: ids.length > 0,
    marker: { size: 8, color: 'rgba(0,0,0,0)', line: { color: '#111111', width: 1.1 } },
  };
}

/** A concept's points on the previous round's map (this map is aligned onto it), hollow and grey. */
function previousTrace() {
  const prev = S.selection && S.selection.previous;
  const n = prev ? prev.x.length : 0;
  return {
    type: S.mapType, mode: 'markers', name: prev ? `round ${prev.round}` : 'previous round',
    x: prev ? prev.x : [], y: prev ? prev.y : [], hoverinfo: 'skip', showlegend: n > 0,
    marker: { size: 7, symbol: 'circle-open', color: '#9ca3af', line: { color: '#9ca3af', width: 1 } },
  };
}

function padded(low, high) {
  const pad = 0.04 * (high - low || 1);
  return [low - pad, high + pad];
}

export function renderMap() {
  if (!S.atlas) return;
  const div = $('map');
  const layout = {
    margin: { l: 8, r: 8, t: 8, b: 8 }, dragmode: 'lasso', hovermode: 'closest', uirevision: 'map',
    selectionrevision: `map-${(revision += 1)}`, selections: [], // keep zoom across redraws, not a lasso
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
  if (!handlersBound) {
    handlersBound = true;
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
      if (pt && pt.customdata !== undefined) update({ pointed: { point: Number(pt.customdata) } });
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

// ---------------------------------------------------------------- the map by keyboard, and the points in view

/** Keys on the focused map: arrows go from cluster to cluster, Enter or Space selects the cluster, + and − zoom
 * on it, V selects the points in view. */
export function mapKey(ev) {
  if (!S.atlas) return;
  const centres = clusterCentres();
  if (!centres.length) return;
  const at = centres.findIndex((c) => c.cluster === cursor);
  if (['ArrowRight', 'ArrowDown', 'ArrowLeft', 'ArrowUp'].includes(ev.key)) {
    ev.preventDefault();
    const step = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? 1 : -1;
    const next = at < 0 ? 0 : (at + step + centres.length) % centres.length;
    moveMapCursor(centres[next]);
  } else if (ev.key === 'Enter' || ev.key === ' ') {
    ev.preventDefault();
    if (at < 0) moveMapCursor(centres[0]);
    else select({ cluster: cursor });
  } else if (ev.key === '+' || ev.key === '=' || ev.key === '-' || ev.key === '−') {
    ev.preventDefault();
    zoomMap(ev.key === '-' || ev.key === '−' ? 2 : 0.5, at < 0 ? null : centres[at]);
  } else if (ev.key === 'v' || ev.key === 'V') {
    ev.preventDefault();
    selectInView();
  }
}

function moveMapCursor(centre) {
  cursor = centre.cluster;
  const c = S.clusters.get(centre.cluster);
  $('map-cursor').textContent = `cluster ${centre.cluster}${c && c.majority_part ? ` (${c.majority_part})` : ''}: `
    + `${plural(centre.size, 'point')} · Enter selects it, + and − zoom on it`;
  if (S.colourBy === 'cluster') Plotly.relayout($('map'), { annotations: clusterNumbers() });
}

/** Zoom the map by ``factor`` (0.5: in) around a cluster's centre, else around the middle of the view. */
function zoomMap(factor, centre) {
  const div = $('map');
  const [[x0, x1], [y0, y1]] = viewRanges(div);
  const cx = centre ? centre.x : (x0 + x1) / 2;
  const cy = centre ? centre.y : (y0 + y1) / 2;
  const hw = ((x1 - x0) / 2) * factor;
  const hh = ((y1 - y0) / 2) * factor;
  Plotly.relayout(div, { 'xaxis.range': [cx - hw, cx + hw], 'yaxis.range': [cy - hh, cy + hh] });
}

/** The map's x and y ranges as drawn (Plotly widens one of them to keep the axes' scales equal). */
function viewRanges(div) {
  const full = div._fullLayout || div.layout; // eslint-disable-line no-underscore-dangle
  return [full.xaxis.range, full.yaxis.range].map((r) => [...r].sort((a, b) => a - b));
}

/** Select every point the map shows in its current view (zoomed by the wheel, a box, or + and −). */
export function selectInView() {
  const div = $('map');
  if (!S.atlas || !div.layout) return null;
  const [[x0, x1], [y0, y1]] = viewRanges(div);
  const ids = [];
  for (let i = 0; i < S.n; i += 1) {
    const x = S.points.x[i];
    const y = S.points.y[i];
    if (shown(i) && x >= x0 && x <= x1 && y >= y0 && y <= y1) ids.push(i);
  }
  if (!ids.length) {
    setStatus('The map\'s view holds no points: zoom out (− on the map, or double-click it).', 'info');
    return null;
  }
  return select({ points: ids });
}
