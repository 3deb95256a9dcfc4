/* Articulate's atlas page, concepts.js (a view): the concepts panel (rename, merge, split, delete, each a write to
 * the concept store; a concept's preview and its reliance badge) and the recent changes. */
import { setStatus } from '../shared/api.js';
import { $, h, plural, withToken } from '../shared/dom.js';
import { colourOf } from '../shared/palette.js';
import { relianceOf, relianceSentence, relianceWords, relied } from '../shared/reliance.js';
import { select, write } from './actions.js';
import {
  conceptById, nameOf, partOnAtlas, S, setDeleting, setRenaming, UNDO_KEYS, update,
} from './state.js';

// ---------------------------------------------------------------- writes

async function rename(id, newName) {
  const name = newName.trim();
  const c = conceptById(id);
  if (!name) { setStatus('A concept needs a name; the rename was not sent.', 'error'); return; }
  if (c && name === c.name) { setRenaming(null); return; }
  const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/rename`, { name },
    () => `Renamed '${c ? c.name : id}' to '${name}'.`);
  if (answer) setRenaming(null);
}

/** Delete asks first, in the concept's row (Delete again to confirm, Keep or Escape to keep it). */
function askDelete(id) {
  setDeleting(id);
  const keep = document.querySelector(`[data-testid="delete-keep-${CSS.escape(id)}"]`);
  if (keep) keep.focus();
}

async function remove(id) {
  const c = conceptById(id);
  setDeleting(null);
  await write('DELETE', `/api/concepts/${encodeURIComponent(id)}`, undefined,
    () => `Deleted '${c ? c.name : id}' (${id}); Undo (${UNDO_KEYS}) brings it back.`);
}

async function splitByClusters(id) {
  const c = conceptById(id);
  // no k: the server's labeling.split_k sub-clusters
  await write('POST', `/api/concepts/${encodeURIComponent(id)}/split`, {}, (a) => {
    const made = (a.changed || []).filter((x) => x !== id);
    return `Split '${c ? c.name : id}' by sub-clustering into ${made.length + 1} concepts`
      + `${made.length ? `: ${made.map((x) => `'${nameOf(a, x, x)}'`).join(', ')} are new` : ''}.`;
  });
}

async function splitBySelection(id) {
  const c = conceptById(id);
  const sel = S.selection;
  if (!c) return;
  if (!sel) { setStatus('Lasso (or otherwise select) the points to split off first.', 'error'); return; }
  const members = new Set(c.points || []);
  const points = sel.points.filter((p) => members.has(p));
  if (!points.length) {
    setStatus(`None of the selected points belong to '${c.name}'; select some of its points to split them off.`, 'error');
    return;
  }
  const typed = $('concept-name').value.trim();
  const name = typed || `${c.name} (split)`;
  const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/split`, { points, name },
    () => `Split ${plural(points.length, 'point')} of '${c.name}' off into '${name}'.`);
  if (answer && typed) $('concept-name').value = '';
}

export async function merge(event) {
  event.preventDefault();
  const ids = S.concepts.map((c) => c.id).filter((id) => S.mergeTicks.has(id));
  if (ids.length < 2) { setStatus('Tick at least two concepts to merge.', 'error'); return; }
  const name = $('merge-name').value.trim();
  const names = ids.map((id) => `'${conceptById(id).name}'`).join(', ');
  const body = { ids };
  if (name) body.name = name;
  const answer = await write('POST', '/api/concepts/merge', body,
    (a) => `Merged ${names} into '${nameOf(a, ids[0], name || ids[0])}' (${ids[0]}).`);
  if (answer) {
    update({ mergeTicks: new Set() });
    $('merge-name').value = '';
    renderConcepts();
  }
}

// ---------------------------------------------------------------- the concepts panel

export function renderConcepts() {
  const list = $('concept-list');
  list.replaceChildren();
  const sel = S.selection;
  $('concept-count').textContent = S.concepts.length ? plural(S.concepts.length, 'concept') : '';
  if (!S.concepts.length) {
    list.append(h('li', { class: 'empty muted',
      text: 'No concepts yet: select a cluster or lasso points, check the exemplars, name it and promote it.' }));
  }
  S.concepts.forEach((c, index) => {
    const selected = Boolean(sel && sel.kind === 'concept' && sel.key === c.id);
    const onAtlas = (c.points || []).length;
    const tick = h('input', { type: 'checkbox', testid: `merge-check-${c.id}`, 'aria-label': `tick ${c.name} for merging` });
    tick.checked = S.mergeTicks.has(c.id);
    tick.addEventListener('change', () => {
      const ticks = new Set(S.mergeTicks);
      if (tick.checked) ticks.add(c.id); else ticks.delete(c.id);
      update({ mergeTicks: ticks }); // the ticks are this view's to show: no redraw
      $('merge').disabled = S.mergeTicks.size < 2;
    });
    let nameCell;
    if (S.renaming === c.id) {
      const input = h('input', { type: 'text', class: 'rename-input', testid: `rename-input-${c.id}`, maxlength: 200,
        'aria-label': `new name for ${c.name}` });
      input.value = c.name;
      const save = () => rename(c.id, input.value);
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') { ev.preventDefault(); save(); }
        if (ev.key === 'Escape') setRenaming(null);
      });
      nameCell = h('span', { class: 'rename-box' }, input,
        h('button', { type: 'button', class: 'btn small primary', testid: `rename-save-${c.id}`, text: 'Save', onclick: save }),
        h('button', { type: 'button', class: 'btn small ghost', testid: `rename-cancel-${c.id}`, text: 'Cancel',
          onclick: () => setRenaming(null) }));
      setTimeout(() => { input.focus(); input.select(); }, 0);
    } else {
      nameCell = h('button', { type: 'button', class: 'concept-label', testid: `concept-label-${c.id}`,
        title: onAtlas ? `select its ${plural(onAtlas, 'point')} on this atlas` : 'none of its positions is on this atlas',
        text: c.name, onclick: () => select({ concept: c.id }) });
    }
    const source = c.source || {};
    const from = source.kind === 'cluster' ? `cluster ${source.cluster}`
      : source.kind === 'cell' ? `cell ${source.cell}` : source.kind || '';
    const canSplitSel = Boolean(sel && sel.points && sel.points.length);
    // The classes its positions come from: a part that several classes share, named from one class only, shows it.
    const classes = Object.entries(c.classes || {});
    list.append(h('li', { class: `concept${selected ? ' selected' : ''}`, testid: `concept-${c.id}`, 'data-id': c.id },
      tick,
      h('span', { class: 'swatch', style: { background: colourOf(index) } }),
      h('div', { class: 'concept-main' },
        nameCell,
        h('div', { class: 'concept-meta' },
          h('span', { testid: `concept-size-${c.id}`, text: plural(c.n_positives, 'position'),
            title: 'the positions it holds in the concept store: what the next round trains on' }),
          onAtlas !== c.n_positives ? h('span', { testid: `concept-on-atlas-${c.id}`, text: ` (${onAtlas} on this atlas)`,
            title: partOnAtlas(c, onAtlas) }) : null,
          c.n_negatives ? h('span', { text: ` · ${c.n_negatives} unticked`,
            title: 'the exemplars unticked as not belonging: the next round trains it to stay off them' }) : null,
          h('span', { text: ` · round ${c.born_round}`, title: 'the round whose atlas it was promoted on' }),
          c.layer && c.layer !== S.atlas.layer ? h('span', { testid: `concept-layer-${c.id}`, text: ` · layer ${c.layer}`,
            title: `named on layer ${c.layer}'s atlas: its positions are on that layer's grid, so this layer's atlas `
              + 'shows none of them; the layer switch shows them' }) : null,
          from ? h('span', { text: ` · ${from}` }) : null,
          classes.length ? h('span', { class: 'concept-classes', testid: `concept-classes-${c.id}`,
            title: 'the classes of the drawings its positions are on',
            text: ` · ${classes.map(([word, n]) => `${word} ${n}`).join(', ')}` }) : null,
          h('span', { class: 'muted', text: ` · ${c.id}` }),
          relianceBadge(c)),
        previewPanel(c.id)),
      S.deleting === c.id ? deleteQuestion(c) : h('div', { class: 'concept-actions' },
        S.renaming === c.id ? null : h('button', {
          type: 'button', class: 'btn small ghost', testid: `rename-${c.id}`, text: 'Rename',
          onclick: () => setRenaming(c.id),
        }),
        h('button', { type: 'button', class: 'btn small ghost', testid: `split-${c.id}`, text: 'Sub-cluster',
          title: 'split it by sub-clustering its activations (k-means)', onclick: () => splitByClusters(c.id) }),
        h('button', { type: 'button', class: 'btn small ghost', testid: `split-selection-${c.id}`, text: 'Split off selection',
          disabled: !canSplitSel,
          title: 'split the selected points off into a new concept (named by the name box of the selection panel)',
          onclick: () => splitBySelection(c.id) }),
        h('button', { type: 'button', class: 'btn small danger', testid: `delete-${c.id}`, text: 'Delete',
          title: 'delete it (asks first; Undo brings it back)', onclick: () => askDelete(c.id) }))));
  });
  $('merge').disabled = S.mergeTicks.size < 2;
  const rel = S.reliance;
  $('concept-count').title = rel && !rel.available && rel.message ? `reliance not measured: ${rel.message}` : '';
}

/** The row's question before a delete: Delete again to confirm, Keep (or Escape) to keep the concept. */
function deleteQuestion(c) {
  const keep = () => setDeleting(null);
  const box = h('div', { class: 'concept-actions delete-question', role: 'group', testid: `delete-question-${c.id}`,
    'aria-label': `delete ${c.name}?` },
  h('span', { class: 'small', text: `Delete '${c.name}' and its ${plural(c.n_positives, 'position')}?` }),
  h('button', { type: 'button', class: 'btn small danger', testid: `delete-confirm-${c.id}`, text: 'Delete',
    onclick: () => remove(c.id) }),
  h('button', { type: 'button', class: 'btn small', testid: `delete-keep-${c.id}`, text: 'Keep', onclick: keep }));
  box.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); keep(); } });
  return box;
}

/** A small badge: the most accuracy a class loses when the round's model goes without the concept, and that
 * class (GET /api/reliance, by id, else by name); every class's drop in its tooltip. Nothing for a concept the
 * round's model has not learnt, or when the round was not evaluated (the concept count's tooltip says why). */
function relianceBadge(c) {
  const r = relianceOf(S.reliance, c);
  if (!r) return null;
  return h('span', { class: `reliance-badge${relied(r) ? ' relied' : ''}`, testid: `concept-reliance-${c.id}`,
    'data-max-drop': String(r.max_drop), text: relianceWords(r, true),
    title: relianceSentence(r, c.name, S.reliance.round) });
}

// ---------------------------------------------------------------- a concept's preview

// What a label does at once: after a promote or an add, the concept's linear probe (the store's preview) shows
// beside it: its agreement with the label, how many points it would claim on drawings holding none of its labels,
// and a strip of the surest and the borderline ones, in context.

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
function previewPanel(id) {
  const shown = S.preview;
  if (!shown || shown.id !== id) return null;
  const close = h('button', { type: 'button', class: 'btn small ghost', text: 'Close', testid: `probe-close-${id}`,
    title: 'hide the preview', onclick: (ev) => { ev.stopPropagation(); update({ preview: null }); } });
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

// ---------------------------------------------------------------- events

export function renderEvents() {
  const list = $('events');
  list.replaceChildren();
  if (!S.events.length) {
    list.append(h('li', { class: 'muted', text: 'No changes yet.' }));
    return;
  }
  for (const e of S.events) {
    let when = '';
    if (e.time) {
      const t = new Date(e.time);
      when = Number.isNaN(t.getTime()) ? String(e.time) : t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    }
    list.append(h('li', null,
      h('span', { class: 'ev-version', text: `v${e.version}` }),
      h('span', { class: 'ev-summary', text: e.summary || e.op || '' }),
      h('span', { class: 'ev-meta muted', text: [e.actor, when].filter(Boolean).join(' · ') })));
  }
}

/** The store's version beside the concepts' title. */
export function renderVersion() {
  $('store-version').textContent = `v${S.version}`;
}
