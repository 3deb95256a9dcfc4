/* Articulate's page, preview.js: what a label does at once. After a promote or an add, the concept's linear probe
 * (GET /api/concepts/{id}/preview) shows beside it: its agreement with the label, how many points it would claim on
 * drawings holding none of its labels, and a strip of the surest and the borderline ones, in context. */
import { api, busy } from './shared/api.js';
import { h, plural, withToken } from './shared/dom.js';

/** The preview shown: { id, answer } or { id, error }; one concept's at a time. */
let shown = null;

/** Ask for a concept's preview, then redraw (``rerender``: the concept list, which draws the panel). */
export async function loadPreview(id, rerender) {
  shown = { id, loading: true };
  rerender();
  await busy(async () => {
    try {
      shown = { id, answer: await api('GET', `/api/concepts/${encodeURIComponent(id)}/preview`) };
    } catch (err) {
      shown = { id, error: err.message };
    }
  });
  rerender();
}

function percent(value) {
  return value === null || value === undefined ? '–' : `${Math.round(value * 100)}%`;
}

function strip(title, exemplars, testid) {
  if (!exemplars.length) return null;
  return h('div', { class: 'probe-strip', testid },
    h('div', { class: 'probe-strip-title muted', text: title }),
    h('div', { class: 'probe-row' }, ...exemplars.map((e) => h('figure', {
      class: 'probe-ex', 'data-point': e.point,
      title: `${e.key_id} · ${e.class}${e.part ? ` · ${e.part}` : ''} · p = ${e.probability.toFixed(2)} (point ${e.point})`,
    }, h('img', { src: withToken(e.context), alt: `sketch of point ${e.point}` }),
    h('figcaption', { text: e.probability.toFixed(2) })))));
}

/** The panel of concept ``id`` (null when its preview is not the one shown). */
export function previewPanel(id) {
  if (!shown || shown.id !== id) return null;
  const close = h('button', { type: 'button', class: 'btn small ghost', text: 'Close', testid: `probe-close-${id}`,
    title: 'hide the preview', onclick: (ev) => { ev.stopPropagation(); shown = null; ev.target.closest('.probe').remove(); } });
  if (shown.loading) {
    return h('div', { class: 'probe', testid: `probe-${id}` }, h('span', { class: 'muted', text: 'Fitting a probe…' }));
  }
  if (shown.error) {
    return h('div', { class: 'probe', testid: `probe-${id}` }, h('span', { class: 'error', text: shown.error }), close);
  }
  const a = shown.answer;
  const t = a.trained;
  const summary = a.agreement === null
    ? a.message
    : `Probe agrees with the label on ${percent(a.agreement)} (positives ${percent(a.positives_agreement)}, `
      + `negatives ${percent(a.negatives_agreement)}; ${a.folds}-fold by drawing). It would claim `
      + `${plural(a.claimed, 'point')} of ${a.candidates} on drawings you did not label.`;
  return h('div', { class: 'probe', testid: `probe-${id}`, 'data-claimed': a.claimed },
    h('div', { class: 'probe-head' },
      h('strong', { text: 'Preview' }),
      h('span', { class: 'probe-summary', testid: `probe-summary-${id}`, text: ` ${summary}` }),
      close),
    h('div', { class: 'muted probe-trained', text: `fitted on ${plural(t.positives, 'positive')}, ${t.negatives} `
      + `unticked and ${t.background} other points of its ${plural(t.drawings, 'drawing')}` }),
    strip('surest claims', a.surest, `probe-surest-${id}`),
    strip('borderline (nearest its threshold)', a.borderline, `probe-borderline-${id}`));
}
