/* Articulate's page, state.js: The page's state (one object) and the palette; the few setters that change what
 * several views show. */

// One colour per cluster of the default atlas (24): tab10 first (the colours of atlas.png and map.png for the
// first ten), then the 14 colours of Plotly's qualitative palettes and Kelly's 22 that lie farthest from
// those before them (CIEDE2000, each at least 14.9 from every other, none too pale for white or grey).
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf', '#1616a7', '#85660d', '#620042', '#24796c', '#f8a19f', '#661100', '#00cc96',
  '#cf1c90', '#edad08', '#cc6677', '#6c7c32', '#654522', '#5f4690', '#dcb0f2'];
export const colourOf = (i) => (i >= 0 && i < PALETTE.length ? PALETTE[i]
  : `hsl(${Math.round((Math.abs(i) * 137.508) % 360)}, 55%, 45%)`);
export const GREY = '#c9ccd1';
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
  busy: 0,
  actions: 0,
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
