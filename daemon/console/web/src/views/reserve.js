// reserve.js: balances, the balance over time, and the coins by age and
// size.

import * as api from '../api.js';
import { h, s, amount } from './dom.js';
import { btc, sats, int, satText, plural } from '../fmt.js';

const AGE_BUCKETS = [
  { label: 'unconfirmed', min: 0, max: 0 },
  { label: '1–5 confirmations', min: 1, max: 5 },
  { label: '6–99 confirmations', min: 6, max: 99 },
  { label: '100–999 confirmations', min: 100, max: 999 },
  { label: '1,000–9,999 confirmations', min: 1000, max: 9999 },
  { label: '10,000+ confirmations', min: 10000, max: Infinity },
];

const SIZE_BUCKETS = [
  { label: 'under 0.001 BTC', min: 0n, max: 100000n },
  { label: '0.001 – 0.01 BTC', min: 100000n, max: 1000000n },
  { label: '0.01 – 0.1 BTC', min: 1000000n, max: 10000000n },
  { label: '0.1 – 1 BTC', min: 10000000n, max: 100000000n },
  { label: '1 – 10 BTC', min: 100000000n, max: 1000000000n },
  { label: '10 BTC and more', min: 1000000000n, max: null },
];

function balanceCard(id, label, v, note) {
  const sv = sats(v);
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { id, class: 'stat-value num', 'data-sat': sv.toString() }, btc(sv), h('span', { class: 'unit' }, ' BTC')),
    h('div', { class: 'stat-note' }, satText(sv), note ? ' · ' + note : ''),
  );
}

// chart draws the confirmed balance after each block where it changed,
// as a step line by height up to the synced height.
export function chart(points, syncedHeight) {
  const W = 760;
  const H = 240;
  const L = 96; // left margin for BTC labels
  const B = 40; // bottom margin for heights and the axis label
  const T = 12;
  const R = 16;
  const svg = s('svg', {
    id: 'balance-chart',
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': 'Confirmed balance by block height',
  });
  const pts = (points || []).map((p) => ({ height: int(p.height), sat: sats(p.confirmedSat) }));
  if (pts.length === 0) {
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'No confirmed balance yet'));
    return svg;
  }
  const minH = pts[0].height;
  const maxH = Math.max(int(syncedHeight), pts[pts.length - 1].height, minH + 1);
  let maxSat = 0n;
  for (const p of pts) if (p.sat > maxSat) maxSat = p.sat;
  if (maxSat === 0n) maxSat = 1n;
  // Ratios for drawing only; amounts on the page come from BigInt.
  const x = (hgt) => L + ((hgt - minH) / (maxH - minH)) * (W - L - R);
  const y = (sat) => T + (1 - Number((sat * 10000n) / maxSat) / 10000) * (H - T - B);
  const coords = [];
  let prev = null;
  for (const p of pts) {
    if (prev !== null) coords.push(`${x(p.height).toFixed(1)},${y(prev).toFixed(1)}`);
    coords.push(`${x(p.height).toFixed(1)},${y(p.sat).toFixed(1)}`);
    prev = p.sat;
  }
  coords.push(`${x(maxH).toFixed(1)},${y(prev).toFixed(1)}`);
  // axes and grid
  svg.append(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  svg.append(s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  for (const f of [0n, 1n, 2n, 3n, 4n]) {
    const v = (maxSat * f) / 4n;
    const yy = y(v);
    if (f > 0n) svg.append(s('line', { x1: L, y1: yy, x2: W - R, y2: yy, class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', class: 'tick' }, btc(v)));
  }
  const mid = Math.round((minH + maxH) / 2);
  for (const hh of [...new Set([minH, mid, maxH])]) {
    svg.append(s('text', { x: x(hh), y: H - B + 18, 'text-anchor': 'middle', class: 'tick' }, String(hh)));
  }
  svg.append(s('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, 'block height'));
  svg.append(s('polyline', { points: coords.join(' '), class: 'line' }));
  return svg;
}

function bucketTable(id, caption, rows) {
  let maxCount = 1;
  for (const r of rows) if (r.count > maxCount) maxCount = r.count;
  return h(
    'table',
    { id, class: 'data buckets' },
    h('caption', null, caption),
    h('thead', null, h('tr', null, h('th', null, 'Bucket'), h('th', { class: 'num' }, 'Coins'), h('th', { class: 'num' }, 'Total (BTC)'), h('th', null, ''))),
    h(
      'tbody',
      null,
      rows.map((r) =>
        h(
          'tr',
          { 'data-bucket': r.label },
          h('td', { class: 'nowrap' }, r.label),
          h('td', { class: 'num' }, String(r.count)),
          amount('td', btc(r.total), r.total.toString()),
          h(
            'td',
            { class: 'bar-cell' },
            s('svg', { class: 'bar', viewBox: '0 0 100 8', preserveAspectRatio: 'none' }, s('rect', { x: 0, y: 0, height: 8, width: ((r.count / maxCount) * 100).toFixed(1) })),
          ),
        ),
      ),
    ),
  );
}

export function ageBuckets(utxos) {
  const rows = AGE_BUCKETS.map((b) => ({ label: b.label, count: 0, total: 0n }));
  for (const u of utxos) {
    const c = int(u.confirmations);
    const i = AGE_BUCKETS.findIndex((b) => c >= b.min && c <= b.max);
    rows[i < 0 ? 0 : i].count++;
    rows[i < 0 ? 0 : i].total += sats(u.amountSat);
  }
  return rows;
}

export function sizeBuckets(utxos) {
  const rows = SIZE_BUCKETS.map((b) => ({ label: b.label, count: 0, total: 0n }));
  for (const u of utxos) {
    const a = sats(u.amountSat);
    const i = SIZE_BUCKETS.findIndex((b) => a >= b.min && (b.max === null || a < b.max));
    rows[i].count++;
    rows[i].total += a;
  }
  return rows;
}

function utxoTable(utxos) {
  return h(
    'table',
    { class: 'data' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Outpoint'),
        h('th', null, 'Address'),
        h('th', null, 'Path'),
        h('th', { class: 'num' }, 'Amount (BTC)'),
        h('th', { class: 'num' }, 'Confirmations'),
        h('th', { class: 'num' }, 'Height'),
        h('th', null, 'Note'),
      ),
    ),
    h(
      'tbody',
      { id: 'utxo-table' },
      utxos.map((u) => {
        const op = `${u.txid || ''}:${int(u.vout)}`;
        const branch = u.branch === 'BRANCH_CHANGE' ? 1 : 0;
        const notes = [];
        if (u.coinbase) notes.push(u.mature ? 'coinbase' : 'coinbase, immature');
        return h(
          'tr',
          { 'data-outpoint': op },
          h('td', { class: 'mono', title: op }, `${(u.txid || '').slice(0, 16)}…:${int(u.vout)}`),
          h('td', { class: 'mono wrap' }, u.address || ''),
          h('td', { class: 'mono' }, `${branch}/${int(u.index)}`),
          amount('td', btc(u.amountSat), sats(u.amountSat).toString()),
          h('td', { class: 'num' }, String(int(u.confirmations))),
          h('td', { class: 'num' }, int(u.height) === 0 ? 'mempool' : String(int(u.height))),
          h('td', null, notes.join(', ')),
        );
      }),
    ),
  );
}

export async function render(ctx, root) {
  root.append(h('h1', null, 'Reserve'));
  const [bal, hist, list] = await Promise.allSettled([
    api.call('TreasuryService', 'GetBalance', {}),
    api.call('TreasuryService', 'GetBalanceHistory', {}),
    api.callAll('TreasuryService', 'ListUtxos', {}, 'utxos'),
  ]);
  if (!ctx.alive()) return;
  const firstErr = [bal, hist, list].find((r) => r.status === 'rejected');
  if (firstErr) ctx.showError(firstErr.reason);

  if (bal.status === 'fulfilled') {
    const b = bal.value;
    root.append(
      h(
        'div',
        { class: 'stats' },
        balanceCard('balance-confirmed', 'Confirmed', b.confirmedSat, 'spendable'),
        balanceCard('balance-unconfirmed', 'Unconfirmed', b.unconfirmedSat, 'in the mempool'),
        balanceCard('balance-immature', 'Immature', b.immatureSat, 'coinbase under 100 confirmations'),
      ),
      h('p', { class: 'muted' }, `At block height ${int(b.syncedHeight)}.`),
    );
  }

  const chartCard = h('section', { class: 'card' }, h('h2', null, 'Confirmed balance over time'));
  if (hist.status === 'fulfilled') chartCard.append(chart(hist.value.points, hist.value.syncedHeight));
  else chartCard.append(h('p', { class: 'muted' }, 'The balance history is not available.'));
  root.append(chartCard);

  if (list.status === 'fulfilled') {
    const utxos = list.value.utxos || [];
    let total = 0n;
    for (const u of utxos) total += sats(u.amountSat);
    root.append(
      h(
        'div',
        { class: 'two-col' },
        h('section', { class: 'card' }, bucketTable('utxo-age-buckets', 'Coins by age', ageBuckets(utxos))),
        h('section', { class: 'card' }, bucketTable('utxo-size-buckets', 'Coins by size', sizeBuckets(utxos))),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', null, `Unspent outputs (${plural(utxos.length, 'coin')}, ${btc(total)} BTC)`),
        h('div', { class: 'table-wrap' }, utxoTable(utxos)),
      ),
    );
  }
}
