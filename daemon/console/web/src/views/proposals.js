// proposals.js: every proposal, newest first, filtered by state and by
// free text on id, memo and payee addresses.

import * as api from '../api.js';
import { h, clear, badge, amount } from './dom.js';
import { btc, sats, int, date, stateName } from '../fmt.js';

export const STATES = [
  'PENDING_APPROVAL',
  'APPROVED',
  'SIGNING',
  'FINALIZED',
  'BROADCAST',
  'CONFIRMED',
  'REJECTED',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
  'REPLACED',
];

// newestFirst orders proposals by creation time, then id, descending.
export function newestFirst(list) {
  return [...list].sort((a, b) => {
    const d = int(b.createdAtUnix) - int(a.createdAtUnix);
    if (d !== 0) return d;
    return String(b.id || '') < String(a.id || '') ? -1 : String(b.id || '') > String(a.id || '') ? 1 : 0;
  });
}

// matches says whether proposal p passes the filters.
export function matches(p, state, text) {
  if (state && stateName(p.state) !== state) return false;
  const q = (text || '').trim().toLowerCase();
  if (q === '') return true;
  const hay = [p.id || '', p.memo || '', p.createdBy || '', p.txid || ''];
  for (const pay of p.payees || []) hay.push(pay.address || '', pay.label || '');
  return hay.some((x) => String(x).toLowerCase().includes(q));
}

function row(p) {
  let total = 0n;
  for (const pay of p.payees || []) total += sats(pay.amountSat);
  const payees = p.payees || [];
  const first = payees[0];
  let to = p.consolidate ? 'consolidation: pays nothing out' : payees.length === 0 ? 'cancels: pays nothing out' : first.label ? `${first.label} (${first.address})` : first.address || '';
  if (payees.length > 1) to += ` and ${payees.length - 1} more`;
  const approvals = (p.decisions || []).filter((d) => d.decision === 'DECISION_APPROVE').length;
  const href = '#/proposal/' + encodeURIComponent(p.id || '');
  return h(
    'tr',
    { 'data-id': p.id || '' },
    h('td', { class: 'mono' }, h('a', { href }, p.id || '')),
    h('td', null, badge(stateName(p.state))),
    h('td', { class: 'wrap' }, to),
    amount('td', btc(total), total.toString()),
    h('td', { class: 'num' }, `${approvals} of ${int(p.approvalsNeeded)}`),
    h('td', null, date(p.createdAtUnix)),
    h('td', null, p.createdBy || ''),
    h('td', { class: 'memo' }, p.memo || ''),
  );
}

export async function render(ctx, root) {
  const stateSel = h(
    'select',
    { id: 'proposal-filter-state' },
    h('option', { value: '' }, 'All states'),
    STATES.map((st) => h('option', { value: st }, st)),
  );
  const textIn = h('input', { id: 'proposal-filter-text', type: 'search', placeholder: 'id, memo or address' });
  const count = h('span', { class: 'muted' });
  const tbody = h('tbody', { id: 'proposal-list' });
  root.append(h('h1', null, 'Proposals'));
  root.append(
    h(
      'div',
      { class: 'filters' },
      h('label', { for: 'proposal-filter-state' }, 'State'),
      stateSel,
      h('label', { for: 'proposal-filter-text' }, 'Search'),
      textIn,
      count,
    ),
  );
  root.append(
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'Id'),
              h('th', null, 'State'),
              h('th', null, 'Pays'),
              h('th', { class: 'num' }, 'Amount (BTC)'),
              h('th', { class: 'num' }, 'Approvals'),
              h('th', null, 'Created'),
              h('th', null, 'By'),
              h('th', null, 'Memo'),
            ),
          ),
          tbody,
        ),
      ),
    ),
  );

  const resp = await api.callAll('SpendService', 'ListProposals', {}, 'proposals');
  if (!ctx.alive()) return;
  const all = newestFirst(resp.proposals || []);
  const draw = () => {
    const shown = all.filter((p) => matches(p, stateSel.value, textIn.value));
    const frag = document.createDocumentFragment();
    for (const p of shown) frag.append(row(p));
    clear(tbody).append(frag);
    if (shown.length === 0) {
      tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, all.length === 0 ? 'No proposals yet.' : 'No proposal matches the filters.')));
    }
    count.textContent = `${shown.length} of ${all.length}`;
  };
  stateSel.addEventListener('change', draw);
  textIn.addEventListener('input', draw);
  draw();
}
