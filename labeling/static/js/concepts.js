/* Articulate's page, concepts.js: Writes to the concept store (promote, add, rename, merge, split, delete, undo),
 * the concepts panel and the recent changes. */
import { api, busy, setStatus } from './shared/api.js';
import { updateAtlasSelection } from './atlas.js';
import { applyConcepts, refreshEvents, reloadStore } from './data.js';
import { $, h, plural, sentence } from './shared/dom.js';
import { renderMap, updateMapSelection } from './map.js';
import { loadPreview, previewPanel } from './preview.js';
import { relianceOf, relianceSentence, relianceWords, relied } from './shared/reliance.js';
import {
  clearSelection,
  conceptById,
  describeSelection,
  renderAddTo,
  renderSelection,
  select,
  partOnAtlas,
  selectionSource,
  shownExemplars,
} from './selection.js';
import { colourOf, S, setDeleting, setRenaming, setSelection } from './state.js';

// ---------------------------------------------------------------- writes

/** A write to the concept store: sends expected_version; on success redraws, on 409 reloads. */
export async function write(method, path, body, describe) {
  return busy(async () => {
    let answer;
    try {
      if (method === 'DELETE') {
        const sep = path.includes('?') ? '&' : '?';
        answer = await api(method, `${path}${sep}expected_version=${encodeURIComponent(S.version)}`);
      } else {
        answer = await api(method, path, { ...body, expected_version: S.version });
      }
    } catch (err) {
      if (err.status === 409) {
        const message = err.message;
        setRenaming(null); // the inline editor showed the old name: start again from the current one
        try {
          await reloadStore();
          setStatus(`${sentence(message)} The page now shows the current concepts (store version ${S.version}): `
            + 'check them and try again.', 'conflict');
        } catch (reloadErr) {
          setStatus(`${message} (reloading the concepts failed too: ${reloadErr.message})`, 'conflict');
        }
      } else {
        setStatus(err.message, 'error');
      }
      return null;
    }
    applyConcepts(answer);
    renderConcepts();
    renderAddTo();
    if (S.colourBy === 'concept') renderMap();
    setStatus(describe(answer), 'ok');
    await refreshSelectionAfterWrite(answer.changed || []);
    await refreshEvents();
    return answer;
  });
}

/** After a write: a concept selection follows its concept (or goes away with it). */
export async function refreshSelectionAfterWrite(changed) {
  const sel = S.selection;
  if (!sel || sel.kind !== 'concept') return;
  if (!conceptById(sel.key)) {
    clearSelection();
    return;
  }
  if (!changed.length || changed.includes(sel.key)) {
    try {
      const answer = await api('POST', '/api/selection', { concept: sel.key });
      setSelection(answer);
      renderSelection();
      renderConcepts();
      updateAtlasSelection();
      updateMapSelection();
    } catch (err) {
      clearSelection();
    }
  }
}

export function nameOf(answer, id, fallback) {
  const c = (answer.concepts || []).find((x) => x.id === id);
  return c ? c.name : fallback;
}

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
    if (made) await loadPreview(made, renderConcepts); // what the label does, at once
  }
}

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
  if (answer) await loadPreview(id, renderConcepts);
}

export async function rename(id, newName) {
  const name = newName.trim();
  const c = conceptById(id);
  if (!name) { setStatus('A concept needs a name; the rename was not sent.', 'error'); return; }
  if (c && name === c.name) { setRenaming(null); renderConcepts(); return; }
  const answer = await write('POST', `/api/concepts/${encodeURIComponent(id)}/rename`, { name },
    () => `Renamed '${c ? c.name : id}' to '${name}'.`);
  if (answer) { setRenaming(null); renderConcepts(); }
}

/** Delete asks first, in the concept's row (Delete again to confirm, Keep or Escape to keep it). */
export function askDelete(id) {
  setDeleting(id);
  renderConcepts();
  const keep = document.querySelector(`[data-testid="delete-keep-${CSS.escape(id)}"]`);
  if (keep) keep.focus();
}

export async function remove(id) {
  const c = conceptById(id);
  setDeleting(null);
  await write('DELETE', `/api/concepts/${encodeURIComponent(id)}`, undefined,
    () => `Deleted '${c ? c.name : id}' (${id}); Undo (${UNDO_KEYS}) brings it back.`);
  renderConcepts();
}

/** The undo shortcut, as this computer's keyboard names it. */
export const UNDO_KEYS = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent) ? '⌘Z' : 'Ctrl+Z';

export async function splitByClusters(id) {
  const c = conceptById(id);
  // no k: the server's labeling.split_k sub-clusters
  await write('POST', `/api/concepts/${encodeURIComponent(id)}/split`, {}, (a) => {
    const made = (a.changed || []).filter((x) => x !== id);
    return `Split '${c ? c.name : id}' by sub-clustering into ${made.length + 1} concepts`
      + `${made.length ? `: ${made.map((x) => `'${nameOf(a, x, x)}'`).join(', ')} are new` : ''}.`;
  });
}

export async function splitBySelection(id) {
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
    S.mergeTicks.clear();
    $('merge-name').value = '';
    renderConcepts();
  }
}

export async function undo() {
  await write('POST', '/api/undo', {}, (a) => {
    const latest = S.events && S.events.length ? S.events[0] : null;
    return `Undone${latest && latest.summary ? ` (${latest.summary})` : ''}: the store is at version ${a.version}.`;
  });
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
      if (tick.checked) S.mergeTicks.add(c.id); else S.mergeTicks.delete(c.id);
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
        if (ev.key === 'Escape') { setRenaming(null); renderConcepts(); }
      });
      nameCell = h('span', { class: 'rename-box' }, input,
        h('button', { type: 'button', class: 'btn small primary', testid: `rename-save-${c.id}`, text: 'Save', onclick: save }),
        h('button', { type: 'button', class: 'btn small ghost', testid: `rename-cancel-${c.id}`, text: 'Cancel',
          onclick: () => { setRenaming(null); renderConcepts(); } }));
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
          onclick: () => { setRenaming(c.id); renderConcepts(); },
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
  const keep = () => { setDeleting(null); renderConcepts(); };
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
