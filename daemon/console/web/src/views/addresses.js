// addresses.js: deposit addresses: hand out a new one (officers), list
// them, and show the selected one with its derivation path, a QR code and
// what the ministries must do before it is published.

import * as api from '../api.js';
import { qrSVG } from '../qr.js';
import { h, clear, setText, amount } from './dom.js';
import { btc, sats, int, enumName } from '../fmt.js';

// derivation says where address a sits under each cosigner's key.
export function derivation(a, wallet) {
  const branch = a.branch === 'BRANCH_CHANGE' ? 1 : 0;
  const idx = int(a.index);
  const cosigners = (wallet && wallet.cosigners) || [];
  const paths = new Set(cosigners.map((c) => c.path || ''));
  const common = paths.size === 1 ? [...paths][0] : '';
  const path = common ? `m/${common}/${branch}/${idx}` : `…/${branch}/${idx}`;
  const each = cosigners.map((c) => `[${c.fingerprint || ''}/${c.path || ''}]/${branch}/${idx}`);
  return { path, each, branch: branch === 1 ? 'change' : 'receive', index: idx };
}

function verifyNote(a, d) {
  return h(
    'div',
    { id: 'address-verify-note', class: 'notice' },
    h('strong', null, 'Do not publish this address yet. '),
    `Each ministry must first verify it on its signer, which derives it from its own key and the pinned wallet: `,
    h('code', null, `custos-signer address verify ${a.address || ''} --index ${d.index}${d.branch === 'change' ? ' --change' : ''}`),
    `, and see branch ${d.branch}, index ${d.index}. Publish it only after every ministry has confirmed it.`,
  );
}

export async function render(ctx, root) {
  const isOfficer = ctx.session && ctx.session.role === 'officer';
  root.append(h('h1', null, 'Deposit addresses'));
  const selected = h('section', { class: 'card address-selected', id: 'address-selected' });
  const tbody = h('tbody', { id: 'address-list' });
  let wallet = null;
  let list = [];
  let current = -1;

  const select = (a) => {
    current = int(a.index);
    for (const tr of tbody.querySelectorAll('tr[data-index]')) tr.classList.toggle('selected', tr.getAttribute('data-index') === String(current));
    clear(selected);
    const d = derivation(a, wallet);
    let qr;
    try {
      qr = qrSVG(String(a.address || ''));
      qr.setAttribute('id', 'address-qr');
      qr.setAttribute('class', 'qr');
    } catch (err) {
      qr = h('p', { id: 'address-qr-error', class: 'field-error' }, 'QR code: ' + ((err && err.message) || err));
    }
    selected.append(
      h(
        'div',
        { class: 'address-detail' },
        h(
          'div',
          null,
          h('h2', null, a.label ? `Address “${a.label}”` : 'Address'),
          h('p', { id: 'address-current', class: 'mono address-big' }, a.address || ''),
          h('dl', { class: 'facts' }, [
            h('dt', null, 'Derivation path'),
            h('dd', null, h('span', { id: 'address-path', class: 'mono' }, d.path), ` (${d.branch} branch, index ${d.index})`),
            h('dt', null, 'Per cosigner'),
            h('dd', null, h('ul', { class: 'plain mono' }, d.each.map((e) => h('li', null, e)))),
            h('dt', null, 'Received'),
            h('dd', null, `${btc(a.receivedSat)} BTC in ${int(a.receivedCount)} output(s)`),
          ]),
          verifyNote(a, d),
        ),
        h('div', { class: 'qr-wrap' }, qr),
      ),
    );
  };

  const drawList = () => {
    const frag = document.createDocumentFragment();
    for (const a of [...list].sort((x, y) => int(y.index) - int(x.index))) {
      const tr = h(
        'tr',
        { 'data-index': String(int(a.index)), class: int(a.index) === current ? 'selected clickable' : 'clickable', tabindex: 0 },
        h('td', { class: 'num' }, String(int(a.index))),
        h('td', { class: 'mono wrap' }, a.address || ''),
        h('td', null, a.label || ''),
        h('td', null, a.issued ? 'issued' : 'lookahead'),
        amount('td', btc(a.receivedSat), sats(a.receivedSat).toString()),
        h('td', { class: 'num' }, String(int(a.receivedCount))),
      );
      tr.addEventListener('click', () => select(a));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') select(a);
      });
      frag.append(tr);
    }
    clear(tbody).append(frag);
    if (list.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No address has been handed out yet.')));
  };

  if (isOfficer) {
    const label = h('input', { id: 'new-address-label', type: 'text', maxlength: 256, placeholder: 'label (optional), e.g. customs receipts' });
    const btn = h('button', { id: 'new-address-button', type: 'button', class: 'primary' }, 'New deposit address');
    btn.addEventListener('click', async () => {
      ctx.clearError();
      btn.disabled = true;
      try {
        const r = await api.call('TreasuryService', 'NewAddress', label.value ? { label: label.value } : {});
        if (!ctx.alive()) return;
        const a = r.address || {};
        list = list.filter((x) => int(x.index) !== int(a.index)).concat([a]);
        label.value = '';
        drawList();
        select(a);
      } catch (err) {
        ctx.showError(err);
      } finally {
        btn.disabled = false;
      }
    });
    root.append(h('div', { class: 'filters' }, h('label', { for: 'new-address-label' }, 'Label'), label, btn));
  }
  root.append(selected);
  root.append(
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Receive addresses'),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data' },
          h(
            'thead',
            null,
            h('tr', null, h('th', { class: 'num' }, 'Index'), h('th', null, 'Address'), h('th', null, 'Label'), h('th', null, 'Status'), h('th', { class: 'num' }, 'Received (BTC)'), h('th', { class: 'num' }, 'Outputs')),
          ),
          tbody,
        ),
      ),
    ),
  );
  selected.append(h('p', { class: 'muted' }, 'Select an address to see its derivation path and QR code.'));
  const walletInfo = h('p', { class: 'muted' });
  root.insertBefore(walletInfo, selected);

  const [w, l] = await Promise.all([api.call('TreasuryService', 'GetWallet', {}), api.callAll('TreasuryService', 'ListAddresses', { branch: 'BRANCH_RECEIVE' }, 'addresses')]);
  if (!ctx.alive()) return;
  wallet = w.wallet || null;
  list = l.addresses || [];
  drawList();
  if (wallet) setText(walletInfo, `Wallet ${wallet.id || ''} (${enumName(wallet.network, 'NETWORK_').toLowerCase()}), ${int(wallet.threshold)} of ${(wallet.cosigners || []).length}.`);
}
