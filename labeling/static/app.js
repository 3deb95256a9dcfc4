/* Articulate: the artist's page. Browse one round's activation atlas, select a cell, a cluster or a lasso of
 * points, judge the exemplar patches, and promote the selection to a named concept; manage the concepts.
 *
 * Talks to the labeling app's HTTP API (labeling/API.md). Every server-provided string reaches the page as
 * text (textContent, input values) or, inside Plotly, HTML-escaped; never as markup. Every write sends the
 * store version the page last saw; a 409 answer shows the server's message and reloads the concepts.
 *
 * Test hook: window.articulate (ready, idle, selectPoints(ids), selectCluster(k), selectCell(c), ...).
 */
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // A token given in the page address (?token=...) is sent with every request (servers started with a token).
  const TOKEN = new URLSearchParams(window.location.search).get('token');

  // One colour per cluster of the default atlas (24): tab10 first (the colours of atlas.png and map.png for the
  // first ten), then the 14 colours of Plotly's qualitative palettes and Kelly's 22 that lie farthest from
  // those before them (CIEDE2000, each at least 14.9 from every other, none too pale for white or grey).
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
    '#bcbd22', '#17becf', '#1616a7', '#85660d', '#620042', '#24796c', '#f8a19f', '#661100', '#00cc96',
    '#cf1c90', '#edad08', '#cc6677', '#6c7c32', '#654522', '#5f4690', '#dcb0f2'];
  const colourOf = (i) => (i >= 0 && i < PALETTE.length ? PALETTE[i]
    : `hsl(${Math.round((Math.abs(i) * 137.508) % 360)}, 55%, 45%)`);
  const GREY = '#c9ccd1';
  // What the atlas stage's icon score measures, by icon kind (pipeline/atlas/exemplar_icons.py; featurevis:
  // pipeline/featurevis/render.py, RenderResult.scores).
  const ICON_SCORE = {
    exemplar: 'how close the fragment shown is to its cell\'s mean activation (cosine): 1 exactly its direction; '
      + 'lower when the cell is spread out and no one drawing stands for it well',
    featurevis: 'how strongly the icon drives its cell\'s mean activation: 1 as strongly as the strongest '
      + 'real sketch, 0 as an average one',
  };
  const iconScoreMeaning = () => ICON_SCORE[S.atlas && S.atlas.icon_kind] || ICON_SCORE.featurevis;

  const S = {
    atlas: null,          // GET /api/atlas
    points: null,         // GET /api/points (columnar)
    n: 0,                 // number of atlas points
    pointText: [],        // Plotly hover text per point (escaped)
    clusters: new Map(),  // cluster id -> cluster
    cells: new Map(),     // cell id -> cell
    concepts: [],
    version: null,
    events: [],
    selection: null,      // POST /api/selection answer
    unticked: new Set(),  // exemplar point ids unticked in the current selection
    colourBy: 'cluster',
    show: 'all',          // 'all' points, or only those 'unnamed' (no concept of the round's head explains them)
    renaming: null,       // concept id being renamed inline
    mergeTicks: new Set(),
    busy: 0,
    actions: 0,
    selectSeq: 0,
    mapType: 'scattergl',
  };

  // ---------------------------------------------------------------- small helpers

  /** Escape text for Plotly's pseudo-HTML labels (hover, legend, titles): markup shows as typed. */
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

  /** A URL of the server, with the access token when the page was opened with one. */
  const withToken = (path) => (TOKEN ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(TOKEN)}` : path);

  /** Element builder: strings become text nodes, never markup. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'testid') node.dataset.testid = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'style' && typeof value === 'object') Object.assign(node.style, value);
      else if (value === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const fmt = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '—' : Number(x).toFixed(digits));
  const sentence = (s) => (/[.!?]$/.test(s.trim()) ? s.trim() : `${s.trim()}.`);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : (many || `${one}s`)}`;

  function setStatus(message, kind = 'info') {
    const box = $('status');
    box.textContent = message;
    box.dataset.kind = kind;
  }

  class ApiError extends Error {
    constructor(status, message, data) {
      super(message);
      this.status = status;
      this.data = data;
    }
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    if (TOKEN) options.headers.Authorization = `Bearer ${TOKEN}`;
    let response;
    try {
      response = await fetch(withToken(path), options);
    } catch (err) {
      throw new ApiError(0, `The server did not answer (${err.message}); is articulate label still running?`, null);
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const message = (data && typeof data.error === 'string' && data.error)
        || `${method} ${path} failed: ${response.status} ${response.statusText}`;
      throw new ApiError(response.status, message, data);
    }
    return data;
  }

  /** Run an async step, counting it as busy (window.articulate.idle) and reporting failures in the status. */
  async function busy(step) {
    S.busy += 1;
    document.body.dataset.busy = 'true';
    try {
      return await step();
    } finally {
      S.busy -= 1;
      S.actions += 1;
      if (S.busy === 0) delete document.body.dataset.busy;
    }
  }

  // ---------------------------------------------------------------- loading

  async function load() {
    if (typeof window.Plotly === 'undefined') {
      setStatus('Plotly did not load (/static/vendor/plotly.min.js); the atlas cannot be drawn.', 'error');
      return;
    }
    S.mapType = webglAvailable() ? 'scattergl' : 'scatter';
    await busy(async () => {
      try {
        const [atlas, points, concepts, events] = await Promise.all([
          api('GET', '/api/atlas'), api('GET', '/api/points'), api('GET', '/api/concepts'),
          api('GET', '/api/events?limit=20').catch(() => ({ events: [] })),
        ]);
        S.atlas = atlas;
        S.points = points;
        S.n = points.x.length;
        S.clusters = new Map((atlas.clusters || []).map((c) => [c.cluster, c]));
        S.cells = new Map((atlas.cells || []).map((c) => [c.cell, c]));
        const t0 = performance.now();
        S.pointText = buildPointText();
        applyConcepts(concepts);
        S.events = events.events || [];
        renderHeader();
        renderClusters();
        const t1 = performance.now();
        renderAtlas();
        const t2 = performance.now();
        renderMap();
        window.articulate.timings = {
          fetched: Math.round(t0), atlas: Math.round(t2 - t1), map: Math.round(performance.now() - t2),
        };
        renderSelection();
        renderConcepts();
        renderEvents();
        const nConcepts = S.concepts.length;
        setStatus(`Loaded round ${atlas.round}: ${plural(S.n, 'point')}, ${plural(S.clusters.size, 'cluster')}, `
          + `${plural(nConcepts, 'concept')} in the store (version ${S.version}).`, 'info');
        window.articulate.loadedIn = Math.round(performance.now());
        window.articulate.ready = true;
        document.body.dataset.ready = 'true';
      } catch (err) {
        setStatus(`Could not load the atlas: ${err.message}`, 'error');
      }
    });
  }

  function webglAvailable() {
    try {
      const canvas = document.createElement('canvas');
      return Boolean(canvas.getContext('webgl') || canvas.getContext('experimental-webgl'));
    } catch (err) {
      return false;
    }
  }

  function buildPointText() {
    const P = S.points;
    const classes = S.atlas.classes || [];
    const parts = S.atlas.parts || [];
    const out = new Array(S.n);
    for (let i = 0; i < S.n; i += 1) {
      const cls = classes[P.label[i]] ?? String(P.label[i]);
      const part = P.part && P.part[i] >= 0 && parts.length ? parts[P.part[i]] : null;
      out[i] = `<b>${esc(cls)}</b>${part !== null && part !== undefined ? ` · ${esc(part)}` : ''}`
        + `<br>point ${i} · cluster ${P.cluster[i]}<br>attribution ${fmt(P.attribution[i], 3)}`;
    }
    return out;
  }

  function applyConcepts(answer) {
    if (answer.version !== undefined) S.version = answer.version;
    if (Array.isArray(answer.concepts)) S.concepts = answer.concepts;
    const ids = new Set(S.concepts.map((c) => c.id));
    for (const id of [...S.mergeTicks]) if (!ids.has(id)) S.mergeTicks.delete(id);
    if (S.renaming && !ids.has(S.renaming)) S.renaming = null;
    $('store-version').textContent = `v${S.version}`;
  }

  async function refreshEvents() {
    try {
      const answer = await api('GET', '/api/events?limit=20');
      S.events = answer.events || [];
      renderEvents();
    } catch (err) {
      // the events list is a convenience; the status already tells what matters
    }
  }

  /** Reload the concepts (and what depends on them) from the server, e.g. after a conflict. */
  async function reloadStore() {
    const answer = await api('GET', '/api/concepts');
    applyConcepts(answer);
    renderConcepts();
    renderMap();
    await refreshSelectionAfterWrite([]);
    await refreshEvents();
  }

  // ---------------------------------------------------------------- header and clusters

  function renderHeader() {
    const A = S.atlas;
    const title = `Articulate — round ${A.round} atlas`;
    $('title').textContent = title;
    document.title = title;
    $('layer').textContent = `${A.layer}${A.split ? ` (${A.split})` : ''}`;
    const m = A.metrics || {};
    $('metric-purity').textContent = fmt(m.atlas_purity);
    $('metric-nmi').textContent = fmt(m.atlas_nmi);
  }

  function topEntries(counts, k) {
    return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, k);
  }

  function renderClusters() {
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

  function renderAtlas() {
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

  function updateAtlasSelection() {
    if (!S.atlas) return;
    Plotly.relayout($('atlas-grid'), { shapes: atlasShapes() });
  }

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

  function selectionTrace() {
    const P = S.points;
    const ids = S.selection ? S.selection.points.filter((p) => p >= 0 && p < S.n) : [];
    return {
      type: S.mapType, mode: 'markers', name: 'selection', x: ids.map((i) => P.x[i]), y: ids.map((i) => P.y[i]),
      customdata: ids, hoverinfo: 'skip', showlegend: ids.length > 0,
      marker: { size: 8, color: 'rgba(0,0,0,0)', line: { color: '#111111', width: 1.1 } },
    };
  }

  let mapHandlersBound = false;
  let mapRevision = 0;

  function padded(low, high) {
    const pad = 0.04 * (high - low || 1);
    return [low - pad, high + pad];
  }

  function renderMap() {
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
    Plotly.react(div, [...mapTraces(), selectionTrace()], layout, config);
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

  function updateMapSelection() {
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
    Plotly.restyle(div, { x: [trace.x], y: [trace.y], customdata: [trace.customdata], showlegend: trace.showlegend },
      [index]);
  }

  // ---------------------------------------------------------------- preview under the pointer

  function previewPoint(id) {
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

  function previewCell(cell) {
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

  // ---------------------------------------------------------------- selections

  async function select(request, { quiet = false } = {}) {
    const seq = ++S.selectSeq;
    return busy(async () => {
      try {
        const answer = await api('POST', '/api/selection', request);
        if (seq !== S.selectSeq) return answer; // a newer selection is on its way
        const sameExemplars = S.selection && S.selection.kind === answer.kind && S.selection.key === answer.key;
        S.selection = answer;
        if (!sameExemplars) S.unticked = new Set();
        else {
          const still = new Set((answer.exemplars || []).map((e) => e.point));
          S.unticked = new Set([...S.unticked].filter((p) => still.has(p)));
        }
        renderSelection();
        renderClusters();
        renderConcepts();
        updateAtlasSelection();
        updateMapSelection();
        if (!quiet) setStatus(`Selected ${describeSelection(answer)}: ${plural(answer.size, 'position')}.`, 'info');
        return answer;
      } catch (err) {
        if (seq === S.selectSeq) setStatus(err.message, 'error');
        return null;
      }
    });
  }

  function clearSelection() {
    S.selectSeq += 1;
    S.selection = null;
    S.unticked = new Set();
    renderSelection();
    renderClusters();
    renderConcepts();
    updateAtlasSelection();
    updateMapSelection();
  }

  function conceptById(id) {
    return S.concepts.find((c) => c.id === id) || null;
  }

  function describeSelection(sel) {
    if (!sel) return 'nothing';
    if (sel.kind === 'cluster') {
      const c = S.clusters.get(sel.key);
      return `cluster ${sel.key}${c && c.majority_part ? ` (${c.majority_part})` : ''}`;
    }
    if (sel.kind === 'cell') return `cell ${sel.key}`;
    if (sel.kind === 'concept') {
      const c = conceptById(sel.key);
      return c ? `concept '${c.name}'` : `concept ${sel.key}`;
    }
    return 'a lasso of points';
  }

  function barList(list, counts, total) {
    list.replaceChildren();
    const entries = topEntries(counts, 8);
    const rest = Object.keys(counts || {}).length - entries.length;
    const max = entries.length ? entries[0][1] : 1;
    for (const [name, count] of entries) {
      list.append(h('li', null,
        h('span', { class: 'bar-name', text: name, title: name }),
        h('span', { class: 'bar' }, h('span', { style: { width: `${Math.max(2, Math.round((count / max) * 100))}%` } })),
        h('span', { class: 'bar-count', text: `${count}${total ? ` · ${Math.round((count / total) * 100)}%` : ''}` })));
    }
    if (rest > 0) list.append(h('li', { class: 'muted small', text: `… and ${rest} more` }));
  }

  function renderSelection() {
    const sel = S.selection;
    const box = $('selection');
    $('clear-selection').disabled = !sel;
    box.dataset.kind = sel ? sel.kind : 'none';
    $('selection-empty').hidden = Boolean(sel);
    $('selection-body').hidden = !sel;
    if (!sel) return;
    const title = describeSelection(sel);
    $('selection-title').textContent = title.charAt(0).toUpperCase() + title.slice(1);
    $('selection-size').textContent = String(sel.size);
    $('selection-sketches').textContent = String(sel.sketches ?? '—');
    $('selection-purity').textContent = sel.purity === null || sel.purity === undefined
      ? 'unknown (no true parts)'
      : `${fmt(sel.purity)}${sel.majority_part ? ` (${sel.majority_part})` : ''}`;
    $('selection-attribution').textContent = fmt(sel.mean_attribution, 3);
    const icon = $('selection-icon');
    if (sel.icon) {
      icon.src = withToken(sel.icon);
      icon.hidden = false;
    } else {
      icon.hidden = true;
      icon.removeAttribute('src');
    }
    barList($('selection-classes'), sel.classes, sel.size);
    $('selection-parts-box').hidden = !sel.parts;
    if (sel.parts) barList($('selection-parts'), sel.parts, sel.size);
    renderExemplars();
    const name = $('concept-name');
    name.placeholder = sel.majority_part ? `name, e.g. ${sel.majority_part}` : 'name of the new concept';
    renderAddTo();
  }

  // The exemplars the page shows for the selection: the ones kept become the concept's verified positives.
  function shownExemplars() {
    return (S.selection && S.selection.exemplars || []).map((e) => e.point);
  }

  function renderExemplars() {
    const sel = S.selection;
    const grid = $('exemplars');
    grid.replaceChildren();
    for (const e of sel.exemplars || []) {
      const off = S.unticked.has(e.point);
      const box = h('input', { type: 'checkbox', testid: `exemplar-${e.point}`, 'aria-label': `keep exemplar ${e.point}` });
      box.checked = !off;
      const figure = h('label', {
        class: `exemplar${off ? ' off' : ''}`, 'data-point': e.point,
        title: `${e.key_id ?? ''} · ${e.class ?? ''}${e.part ? ` · ${e.part}` : ''} · y ${e.y}, x ${e.x}`
          + ` (point ${e.point})`,
      },
      h('img', { src: withToken(e.context || e.patch || `/api/sketch/${e.point}.png`), alt: `sketch of point ${e.point}`,
        loading: 'lazy' }),
      h('span', { class: 'ex-caption' }, box, h('span', { class: 'ex-label', text: e.part || e.class || '' })));
      box.addEventListener('change', () => {
        if (box.checked) S.unticked.delete(e.point); else S.unticked.add(e.point);
        figure.classList.toggle('off', !box.checked);
        $('unticked-count').textContent = String(S.unticked.size);
      });
      grid.append(figure);
    }
    $('unticked-count').textContent = String(S.unticked.size);
  }

  function renderAddTo() {
    const select = $('add-to');
    const previous = select.value;
    select.replaceChildren();
    if (!S.concepts.length) {
      select.append(h('option', { value: '', text: 'no concepts yet' }));
      select.disabled = true;
      $('add-button').disabled = true;
      return;
    }
    select.disabled = false;
    $('add-button').disabled = false;
    for (const c of S.concepts) select.append(h('option', { value: c.id, text: `${c.name} (${c.id})` }));
    if (S.concepts.some((c) => c.id === previous)) select.value = previous;
  }

  function selectionSource() {
    const sel = S.selection;
    if (sel.kind === 'cluster') return { kind: 'cluster', cluster: sel.key };
    if (sel.kind === 'cell') return { kind: 'cell', cell: sel.key };
    return { kind: 'lasso' };
  }

  // ---------------------------------------------------------------- writes

  /** A write to the concept store: sends expected_version; on success redraws, on 409 reloads. */
  async function write(method, path, body, describe) {
    return busy(async () => {
      let answer;
      try {
        if (method === 'DELETE') {
          const sep = path.includes('?') ? '&' : '?';
          answer = await api(method, `${path}${sep}expected_version=${encodeURIComponent(S.version)}`);
        } else {
          answer = await api(method, path, { ...body, expected_version: S.version });
        }
      } catch (err) {
        if (err.status === 409) {
          const message = err.message;
          S.renaming = null; // the inline editor showed the old name: start again from the current one
          try {
            await reloadStore();
            setStatus(`${sentence(message)} The page now shows the current concepts (store version ${S.version}): `
              + 'check them and try again.', 'conflict');
          } catch (reloadErr) {
            setStatus(`${message} (reloading the concepts failed too: ${reloadErr.message})`, 'conflict');
          }
        } else {
          setStatus(err.message, 'error');
        }
        return null;
      }
      applyConcepts(answer);
      renderConcepts();
      renderAddTo();
      if (S.colourBy === 'concept') renderMap();
      setStatus(describe(answer), 'ok');
      await refreshSelectionAfterWrite(answer.changed || []);
      await refreshEvents();
      return answer;
    });
  }

  /** After a write: a concept selection follows its concept (or goes away with it). */
  async function refreshSelectionAfterWrite(changed) {
    const sel = S.selection;
    if (!sel || sel.kind !== 'concept') return;
    if (!conceptById(sel.key)) {
      clearSelection();
      return;
    }
    if (!changed.length || changed.includes(sel.key)) {
      try {
        const answer = await api('POST', '/api/selection', { concept: sel.key });
        S.selection = answer;
        renderSelection();
        renderConcepts();
        updateAtlasSelection();
        updateMapSelection();
      } catch (err) {
        clearSelection();
      }
    }
  }

  function nameOf(answer, id, fallback) {
    const c = (answer.concepts || []).find((x) => x.id === id);
    return c ? c.name : fallback;
  }

  async function promote(event) {
    event.preventDefault();
    const sel = S.selection;
    if (!sel) { setStatus('Select a cluster, a cell or a lasso of points first.', 'error'); return; }
    const input = $('concept-name');
    const name = input.value.trim();
    if (!name) {
      setStatus('Give the new concept a name first (the box next to Promote).', 'error');
      input.focus();
      return;
    }
    const unticked = [...S.unticked].sort((a, b) => a - b);
    const answer = await write('POST', '/api/concepts', {
      name, points: sel.points, unticked, seen: shownExemplars(), source: selectionSource(),
    }, (a) => {
      const id = (a.changed || [])[0];
      const c = (a.concepts || []).find((x) => x.id === id);
      return `Promoted '${name}'${id ? ` (${id})` : ''}: ${plural(c ? c.n_positives : sel.size - unticked.length, 'position')}, `
        + `${unticked.length} unticked.`;
    });
    if (answer) {
      input.value = '';
      const made = (answer.changed || [])[0];
      if (made && S.concepts.some((c) => c.id === made)) $('add-to').value = made; // the next "add" goes there
    }
  }

  async function addToConcept(event) {
    event.preventDefault();
    const sel = S.selection;
    const id = $('add-to').value;
    if (!sel) { setStatus('Select something to add first.', 'error'); return; }
    if (!id) { setStatus('There is no concept to add to yet: promote one first.', 'error'); return; }
    const unticked = [...S.unticked].sort((a, b) => a - b);
    const before = conceptById(id);
    await write('POST', `/api/concepts/${encodeURIComponent(id)}/add`, {
      points: sel.points, unticked, seen: shownExemplars(), source: selectionSource(),
    }, (a) => `Added ${describeSelection(sel)} to '${nameOf(a, id, before ? before.name : id)}' (${id}), `
      + `${unticked.length} unticked.`);
  }

  async function rename(id, newName) {
    const name = newName.trim();
    const c = conceptById(id);
    if (!name) { setStatus('A concept needs a name; the rename was not sent.', 'error'); return; }
    if (c && name === c.name) { S.renaming = null; renderConcepts(); return; }
    const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/rename`, { name },
      () => `Renamed '${c ? c.name : id}' to '${name}'.`);
    if (answer) { S.renaming = null; renderConcepts(); }
  }

  async function remove(id) {
    const c = conceptById(id);
    await write('DELETE', `/api/concepts/${encodeURIComponent(id)}`, undefined,
      () => `Deleted '${c ? c.name : id}' (${id}); Undo brings it back.`);
  }

  async function splitByClusters(id) {
    const c = conceptById(id);
    // no k: the server's labeling.split_k sub-clusters
    await write('POST', `/api/concepts/${encodeURIComponent(id)}/split`, {}, (a) => {
      const made = (a.changed || []).filter((x) => x !== id);
      return `Split '${c ? c.name : id}' by sub-clustering into ${made.length + 1} concepts`
        + `${made.length ? `: ${made.map((x) => `'${nameOf(a, x, x)}'`).join(', ')} are new` : ''}.`;
    });
  }

  async function splitBySelection(id) {
    const c = conceptById(id);
    const sel = S.selection;
    if (!c) return;
    if (!sel) { setStatus('Lasso (or otherwise select) the points to split off first.', 'error'); return; }
    const members = new Set(c.points || []);
    const points = sel.points.filter((p) => members.has(p));
    if (!points.length) {
      setStatus(`None of the selected points belong to '${c.name}'; select some of its points to split them off.`, 'error');
      return;
    }
    const typed = $('concept-name').value.trim();
    const name = typed || `${c.name} (split)`;
    const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/split`, { points, name },
      () => `Split ${plural(points.length, 'point')} of '${c.name}' off into '${name}'.`);
    if (answer && typed) $('concept-name').value = '';
  }

  async function merge(event) {
    event.preventDefault();
    const ids = S.concepts.map((c) => c.id).filter((id) => S.mergeTicks.has(id));
    if (ids.length < 2) { setStatus('Tick at least two concepts to merge.', 'error'); return; }
    const name = $('merge-name').value.trim();
    const names = ids.map((id) => `'${conceptById(id).name}'`).join(', ');
    const body = { ids };
    if (name) body.name = name;
    const answer = await write('POST', '/api/concepts/merge', body,
      (a) => `Merged ${names} into '${nameOf(a, ids[0], name || ids[0])}' (${ids[0]}).`);
    if (answer) {
      S.mergeTicks.clear();
      $('merge-name').value = '';
      renderConcepts();
    }
  }

  async function undo() {
    await write('POST', '/api/undo', {}, (a) => {
      const latest = S.events && S.events.length ? S.events[0] : null;
      return `Undone${latest && latest.summary ? ` (${latest.summary})` : ''}: the store is at version ${a.version}.`;
    });
  }

  // ---------------------------------------------------------------- the concepts panel

  function renderConcepts() {
    const list = $('concept-list');
    list.replaceChildren();
    const sel = S.selection;
    $('concept-count').textContent = S.concepts.length ? plural(S.concepts.length, 'concept') : '';
    if (!S.concepts.length) {
      list.append(h('li', { class: 'empty muted',
        text: 'No concepts yet: select a cluster or lasso points, check the exemplars, name it and promote it.' }));
    }
    S.concepts.forEach((c, index) => {
      const selected = Boolean(sel && sel.kind === 'concept' && sel.key === c.id);
      const tick = h('input', { type: 'checkbox', testid: `merge-check-${c.id}`, 'aria-label': `tick ${c.name} for merging` });
      tick.checked = S.mergeTicks.has(c.id);
      tick.addEventListener('change', () => {
        if (tick.checked) S.mergeTicks.add(c.id); else S.mergeTicks.delete(c.id);
        $('merge').disabled = S.mergeTicks.size < 2;
      });
      let nameCell;
      if (S.renaming === c.id) {
        const input = h('input', { type: 'text', class: 'rename-input', testid: `rename-input-${c.id}`, maxlength: 200,
          'aria-label': `new name for ${c.name}` });
        input.value = c.name;
        const save = () => rename(c.id, input.value);
        input.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter') { ev.preventDefault(); save(); }
          if (ev.key === 'Escape') { S.renaming = null; renderConcepts(); }
        });
        nameCell = h('span', { class: 'rename-box' }, input,
          h('button', { type: 'button', class: 'btn small primary', testid: `rename-save-${c.id}`, text: 'Save', onclick: save }),
          h('button', { type: 'button', class: 'btn small ghost', testid: `rename-cancel-${c.id}`, text: 'Cancel',
            onclick: () => { S.renaming = null; renderConcepts(); } }));
        setTimeout(() => { input.focus(); input.select(); }, 0);
      } else {
        nameCell = h('button', { type: 'button', class: 'concept-label', testid: `concept-label-${c.id}`,
          title: 'select its points', text: c.name, onclick: () => select({ concept: c.id }) });
      }
      const source = c.source || {};
      const from = source.kind === 'cluster' ? `cluster ${source.cluster}`
        : source.kind === 'cell' ? `cell ${source.cell}` : source.kind || '';
      const canSplitSel = Boolean(sel && sel.points && sel.points.length);
      list.append(h('li', { class: `concept${selected ? ' selected' : ''}`, testid: `concept-${c.id}`, 'data-id': c.id },
        tick,
        h('span', { class: 'swatch', style: { background: colourOf(index) } }),
        h('div', { class: 'concept-main' },
          nameCell,
          h('div', { class: 'concept-meta' },
            h('span', { testid: `concept-size-${c.id}`, text: plural(c.n_positives, 'position') }),
            c.n_negatives ? h('span', { text: ` · ${c.n_negatives} unticked` }) : null,
            h('span', { text: ` · round ${c.born_round}` }),
            from ? h('span', { text: ` · ${from}` }) : null,
            h('span', { class: 'muted', text: ` · ${c.id}` }))),
        h('div', { class: 'concept-actions' },
          S.renaming === c.id ? null : h('button', {
            type: 'button', class: 'btn small ghost', testid: `rename-${c.id}`, text: 'Rename',
            onclick: () => { S.renaming = c.id; renderConcepts(); },
          }),
          h('button', { type: 'button', class: 'btn small ghost', testid: `split-${c.id}`, text: 'Sub-cluster',
            title: 'split it by sub-clustering its activations (k-means)', onclick: () => splitByClusters(c.id) }),
          h('button', { type: 'button', class: 'btn small ghost', testid: `split-selection-${c.id}`, text: 'Split off selection',
            disabled: !canSplitSel,
            title: 'split the selected points off into a new concept (named by the name box of the selection panel)',
            onclick: () => splitBySelection(c.id) }),
          h('button', { type: 'button', class: 'btn small danger', testid: `delete-${c.id}`, text: 'Delete',
            onclick: () => remove(c.id) }))));
    });
    $('merge').disabled = S.mergeTicks.size < 2;
  }

  // ---------------------------------------------------------------- events

  function renderEvents() {
    const list = $('events');
    list.replaceChildren();
    if (!S.events.length) {
      list.append(h('li', { class: 'muted', text: 'No changes yet.' }));
      return;
    }
    for (const e of S.events) {
      let when = '';
      if (e.time) {
        const t = new Date(e.time);
        when = Number.isNaN(t.getTime()) ? String(e.time) : t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      }
      list.append(h('li', null,
        h('span', { class: 'ev-version', text: `v${e.version}` }),
        h('span', { class: 'ev-summary', text: e.summary || e.op || '' }),
        h('span', { class: 'ev-meta muted', text: [e.actor, when].filter(Boolean).join(' · ') })));
    }
  }

  // ---------------------------------------------------------------- wiring

  window.articulate = {
    ready: false,
    get idle() { return S.busy === 0; },
    get version() { return S.version; },
    get selection() { return S.selection; },
    get concepts() { return S.concepts; },
    get actions() { return S.actions; },
    get mapTraceType() { return S.mapType; },
    /** What a lasso does: select these atlas point ids. Resolves to the selection (null on error). */
    selectPoints: (ids) => select({ points: [...ids].map(Number) }),
    selectCluster: (k) => select({ cluster: Number(k) }),
    selectCell: (c) => select({ cell: Number(c) }),
    selectConcept: (id) => select({ concept: String(id) }),
    reload: () => busy(() => reloadStore()),
  };

  document.addEventListener('DOMContentLoaded', () => {
    $('promote-form').addEventListener('submit', promote);
    $('add-form').addEventListener('submit', addToConcept);
    $('merge-form').addEventListener('submit', merge);
    $('undo').addEventListener('click', undo);
    $('clear-selection').addEventListener('click', () => { clearSelection(); setStatus('Selection cleared.', 'info'); });
    $('color-by').addEventListener('change', (ev) => {
      S.colourBy = ev.target.value;
      renderMap();
    });
    $('show').addEventListener('change', (ev) => {
      S.show = ev.target.value;
      renderMap();
    });
    load();
  });
})();
