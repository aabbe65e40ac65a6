// qr.js — a QR code as an SVG element, built with createElementNS (no
// innerHTML, no inline style: the console's CSP allows neither).

import encodeQR from '@paulmillr/qr';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** qrModules is the QR code of text as rows of booleans (true = dark), with no quiet zone. */
export function qrModules(text) {
  return encodeQR(text, 'raw', { ecc: 'medium', border: 0 });
}

/** qrPath is the SVG path data drawing the dark modules of rows, offset by border. */
export function qrPath(rows, border = 4) {
  let d = '';
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      let w = 1;
      while (x + w < row.length && row[x + w]) w++;
      d += `M${x + border} ${y + border}h${w}v1h-${w}z`;
      x += w - 1;
    }
  });
  return d;
}

/** qrSVG returns an <svg> element showing text as a QR code (doc: the document to create it in). */
export function qrSVG(text, doc = globalThis.document) {
  const rows = qrModules(text);
  const size = rows.length + 8;
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `QR code: ${text}`);
  svg.setAttribute('class', 'qr');
  const bg = doc.createElementNS(SVG_NS, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  const path = doc.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', qrPath(rows));
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}
