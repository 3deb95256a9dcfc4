/* Articulate's drawing coach, bars.js (a view): one bar per concept: its level (1 = as much as a typical complete
 * drawing of the class it is read for), the concepts of that class first. Each bar is one lasting element
 * (reordered with CSS `order`), so its width glides from one answer to the next. Hovering a concept's bar puts it
 * in the store (hover), and heat.js shows its map on the drawing. */
import { h } from '../shared/dom.js';
import { D, LEVEL_MAX, setHover } from './state.js';

const rows = new Map();      // concept id -> {li, fill, value, mark}

const pct = (x) => `${Math.round(100 * x)}%`;

/** Build the concept bars once the coach is known (all at level 0). */
export function buildConceptBars() {
  const list = document.getElementById('concept-bars');
  list.replaceChildren();
  rows.clear();
  const divider = h('li', { class: 'cb-divider', id: 'cb-divider', testid: 'bars-divider', hidden: true });
  list.append(divider);
  for (const c of D.concepts) {
    const fill = h('span', { class: 'cb-fill', style: { background: c.colour, width: '0%' } });
    const value = h('span', { class: 'cb-value', text: '—' });
    const mark = h('span', { class: 'cb-mark', 'aria-hidden': 'true' });
    const icon = c.icon
      ? h('img', { class: 'cb-icon', src: c.icon, alt: '', loading: 'lazy', style: { borderColor: c.colour } })
      : h('span', { class: 'cb-icon cb-swatch', style: { background: c.colour } });
    const li = h('li', {
      class: 'cb', testid: `bar-${c.id}`, tabindex: '0', 'data-concept': c.id, 'data-level': '0',
      title: `${c.name}: hover to see where the model finds it in your drawing`,
      style: { order: String(c.index) },
      onmouseenter: () => setHover(c.id, true), onmouseleave: () => setHover(c.id, false),
      onfocus: () => setHover(c.id, true), onblur: () => setHover(c.id, false),
    },
    icon,
    h('span', { class: 'cb-name', text: c.name }),
    h('span', { class: 'cb-track' }, fill, h('span', { class: 'cb-tick', title: 'a typical complete drawing' })),
    mark, value);
    li.style.setProperty('--c', c.colour);
    rows.set(c.id, { li, fill, value, mark });
    list.append(li);
  }
}

/** Mark the bar of the concept whose map is overlaid (the store's hover). */
export function renderHovered() {
  for (const [cid, row] of rows) row.li.classList.toggle('hovered', cid === D.hover);
}

/** Show an answer's levels (null: a blank drawing). */
export function renderConceptBars(answer) {
  const belongs = new Set(answer ? answer.belongs : []);
  const missing = new Set(answer ? answer.missing : []);
  const complete = new Set(answer ? answer.complete : []);
  let others = 0;
  for (const c of D.concepts) {
    const row = rows.get(c.id);
    const level = answer ? Number(answer.levels[c.id] || 0) : 0;
    const inClass = !answer || belongs.has(c.id);
    if (!inClass) others += 1;
    row.fill.style.width = `${(100 * Math.min(level, LEVEL_MAX)) / LEVEL_MAX}%`;
    row.value.textContent = answer ? pct(level) : '—';
    row.li.style.order = String(inClass ? c.index : 10_000 + c.index);
    row.li.dataset.level = String(level);
    row.li.dataset.belongs = String(inClass);
    const state = complete.has(c.id) ? 'complete' : missing.has(c.id) ? 'missing' : level > 0 ? 'some' : 'none';
    row.li.dataset.state = state;
    row.mark.textContent = state === 'complete' ? '✓' : '';
    row.li.title = answer
      ? `${c.name}: ${pct(level)} of a typical complete ${answer.target}${inClass ? '' : ` (not usually in a ${answer.target})`}`
        + (state === 'missing' ? ' · missing' : state === 'complete' ? ' · looks complete' : '')
        + ' · hover to see where'
      : c.name;
  }
  const divider = document.getElementById('cb-divider');
  divider.hidden = !answer || others === 0 || others === D.concepts.length;
  divider.textContent = answer ? `not usually in a ${answer.target}` : '';
  divider.style.order = '9999';
}
