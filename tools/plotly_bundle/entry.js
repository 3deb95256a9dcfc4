// The traces Articulate's pages draw: scatter (the drawing coach's history), scattergl (the atlas map) and heatmap
// (the atlas grid's hover cells); plotly.js's core brings the layout components (images, shapes, annotations,
// legend, the lasso's selections).
var Plotly = require('plotly.js/lib/core');

Plotly.register([
  require('plotly.js/lib/scatter'),
  require('plotly.js/lib/scattergl'),
  require('plotly.js/lib/heatmap'),
]);

module.exports = Plotly;
