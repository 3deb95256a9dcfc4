/* Articulate's atlas page, hover.js (a view): the preview beside the map of what the pointer (or a keyboard
 * cursor) is on: a point's sketch and facts, or a cell's icon and facts (the store's pointed). */
import { $, fmt, h, withToken } from '../shared/dom.js';
import { iconScoreMeaning, S } from './state.js';

/** Show what the store says is pointed at ({point} | {cell}; null: nothing yet). */
export function renderPointed() {
  const pointed = S.pointed;
  if (!pointed) return;
  if (pointed.point !== undefined) previewPoint(pointed.point);
  else if (S.cells.has(pointed.cell)) previewCell(S.cells.get(pointed.cell));
}

function previewPoint(id) {
  const P = S.points;
  const A = S.atlas;
  const img = $('preview-img');
  img.src = withToken(`/api/sketch/${id}.png`);
  img.alt = `sketch behind point ${id}`;
  img.hidden = false;
  const part = P.part && P.part[id] >= 0 && A.parts ? A.parts[P.part[id]] : null;
  const lines = [
    h('div', { class: 'pv-title', text: A.classes[P.label[id]] ?? `class ${P.label[id]}` }),
    part ? h('div', null, h('span', { class: 'k', text: 'part ' }), part) : null,
    h('div', null, h('span', { class: 'k', text: 'point ' }), String(id),
      h('span', { class: 'k', text: ' · cluster ' }), String(P.cluster[id])),
    h('div', null, h('span', { class: 'k', text: 'position ' }), `y ${P.py ? P.py[id] : '?'}, x ${P.px ? P.px[id] : '?'}`),
    h('div', null, h('span', { class: 'k', text: 'attribution ' }), fmt(P.attribution[id], 3)),
    P.key_id ? h('div', { class: 'muted small', text: String(P.key_id[id]) }) : null,
  ];
  const box = $('preview-text');
  box.classList.remove('muted');
  box.replaceChildren(...lines.filter(Boolean));
}

function previewCell(cell) {
  const img = $('preview-img');
  if (cell.icon) {
    img.src = withToken(cell.icon);
    img.alt = `icon of cell ${cell.cell}`;
    img.hidden = false;
  } else {
    img.hidden = true;
  }
  const cluster = S.clusters.get(cell.cluster);
  const box = $('preview-text');
  box.classList.remove('muted');
  box.replaceChildren(
    h('div', { class: 'pv-title', text: `cell ${cell.cell}` }),
    h('div', null, h('span', { class: 'k', text: 'points ' }), String(cell.count)),
    h('div', null, h('span', { class: 'k', text: 'cluster ' }), String(cell.cluster ?? '—'),
      cluster && cluster.majority_part ? ` · ${cluster.majority_part}` : ''),
    cell.score !== undefined && cell.score !== null
      ? h('div', { title: iconScoreMeaning() }, h('span', { class: 'k', text: 'icon score ' }), fmt(cell.score, 2),
        h('div', { class: 'muted small', testid: 'icon-score-meaning', text: iconScoreMeaning() })) : null,
  );
}
