/* Articulate's page, state.js: The page's state (one object) and the palette; the few setters that change what
 * several views show. */

export { colourOf, GREY, PALETTE } from './shared/palette.js';
// What the atlas stage's icon score measures, by icon kind (pipeline/atlas/exemplar_icons.py; featurevis:
// pipeline/featurevis/render.py, RenderResult.scores).
export const ICON_SCORE = {
  exemplar: 'how close the fragment shown is to its cell\'s mean activation (cosine): 1 exactly its direction; '
    + 'lower when the cell is spread out and no one drawing stands for it well',
  featurevis: 'how strongly the icon drives its cell\'s mean activation: 1 as strongly as the strongest '
    + 'real sketch, 0 as an average one',
};
export const iconScoreMeaning = () => ICON_SCORE[S.atlas && S.atlas.icon_kind] || ICON_SCORE.featurevis;

export const S = {
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
  colourBy: 'cluster',
  show: 'all',          // 'all' points, or only those 'unnamed' (no concept of the round's head explains them)
  renaming: null,       // concept id being renamed inline
  deleting: null,       // concept id whose delete waits for its confirmation
  rounds: null,         // GET /api/rounds: the rounds whose atlas the page can show, and the server's own
  atlasCursor: null,    // the atlas cell the keyboard is on (row * size + col), null: none yet
  mapCursor: null,      // the map cluster the keyboard is on, null: none yet
  review: null,         // GET /api/review: the labels most likely wrong and the concepts probably one, with fixes
  suggestions: null,    // GET /api/suggestions: what to look at next
  mergeTicks: new Set(),
  selectSeq: 0,
  mapType: 'scattergl',
};

// ---------------------------------------------------------------- setters: what changes several views at once

/** The atlas and its points, as loaded, with the lookups the views use. */
export function setAtlas(atlas, points) {
  S.atlas = atlas;
  S.points = points;
  S.n = points.x.length;
  S.clusters = new Map((atlas.clusters || []).map((c) => [c.cluster, c]));
  S.cells = new Map((atlas.cells || []).map((c) => [c.cell, c]));
}

/** A selection the server answered (null: none). The unticked exemplars stay for the same selection only. */
export function setSelection(answer) {
  const same = answer && S.selection && S.selection.kind === answer.kind && S.selection.key === answer.key;
  S.selection = answer;
  if (!same) S.unticked = new Set();
  else {
    const still = new Set((answer.exemplars || []).map((e) => e.point));
    S.unticked = new Set([...S.unticked].filter((p) => still.has(p)));
  }
}

/** The concept being renamed inline (null: none); a rename and a delete's question are not open at once. */
export function setRenaming(id) {
  S.renaming = id;
  if (id !== null) S.deleting = null;
}

/** The concept whose delete waits for its confirmation (null: none). */
export function setDeleting(id) {
  S.deleting = id;
  if (id !== null) S.renaming = null;
}

/** What one view asks of another, filled in by main.js (the wiring), so that views need not import each other:
 * ``write(method, path, body, describe)`` (a store write, concepts.js) and ``selectPoints(ids)`` (selection.js). */
export const hooks = {
  write: async () => null,
  selectPoints: async () => null,
};
