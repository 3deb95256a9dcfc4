/* Articulate's atlas page, selection.js (a view): the selection panel (a cluster, a cell, a lasso, a concept),
 * its exemplars in context, its sub-clusters, and its forms: promote it to a new concept, add it to one. */
import { api, busy, setStatus } from '../shared/api.js';
import { $, fmt, h, plural, withToken } from '../shared/dom.js';
import { loadPreview, select, write } from './actions.js';
import {
  conceptById, describeSelection, nameOf, partOnAtlas, S, topEntries, UNDO_KEYS, update,
} from './state.js';

function barList(list, counts, total) {
  list.replaceChildren();
  const entries = topEntries(counts, 8);
  const rest = Object.keys(counts || {}).length - entries.length;
  const max = entries.length ? entries[0][1] : 1;
  for (const [name, count] of entries) {
    list.append(h('li', null,
      h('span', { class: 'bar-name', text: name, title: name }),
      h('span', { class: 'bar' }, h('span', { style: { width: `${Math.max(2, Math.round((count / max) * 100))}%` } })),
      h('span', { class: 'bar-count', text: `${count}${total ? ` · ${Math.round((count / total) * 100)}%` : ''}` })));
  }
  if (rest > 0) list.append(h('li', { class: 'muted small', text: `… and ${rest} more` }));
}

export function renderSelection() {
  const sel = S.selection;
  const box = $('selection');
  $('clear-selection').disabled = !sel;
  box.dataset.kind = sel ? sel.kind : 'none';
  $('selection-empty').hidden = Boolean(sel);
  $('selection-body').hidden = !sel;
  if (!sel) return;
  const title = describeSelection(sel);
  $('selection-title').textContent = title.charAt(0).toUpperCase() + title.slice(1);
  $('selection-size').textContent = String(sel.size);
  $('selection-sketches').textContent = String(sel.sketches ?? '—');
  $('selection-purity').textContent = sel.purity === null || sel.purity === undefined
    ? 'unknown (no true parts)'
    : `${fmt(sel.purity)}${sel.majority_part ? ` (${sel.majority_part})` : ''}`;
  $('selection-attribution').textContent = fmt(sel.mean_attribution, 3);
  const note = $('selection-of-concept');
  const concept = sel.kind === 'concept' ? conceptById(sel.key) : null;
  note.hidden = !concept || concept.n_positives === sel.size;
  if (!note.hidden) note.textContent = partOnAtlas(concept, sel.size);
  const icon = $('selection-icon');
  if (sel.icon) {
    icon.src = withToken(sel.icon);
    icon.hidden = false;
  } else {
    icon.hidden = true;
    icon.removeAttribute('src');
  }
  barList($('selection-classes'), sel.classes, sel.size);
  $('selection-parts-box').hidden = !sel.parts;
  if (sel.parts) barList($('selection-parts'), sel.parts, sel.size);
  renderExemplars();
  $('subcluster-list').hidden = true;
  $('subcluster-list').replaceChildren();
  const name = $('concept-name');
  name.placeholder = sel.majority_part ? `name, e.g. ${sel.majority_part}` : 'name of the new concept';
  renderAddTo();
}

/** The request that names the current selection again (a cluster, a cell, a concept, or its points). */
function selectionRequest(sel = S.selection) {
  if (sel.kind === 'cluster') return { cluster: sel.key };
  if (sel.kind === 'cell') return { cell: sel.key };
  if (sel.kind === 'concept') return { concept: sel.key };
  return { points: sel.points };
}

/** Cut the selection into sub-clusters (what the layer tells apart) and list them; one click selects a piece.
 * The k-means takes a second or two on a large selection: the button waits, disabled, with a line saying so. */
export async function showSubclusters() {
  const sel = S.selection;
  if (!sel) return;
  const k = Number($('subcluster-k').value);
  const button = $('subclusters');
  const progress = $('subcluster-progress');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  progress.hidden = false;
  await busy(async () => {
    try {
      const answer = await api('POST', '/api/selection/subclusters', { ...selectionRequest(sel), k });
      if (S.selection !== sel) return; // the selection changed meanwhile
      const list = $('subcluster-list');
      list.replaceChildren(...answer.pieces.map((piece, i) => h('li', null, h('button', {
        type: 'button', class: 'btn small chip', testid: `subcluster-${i}`,
        title: Object.entries(piece.classes).slice(0, 3).map(([c, n]) => `${c} ${n}`).join(', '),
        text: `${i + 1}: ${plural(piece.size, 'point')}${piece.majority_part
          ? ` · ${piece.majority_part} ${Math.round(piece.purity * 100)}%` : ''}`,
        onclick: () => select({ points: piece.points }),
      }))));
      list.hidden = false;
      setStatus(`${describeSelection(sel)} in ${plural(answer.pieces.length, 'sub-cluster')}: select one to judge it.`,
        'info');
    } catch (err) {
      setStatus(err.message, 'error');
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      progress.hidden = true;
    }
  });
}

// The exemplars the page shows for the selection: the ones kept become the concept's verified positives.
function shownExemplars() {
  return (S.selection && S.selection.exemplars || []).map((e) => e.point);
}

function renderExemplars() {
  const sel = S.selection;
  const grid = $('exemplars');
  grid.replaceChildren();
  for (const e of sel.exemplars || []) {
    const off = S.unticked.has(e.point);
    const box = h('input', { type: 'checkbox', testid: `exemplar-${e.point}`, 'aria-label': `keep exemplar ${e.point}` });
    box.checked = !off;
    const figure = h('label', {
      class: `exemplar${off ? ' off' : ''}`, 'data-point': e.point,
      title: `${e.key_id ?? ''} · ${e.class ?? ''}${e.part ? ` · ${e.part}` : ''} · y ${e.y}, x ${e.x}`
        + ` (point ${e.point})`,
    },
    h('img', { src: withToken(e.context || e.patch || `/api/sketch/${e.point}.png`), alt: `sketch of point ${e.point}`,
      loading: 'lazy' }),
    h('span', { class: 'ex-caption' }, box, h('span', { class: 'ex-label', text: e.part || e.class || '' })));
    box.addEventListener('change', () => {
      const unticked = new Set(S.unticked);
      if (box.checked) unticked.delete(e.point); else unticked.add(e.point);
      update({ unticked }); // the ticks are this view's to show: no redraw
      figure.classList.toggle('off', !box.checked);
      $('unticked-count').textContent = String(S.unticked.size);
      $('select-unticked').disabled = S.unticked.size === 0;
    });
    grid.append(figure);
  }
  $('unticked-count').textContent = String(S.unticked.size);
  $('select-unticked').disabled = S.unticked.size === 0;
}

/** The exemplars just unticked as a selection of their own (a lasso of those points), to name what they are. */
export function selectUnticked() {
  if (!S.unticked.size) return null;
  return select({ points: [...S.unticked].sort((a, b) => a - b) });
}

/** The "add to" menu: no concept chosen until the person chooses one (a preselected concept took adds it was
 * not meant for; a new selection goes to none: the store's addTo); the button waits for the choice. */
export function renderAddTo() {
  const menu = $('add-to');
  menu.replaceChildren(h('option', { value: '', text: S.concepts.length ? 'choose a concept…' : 'no concepts yet' }));
  menu.disabled = !S.concepts.length;
  for (const c of S.concepts) menu.append(h('option', { value: c.id, text: `${c.name} (${c.id})` }));
  menu.value = S.concepts.some((c) => c.id === S.addTo) ? S.addTo : '';
  addToChosen();
}

/** The add button follows the menu: enabled once a concept is chosen. */
export function addToChosen() {
  $('add-button').disabled = !$('add-to').value;
}

function selectionSource() {
  const sel = S.selection;
  if (sel.kind === 'cluster') return { kind: 'cluster', cluster: sel.key };
  if (sel.kind === 'cell') return { kind: 'cell', cell: sel.key };
  return { kind: 'lasso' };
}

// ---------------------------------------------------------------- the panel's forms

/** Promote the selection (its ticked exemplars) to a new concept named in the box; its preview follows. */
export async function promote(event) {
  event.preventDefault();
  const sel = S.selection;
  if (!sel) { setStatus('Select a cluster, a cell or a lasso of points first.', 'error'); return; }
  const input = $('concept-name');
  const name = input.value.trim();
  if (!name) {
    setStatus('Give the new concept a name first (the box next to Promote).', 'error');
    input.focus();
    return;
  }
  const unticked = [...S.unticked].sort((a, b) => a - b);
  const answer = await write('POST', '/api/concepts', {
    name, points: sel.points, unticked, seen: shownExemplars(), source: selectionSource(),
  }, (a) => {
    const id = (a.changed || [])[0];
    const c = (a.concepts || []).find((x) => x.id === id);
    return `Promoted '${name}'${id ? ` (${id})` : ''}: ${plural(c ? c.n_positives : sel.size - unticked.length, 'position')}, `
      + `${unticked.length} unticked. ${UNDO_KEYS} undoes it.`;
  });
  if (answer) {
    input.value = '';
    const made = (answer.changed || [])[0];
    if (made) await loadPreview(made); // what the label does, at once
  }
}

/** Add the selection to the concept chosen in the menu; its preview follows. */
export async function addToConcept(event) {
  event.preventDefault();
  const sel = S.selection;
  const id = $('add-to').value;
  if (!sel) { setStatus('Select something to add first.', 'error'); return; }
  if (!id) {
    setStatus(S.concepts.length ? 'Choose the concept to add the selection to (the menu beside Add), then add.'
      : 'There is no concept to add to yet: promote one first.', 'error');
    return;
  }
  const unticked = [...S.unticked].sort((a, b) => a - b);
  const before = conceptById(id);
  const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/add`, {
    points: sel.points, unticked, seen: shownExemplars(), source: selectionSource(),
  }, (a) => `Added ${describeSelection(sel)} to '${nameOf(a, id, before ? before.name : id)}' (${id}), `
    + `${unticked.length} unticked.`);
  if (answer) await loadPreview(id);
}
