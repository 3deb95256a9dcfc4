/* Articulate's drawing coach, history.js: what each stroke did (the timeline: "stroke 3: improved ear,
 * complete head") and each concept's level over the strokes (a Plotly chart), from D.history. */
import { esc, h } from '../shared/dom.js';
import { conceptName, D } from './state.js';

/** One stroke's events, one per concept: "complete" wins over "improved". */
export function strokeEvents(answer) {
  const byConcept = new Map();
  for (const e of answer.events || []) {
    const known = byConcept.get(e.concept);
    if (!known || e.kind === 'complete') byConcept.set(e.concept, e);
  }
  return [...byConcept.values()];
}

/** The timeline entry of a stroke as plain text, e.g. "stroke 3: improved ear, complete head". */
export function describeEntry(entry) {
  const events = strokeEvents(entry.answer);
  const what = events.length ? events.map((e) => `${e.kind} ${conceptName(e.concept)}`).join(', ')
    : quietText(entry.answer);
  return `stroke ${entry.stroke}: ${what}`;
}

/** What a stroke without events says: that the coach is not sure what the drawing is, or nothing changed. */
const quietText = (answer) => (answer.unsure ? 'not sure what this is yet' : 'no change');

export function renderTimeline() {
  const list = document.getElementById('timeline');
  if (!D.history.length) {
    list.replaceChildren(h('li', { class: 'tl-empty muted', text: 'Each stroke you draw gets a line here.' }));
    return;
  }
  const items = D.history.map((entry) => {
    const events = strokeEvents(entry.answer);
    const chips = events.map((e) => {
      const concept = D.byId.get(e.concept);
      return h('span', { class: `tl-chip ${e.kind}`, 'data-concept': e.concept,
        style: { borderColor: concept ? concept.colour : '#c9ccd1' } },
      h('span', { class: 'tl-dot', style: { background: concept ? concept.colour : '#c9ccd1' } }),
      `${e.kind === 'complete' ? '✓ complete' : '↑ improved'} ${conceptName(e.concept)}`);
    });
    const top = entry.answer.classes && entry.answer.classes[0];
    return h('li', { class: 'tl-entry', testid: `timeline-${entry.stroke}`, 'data-stroke': String(entry.stroke),
      'data-text': describeEntry(entry), title: top ? `the model's guess: ${top.name} (${Math.round(100 * top.p)}%)` : null },
    h('span', { class: 'tl-stroke', text: `stroke ${entry.stroke}` }),
    h('span', { class: 'tl-events' }, chips.length ? chips : h('span', { class: 'muted', text: quietText(entry.answer) })));
  });
  list.replaceChildren(...items);
  list.scrollTop = list.scrollHeight;
}

/** The chart of levels over strokes: the concepts of the class read for, the others hidden until clicked. */
let chartFrame = 0;

/** The chart is drawn after the feedback is on screen: Plotly takes tens of milliseconds, the bars and
 * sentences come first. chartPending() is true until it is drawn. */
export function scheduleChart() {
  if (chartFrame) return;
  chartFrame = requestAnimationFrame(() => setTimeout(() => {
    chartFrame = 0;
    renderChart();
  }, 0));
}

export const chartPending = () => chartFrame !== 0;

export function renderChart() {
  const box = document.getElementById('chart');
  box.dataset.points = String(D.history.length);
  if (typeof window.Plotly === 'undefined') {
    box.textContent = 'The chart needs Plotly (/static/vendor/plotly.min.js), which did not load.';
    return;
  }
  if (!D.history.length) {
    window.Plotly.purge(box);
    box.replaceChildren(h('div', { class: 'chart-empty muted', text: 'The levels of the parts, stroke by stroke, '
      + 'appear here as you draw.' }));
    return;
  }
  const placeholder = box.querySelector('.chart-empty');
  if (placeholder) placeholder.remove();
  const last = D.history[D.history.length - 1].answer;
  const belongs = new Set(last.belongs || []);
  const x = D.history.map((e) => e.stroke);
  const traces = D.concepts.map((c) => ({
    type: 'scatter', mode: 'lines+markers', name: esc(c.name), x,
    y: D.history.map((e) => Number(e.answer.levels[c.id] || 0)),
    line: { color: c.colour, width: 2, shape: 'linear' }, marker: { color: c.colour, size: 5 },
    visible: belongs.has(c.id) ? true : 'legendonly',
    hovertemplate: `<b>${esc(c.name)}</b><br>stroke %{x}: %{y:.0%} of typical<extra></extra>`,
  }));
  const top = Math.max(1.2, ...traces.flatMap((t) => (t.visible === true ? t.y : [])));
  const layout = {
    margin: { l: 44, r: 10, t: 8, b: 36 }, height: 280, paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 11, color: '#394150' },
    xaxis: { title: { text: 'stroke', standoff: 4 }, dtick: x.length > 12 ? null : 1, range: [0.5, Math.max(2, x[x.length - 1]) + 0.5],
      gridcolor: '#eef0f3', zeroline: false, fixedrange: true },
    yaxis: { tickformat: '.0%', range: [0, Math.min(top, 3) * 1.05], gridcolor: '#eef0f3', zeroline: false,
      fixedrange: true },
    shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: 1, y1: 1, line: { color: '#9aa3b2', width: 1, dash: 'dash' } }],
    annotations: [{ xref: 'paper', x: 1, y: 1, xanchor: 'right', yanchor: 'bottom', showarrow: false,
      text: 'typical complete', font: { size: 10, color: '#6b7280' }, bgcolor: 'rgba(255,255,255,0.8)' }],
    showlegend: true, legend: { orientation: 'h', y: -0.22, font: { size: 11 } },
  };
  layout.height = 280 + 18 * Math.ceil(D.concepts.length / 4);
  window.Plotly.react(box, traces, layout, { displayModeBar: false, responsive: true });
}
