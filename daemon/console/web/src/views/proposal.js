// proposal.js: one proposal with everything the officers decide on, the
// cool-off counting down, and approve / reject (veto) signed in the page
// over the intent bytes the page decoded and showed.

import * as api from '../api.js';
import { decodeIntent, addressOf, checkProposalAgainstIntent, decisionMessage } from '../intent.js';
import { parsePolicy, policyHash, formatDuration } from '../policy.js';
import { h, clear, setText, badge, field, amount } from './dom.js';
import { btc, sats, int, date, duration, countdown, stateName, fromBase64, toBase64, hex, plural } from '../fmt.js';

const ENDED = new Set(['REJECTED', 'CANCELLED', 'EXPIRED', 'FAILED', 'REPLACED']);

const now = () => Date.now() / 1000;

// coolOffText says where the proposal's cool-off stands at time t.
export function coolOffText(p, t) {
  const st = stateName(p.state);
  const rel = int(p.releaseAtUnix);
  const cool = int(p.coolOffSeconds);
  if (rel === 0) {
    if (ENDED.has(st)) return `not released (${st})`;
    if (cool === 0) return 'no cool-off: released at quorum';
    return `cool-off ${duration(cool)}, starting at quorum`;
  }
  if (ENDED.has(st)) return `not released (${st})`;
  if (st === 'APPROVED') return countdown(rel, t);
  return 'released';
}

function approvalsText(p) {
  const approvals = (p.decisions || []).filter((d) => d.decision === 'DECISION_APPROVE').length;
  const need = int(p.approvalsNeeded);
  if (need === 0) return `${approvals} of — (the policy in force sets no requirement for it)`;
  return `${approvals} of ${need}`;
}

function decisionsText(p) {
  const ds = p.decisions || [];
  if (ds.length === 0) return 'nobody yet';
  return ds
    .map((d) => {
      const what = d.decision === 'DECISION_APPROVE' ? 'approved' : d.decision === 'DECISION_REJECT' ? 'rejected (veto)' : 'decided';
      return `${d.officer || '?'} ${what} at ${date(d.atUnix)}`;
    })
    .join('; ');
}

function signersText(p) {
  const signers = p.signers || [];
  const need = int(p.signaturesNeeded);
  return `${signers.length} of ${signers.length + need} signatures`;
}

function signersDetail(p) {
  const signers = p.signers || [];
  if (signers.length === 0) return 'no cosigner has signed yet';
  return signers
    .map((sg) => {
      let t = `cosigner ${int(sg.cosigner) + 1} (${sg.fingerprint || ''}) at ${date(sg.atUnix)}`;
      if (sg.inTransaction === false) t += ' (not in the final transaction)';
      return t;
    })
    .join('; ');
}

function payeesTable(p) {
  const rows = (p.payees || []).map((pay) =>
    h(
      'tr',
      { 'data-address': pay.address || '' },
      h('td', { class: 'mono wrap' }, pay.address || ''),
      h('td', null, pay.label ? pay.label : h('span', { class: 'unlisted' }, 'not on the allowlist')),
      amount('td', btc(pay.amountSat), sats(pay.amountSat).toString()),
    ),
  );
  if (p.change) {
    rows.push(
      h(
        'tr',
        { class: 'change-row' },
        h('td', { class: 'mono wrap' }, p.change.address || ''),
        h('td', { class: 'muted' }, `change back to the reserve (1/${int(p.change.index)})`),
        amount('td', btc(p.change.amountSat), sats(p.change.amountSat).toString()),
      ),
    );
  }
  if ((p.payees || []).length === 0) {
    rows.unshift(h('tr', { class: 'empty' }, h('td', { colspan: 3 }, 'Pays nothing out: it only makes the proposals it supersedes unconfirmable.')));
  }
  return h(
    'table',
    { class: 'data' },
    h('thead', null, h('tr', null, h('th', null, 'Address'), h('th', null, 'Allowlist label'), h('th', { class: 'num' }, 'Amount (BTC)'))),
    h('tbody', { id: 'proposal-payees' }, rows),
  );
}

// inputsSection shows the count at once and builds the table only when
// opened: a 950-input proposal paints without it.
function inputsSection(p) {
  const inputs = p.inputs || [];
  let total = 0n;
  for (const i of inputs) total += sats(i.amountSat);
  const details = h(
    'details',
    { class: 'card inputs' },
    h('summary', null, h('span', { id: 'proposal-inputs', 'data-count': inputs.length }, `${plural(inputs.length, 'input')}, ${btc(total)} BTC`), ' — show'),
  );
  let built = false;
  details.addEventListener('toggle', () => {
    if (built || !details.open) return;
    built = true;
    const tbody = h('tbody', { id: 'proposal-input-rows' });
    const frag = document.createDocumentFragment();
    inputs.forEach((i, n) => {
      const op = `${i.txid || ''}:${int(i.vout)}`;
      frag.append(
        h(
          'tr',
          { 'data-outpoint': op },
          h('td', { class: 'num' }, String(n)),
          h('td', { class: 'mono wrap' }, op),
          h('td', { class: 'mono' }, `${i.changeBranch ? 1 : 0}/${int(i.index)}`),
          amount('td', btc(i.amountSat), sats(i.amountSat).toString()),
        ),
      );
    });
    tbody.append(frag);
    details.append(
      h(
        'div',
        { class: 'table-wrap' },
        h('table', { class: 'data' }, h('thead', null, h('tr', null, h('th', { class: 'num' }, '#'), h('th', null, 'Outpoint'), h('th', null, 'Path'), h('th', { class: 'num' }, 'Amount (BTC)'))), tbody),
      ),
    );
  });
  return details;
}

function timeline(p) {
  const items = (p.history || []).map((ev) =>
    h(
      'li',
      { 'data-state': stateName(ev.state) },
      h('span', { class: 'tl-time' }, date(ev.atUnix)),
      ' ',
      badge(stateName(ev.state)),
      ' ',
      h('span', { class: 'tl-actor' }, ev.actor || ''),
      ev.note ? h('span', { class: 'tl-note' }, ': ' + ev.note) : null,
    ),
  );
  return h('ol', { id: 'proposal-timeline', class: 'timeline' }, items);
}

function linksText(p) {
  const out = [];
  const sup = p.supersedes || [];
  if (p.consolidate) out.push(`CONSOLIDATION: pays nothing out; merges ${(p.inputs || []).length} coins into one output of this wallet`);
  else if ((p.payees || []).length === 0 && sup.length > 0) out.push(`CANCELS ${sup.join(', ')}: spends one of its inputs back to the reserve, so it can never confirm`);
  else if (sup.length > 0) out.push(`replaces ${sup.join(', ')}: spends one of its inputs, so at most one of them can confirm`);
  if (p.replaces) out.push(`fee bump of ${p.replaces}`);
  if (p.repeat) out.push('REPEAT: pays again, on purpose, a payee and amount paid before');
  return out;
}

function summary(p) {
  const cool = h('span', { id: 'proposal-cooloff', 'data-release-at': String(int(p.releaseAtUnix)) }, coolOffText(p, now()));
  const rows = [
    field('Tier', h('span', { id: 'proposal-tier' }, String(int(p.tier))), int(p.coolOffSeconds) > 0 ? ` (cool-off ${duration(int(p.coolOffSeconds))})` : ''),
    field('Approvals', h('span', { id: 'proposal-approvals' }, approvalsText(p))),
    field('Decided', h('span', { id: 'proposal-decisions' }, decisionsText(p))),
    field('Cool-off', cool),
    field('Signers', h('span', { id: 'proposal-signers' }, signersText(p)), h('div', { class: 'muted' }, signersDetail(p))),
    field('Fee', h('span', { id: 'proposal-fee', class: 'mono', 'data-sat': sats(p.feeSat).toString() }, `${btc(p.feeSat)} BTC`), ` (${int(p.feeRateSatVb)} sat/vB, ${int(p.vsize)} vB)`),
    field('Fee cap', h('span', { id: 'proposal-fee-cap', class: 'mono', 'data-sat': sats(p.feeCapSat).toString() }, `${btc(p.feeCapSat)} BTC`), ' approved at most, bumps included'),
    field('Created', `${date(p.createdAtUnix)} by ${p.createdBy || '?'}`),
    field('Expires', date(p.expiresAtUnix)),
  ];
  for (const l of linksText(p)) rows.push(field('Links', l));
  if (p.memo) rows.push(field('Memo', h('span', { class: 'memo' }, p.memo)));
  if (p.txid) rows.push(field('Transaction', h('span', { class: 'mono wrap' }, p.txid), ` (locktime ${int(p.locktime)})`));
  if (int(p.confirmations) > 0) rows.push(field('Confirmations', `${int(p.confirmations)} (height ${int(p.confirmedHeight)})`));
  if (p.failReason) rows.push(field('Failed', p.failReason));
  if (p.waitingReason) rows.push(field('Waiting', p.waitingReason));
  if (p.coinsHeld) rows.push(field('Coins', 'held until an input is spent: the signed transaction can still be broadcast by whoever holds the signatures'));
  return { dl: h('dl', { class: 'facts' }, rows), cool };
}

// EXPIRY_CLOCK_SKEW_NS is reserve.ExpiryClockSkew (10 minutes) in ns.
const EXPIRY_CLOCK_SKEW_NS = 10n * 60n * 1000000000n;

// rfc3339 formats Unix nanoseconds as Go's time.RFC3339 in UTC (whole
// seconds, "Z").
function rfc3339(ns) {
  const secs = ns / 1000000000n - (ns < 0n && ns % 1000000000n !== 0n ? 1n : 0n);
  return new Date(Number(secs) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

// expiryProblem is custosctl spend approve's intentExpiryError: the
// policy the intent names (by hash, from GetPolicy's policy in force and
// history), parsed and hashed here so the server cannot lengthen the
// bound by sending another document, and reserve.Policy.CheckExpiry on
// the intent's expiry at nowNs (Unix nanoseconds, BigInt). It returns
// the refusal in words, or '' when an approval may be signed.
export function expiryProblem(intent, g, nowNs) {
  const want = hex(intent.policyHash);
  const short = want.slice(0, 16);
  const infos = [g && g.policy, ...((g && g.history) || [])];
  for (const info of infos) {
    if (!info || hex(fromBase64(info.hash || '')) !== want) continue;
    const text = fromBase64(info.text || '');
    let pol;
    let got;
    try {
      pol = parsePolicy(text);
      got = hex(policyHash(text));
    } catch (err) {
      return `the policy ${short} the intent names does not parse: ${(err && err.message) || err}`;
    }
    if (got !== want) return `the daemon sent a document for policy ${short} that hashes to ${got}`;
    const expiresNs = BigInt(intent.expiresAt) * 1000000000n;
    if (!(nowNs < expiresNs)) return `intent.expires_at: the intent expired at ${rfc3339(expiresNs)}`;
    const latest = nowNs + pol.proposalExpiryNs + EXPIRY_CLOCK_SKEW_NS;
    if (expiresNs > latest) {
      return (
        `intent.expires_at: the intent expires at ${rfc3339(expiresNs)}, later than the policy's proposal expiry of ` +
        `${formatDuration(pol.proposalExpiryNs)} from now (${rfc3339(latest)}, with ${formatDuration(EXPIRY_CLOCK_SKEW_NS)} for clock skew)`
      );
    }
    return '';
  }
  return `the daemon has no policy ${short}, which the intent names`;
}

// reviewOf builds the decoded intent's statement and the disagreements
// with the server's JSON. It never throws: a bad intent is a mismatch.
// For an approval, gov is GetPolicy's answer and nowNs the time (Unix ns,
// BigInt): an intent expiring too late for its policy, or already
// expired, is refused as custosctl refuses it (expiryProblem). A veto
// needs no such check.
export function reviewOf(p, decision, gov, nowNs) {
  const intentBytes = fromBase64(p.intent || '');
  const lines = [];
  let mismatches = [];
  let intent = null;
  if (intentBytes.length === 0) {
    mismatches.push(`proposal ${p.id} has no intent to sign`);
  } else {
    try {
      intent = decodeIntent(intentBytes);
    } catch (err) {
      const msg = (err && err.message) || String(err);
      mismatches.push(`the server sent an intent that does not decode: ${err && err.field ? err.field + ': ' : ''}${msg}`);
    }
  }
  if (intent) {
    try {
      mismatches = mismatches.concat(checkProposalAgainstIntent(p, intent) || []);
    } catch (err) {
      mismatches.push((err && err.message) || String(err));
    }
    if (decision === 'approve') {
      const why = gov ? expiryProblem(intent, gov, nowNs ?? BigInt(Date.now()) * 1000000n) : 'the policy could not be read to check the intent\'s expiry';
      if (why) mismatches.push(why);
    }
    lines.push(['Decision', decision === 'approve' ? 'APPROVE this payment' : 'REJECT (veto) this payment']);
    lines.push(['Proposal', `${intent.proposalId} of wallet ${intent.walletId} (${intent.networkName || intent.network})`]);
    let total = 0n;
    const payees = intent.payees || [];
    payees.forEach((pay, i) => {
      let addr;
      try {
        addr = addressOf(pay.script, intent.network);
      } catch (err) {
        addr = `(script ${hex(pay.script)}: ${(err && err.message) || err})`;
      }
      total += sats(pay.amountSat);
      lines.push([`Pay ${i + 1}`, `${btc(pay.amountSat)} BTC to ${addr}`]);
    });
    if (intent.consolidate) lines.push(['Consolidation', 'pays nothing out: merges the reserve\'s coins into one output of this wallet']);
    else if (payees.length === 0) lines.push(['Pays', 'nothing out']);
    lines.push(['Total', `${btc(total)} BTC`]);
    lines.push(['Fee cap', `at most ${btc(intent.feeCapSat)} BTC (now ${btc(p.feeSat)} BTC)`]);
    lines.push(['Expires', date(Number(intent.expiresAt))]);
    const sup = intent.supersedes || [];
    lines.push(['Supersedes', sup.length === 0 ? 'nothing' : sup.join(', ')]);
    lines.push(['Repeat', intent.repeat ? 'yes: pays again, on purpose, a payee and amount paid before' : 'no']);
    lines.push(['Policy', intent.policyHash instanceof Uint8Array ? hex(intent.policyHash) : String(intent.policyHash || '')]);
  }
  return { intent, intentBytes, lines, mismatches };
}

export async function render(ctx, root, id) {
  const isOfficer = ctx.session && ctx.session.role === 'officer';
  let timer = null;

  const resp = await api.call('SpendService', 'GetProposal', { id });
  if (!ctx.alive()) return;

  const draw = (p, resultText) => {
    clear(root);
    if (timer) clearInterval(timer);
    const st = stateName(p.state);
    const { dl, cool } = summary(p);
    const head = h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Proposal ', h('span', { id: 'proposal-id', class: 'mono' }, p.id || '')),
      badge(st, { id: 'proposal-state' }),
    );
    const actions = h('div', { class: 'actions', id: 'decision-actions' });
    const panel = h('div', { id: 'decision-panel' });
    const result = h('p', { id: 'decision-result', class: 'result', role: 'status' }, resultText || '');
    if (isOfficer && (st === 'PENDING_APPROVAL' || st === 'APPROVED')) {
      if (st === 'PENDING_APPROVAL') {
        actions.append(h('button', { id: 'approve-button', type: 'button', class: 'primary', on: { click: () => review('approve') } }, 'Approve…'));
      }
      const inCoolOff = st === 'APPROVED' && int(p.releaseAtUnix) > now();
      actions.append(
        h(
          'button',
          { id: 'reject-button', type: 'button', class: 'danger', on: { click: () => review('reject') } },
          inCoolOff ? 'Veto (reject during the cool-off)…' : st === 'APPROVED' ? 'Reject (veto)…' : 'Reject…',
        ),
      );
    }
    root.append(head);
    // An officer's decision comes first: the review of what they sign
    // opens right under the proposal's name and state.
    if (isOfficer) root.append(h('section', { class: 'card' }, h('h2', null, 'Decide'), actions, panel, result));
    root.append(
      h(
        'div',
        { class: 'two-col wide-left' },
        h('section', { class: 'card' }, h('h2', null, 'Payees'), h('div', { class: 'table-wrap' }, payeesTable(p))),
        h('section', { class: 'card' }, h('h2', null, 'Status'), dl),
      ),
    );
    root.append(inputsSection(p));
    root.append(h('section', { class: 'card' }, h('h2', null, 'Timeline'), timeline(p)));

    if (st === 'APPROVED' && int(p.releaseAtUnix) > 0) {
      timer = setInterval(() => {
        setText(cool, coolOffText(p, now()));
      }, 1000);
    }

    // review shows the decoded intent and asks for confirmation.
    async function review(decision) {
      ctx.clearError();
      clear(panel);
      setText(result, '');
      let fresh;
      let gov = null;
      try {
        const [pr, gr] = await Promise.all([
          api.call('SpendService', 'GetProposal', { id: p.id }),
          decision === 'approve' ? api.call('PolicyService', 'GetPolicy', {}) : Promise.resolve(null),
        ]);
        fresh = pr.proposal || {};
        gov = gr;
      } catch (err) {
        ctx.showError(err);
        return;
      }
      if (!ctx.alive()) return;
      const r = reviewOf(fresh, decision, gov, BigInt(Date.now()) * 1000000n);
      const reviewEl = h(
        'dl',
        { id: 'intent-review', class: 'facts intent' },
        r.lines.map(([k, v]) => field(k, v)),
      );
      const mismatch = h('div', { id: 'intent-mismatch', class: r.mismatches.length ? 'mismatch' : 'mismatch empty', role: 'alert' });
      if (r.mismatches.length) {
        mismatch.append(h('strong', null, 'Refusing to sign:'));
        mismatch.append(h('ul', null, r.mismatches.map((m) => h('li', null, m))));
      }
      const confirmBtn = h(
        'button',
        { id: 'decision-confirm', type: 'button', class: decision === 'approve' ? 'primary' : 'danger', disabled: r.mismatches.length > 0 || !r.intent },
        decision === 'approve' ? 'Sign the approval' : 'Sign the veto',
      );
      const cancelBtn = h('button', { id: 'decision-cancel', type: 'button' }, 'Cancel');
      cancelBtn.addEventListener('click', () => clear(panel));
      confirmBtn.addEventListener('click', async () => {
        confirmBtn.disabled = true;
        ctx.clearError();
        try {
          const key = await ctx.requireKey(decision === 'approve' ? 'approve this payment' : 'veto this payment');
          const sig = key.sign(decisionMessage(r.intentBytes, decision));
          const d = await api.call('SpendService', 'DecideProposal', {
            id: fresh.id,
            decision: decision === 'approve' ? 'DECISION_APPROVE' : 'DECISION_REJECT',
            signature: { officerKey: toBase64(key.publicKey), signature: toBase64(sig) },
          });
          const np = d.proposal || fresh;
          if (!ctx.alive()) return;
          draw(np, `${decision === 'approve' ? 'Approval' : 'Veto'} recorded: proposal ${np.id} is ${stateName(np.state)}.`);
        } catch (err) {
          ctx.showError(err);
          confirmBtn.disabled = false;
        }
      });
      panel.append(
        h(
          'div',
          { class: 'review' },
          h('h3', null, 'What you sign: the intent, decoded in this page'),
          reviewEl,
          mismatch,
          h('div', { class: 'actions' }, confirmBtn, cancelBtn),
        ),
      );
    }
  };

  draw(resp.proposal || {});
  return () => {
    if (timer) clearInterval(timer);
  };
}
