/* Articulate's atlas page, review.js (a view): the Review card. The review queue (the store's review, GET
 * /api/review): the labels most likely wrong and the concepts probably one, each with a one-click fix (POST
 * /api/review/fix through the page's write: one store event, undone by Undo); and what to look at next (the
 * store's suggestions, GET /api/suggestions): unnamed regions and the uncertain borders of concepts, each selected
 * with one click. */
import { $, h, plural, withToken } from '../shared/dom.js';
import { loadGuides, select, write } from './actions.js';
import { S } from './state.js';

/** Make one item's fix through the store (the page's write: it sends expected_version), then ask again. */
async function fix(item) {
  const answer = await write('POST', '/api/review/fix', { fix: item.fix },
    () => `${item.fix.label}: done (store version ${S.version}); Undo reverts it.`);
  if (answer) await loadGuides();
}

function picture(item) {
  if (!item.exemplar) return null;
  return h('img', { class: 'review-pic', src: withToken(item.exemplar.context), alt: `sketch of point ${item.point}`,
    title: `${item.exemplar.key_id} · ${item.exemplar.class} (point ${item.point})` });
}

function reviewRow(item, i) {
  return h('li', { class: 'review-item', testid: `review-item-${i}`, 'data-kind': item.kind },
    picture(item),
    h('div', { class: 'review-text' },
      h('div', { class: 'review-why', text: item.why }),
      h('div', { class: 'muted small', text: `${item.kind} · score ${item.score.toFixed(2)}` })),
    h('button', { type: 'button', class: 'btn small', testid: `review-fix-${i}`, text: item.fix.label,
      title: 'make this fix: one change to the store, undone by Undo', onclick: () => fix(item) }));
}

function suggestionRow(item, i) {
  const what = item.kind === 'region' ? `Cluster ${item.cluster}: ${plural(item.size, 'unnamed point')}`
    : `Border of '${item.name}': ${plural(item.size, 'point')}`;
  return h('li', { class: 'review-item', testid: `suggestion-${i}`, 'data-kind': item.kind },
    h('div', { class: 'review-text' },
      h('div', { class: 'review-why', text: what }),
      h('div', { class: 'muted small', text: item.why })),
    h('button', { type: 'button', class: 'btn small', testid: `suggestion-look-${i}`, text: 'Look',
      title: 'select these points to judge their exemplars', onclick: () => select({ points: [...item.points].map(Number) }) }));
}

function list(box, answer, row, none) {
  box.replaceChildren();
  if (!answer) return;
  if (answer.error) {
    box.append(h('li', { class: 'error', text: answer.error }));
    return;
  }
  if (!answer.items.length) box.append(h('li', { class: 'muted', text: none }));
  answer.items.forEach((item, i) => box.append(row(item, i)));
}

/** Draw the card from S.review and S.suggestions; a note when the store has changed since they were asked for. */
export function renderGuides() {
  list($('review-list'), S.review, reviewRow, 'Nothing to review: no label the probes doubt, no concepts alike.');
  list($('suggestion-list'), S.suggestions, suggestionRow, 'No suggestion: every region is named.');
  const stale = S.review && S.review.version !== undefined && S.review.version !== S.version;
  const note = $('review-note');
  note.hidden = !stale;
  note.textContent = stale ? 'The store changed since: Refresh to review it again.' : '';
}
