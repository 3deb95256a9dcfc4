// A partial plotly.js bundle, built as plotly.js builds its own (its esbuild-config.js), minified.
//   cd tools/plotly_bundle && npm ci && npm run build
const esbuild = require('esbuild');
const path = require('path');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const { version } = require('plotly.js/package.json');

esbuild.build({
  entryPoints: [path.join(__dirname, 'entry.js')],
  outfile: path.join(__dirname, '..', '..', 'labeling', 'static', 'vendor', 'plotly-articulate.min.js'),
  banner: { js: `/* plotly.js v${version} (MIT, Copyright Plotly, Inc.), partial bundle for Articulate: scatter, `
    + 'scattergl, heatmap. Built by tools/plotly_bundle (npm run build); third-party licences at the end. */' },
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  legalComments: 'eof',
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
  target: 'es2016',
  logLevel: 'info',
}).catch(() => process.exit(1));
