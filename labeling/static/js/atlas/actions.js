/* Articulate's atlas page, actions.js: what the page asks of the server and puts in its store: loading the atlas,
 * its points, the concepts and the recent changes; selections; writes to the concept store; a concept's preview;
 * the review queue. No view here: the views call these, and main.js's subscriptions redraw what changed. */
import { api, busy, setStatus } from '../shared/api.js';
import { esc, fmt, plural, sentence } from '../shared/dom.js';
import {
  conceptById, describeSelection, otherLayerNote, otherRoundNote, S, setAtlas, setConcepts, setRenaming, setSelection,
  update,
} from './state.js';

// ---------------------------------------------------------------- loading

/** Load the round's atlas, its points, the concepts, the recent changes, the reliance and the rounds, all in one
 * change of the store. Resolves to whether the page could be drawn (the status says why not). */
export async function load() {
  if (typeof window.Plotly === 'undefined') {
    setStatus('Plotly did not load (/static/vendor/plotly.min.js); the atlas cannot be drawn.', 'error');
    return false;
  }
  return busy(async () => {
    try {
      const [atlas, points, concepts, events, reliance, rounds] = await Promise.all([
        api('GET', '/api/atlas'), api('GET', '/api/points'), api('GET', '/api/concepts'),
        api('GET', '/api/events?limit=20').catch(() => ({ events: [] })),
        // how much the round's accuracy relies on each concept: a badge per concept, nothing when unavailable
        api('GET', '/api/reliance').catch((err) => ({ available: false, message: err.message, concepts: [] })),
        api('GET', '/api/rounds').catch(() => null), // the round switch; without it, this round alone
      ]);
      const mapType = webglAvailable() ? 'scattergl' : 'scatter';
      setAtlas(atlas, points, {
        mapType,
        reliance,
        rounds: rounds || { rounds: [atlas.round], session: atlas.round },
        pointText: buildPointText(atlas, points),
        version: concepts.version !== undefined ? concepts.version : S.version,
        concepts: Array.isArray(concepts.concepts) ? concepts.concepts : S.concepts,
        events: events.events || [],
      });
      setStatus(`Loaded round ${atlas.round}: ${plural(S.n, 'point')}, ${plural(S.clusters.size, 'cluster')}, `
        + `${plural(S.concepts.length, 'concept')} in the store (version ${S.version}).`
        + `${otherRoundNote() ? ` ${otherRoundNote()}` : ''}${otherLayerNote() ? ` ${otherLayerNote()}` : ''}`, 'info');
      return true;
    } catch (err) {
      setStatus(`Could not load the atlas: ${err.message}`, 'error');
      return false;
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

/** Plotly's hover text of every point (escaped). */
function buildPointText(atlas, P) {
  const classes = atlas.classes || [];
  const parts = atlas.parts || [];
  const n = P.x.length;
  const out = new Array(n);
  for (let i = 0; i < n; i += 1) {
    const cls = classes[P.label[i]] ?? String(P.label[i]);
    const part = P.part && P.part[i] >= 0 && parts.length ? parts[P.part[i]] : null;
    out[i] = `<b>${esc(cls)}</b>${part !== null && part !== undefined ? ` · ${esc(part)}` : ''}`
      + `<br>point ${i} · cluster ${P.cluster[i]}<br>attribution ${fmt(P.attribution[i], 3)}`;
  }
  return out;
}

export async function refreshEvents() {
  try {
    const answer = await api('GET', '/api/events?limit=20');
    update({ events: answer.events || [] });
  } catch (err) {
    // the events list is a convenience; the status already tells what matters
  }
}

/** Reload the concepts (and what depends on them) from the server, e.g. after a conflict. */
export async function reloadStore() {
  setConcepts(await api('GET', '/api/concepts'));
  await refreshSelectionAfterWrite([]);
  await refreshEvents();
}

// ---------------------------------------------------------------- selections

let selectSeq = 0; // the newest selection asked for: an older answer arriving late is not shown

/** Select a cluster, a cell, a concept or points ({cluster} | {cell} | {concept} | {points}). Resolves to the
 * selection (null on error). */
export async function select(request, { quiet = false } = {}) {
  const seq = ++selectSeq;
  return busy(async () => {
    try {
      const answer = await api('POST', '/api/selection', request);
      if (seq !== selectSeq) return answer; // a newer selection is on its way
      setSelection(answer);
      if (!quiet) setStatus(`Selected ${describeSelection(answer)}: ${plural(answer.size, 'position')}.`, 'info');
      return answer;
    } catch (err) {
      if (seq === selectSeq) setStatus(err.message, 'error');
      return null;
    }
  });
}

export function clearSelection() {
  selectSeq += 1;
  setSelection(null);
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
      setSelection(await api('POST', '/api/selection', { concept: sel.key }), false);
    } catch (err) {
      clearSelection();
    }
  }
}

// ---------------------------------------------------------------- writes

/** A write to the concept store: sends expected_version; on success stores the answer, on 409 reloads.
 * ``describe(answer)`` is the status line of a success. Resolves to the answer (null on failure). */
export async function write(method, path, body, describe) {
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
        setRenaming(null); // the inline editor showed the old name: start again from the current one
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
    setConcepts(answer);
    setStatus(describe(answer), 'ok');
    await refreshSelectionAfterWrite(answer.changed || []);
    await refreshEvents();
    return answer;
  });
}

export async function undo() {
  await write('POST', '/api/undo', {}, (a) => {
    const latest = S.events && S.events.length ? S.events[0] : null;
    return `Undone${latest && latest.summary ? ` (${latest.summary})` : ''}: the store is at version ${a.version}.`;
  });
}

/** What a label does at once: the concept's linear probe (GET /api/concepts/{id}/preview), shown beside it. */
export async function loadPreview(id) {
  update({ preview: { id, loading: true } });
  let preview;
  await busy(async () => {
    try {
      preview = { id, answer: await api('GET', `/api/concepts/${encodeURIComponent(id)}/preview`) };
    } catch (err) {
      preview = { id, error: err.message };
    }
  });
  update({ preview });
}

// ---------------------------------------------------------------- the review queue

/** Ask for the review queue and the suggestions of the store as it is now. */
export async function loadGuides() {
  let guides;
  await busy(async () => {
    const [review, suggestions] = await Promise.all([
      api('GET', '/api/review').catch((err) => ({ error: err.message })),
      api('GET', '/api/suggestions').catch((err) => ({ error: err.message })),
    ]);
    guides = { review, suggestions };
  });
  update(guides);
}
