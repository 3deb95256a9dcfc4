/* Articulate: the artist's page (the atlas page). Browse one round's activation atlas, select a cell, a cluster or
 * a lasso of points, judge the exemplars, and promote the selection to a named concept; manage the concepts.
 *
 * ES modules, loaded by index.html with <script type="module"> (no build step), on the pages' shared/ modules
 * (dom, api, palette, store, reliance): state (the page's store, its setters and shared lookups), actions (what
 * the page asks of the server and puts in the store), the views (atlas: the header, clusters and icon grid; map:
 * the points and the lasso; hover: the preview beside the map; selection: the selection panel; concepts: the
 * concepts panel, previews, recent changes; review: the Review card) and this one, main.js: it subscribes each
 * view to the store's keys it shows, so no view imports another.
 *
 * Talks to the labeling app's HTTP API (docs/reference/http-api.md). Every server-provided string reaches the page as
 * text (textContent, input values) or, inside Plotly, HTML-escaped; never as markup. Every write sends the
 * store version the page last saw; a 409 answer shows the server's message and reloads the concepts.
 *
 * Keys: Ctrl+Z (⌘Z) undoes; on the focused atlas, arrows move from cell to cell and Enter selects; on the focused
 * map, arrows go from cluster to cluster, Enter selects, + and − zoom, V selects the points in view.
 *
 * Test hook: window.articulate (ready, idle, selectPoints(ids), selectCluster(k), selectCell(c), ...).
 */
import { actionsDone, busy, idle, setStatus } from '../shared/api.js';
import { $, typing } from '../shared/dom.js';
import { clearSelection, load, loadGuides, reloadStore, select, undo } from './actions.js';
import {
  atlasKey, fitAtlasHeight, renderAtlas, renderClusters, renderHeader, renderLayers, renderRounds, switchLayer,
  switchRound, updateAtlasSelection,
} from './atlas.js';
import { merge, renderConcepts, renderEvents, renderVersion } from './concepts.js';
import { renderPointed } from './hover.js';
import { mapKey, renderMap, selectInView, updateMapSelection } from './map.js';
import { renderGuides } from './review.js';
import {
  addToChosen, addToConcept, promote, renderAddTo, renderSelection, selectUnticked, showSubclusters,
} from './selection.js';
import { S, subscribe, update } from './state.js';

// ---------------------------------------------------------------- the views, subscribed to what they show

const timings = {}; // when the atlas arrived, how long the grid and the map took to draw (bench/bench_page.py)
const timed = (name, render) => () => {
  const t0 = performance.now();
  render();
  if (!(name in timings)) timings[name] = Math.round(performance.now() - t0); // the first drawing's
};

subscribe(['atlas'], () => { timings.fetched = Math.round(performance.now()); });
subscribe(['atlas'], renderHeader);
subscribe(['rounds'], renderRounds);
subscribe(['atlas'], renderLayers);
subscribe(['atlas', 'selection'], renderClusters);
subscribe(['atlas'], timed('atlas', renderAtlas));
subscribe(['selection'], updateAtlasSelection);
subscribe(['atlas', 'colourBy', 'show'], timed('map', renderMap));
subscribe(['concepts'], () => { if (S.colourBy === 'concept') renderMap(); });
subscribe(['selection'], updateMapSelection);
subscribe(['pointed'], renderPointed);
subscribe(['atlas', 'selection'], renderSelection);
subscribe(['concepts'], renderAddTo);
subscribe(['concepts', 'selection', 'renaming', 'deleting', 'preview', 'reliance'], renderConcepts);
subscribe(['version'], renderVersion);
subscribe(['events'], renderEvents);
subscribe(['review', 'suggestions'], renderGuides);

// ---------------------------------------------------------------- the test hook

window.articulate = {
  ready: false,
  get idle() { return idle(); },
  get version() { return S.version; },
  get selection() { return S.selection; },
  get concepts() { return S.concepts; },
  get actions() { return actionsDone(); },
  get mapTraceType() { return S.mapType; },
  /** What a lasso does: select these atlas point ids. Resolves to the selection (null on error). */
  selectPoints: (ids) => select({ points: [...ids].map(Number) }),
  selectCluster: (k) => select({ cluster: Number(k) }),
  selectCell: (c) => select({ cell: Number(c) }),
  selectConcept: (id) => select({ concept: String(id) }),
  reload: () => busy(() => reloadStore()),
  loadGuides: () => loadGuides(),
  get review() { return S.review; },
  get suggestions() { return S.suggestions; },
  selectInView: () => selectInView(),
};

/** Ctrl+Z (⌘Z) anywhere but in a text box undoes the last change to the store, as the Undo button does. */
function undoKey(ev) {
  if (!(ev.ctrlKey || ev.metaKey) || ev.shiftKey || ev.altKey || ev.key.toLowerCase() !== 'z' || typing(ev)) return;
  ev.preventDefault();
  if (idle()) undo();
}

document.addEventListener('DOMContentLoaded', () => {
  $('promote-form').addEventListener('submit', promote);
  $('add-form').addEventListener('submit', addToConcept);
  $('merge-form').addEventListener('submit', merge);
  $('undo').addEventListener('click', undo);
  $('subclusters').addEventListener('click', showSubclusters);
  $('select-unticked').addEventListener('click', selectUnticked);
  $('clear-selection').addEventListener('click', () => { clearSelection(); setStatus('Selection cleared.', 'info'); });
  $('color-by').addEventListener('change', (ev) => update({ colourBy: ev.target.value }));
  $('show').addEventListener('change', (ev) => update({ show: ev.target.value }));
  $('add-to').addEventListener('change', (ev) => {
    update({ addTo: ev.target.value });
    addToChosen();
  });
  $('round-switch').addEventListener('change', (ev) => switchRound(ev.target.value));
  $('layer-switch').addEventListener('change', (ev) => switchLayer(ev.target.value));
  $('select-in-view').addEventListener('click', selectInView);
  $('review-refresh').addEventListener('click', loadGuides);
  $('atlas-grid').addEventListener('keydown', atlasKey);
  $('map').addEventListener('keydown', mapKey);
  document.addEventListener('keydown', undoKey);
  window.addEventListener('resize', () => {
    if (!S.atlas) return;
    fitAtlasHeight();
    Plotly.Plots.resize($('atlas-grid'));
  });
  load().then((loaded) => {
    if (!loaded) return;
    window.articulate.timings = timings;
    window.articulate.loadedIn = Math.round(performance.now());
    window.articulate.ready = true;
    document.body.dataset.ready = 'true';
    loadGuides();
  });
});
