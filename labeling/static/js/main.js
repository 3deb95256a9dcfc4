/* Articulate: the artist's page. Browse one round's activation atlas, select a cell, a cluster or a lasso of
 * points, judge the exemplars, and promote the selection to a named concept; manage the concepts.
 *
 * ES modules, loaded by index.html with <script type="module"> (no build step): dom (helpers), state (the one
 * state object and its setters), api (requests), data (loading), atlas (the icon grid), map (the points, the
 * lasso, the preview), selection (the selection panel), concepts (writes, the concepts panel, recent changes)
 * and this one, main.js (wiring).
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
import { actionsDone, busy, idle, setStatus } from './shared/api.js';
import { atlasKey, fitAtlasHeight, switchRound } from './atlas.js';
import { addToConcept, merge, promote, undo, write } from './concepts.js';
import { load, reloadStore } from './data.js';
import { $, typing } from './shared/dom.js';
import { mapKey, renderMap, selectInView } from './map.js';
import { loadGuides } from './review.js';
import { addToChosen, clearSelection, select, selectUnticked, showSubclusters } from './selection.js';
import { hooks, S } from './state.js';

hooks.write = write;
hooks.selectPoints = (ids) => select({ points: [...ids].map(Number) });

// ---------------------------------------------------------------- wiring

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
  $('color-by').addEventListener('change', (ev) => {
    S.colourBy = ev.target.value;
    renderMap();
  });
  $('show').addEventListener('change', (ev) => {
    S.show = ev.target.value;
    renderMap();
  });
  $('add-to').addEventListener('change', addToChosen);
  $('round-switch').addEventListener('change', (ev) => switchRound(ev.target.value));
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
  load().then(() => { if (window.articulate.ready) loadGuides(); });
});
