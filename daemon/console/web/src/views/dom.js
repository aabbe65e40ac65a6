// dom.js: building the page without markup strings. Text always goes in as
// text nodes, so nothing the server sends is ever parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'style' || k.startsWith('on')) {
      throw new Error('dom: no inline style or handler attributes');
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

// h makes an HTML element: h('td', {class: 'num'}, '1.00000000').
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// clear empties an element.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// setText replaces an element's content with text.
export function setText(el, text) {
  el.textContent = text === undefined || text === null ? '' : String(text);
  return el;
}

// badge is a proposal state as a coloured label.
export function badge(state, extraAttrs) {
  const cls = 'badge badge-' + String(state).toLowerCase().replace(/_/g, '-');
  return h('span', { class: cls, ...(extraAttrs || {}) }, state);
}

// field is one row of a definition list.
export function field(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

// amountCell is a right-aligned monospace BTC amount with its sats.
export function amount(tag, btcText, satText, attrs) {
  return h(tag, { class: 'num', 'data-sat': satText, ...(attrs || {}) }, btcText);
}
