/* Articulate's pages, shared/palette.js: the colours of clusters and concepts, the same on every page and in the
 * atlas stage's figures (pipeline/atlas/figure.py, CLUSTER_PALETTE). */

// One colour per cluster of the default atlas (24): tab10 first (the colours of atlas.png and map.png for the
// first ten), then the 14 colours of Plotly's qualitative palettes and Kelly's 22 that lie farthest from
// those before them (CIEDE2000, each at least 14.9 from every other, none too pale for white or grey).
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf', '#1616a7', '#85660d', '#620042', '#24796c', '#f8a19f', '#661100', '#00cc96',
  '#cf1c90', '#edad08', '#cc6677', '#6c7c32', '#654522', '#5f4690', '#dcb0f2'];

/** The colour of cluster (or concept) ``i``: the palette's, then golden-angle hues past its end. */
export const colourOf = (i) => (i >= 0 && i < PALETTE.length ? PALETTE[i]
  : `hsl(${Math.round((Math.abs(i) * 137.508) % 360)}, 55%, 45%)`);

/** What belongs to no cluster or concept. */
export const GREY = '#c9ccd1';
