/* Articulate's pages, shared/dom.js: Small DOM and formatting helpers, and the access token the page was opened with. */

export const $ = (id) => document.getElementById(id);

// A token given in the page address (?token=...) is sent with every request (servers started with a token).
export const TOKEN = new URLSearchParams(window.location.search).get('token');
// The round the atlas page shows (?round=R, its round switch); null: the round the server was started on.
export const ROUND = new URLSearchParams(window.location.search).get('round');
// The layer the atlas page shows (?layer=L, its layer switch); null: the round's atlas layer.
export const LAYER = new URLSearchParams(window.location.search).get('layer');

// ---------------------------------------------------------------- small helpers

/** Escape text for Plotly's pseudo-HTML labels (hover, legend, titles): markup shows as typed. */
export const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;');

/** A URL of the server, with what the page address carries for it: the access token, the round and layer shown. */
export function withToken(path) {
  const extra = [TOKEN ? `token=${encodeURIComponent(TOKEN)}` : null, ROUND ? `round=${encodeURIComponent(ROUND)}` : null,
    LAYER ? `layer=${encodeURIComponent(LAYER)}` : null].filter(Boolean);
  return extra.length ? `${path}${path.includes('?') ? '&' : '?'}${extra.join('&')}` : path;
}

/** Element builder: strings become text nodes, never markup. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'style' && typeof value === 'object') Object.assign(node.style, value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const fmt = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '—' : Number(x).toFixed(digits));
export const sentence = (s) => (/[.!?]$/.test(s.trim()) ? s.trim() : `${s.trim()}.`);
export const plural = (n, one, many) => `${n} ${n === 1 ? one : (many || `${one}s`)}`;

/** Pointer input (mouse, pen, touch) on an element: a press, moves, and its end however it ends. */
export function onPointer(el, down, move, up) {
  el.addEventListener('pointerdown', down);
  el.addEventListener('pointermove', move);
  el.addEventListener('pointerup', up);
  el.addEventListener('pointercancel', up);
  el.addEventListener('lostpointercapture', up);
  el.addEventListener('contextmenu', (ev) => ev.preventDefault());
}

/** Whether a key press is typing (a text box, a menu, an editable element): page shortcuts leave it alone. */
export function typing(ev) {
  const t = ev.target;
  return Boolean(t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)));
}
