/* Articulate's drawing coach, talkback.js: talking back. In this mode a click picks the stroke nearest to it
 * and a drag picks a rectangle; the layer's grid cells they cover are highlighted; "This is" / "This is not"
 * then tells the concept store (POST /api/drawn, with the store version last read) that those cells of this
 * drawing are, or are not, a concept of the store (or a new one, by name). */
import { api, busy, setStatus } from '../shared/api.js';
import { $, h, plural, sentence } from '../shared/dom.js';
import { cellsInRect, cellsOfStroke, nearestStroke } from './geometry.js';
import { exportWord } from './replay.js';
import { D, shownStrokes, update } from './state.js';

const CLICK_UNITS = 4;   // a drag shorter than this (both ways) is a click
const NEAR_UNITS = 8;    // a click picks the nearest stroke within this distance

export function initTalkback() {
  $('talk').addEventListener('click', () => setMode(D.mode === 'talk' ? 'draw' : 'talk'));
  $('tb-concept').addEventListener('change', updateControls);
  $('tb-name').addEventListener('input', updateControls);
  $('tb-is').addEventListener('click', () => tell(false));
  $('tb-is-not').addEventListener('click', () => tell(true));
  $('tb-clear').addEventListener('click', () => setPick(null));
}

export function setMode(mode) {
  update({ mode });
  $('talk').setAttribute('aria-pressed', String(mode === 'talk'));
  $('pad').dataset.mode = mode;
  $('talkback').hidden = mode !== 'talk';
  if (mode === 'talk') {
    setStatus('Talk back: click a stroke or drag a rectangle around a part of your drawing, then say what it is.',
      'info');
  }
  setPick(null);
}

/** The pick (null: none): highlighted on the pad and described under it. */
export function setPick(pick) {
  update({ pick });
  const label = $('tb-selection');
  if (!pick) label.textContent = 'nothing yet';
  else if (pick.kind === 'stroke') label.textContent = `stroke ${pick.stroke + 1}: ${plural(pick.cells.length, 'cell')}`;
  else label.textContent = `a rectangle: ${plural(pick.cells.length, 'cell')}`;
  updateControls();
}

// ---------------------------------------------------------------- the pad's gestures in talk mode

export const pickHooks = {
  pickStart: () => {},
  pickMove: () => {},
  pickEnd: (rect) => {
    const grid = D.coach.grid;
    const [x0, y0, x1, y1] = rect;
    if (Math.abs(x1 - x0) < CLICK_UNITS && Math.abs(y1 - y0) < CLICK_UNITS) {
      const stroke = nearestStroke(shownStrokes(), x1, y1, NEAR_UNITS);
      if (stroke < 0) {
        setPick(null);
        setStatus('No stroke there: click on a line of your drawing, or drag a rectangle around a part.', 'info');
        return;
      }
      setPick({ kind: 'stroke', stroke, rect: null, cells: cellsOfStroke(D.strokes[stroke], grid) });
    } else {
      setPick({ kind: 'rect', stroke: null, rect: [...rect], cells: cellsInRect(rect, grid) });
    }
  },
};

// ---------------------------------------------------------------- the store's concepts

/** GET /api/concepts: the select lists them (the current choice kept when it still exists). */
export async function loadStore() {
  const answer = await api('GET', '/api/concepts');
  applyStore(answer);
  return answer;
}

function applyStore(answer) {
  const known = answer.version !== undefined && answer.version !== null;
  update({ store: { version: known ? answer.version : D.store.version,
    concepts: Array.isArray(answer.concepts) ? answer.concepts : D.store.concepts } });
  $('store-version').textContent = D.store.version === null ? '—' : `v${D.store.version}`;
  const select = $('tb-concept');
  const keep = select.value;
  select.replaceChildren(h('option', { value: '', text: 'a new concept, named…' }),
    ...D.store.concepts.map((c) => h('option', { value: c.id, text: c.name })));
  if (D.store.concepts.some((c) => c.id === keep)) select.value = keep;
  updateControls();
}

export function updateControls() {
  const concept = $('tb-concept').value;
  const name = $('tb-name');
  name.disabled = Boolean(concept);
  name.hidden = Boolean(concept);
  const ready = Boolean(D.pick) && Boolean(concept || name.value.trim()) && !D.replaying && Boolean(exportWord());
  $('tb-is').disabled = !ready;
  // A new concept starts from what it is: "this is not" needs one of the store.
  $('tb-is-not').disabled = !ready || !concept;
  $('tb-is-not').title = concept ? '' : 'pick a concept of the store first: a new one starts from what it is';
  $('tb-clear').disabled = !D.pick;
}

// ---------------------------------------------------------------- telling the store

async function tell(negative) {
  const concept = $('tb-concept').value || null;
  const name = $('tb-name').value.trim();
  const word = exportWord();
  if (!D.pick || !word || (!concept && !name)) return null;
  const label = concept ? (D.store.concepts.find((c) => c.id === concept) || { name: concept }).name : name;
  const cells = D.pick.cells.map(([y, x]) => [y, x]);
  const body = {
    strokes: shownStrokes(), word, cells, concept, name: concept ? null : name, negative,
    expected_version: D.store.version,
  };
  return busy(async () => {
    let answer;
    try {
      answer = await api('POST', '/api/drawn', body);
    } catch (err) {
      if (err.status === 409) {
        try {
          await loadStore();
          setStatus(`${sentence(err.message)} The concepts are reloaded (store version ${D.store.version}): `
            + 'try again.', 'conflict');
        } catch (reloadErr) {
          setStatus(`${err.message} (reloading the concepts failed too: ${reloadErr.message})`, 'conflict');
        }
      } else {
        setStatus(err.message, 'error');
      }
      return null;
    }
    if (answer && Array.isArray(answer.concepts)) applyStore(answer);
    else {
      if (answer && answer.version !== undefined) update({ store: { ...D.store, version: answer.version } });
      try { await loadStore(); } catch (err) { /* the status below still says what was written */ }
    }
    const changed = (answer && answer.changed) || [];
    const written = (answer && answer.concept)
      || D.store.concepts.find((c) => changed.includes(c.id)) || null;
    if (written && written.id && D.store.concepts.some((c) => c.id === written.id)) {
      $('tb-concept').value = written.id;
      $('tb-name').value = '';
      updateControls();
    }
    const shownName = written && written.name ? written.name : label;
    setStatus(`Told the store: ${negative ? 'this is not' : 'this is'} '${shownName}' (${plural(cells.length, 'cell')} `
      + `of your ${word}); store version ${D.store.version}.`, 'ok');
    return answer;
  });
}
