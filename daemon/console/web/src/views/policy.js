// policy.js: the policy in force, its history with every change's officer
// signatures verified in this page, a proposed change with its whole
// document (officers approve it here), and the freeze switch.

import * as api from '../api.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { freezeMessage, unfreezeMessage, policyApprovalMessage } from '../intent.js';
import { policyHash } from '../policy.js';
import { h, clear, setText, field } from './dom.js';
import { int, date, hex, fromBase64, toBase64, enumName } from '../fmt.js';

const NETWORK_NUMBER = { NETWORK_MAINNET: 1, NETWORK_TESTNET: 2, NETWORK_SIGNET: 3, NETWORK_REGTEST: 4 };

const utf8 = new TextDecoder('utf-8', { fatal: false });

function text(info) {
  return utf8.decode(fromBase64(info.text || ''));
}

// networkNumber is reserve.Network's number for GetPolicy's network.
export function networkNumber(g) {
  return NETWORK_NUMBER[g.network] || 0;
}

// verifyApprovals checks each approval of the change from prev to cur:
// the officer's Ed25519 signature over the control statement custosctl
// policy approve signs. It returns [{approval, ok, why}].
// hashCheck hashes a policy document the server sent, here, as
// custosctl does (reserve.ParsePolicy(text).Hash()), and says how it
// compares with the hash the server claims: {hash, problem}.
export function hashCheck(info, what) {
  let hash;
  try {
    hash = policyHash(fromBase64(info.text || ''));
  } catch (err) {
    const msg = (err && err.message) || String(err);
    return { hash: null, problem: `the ${what} sent by the server does not parse: ${msg}` };
  }
  const claimed = hex(fromBase64(info.hash || ''));
  if (hex(hash) !== claimed) return { hash, problem: `the server says the ${what} is ${claimed}, but its document hashes to ${hex(hash)}` };
  return { hash, problem: '' };
}

// lineDiff compares two documents line by line: [{op: ' ' | '-' | '+',
// text}], the longest common subsequence of lines kept. Past the common
// head and tail, a middle too large to compare (over 4 million line
// pairs) is shown as all removed, then all added.
export function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const out = x.slice(0, head).map((t) => ({ op: ' ', text: t }));
  if (xs.length * ys.length > 4000000) {
    for (const t of xs) out.push({ op: '-', text: t });
    for (const t of ys) out.push({ op: '+', text: t });
  } else {
    // lcs[i][j]: the common subsequence length of xs[i:] and ys[j:].
    const n = xs.length;
    const m = ys.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) {
        out.push({ op: ' ', text: xs[i] });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
        out.push({ op: '-', text: xs[i++] });
      } else {
        out.push({ op: '+', text: ys[j++] });
      }
    }
  }
  for (const t of x.slice(x.length - tail)) out.push({ op: ' ', text: t });
  return out;
}

// diffHunks keeps the changed lines of a lineDiff with context lines
// around each; a gap is one {op: '…'} line.
export function diffHunks(diff, context = 2) {
  const keep = new Uint8Array(diff.length);
  diff.forEach((d, i) => {
    if (d.op === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(diff.length - 1, i + context); k++) keep[k] = 1;
  });
  const out = [];
  let gap = false;
  diff.forEach((d, i) => {
    if (keep[i]) {
      out.push(d);
      gap = false;
    } else if (!gap) {
      out.push({ op: '…', text: '' });
      gap = true;
    }
  });
  return out;
}

export function verifyApprovals(g, prev, cur) {
  return (cur.approvals || []).map((a) => {
    if (!prev) return { approval: a, ok: false, why: 'no policy before it to have been changed from' };
    try {
      const msg = policyApprovalMessage({
        network: networkNumber(g),
        walletId: g.walletId || '',
        policyHash: fromBase64(prev.hash),
        epoch: BigInt(prev.seq || 0),
        newPolicy: fromBase64(cur.hash),
      });
      const key = fromBase64(a.officerKey);
      const sig = fromBase64(a.signature);
      if (key.length !== 32 || sig.length !== 64) return { approval: a, ok: false, why: 'key or signature of the wrong length' };
      const ok = ed25519.verify(sig, msg, key);
      return { approval: a, ok, why: ok ? 'signature verified in this page' : 'signature does NOT verify' };
    } catch (err) {
      return { approval: a, ok: false, why: (err && err.message) || String(err) };
    }
  });
}

function approvalsList(results) {
  if (results.length === 0) return h('p', { class: 'muted' }, 'No officer signatures.');
  return h(
    'ul',
    { class: 'sigs' },
    results.map((r) =>
      h(
        'li',
        { class: r.ok ? 'sig-ok' : 'sig-bad', 'data-officer': r.approval.officer || '' },
        h('span', { class: 'sig-mark' }, r.ok ? '✓' : '✗'),
        ' ',
        r.approval.officer || '?',
        ` at ${date(r.approval.atUnix)} — `,
        h('span', { class: 'mono' }, hex(fromBase64(r.approval.officerKey)).slice(0, 16) + '…'),
        ': ',
        r.why,
      ),
    ),
  );
}

function policyFacts(p) {
  return h('dl', { class: 'facts' }, [
    field('Number', String(int(p.seq))),
    field('Hash', h('span', { class: 'mono wrap' }, hex(fromBase64(p.hash)))),
    field('Set', `${date(p.setAtUnix)} by ${p.setBy || '?'}`),
  ]);
}

export async function render(ctx, root) {
  const isOfficer = ctx.session && ctx.session.role === 'officer';
  root.append(h('h1', null, 'Policy & freeze'));
  const body = h('div');
  root.append(body);

  const load = async (freezeResult, policyResult) => {
    const g = await api.call('PolicyService', 'GetPolicy', {});
    if (!ctx.alive()) return;
    clear(body);
    // A proposed change awaits the officers: it comes first.
    if (g.pending) body.append(pendingCard(g, policyResult), freezeCard(g, freezeResult));
    else body.append(freezeCard(g, freezeResult), pendingCard(g, policyResult));
    body.append(currentCard(g));
    body.append(historyCard(g));
  };

  // sign runs one signed control action and reloads with its result.
  const act = async (button, purpose, makeMessage, send, where) => {
    ctx.clearError();
    button.disabled = true;
    try {
      const key = await ctx.requireKey(purpose);
      const sig = key.sign(makeMessage());
      const words = await send({ officerKey: toBase64(key.publicKey), signature: toBase64(sig) });
      if (!ctx.alive()) return;
      await load(where === 'freeze' ? words : '', where === 'policy' ? words : '');
    } catch (err) {
      ctx.showError(err);
      button.disabled = false;
    }
  };

  function freezeCard(g, result) {
    const f = g.freeze || {};
    const frozen = !!f.frozen;
    const epoch = BigInt(f.epoch || 0);
    const card = h('section', { class: frozen ? 'card freeze frozen' : 'card freeze' }, h('h2', null, 'Freeze'));
    card.append(
      h('p', { class: 'freeze-line' }, 'The reserve is ', h('strong', { id: 'freeze-state', class: frozen ? 'state-frozen' : 'state-open' }, frozen ? 'frozen' : 'not frozen'), '.'),
    );
    const facts = [field('Freezes so far', epoch.toString())];
    if (frozen) {
      facts.push(field('Frozen', `${date(f.frozenAtUnix)} by ${f.frozenBy || '?'}`));
      facts.push(field('Reason', f.reason || '(none given)'));
      facts.push(
        field(
          'To lift it',
          `${(f.unfreezeApprovals || []).length} of ${int(f.unfreezeNeeded)} officer approvals` +
            ((f.unfreezeApprovals || []).length ? ': ' + (f.unfreezeApprovals || []).map((a) => a.officer).join(', ') : ''),
        ),
      );
    }
    card.append(h('dl', { class: 'facts' }, facts));
    if (isOfficer && g.policy) {
      const policyHash = fromBase64(g.policy.hash);
      const network = networkNumber(g);
      const walletId = g.walletId || '';
      if (!frozen) {
        const reason = h('input', { id: 'freeze-reason', type: 'text', maxlength: 256, placeholder: 'why (recorded and shown to everyone)' });
        const btn = h('button', { id: 'freeze-button', type: 'button', class: 'danger' }, `Freeze all spending (freeze ${epoch + 1n})`);
        btn.addEventListener('click', () =>
          act(
            btn,
            'freeze the reserve',
            () => freezeMessage({ network, walletId, policyHash, epoch: epoch + 1n }),
            async (signature) => {
              const r = await api.call('PolicyService', 'Freeze', { epoch: (epoch + 1n).toString(), signature, reason: reason.value });
              return `Frozen: freeze ${(r.freeze && r.freeze.epoch) || (epoch + 1n).toString()} recorded.`;
            },
            'freeze',
          ),
        );
        card.append(h('div', { class: 'filters' }, h('label', { for: 'freeze-reason' }, 'Reason'), reason, btn));
        card.append(h('p', { class: 'muted' }, `One officer’s signature freezes; you sign “wallet ${walletId}: freeze all spending (freeze ${epoch + 1n})”.`));
      } else {
        const btn = h('button', { id: 'unfreeze-button', type: 'button', class: 'primary' }, `Approve lifting freeze ${epoch}`);
        btn.addEventListener('click', () =>
          act(
            btn,
            'approve lifting the freeze',
            () => unfreezeMessage({ network, walletId, policyHash, epoch }),
            async (signature) => {
              const r = await api.call('PolicyService', 'Unfreeze', { epoch: epoch.toString(), signature });
              const nf = r.freeze || {};
              return nf.frozen
                ? `Unfreeze approval recorded: ${(nf.unfreezeApprovals || []).length} of ${int(nf.unfreezeNeeded)}.`
                : 'Unfrozen: the freeze is lifted.';
            },
            'freeze',
          ),
        );
        card.append(h('div', { class: 'actions' }, btn));
        card.append(h('p', { class: 'muted' }, `You sign “wallet ${walletId}: lift freeze ${epoch}”.`));
      }
    }
    card.append(h('p', { id: 'freeze-result', class: 'result', role: 'status' }, result || ''));
    return card;
  }

  function pendingCard(g, result) {
    const card = h('section', { class: 'card' }, h('h2', null, 'Proposed change'));
    const p = g.pending;
    if (!p) {
      card.append(h('p', { class: 'muted', id: 'policy-pending-none' }, 'No policy change is proposed.'));
      card.append(h('p', { id: 'policy-result', class: 'result', role: 'status' }, result || ''));
      return card;
    }
    const approvals = p.approvals || [];
    card.append(
      h('dl', { class: 'facts' }, [
        field('Hash', h('span', { id: 'policy-pending-hash', class: 'mono wrap' }, hex(fromBase64(p.hash)))),
        field('Proposed', `${date(p.setAtUnix)} by ${p.setBy || '?'}`),
        field('Approvals', `${approvals.length} of ${int(g.pendingNeeded)}`),
      ]),
    );
    card.append(approvalsList(verifyApprovals(g, g.policy, p)));
    if (g.policy) {
      const hunks = diffHunks(lineDiff(text(g.policy), text(p)));
      card.append(h('h3', null, `What changes from policy ${int(g.policy.seq)}`));
      card.append(
        h(
          'pre',
          { id: 'policy-diff', class: 'doc diff' },
          hunks.every((d) => d.op === ' ' || d.op === '…')
            ? 'The document is the same text as the policy in force.'
            : hunks.map((d) => h('div', { class: d.op === '+' ? 'diff-add' : d.op === '-' ? 'diff-del' : d.op === '…' ? 'diff-gap' : 'diff-ctx' }, d.op === '…' ? '…' : `${d.op} ${d.text}`)),
        ),
      );
    }
    card.append(h('h3', null, 'The whole document'));
    card.append(h('pre', { id: 'policy-pending', class: 'doc full' }, text(p)));
    const pend = hashCheck(p, 'proposed policy');
    const cur = g.policy ? hashCheck(g.policy, 'policy in force') : { problem: '' };
    const problems = [pend.problem, cur.problem].filter(Boolean);
    card.append(
      h(
        'div',
        { id: 'policy-mismatch', class: problems.length ? 'mismatch' : 'mismatch empty', role: 'alert' },
        problems.length ? [h('strong', null, 'Refusing to sign: '), problems.join('; ')] : null,
      ),
    );
    if (pend.hash) card.append(h('p', { class: 'muted' }, 'Hashed in this page from the document above: ', h('span', { id: 'policy-hash-computed', class: 'mono wrap' }, hex(pend.hash)), '.'));
    if (isOfficer && g.policy) {
      const btn = h('button', { id: 'approve-policy-button', type: 'button', class: 'primary', disabled: problems.length > 0 }, 'Approve this policy change');
      const network = networkNumber(g);
      const walletId = g.walletId || '';
      btn.addEventListener('click', () =>
        act(
          btn,
          'approve this policy change',
          () =>
            policyApprovalMessage({
              network,
              walletId,
              policyHash: cur.hash,
              epoch: BigInt(g.policy.seq || 0),
              newPolicy: pend.hash,
            }),
          async (signature) => {
            const r = await api.call('PolicyService', 'ApprovePolicy', { newHash: toBase64(pend.hash), signature });
            if (r.applied) return `Policy ${hex(pend.hash)} is in force.`;
            const ng = r.governance || {};
            return `Approval recorded: ${((ng.pending && ng.pending.approvals) || []).length} of ${int(ng.pendingNeeded)}.`;
          },
          'policy',
        ),
      );
      card.append(
        h(
          'p',
          { class: 'muted' },
          `You sign: wallet ${walletId}: replace policy ${int(g.policy.seq)} (${cur.hash ? hex(cur.hash) : hex(fromBase64(g.policy.hash))}) with the document above, ${pend.hash ? hex(pend.hash) : hex(fromBase64(p.hash))}. `,
        ),
      );
      card.append(h('div', { class: 'actions' }, btn));
    }
    card.append(h('p', { id: 'policy-result', class: 'result', role: 'status' }, result || ''));
    return card;
  }

  function currentCard(g) {
    const card = h('section', { class: 'card' }, h('h2', null, 'Policy in force'));
    if (!g.policy) {
      card.append(h('p', { class: 'muted' }, 'No policy is in force: the admin sets one with custosctl policy set FILE.'));
      card.append(h('pre', { id: 'policy-current', class: 'doc' }, ''));
      return card;
    }
    card.append(h('p', { class: 'muted' }, `Wallet ${g.walletId || ''} on ${enumName(g.network, 'NETWORK_').toLowerCase()}.`));
    card.append(policyFacts(g.policy));
    card.append(h('pre', { id: 'policy-current', class: 'doc' }, text(g.policy)));
    return card;
  }

  function historyCard(g) {
    const hist = g.history || [];
    const list = h('ol', { id: 'policy-history', class: 'history' });
    hist.forEach((p, i) => {
      const prev = i > 0 ? hist[i - 1] : null;
      const results = verifyApprovals(g, prev, p);
      const bad = results.filter((r) => !r.ok).length;
      const docId = `policy-doc-${int(p.seq)}`;
      list.append(
        h(
          'li',
          { 'data-seq': String(int(p.seq)), class: bad ? 'has-bad' : null },
          h('h3', null, `Policy ${int(p.seq)}`, i === 0 ? ' (the first, set by the admin)' : ` (replacing ${int(prev.seq)})`),
          policyFacts(p),
          i === 0 && results.length === 0 ? h('p', { class: 'muted' }, 'The first policy needs no officer signatures.') : approvalsList(results),
          h('details', null, h('summary', null, 'Document'), h('pre', { id: docId, class: 'doc' }, text(p))),
        ),
      );
    });
    if (hist.length === 0) list.append(h('li', { class: 'muted' }, 'No policy has been in force yet.'));
    return h('section', { class: 'card' }, h('h2', null, 'History'), list);
  }

  await load('', '');
}
