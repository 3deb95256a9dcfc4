/* Articulate's pages, shared/classbars.js: the model's top classes as bars (the drawing page's reading and the
 * sketch page's). Each class keeps one lasting element (reordered with CSS `order`), so its width glides from one
 * answer to the next. */
import { h } from './dom.js';

const classRows = new Map(); // class name -> {li, fill, value}

const pct = (x) => `${Math.round(100 * x)}%`;

/** The model's top classes into #class-bars (null: a blank drawing). The class the drawing is read for is marked. */
export function renderClassBars(answer) {
  const list = document.getElementById('class-bars');
  const shown = new Set();
  (answer ? answer.classes : []).forEach((entry, rank) => {
    let row = classRows.get(entry.name);
    if (!row) {
      const fill = h('span', { class: 'clb-fill' });
      const value = h('span', { class: 'clb-value' });
      const li = h('li', { class: 'clb', testid: `class-${entry.name}`, 'data-class': entry.name },
        h('span', { class: 'clb-name', text: entry.name }), h('span', { class: 'clb-track' }, fill), value);
      row = { li, fill, value };
      classRows.set(entry.name, row);
      list.append(li);
    }
    shown.add(entry.name);
    row.li.hidden = false;
    row.li.style.order = String(rank);
    row.li.dataset.p = String(entry.p);
    row.li.classList.toggle('target', entry.name === answer.target);
    row.fill.style.width = pct(Math.max(0, Math.min(1, entry.p)));
    row.value.textContent = pct(entry.p);
  });
  for (const [name, row] of classRows) if (!shown.has(name)) row.li.hidden = true;
}
