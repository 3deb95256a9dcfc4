/* Articulate: the sketch page (/sketch), reaching into the model. A drawing (an atlas point, ?point=N, or the
 * strokes the drawing page handed over in sessionStorage) is read at the atlas layer (POST /api/layer): the
 * class probabilities and the layer's maps, named concepts first, then the channels by attribution. Click a map
 * to open it large, paint its cells, and apply an edit (this channel, all channels, or a concept's direction)
 * onto a stack, or shift or rotate the whole map; Predict sends the stack to POST /api/edit and shows the classes
 * before and after. The surgery list ablates or boosts each named concept, and says how much the round's accuracy
 * relies on it (GET /api/reliance: the largest drop of a class's accuracy without it, and that class).
 *
 * ES modules, no build step: state (the page's store: one state object, changed through update), heat (maps and
 * strokes on canvases), editor (painting cells, shift and rotate), this one (loading, and wiring: each view
 * subscribed to the keys it shows, so no view calls another); the class bars, the reliance words, the grid lines,
 * the store, following jobs and drawing strokes are the pages' shared/ modules.
 *
 * The Dream panel (dream.js) dreams the drawing toward the layer, a channel, a concept, a cluster or a class; the
 * Feature visualization panel (visualize.js) shows what excites a concept, a cluster or a channel; both are jobs.
 *
 * Test hook: window.articulate (ready, idle, layer, stack, cells, result, open, grid, drawing, reliance,
 * surgery(id, kind), shift(dy, dx), rotate(degrees), dream: the last dream job's state, dreaming, startDream(),
 * vis: the last visualization job's state, visualizing, visualize({concept | cluster | channel})).
 */
import { api, busy, idle, setStatus } from '../shared/api.js';
import { renderClassBars } from '../shared/classbars.js';
import { $, h, withToken } from '../shared/dom.js';
import { relianceOf, relianceSentence, relianceWords, relied } from '../shared/reliance.js';
import { clearCells, fillAll, initEditor, renderEditor, rotateBy, shiftBy } from './editor.js';
import { dream, initDream, renderDreamControls, renderDreamJob, renderDreamToward } from './dream.js';
import { initVisualize, renderVisJob, setVisControls, visualize } from './visualize.js';
import { renderStrokes } from '../shared/strokes.js';
import { drawTile, normalised } from './heat.js';
import {
  applyDrawnAs, applyLimits, CHANNELS, drawingFromPage, K, sortedCells, subscribe, update, withinLimit,
} from './state.js';

// The views, subscribed to what they show, in the order they draw: the layer read (its maps, the surgery list,
// the "apply to" and "dream toward" choices, the open map again), the editor (the open map, the painted cells),
// the tools, the stack, the buttons, the answer and whether it is stale, the dream and visualization panels.
subscribe(['layer'], showLayer);
subscribe(['layer'], renderDreamToward);
subscribe(['layer'], reopenMap);
subscribe(['open', 'cells'], renderEditor);
subscribe(['tool'], renderTool);
subscribe(['stack'], renderStack);
subscribe(['stack', 'open'], updateButtons);
subscribe(['stale'], renderStale);
subscribe(['result'], renderResult);
subscribe(['dreaming'], renderDreamControls);
subscribe(['dream'], renderDreamJob);
subscribe(['visualizing'], setVisControls);
subscribe(['vis'], renderVisJob);

window.articulate = {
  ready: false,
  get idle() { return K.pending === 0 && idle() && !K.dreaming && !K.visualizing; },
  get layer() { return K.layer; },
  get stack() { return K.stack.map((e) => e.edit); },
  get cells() { return sortedCells(K.cells.keys()); },
  get result() { return K.result; },
  get open() { return K.open ? K.open.key : null; },
  get grid() { return K.coach ? K.coach.grid : null; },
  get drawing() { return K.drawing; },
  get dream() { return K.dream; },
  get dreaming() { return K.dreaming; },
  get vis() { return K.vis; },
  get visualizing() { return K.visualizing; },
  get reliance() { return K.reliance; },
  surgery: (id, kind) => surgery(id, kind),
  shift: (dy, dx) => shiftBy(dy, dx),
  rotate: (degrees) => rotateBy(degrees),
  startDream: () => dream(),
  visualize: (target) => visualize(target),
};


const pct = (x) => `${Math.round(100 * x)}%`;

async function request(method, path, body) {
  update({ pending: K.pending + 1 });
  try {
    return await busy(() => api(method, path, body));
  } finally {
    update({ pending: K.pending - 1 });
  }
}

// ---------------------------------------------------------------- the layer

async function readLayer() {
  try {
    const layer = await request('POST', '/api/layer', { ...K.drawing, target: K.target, channels: CHANNELS });
    update({ layer });
    return true;
  } catch (err) {
    setStatus(err.message, 'error');
    return false;
  }
}

/** The layer read: its name, what the drawing reads as, the drawing, the classes, the maps, the surgery list and
 * the "apply to" choices. */
function showLayer({ layer }) {
  $('layer-name').textContent = layer.layer;
  $('reading').textContent = `${layer.target}${layer.chosen === 'model' ? ' (the model’s guess)' : ''}`;
  renderStrokes($('drawing'), layer.strokes);
  renderClassBars(layer);
  renderMaps();
  renderSurgery();
  renderApplyTo();
}

/** The open map, from the layer read again (closed when the new layer has no such map). */
function reopenMap({ layer, open }) {
  if (!open) return;
  const again = mapsOf(layer).find((m) => m.key === open.key);
  if (again) openMap(again);
  else closeEditor();
}

/** The layer's maps as the editor knows them: concepts first, then channels by attribution. */
function mapsOf(layer) {
  return [
    ...layer.concepts.map((c) => ({ key: `concept:${c.id}`, kind: 'concept', id: c.id, name: c.name, map: c.map,
      max: 1, label: c.name, note: `presence ${c.presence.toFixed(2)}` })),
    ...layer.channels.map((c) => ({ key: `ch:${c.channel}`, kind: 'channel', channel: c.channel, map: c.map,
      max: c.max, label: `ch ${c.channel}`, note: `${c.attribution >= 0 ? '+' : ''}${c.attribution.toFixed(3)}` })),
  ];
}

function renderMaps() {
  const box = $('maps');
  box.replaceChildren(...mapsOf(K.layer).map((m) => {
    const canvas = h('canvas', { 'aria-hidden': 'true' });
    drawTile(canvas, normalised(m.map, m.max));
    const testid = m.kind === 'concept' ? `map-concept-${m.id}` : `map-ch-${m.channel}`;
    return h('button', {
      type: 'button', class: `map-tile ${m.kind}`, testid, 'data-key': m.key,
      'aria-pressed': String(Boolean(K.open && K.open.key === m.key)),
      title: m.kind === 'concept' ? `${m.name}: where the model finds it (presence: how strongly, 0 to 1)` :
        `channel ${m.channel} of the layer (one of the features it computes): attribution ${m.note}, how much it `
        + `pushes the model toward ${K.layer.target} on this drawing (activation × gradient; above 0 for, below 0 `
        + `against); its largest activation here ${m.max.toFixed(2)}`,
      onclick: () => openMap(m),
    }, canvas, h('span', { class: 'map-name', text: m.label }), h('span', { class: 'map-attr', text: m.note }));
  }));
}

// ---------------------------------------------------------------- the editor

function openMap(m) {
  const first = !K.open || K.open.key !== m.key;
  update({ open: m });
  $('editor').hidden = false;
  $('editor-title').textContent = m.kind === 'concept' ? `concept ${m.name}` : `channel ${m.channel} (${m.note})`;
  for (const tile of $('maps').children) tile.setAttribute('aria-pressed', String(tile.dataset.key === m.key));
  renderApplyTo(first);
  $('visualize-open').textContent = m.kind === 'concept' ? `Visualize ${m.name}` : `Visualize channel ${m.channel}`;
  if (first) $('editor').scrollIntoView({ block: 'nearest' });
}

function closeEditor() {
  update({ open: null });
  $('editor').hidden = true;
  for (const tile of $('maps').children) tile.setAttribute('aria-pressed', 'false');
}

function renderApplyTo(fresh = false) {
  const select = $('apply-to');
  const options = [];
  if (K.open && K.open.kind === 'channel') options.push(['channel', `this channel (ch ${K.open.channel})`]);
  if (K.open && K.open.kind === 'concept') options.push([`concept:${K.open.id}`, `${K.open.name}’s direction`]);
  options.push(['all', 'all channels']);
  for (const c of K.layer ? K.layer.concepts : []) {
    if (!K.open || K.open.id !== c.id) options.push([`concept:${c.id}`, `${c.name}’s direction`]);
  }
  options.push(['cluster', 'an atlas cluster’s direction']); // any round: the mean direction of its points
  const keep = select.value;
  select.replaceChildren(...options.map(([value, text]) => h('option', { value, text })));
  if (!fresh && options.some(([value]) => value === keep)) select.value = keep;
  applyToChanged();
}

/** The cluster number shows only when "apply to" is a cluster's direction. */
function applyToChanged() {
  $('apply-cluster-label').hidden = $('apply-to').value !== 'cluster';
}

function renderTool({ tool }) {
  for (const b of document.querySelectorAll('.tool')) b.setAttribute('aria-pressed', String(b.dataset.tool === tool));
}

const factorOf = (id) => withinLimit(id, 'factor', `${id === 'factor-paint' ? 'paint' : 'darken'} factor`, false);

/** What the "apply to" choice edits for the open map: {what: the edit's target fields, named: in words}; null
 * when no map is open or the cluster number is not one (said in the status line). */
function editTarget() {
  if (!K.open) return null;
  const target = $('apply-to').value;
  if (target === 'channel') return { what: { channel: K.open.channel }, named: `ch ${K.open.channel}` };
  if (target === 'all') return { what: { all: true }, named: 'all channels' };
  if (target === 'cluster') {
    const raw = $('apply-cluster').value.trim();
    const cluster = Number(raw);
    if (raw === '' || !Number.isInteger(cluster) || cluster < 0) {
      setStatus('apply to a cluster: give its number (0 or more)', 'error');
      return null;
    }
    return { what: { cluster }, named: `cluster ${cluster}` };
  }
  const id = target.slice('concept:'.length);
  return { what: { concept: id }, named: conceptName(id) };
}

/** Put edits ([{edit, label}]) on the stack and say `done`; false when the stack has no room for them. */
function pushEdits(added, done) {
  const most = K.limits.edits.max;
  if (K.stack.length + added.length > most) {
    setStatus(`At most ${most} edits: undo some or reset.`, 'error');
    return false;
  }
  update({ stack: [...K.stack, ...added], stale: true });
  setStatus(`${done}: press Predict to see what the model says.`, 'ok');
  return true;
}

function applyEdit() {
  if (!K.open || !K.cells.size) return;
  let factors;
  try {
    factors = { paint: factorOf('factor-paint'), darken: factorOf('factor-darken') };
  } catch (err) {
    setStatus(err.message, 'error');
    return;
  }
  const target = editTarget();
  if (!target) return;
  const { what, named } = target;
  const total = K.coach.grid.rows * K.coach.grid.cols;
  const added = [];
  for (const kind of ['paint', 'darken']) {
    const keys = [...K.cells].filter(([, k]) => k === kind).map(([key]) => key);
    if (!keys.length) continue;
    const edit = { ...what, factor: factors[kind], cells: sortedCells(keys) };
    const where = keys.length === total ? 'every cell' : `${keys.length} cell${keys.length === 1 ? '' : 's'}`;
    added.push({ edit, label: `${named} × ${factors[kind]} at ${where}` });
  }
  if (!pushEdits(added, `Applied ${added.map((a) => a.label).join(' and ')}`)) return;
  update({ cells: new Map() });
  updateButtons();
}

const conceptName = (id) => {
  const c = K.layer && K.layer.concepts.find((x) => x.id === id);
  return c ? c.name : id;
};

// ---------------------------------------------------------------- the stack and the answer

function renderStack() {
  $('stack').replaceChildren(...K.stack.map((e, i) => h('li', { testid: 'stack-item', 'data-index': String(i) },
    e.label)));
  $('stack-empty').hidden = K.stack.length > 0;
}

/** Whether the answer shown is stale: the stack changed since it was predicted. */
function renderStale({ stale }) {
  $('result').dataset.stale = String(stale);
}

/** The buttons and the painted cells' count (main.js calls it when a paint gesture ends). */
function updateButtons() {
  const n = K.stack.length;
  $('predict').disabled = n === 0;
  $('undo-edit').disabled = n === 0;
  $('reset-edits').disabled = n === 0;
  $('apply').disabled = !K.open || K.cells.size === 0;
  $('cell-count').textContent = String(K.cells.size);
}

function undoEdit() {
  if (!K.stack.length) return;
  const gone = K.stack[K.stack.length - 1];
  update({ stack: K.stack.slice(0, -1), stale: true });
  setStatus(`Undid ${gone.label}.`, 'info');
}

function resetEdits() {
  update({ stack: [], result: null, stale: true });
  setStatus('No edits: the model as it is.', 'info');
}

async function predict(edits = K.stack.map((e) => e.edit)) {
  if (!edits.length) return null;
  try {
    const result = await request('POST', '/api/edit', { ...K.drawing, edits });
    update({ result, stale: false });
    setStatus(`Reads as ${result.reads_before} before, ${result.reads_after} after (${result.edit}).`, 'ok');
    return result;
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  }
}

function bars(list, entries, other, side) {
  const p = new Map(other.map((e) => [e.name, e.p]));
  list.replaceChildren(...entries.map((e) => h('li', {
    class: `clb${p.has(e.name) && Math.abs(p.get(e.name) - e.p) >= 0.005 ? ' changed' : ''}`,
    testid: `${side}-${e.name}`, 'data-class': e.name, 'data-p': String(e.p),
  }, h('span', { class: 'clb-name', text: e.name }),
  h('span', { class: 'clb-track' }, h('span', { class: 'clb-fill', style: { width: pct(Math.max(0, Math.min(1, e.p))) } })),
  h('span', { class: 'clb-value', text: pct(e.p) }))));
}

/** The answer predicted for the stack (hidden when there is none). */
function renderResult({ result }) {
  const box = $('result');
  box.hidden = !result;
  if (!result) return;
  $('reads').textContent = `reads as ${result.reads_before} before, ${result.reads_after} after`;
  $('edit-words').textContent = result.edit;
  $('edited-positions').textContent = `${result.edited_positions} positions edited`;
  bars($('before-bars'), result.before, result.after, 'before');
  bars($('after-bars'), result.after, result.before, 'after');
  const table = $('concept-presence');
  table.hidden = !result.concepts.length;
  table.tBodies[0].replaceChildren(...result.concepts.map((c) => h('tr', { testid: `presence-${c.id}` },
    h('td', { text: c.name }), h('td', { text: c.before.toFixed(2) }), h('td', { text: c.after.toFixed(2) }))));
}

// ---------------------------------------------------------------- concept surgery

function renderSurgery() {
  const list = $('surgery');
  const concepts = K.layer.concepts;
  $('only-fires').disabled = !concepts.length;
  if (!concepts.length) {
    list.replaceChildren(h('li', { class: 'muted', testid: 'no-concepts',
      text: `no named concepts yet: the round ${K.layer.round} model has none (name some in the atlas); `
        + 'channels can be edited now' }));
    return;
  }
  const rel = K.reliance;
  list.replaceChildren(...concepts.map((c) => h('li', { testid: `surgery-${c.id}` },
    h('span', { class: 'sg-name', text: c.name }),
    h('button', { type: 'button', class: 'btn', testid: `ablate-${c.id}`, text: 'Ablate',
      title: `${c.name} × 0`, onclick: () => surgery(c.id, 'ablate') }),
    h('button', { type: 'button', class: 'btn', testid: `boost-${c.id}`, text: 'Boost',
      title: `${c.name} × 3`, onclick: () => surgery(c.id, 'boost') }),
    h('button', { type: 'button', class: 'btn vis-btn', testid: `visualize-${c.id}`, text: 'Visualize',
      title: `what excites ${c.name} (its direction at the atlas layer)`,
      onclick: () => visualize({ concept: c.id, name: c.name }) }),
    relianceNote(c))),
  ...(rel && !rel.available ? [h('li', { class: 'muted small', testid: 'reliance-note',
    text: `Reliance not measured: ${rel.message || 'the round was not evaluated'}` })] : []));
  setVisControls();
}

/** The concept's line of GET /api/reliance: the largest accuracy drop of a class without it, and that class. */
function relianceNote(c) {
  const rel = K.reliance;
  const r = relianceOf(rel, c);
  if (!r) {
    const why = !rel ? 'GET /api/reliance did not answer' : !rel.available ? rel.message || 'not evaluated'
      : `round ${rel.round}'s evaluation has no reliance for ${c.name}`;
    return h('span', { class: 'sg-rel muted', testid: `reliance-${c.id}`, text: 'reliance not measured', title: why });
  }
  return h('span', { class: `sg-rel${relied(r) ? ' relied' : ''}`, testid: `reliance-${c.id}`,
    'data-max-drop': String(r.max_drop), 'data-worst-class': r.worst_class || '',
    text: relianceWords(r), title: relianceSentence(r, c.name, rel.round) });
}

/** Ablate (× 0) or boost (× 3) a named concept: predicted at once with the stack, and pushed on it. */
async function surgery(id, kind) {
  const fires = $('only-fires').checked;
  const edit = { concept: id, factor: kind === 'boost' ? 3 : 0, ...(fires ? { mode: 'positions', grow: 1 } : {}) };
  const result = await predict([...K.stack.map((e) => e.edit), edit]);
  if (!result) return null;
  const label = `${conceptName(id)} × ${edit.factor}${fires ? ' where it fires' : ''}`;
  update({ stack: [...K.stack, { edit, label }] });
  return result;
}

// ---------------------------------------------------------------- loading

/** How much the round's accuracy relies on each concept (shown in the surgery list); unavailable says why. */
async function readReliance() {
  try {
    update({ reliance: await request('GET', '/api/reliance') });
  } catch (err) {
    update({ reliance: { available: false, message: err.message, concepts: [] } });
  }
}

async function changeTarget(ev) {
  update({ target: ev.target.value || null });
  if (await readLayer()) {
    setStatus(K.target ? `Channels sorted by their attribution to ${K.target}.`
      : 'Channels sorted by their attribution to the model’s guess.', 'info');
  }
}

async function load() {
  for (const [id, path] of [['atlas-link', '/'], ['draw-link', '/draw'], ['no-drawing-link', '/draw']]) $(id).href = withToken(path);
  const opened = drawingFromPage();
  if (!opened) {
    $('no-drawing').hidden = false;
    $('source').textContent = 'none';
    setStatus('No drawing to open: draw one, or open an atlas point.', 'info');
    window.articulate.ready = true;
    document.body.dataset.ready = 'true';
    return;
  }
  update({ drawing: opened.drawing, source: opened.source });
  $('source').textContent = opened.source;
  $('sketch-layout').hidden = false;
  try {
    update({ coach: await request('GET', '/api/coach') });
    update({ limits: await request('GET', '/api/limits') });
    update({ drawnAs: await request('GET', '/api/visualize/options') });
  } catch (err) {
    setStatus(`The model is not available: ${err.message}`, 'error');
    window.articulate.failed = err.message;
    window.articulate.ready = true;
    return;
  }
  applyLimits();
  applyDrawnAs();
  $('round').textContent = String(K.coach.round);
  $('target').append(...K.coach.classes.map((name) => h('option', { value: name, text: name })));
  initEditor(updateButtons, editTarget, pushEdits);
  initDream();
  initVisualize();
  await readReliance();
  renderStack();
  updateButtons();
  if (await readLayer()) {
    setStatus(`Click a map to paint its cells; apply edits, then Predict (${K.layer.channels.length} channels, `
      + 'strongest attribution first).', 'info');
  } else {
    window.articulate.failed = $('status').textContent;
  }
  window.articulate.ready = true;
  document.body.dataset.ready = 'true';
}

document.addEventListener('DOMContentLoaded', () => {
  $('target').addEventListener('change', changeTarget);
  for (const b of document.querySelectorAll('.tool')) {
    b.addEventListener('click', () => update({ tool: b.dataset.tool }));
  }
  $('fill').addEventListener('click', (ev) => fillAll(ev.shiftKey ? 'darken' : 'paint'));
  $('clear-cells').addEventListener('click', clearCells);
  $('apply').addEventListener('click', applyEdit);
  $('apply-to').addEventListener('change', applyToChanged);
  $('close-editor').addEventListener('click', closeEditor);
  $('visualize-open').addEventListener('click', () => {
    if (K.open) visualize(K.open.kind === 'concept' ? { concept: K.open.id, name: K.open.name } : { channel: K.open.channel });
  });
  $('predict').addEventListener('click', () => predict());
  $('undo-edit').addEventListener('click', undoEdit);
  $('reset-edits').addEventListener('click', resetEdits);
  load();
});
