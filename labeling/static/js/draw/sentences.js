/* Articulate's drawing coach, sentences.js: the coach's friendly sentences (what was just improved or completed,
 * what looks complete, what is missing), each with its concept's icon, styled by kind. */
import { h } from '../shared/dom.js';
import { conceptName, D, setHover } from './state.js';

const MAX_MISSING = 3; // more missing concepts are summed up in one line
const SYMBOL = { improved: '↑', complete: '✓', missing: '○' };
const asked = { showMe: () => {} };

/** What a missing sentence's "Show me" button does: handler(conceptId). */
export function onShowMe(handler) {
  asked.showMe = handler;
}

/** Show an answer's sentences (null: a blank drawing, an invitation instead). */
export function renderSentences(answer) {
  const list = document.getElementById('sentences');
  if (!answer) {
    list.replaceChildren(h('li', { class: 'sentence invite', testid: 'sentence', 'data-kind': 'invite' },
      h('span', { class: 's-text', text: 'Draw something: after every stroke the model says what it sees, '
        + 'what you just improved and what still seems missing.' })));
    return;
  }
  // Not sure what the drawing is: say so first (the answer then has no praise for a class it does not know).
  const doubt = answer.sentences.filter((s) => s.kind === 'unsure').map((s) => h('li', {
    class: 'sentence unsure', testid: 'sentence', 'data-kind': 'unsure',
    title: familiarityTitle(answer.familiarity),
  }, h('span', { class: 's-symbol', text: '?', 'aria-hidden': 'true' }), h('span', { class: 's-text', text: s.text })));
  const missing = answer.sentences.filter((s) => s.kind === 'missing');
  const fresh = answer.sentences.filter((s) => s.kind === 'improved' || (s.kind === 'complete' && s.new));
  const done = answer.sentences.filter((s) => s.kind === 'complete' && !s.new);
  const items = [...doubt, ...[...fresh, ...missing.slice(0, MAX_MISSING)].map(item)];
  if (missing.length > MAX_MISSING) {
    const rest = missing.slice(MAX_MISSING).map((s) => conceptName(s.concept));
    items.push(h('li', { class: 'sentence more', testid: 'sentence', 'data-kind': 'missing-more',
      title: `also missing: ${rest.join(', ')}` },
    h('span', { class: 's-text', text: `…and ${rest.length} more missing: ${rest.join(', ')}` })));
  }
  // What was complete before: one line, not one each (the sentences that matter now stay in view).
  if (done.length) items.push(summary(done));
  if (!items.length) {
    items.push(h('li', { class: 'sentence quiet', testid: 'sentence', 'data-kind': 'none' },
      h('span', { class: 's-text', text: 'Nothing new: keep drawing.' })));
  }
  list.replaceChildren(...items);
}

/** Why the coach is unsure, for the sentence's tooltip. */
function familiarityTitle(f) {
  if (!f || f.value === null) return 'nothing drawn yet';
  return `it does not look like the drawings the model knows: ${f.kind} ${f.value} below ${f.threshold}`;
}

function item(s) {
  const concept = D.byId.get(s.concept);
  const icon = concept && concept.icon
    ? h('img', { class: 's-icon', src: concept.icon, alt: '', style: { borderColor: concept.colour } })
    : h('span', { class: 's-icon s-swatch', style: { background: concept ? concept.colour : '#c9ccd1' } });
  return h('li', {
    class: `sentence${s.new ? ' new' : ''}`, testid: 'sentence', 'data-kind': s.kind, 'data-concept': s.concept,
    onmouseenter: () => setHover(s.concept, true), onmouseleave: () => setHover(s.concept, false),
  }, h('span', { class: 's-symbol', text: SYMBOL[s.kind] || '•', 'aria-hidden': 'true' }), icon,
  h('span', { class: 's-text', text: s.text }), s.kind === 'missing' ? showButton(s.concept) : null);
}

/** A missing concept's "Show me": strokes to trace that would add it (off while one runs, its progress on it). */
function showButton(concept) {
  const running = D.showing && D.showing.concept === concept;
  return h('button', {
    type: 'button', class: 'btn small s-show', testid: 'show-me', 'data-concept': concept,
    disabled: Boolean(D.showing) || D.replaying || !D.strokes.length, 'aria-busy': running ? 'true' : null,
    title: `Show strokes that would add ${conceptName(concept)} to your drawing, as a ghost to trace`,
    onclick: () => asked.showMe(concept),
  }, running ? `Showing… ${Math.round(100 * D.showing.progress)}%` : 'Show me');
}

function summary(done) {
  const names = done.map((s) => conceptName(s.concept));
  return h('li', { class: 'sentence summary', testid: 'sentence', 'data-kind': 'complete', 'data-concepts':
    done.map((s) => s.concept).join(' '), title: done.map((s) => s.text).join('\n') },
  h('span', { class: 's-symbol', text: SYMBOL.complete, 'aria-hidden': 'true' }),
  h('span', { class: 's-minis' }, done.map((s) => {
    const concept = D.byId.get(s.concept);
    return concept && concept.icon
      ? h('img', { class: 's-mini', src: concept.icon, alt: '', style: { borderColor: concept.colour } })
      : h('span', { class: 's-mini s-swatch', style: { background: concept ? concept.colour : '#c9ccd1' } });
  })),
  h('span', { class: 's-text', text: `Looks complete: ${names.join(', ')}` }));
}
