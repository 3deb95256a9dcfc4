/* Articulate's atlas page, state.js: the page's store (shared/store.js) and what it holds, the setters that change
 * several keys at once, and the lookups and words several views share. Every change goes through update (or a
 * setter here); main.js subscribes each view to the keys it shows. */
import { plural, ROUND } from '../shared/dom.js';
import { createStore } from '../shared/store.js';

const store = createStore({
  atlas: null,          // GET /api/atlas
  points: null,         // GET /api/points (columnar)
  n: 0,                 // number of atlas points
  pointText: [],        // Plotly hover text per point (escaped)
  clusters: new Map(),  // cluster id -> cluster
  cells: new Map(),     // cell id -> cell
  concepts: [],
  version: null,
  events: [],
  reliance: null,       // GET /api/reliance: per concept of the round's model, the accuracy each class loses without it
  selection: null,      // POST /api/selection answer
  unticked: new Set(),  // exemplar point ids unticked in the current selection
  addTo: '',            // the concept the add-to menu has chosen ('': none; a new selection goes to none)
  colourBy: 'cluster',
  show: 'all',          // 'all' points, or only those 'unnamed' (no concept of the round's head explains them)
  renaming: null,       // concept id being renamed inline
  deleting: null,       // concept id whose delete waits for its confirmation
  preview: null,        // the concept preview shown beside its concept: {id, loading} | {id, answer} | {id, error}
  pointed: null,        // what the preview beside the map shows: {cell: id} | {point: id} (null: nothing yet)
  rounds: null,         // GET /api/rounds: the rounds whose atlas the page can show, and the server's own
  review: null,         // GET /api/review: the labels most likely wrong and the concepts probably one, with fixes
  suggestions: null,    // GET /api/suggestions: what to look at next
  mergeTicks: new Set(),
  mapType: 'scattergl',
});

/** The page's state: read it anywhere, change it only through update. */
export const S = store.get();
export const { update, subscribe } = store;

// ---------------------------------------------------------------- setters: what changes several keys at once

/** The atlas and its points, as loaded, with the lookups the views use (and ``more`` keys in the same change). */
export function setAtlas(atlas, points, more = {}) {
  update({
    atlas, points, n: points.x.length,
    clusters: new Map((atlas.clusters || []).map((c) => [c.cluster, c])),
    cells: new Map((atlas.cells || []).map((c) => [c.cell, c])),
    ...more,
  });
}

/** A selection the server answered (null: none). The unticked exemplars stay for the same selection only; a
 * ``fresh`` selection (the person chose it, not a concept's selection redone after a write) goes to no concept. */
export function setSelection(answer, fresh = true) {
  const same = answer && S.selection && S.selection.kind === answer.kind && S.selection.key === answer.key;
  let unticked = new Set();
  if (same) {
    const still = new Set((answer.exemplars || []).map((e) => e.point));
    unticked = new Set([...S.unticked].filter((p) => still.has(p)));
  }
  update({ selection: answer, unticked, ...(fresh ? { addTo: '' } : {}) });
}

/** The concepts (and store version) of a server's answer; merge ticks and a rename of a gone concept go. */
export function setConcepts(answer) {
  const concepts = Array.isArray(answer.concepts) ? answer.concepts : S.concepts;
  const ids = new Set(concepts.map((c) => c.id));
  update({
    version: answer.version !== undefined ? answer.version : S.version,
    concepts,
    mergeTicks: new Set([...S.mergeTicks].filter((id) => ids.has(id))),
    ...(S.renaming && !ids.has(S.renaming) ? { renaming: null } : {}),
  });
}

/** The concept being renamed inline (null: none); a rename and a delete's question are not open at once. */
export function setRenaming(id) {
  update({ renaming: id, ...(id !== null ? { deleting: null } : {}) });
}

/** The concept whose delete waits for its confirmation (null: none). */
export function setDeleting(id) {
  update({ deleting: id, ...(id !== null ? { renaming: null } : {}) });
}

// ---------------------------------------------------------------- lookups and words several views share

// What the atlas stage's icon score measures, by icon kind (pipeline/atlas/exemplar_icons.py; featurevis:
// pipeline/featurevis/render.py, RenderResult.scores).
export const ICON_SCORE = {
  exemplar: 'how close the fragment shown is to its cell\'s mean activation (cosine): 1 exactly its direction; '
    + 'lower when the cell is spread out and no one drawing stands for it well',
  featurevis: 'how strongly the icon drives its cell\'s mean activation: 1 as strongly as the strongest '
    + 'real sketch, 0 as an average one',
};
export const iconScoreMeaning = () => ICON_SCORE[S.atlas && S.atlas.icon_kind] || ICON_SCORE.featurevis;

/** The undo shortcut, as this computer's keyboard names it. */
export const UNDO_KEYS = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent) ? '⌘Z' : 'Ctrl+Z';

/** A concept's name in a write's answer, else ``fallback``. */
export function nameOf(answer, id, fallback) {
  const c = (answer.concepts || []).find((x) => x.id === id);
  return c ? c.name : fallback;
}

export function conceptById(id) {
  return S.concepts.find((c) => c.id === id) || null;
}

/** The ``k`` largest entries of a {name: count} object. */
export function topEntries(counts, k) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, k);
}

export function describeSelection(sel) {
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

/** Why a concept's size and its selection differ: the atlas holds a sample of the layer's positions. */
export function partOnAtlas(concept, onAtlas) {
  return `${onAtlas} of its ${plural(concept.n_positives, 'position')} are points of this atlas, and clicking `
    + 'selects those: the atlas shows a sample of the layer\'s positions, and a concept also holds positions '
    + 'the sample left out (and those of drawings made on the Draw page).';
}

/** A line for the status when the page shows another layer than the round's atlas layer (null: that layer). */
export function otherLayerNote() {
  if (!S.atlas || !S.atlas.atlas_layer || S.atlas.layer === S.atlas.atlas_layer) return null;
  return `This is the atlas of layer ${S.atlas.layer}; the round's atlas layer is ${S.atlas.atlas_layer}. A concept `
    + `promoted here is on ${S.atlas.layer}, and concepts of other layers are listed without their points.`;
}

/** A line for the status when the page shows another round than the server's own (null: its own). */
export function otherRoundNote() {
  if (ROUND === null || !S.rounds || S.atlas.round === S.rounds.session) return null;
  return `This is round ${S.atlas.round}'s atlas; the server was started on round ${S.rounds.session}. `
    + `A concept promoted here is born in round ${S.atlas.round}.`;
}
