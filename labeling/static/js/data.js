/* Articulate's page, data.js: Loading the atlas, its points, the concepts and the recent changes. */
import { api, busy, setStatus } from './shared/api.js';
import { otherRoundNote, renderAtlas, renderClusters, renderHeader, renderRounds } from './atlas.js';
import { refreshSelectionAfterWrite, renderConcepts, renderEvents } from './concepts.js';
import { $, esc, fmt, plural } from './shared/dom.js';
import { renderMap } from './map.js';
import { renderSelection } from './selection.js';
import { S, setAtlas, setRenaming } from './state.js';

// ---------------------------------------------------------------- loading

export async function load() {
  if (typeof window.Plotly === 'undefined') {
    setStatus('Plotly did not load (/static/vendor/plotly.min.js); the atlas cannot be drawn.', 'error');
    return;
  }
  S.mapType = webglAvailable() ? 'scattergl' : 'scatter';
  await busy(async () => {
    try {
      const [atlas, points, concepts, events, reliance, rounds] = await Promise.all([
        api('GET', '/api/atlas'), api('GET', '/api/points'), api('GET', '/api/concepts'),
        api('GET', '/api/events?limit=20').catch(() => ({ events: [] })),
        // how much the round's accuracy relies on each concept: a badge per concept, nothing when unavailable
        api('GET', '/api/reliance').catch((err) => ({ available: false, message: err.message, concepts: [] })),
        api('GET', '/api/rounds').catch(() => null), // the round switch; without it, this round alone
      ]);
      setAtlas(atlas, points);
      S.reliance = reliance;
      S.rounds = rounds || { rounds: [atlas.round], session: atlas.round };
      const t0 = performance.now();
      S.pointText = buildPointText();
      applyConcepts(concepts);
      S.events = events.events || [];
      renderHeader();
      renderRounds();
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
        + `${plural(nConcepts, 'concept')} in the store (version ${S.version}).${otherRoundNote() ? ` ${otherRoundNote()}` : ''}`,
      'info');
      window.articulate.loadedIn = Math.round(performance.now());
      window.articulate.ready = true;
      document.body.dataset.ready = 'true';
    } catch (err) {
      setStatus(`Could not load the atlas: ${err.message}`, 'error');
    }
  });
}

export function webglAvailable() {
  try {
    const canvas = document.createElement('canvas');
    return Boolean(canvas.getContext('webgl') || canvas.getContext('experimental-webgl'));
  } catch (err) {
    return false;
  }
}

export function buildPointText() {
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

export function applyConcepts(answer) {
  if (answer.version !== undefined) S.version = answer.version;
  if (Array.isArray(answer.concepts)) S.concepts = answer.concepts;
  const ids = new Set(S.concepts.map((c) => c.id));
  for (const id of [...S.mergeTicks]) if (!ids.has(id)) S.mergeTicks.delete(id);
  if (S.renaming && !ids.has(S.renaming)) setRenaming(null);
  $('store-version').textContent = `v${S.version}`;
}

export async function refreshEvents() {
  try {
    const answer = await api('GET', '/api/events?limit=20');
    S.events = answer.events || [];
    renderEvents();
  } catch (err) {
    // the events list is a convenience; the status already tells what matters
  }
}

/** Reload the concepts (and what depends on them) from the server, e.g. after a conflict. */
export async function reloadStore() {
  const answer = await api('GET', '/api/concepts');
  applyConcepts(answer);
  renderConcepts();
  renderMap();
  await refreshSelectionAfterWrite([]);
  await refreshEvents();
}
