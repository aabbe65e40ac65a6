// Unit tests of the helpers and of what has no Go vector: base64 and hex
// as Go reads them, custosctl's proposal-versus-intent comparison, notes
// with other signatures, and the QR code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { fromBase64, fromHex, toBase64, toHex } from '../src/bytes.js';
import { checkProposalAgainstIntent, decodeIntent, formatBTC, intentFromProposal } from '../src/intent.js';
import { verifyCheckpoint } from '../src/tlog.js';
import { qrModules, qrPath } from '../src/qr.js';

const V = JSON.parse(readFileSync(new URL('./testdata/vectors.json', import.meta.url), 'utf8'));

test('base64 and hex as Go encodes and decodes them', () => {
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    const s = Buffer.from(b).toString('base64');
    assert.equal(toBase64(b), s);
    assert.deepEqual(fromBase64(s), b);
    assert.deepEqual(fromBase64(s.slice(0, 4) + '\r\n' + s.slice(4)), b, 'Go skips CR and LF');
    assert.equal(toHex(b), Buffer.from(b).toString('hex'));
    assert.deepEqual(fromHex(toHex(b).toUpperCase()), b);
  }
  for (const bad of ['A', 'AA', 'AA=', 'A===', '=AAA', 'AA==AA==', 'AA*A', 'AAAA=']) assert.equal(fromBase64(bad), null, bad);
  for (const bad of ['0', 'zz', '0x00']) assert.equal(fromHex(bad), null, bad);
});

test('formatBTC is reserve.FormatBTC', () => {
  assert.equal(formatBTC(0n), '0.00000000');
  assert.equal(formatBTC('1200000'), '0.01200000');
  assert.equal(formatBTC(2_100_000_000_000_000n), '21000000.00000000');
  assert.equal(formatBTC(-5n), '-0.00000005');
});

// proposalOf is the protojson proposal a daemon shows for intent vector v.
function proposalOf(v) {
  const p = {
    id: v.proposal_id,
    walletId: v.wallet_id,
    intent: Buffer.from(v.hex, 'hex').toString('base64'),
    payees: v.payees.map((p) => ({ address: p.address, amountSat: p.amount_sat })),
  };
  if (v.supersedes.length) p.supersedes = [...v.supersedes];
  if (v.repeat) p.repeat = true;
  if (v.consolidate) p.consolidate = true;
  return p;
}

test('a consolidation is approved only as the server shows it, flag for flag', () => {
  const v = V.intents.find((x) => x.consolidate);
  const intent = decodeIntent(fromHex(v.hex));
  assert.equal(intent.consolidate, true);
  assert.deepEqual(intent.payees, []);
  assert.equal(intent.cancels, false);
  const hidden = proposalOf(v);
  delete hidden.consolidate;
  assert.deepEqual(checkProposalAgainstIntent(hidden, intent), ["the intent's consolidate flag is true, the proposal shows false"]);
  const claimed = proposalOf(V.intents.find((x) => x.name === 'cancel'));
  claimed.consolidate = true;
  assert.deepEqual(checkProposalAgainstIntent(claimed, intentFromProposal(claimed)), ["the intent's consolidate flag is false, the proposal shows true"]);
});

test('a proposal that shows its intent agrees', () => {
  for (const v of V.intents) {
    const p = proposalOf(v);
    assert.deepEqual(checkProposalAgainstIntent(p, intentFromProposal(p)), [], v.name);
  }
});

test('every way a proposal can differ from its intent is named', () => {
  const v = V.intents.find((x) => x.payees.length === 3);
  const intent = decodeIntent(fromHex(v.hex));
  const cases = [
    [(p) => (p.id = 'P000009'), 'the daemon sent the intent of proposal P000001 of wallet 4c2f8a0e91d3b675 for proposal P000009'],
    [(p) => (p.walletId = 'ffff'), 'the daemon sent the intent of proposal P000001 of wallet 4c2f8a0e91d3b675 for proposal P000001'],
    [(p) => p.payees.pop(), 'the intent pays 3 payees, the proposal shows 2'],
    [(p) => (p.payees[1].amountSat = '6'), `the intent's payee 2 is 0.00000005 BTC to ${v.payees[1].address}, the proposal shows 0.00000006 BTC to ${v.payees[1].address}`],
    [(p) => (p.payees[0].address = 'bcrt1qother'), `the intent's payee 1 is 0.01200000 BTC to ${v.payees[0].address}, the proposal shows 0.01200000 BTC to bcrt1qother`],
    [(p) => delete p.repeat, 'the intent supersedes [A1 P000000 Z] (repeat true), the proposal shows [A1 P000000 Z] (repeat false)'],
    [(p) => p.supersedes.pop(), 'the intent supersedes [A1 P000000 Z] (repeat true), the proposal shows [A1 P000000] (repeat true)'],
  ];
  for (const [edit, want] of cases) {
    const p = proposalOf(v);
    edit(p);
    assert.deepEqual(checkProposalAgainstIntent(p, intent), [want]);
  }
  assert.deepEqual(checkProposalAgainstIntent({ id: 'P1' }, null), ['proposal P1 has no intent to approve']);
  assert.throws(() => intentFromProposal({ id: 'P1' }), /no intent to approve/);
});

test('a checkpoint with other signature lines still verifies; a bad one of the log key does not', () => {
  const [body, sig] = V.audit.checkpoint.split('\n\n');
  const witness = `\u2014 witness.example/w ${Buffer.alloc(68, 7).toString('base64')}\n`;
  assert.equal(verifyCheckpoint(`${body}\n\n${witness}${sig}`, V.audit.log_key).size, V.audit.size);
  assert.equal(verifyCheckpoint(`${body}\n\n${sig}${witness}`, V.audit.log_key).size, V.audit.size);
  assert.throws(() => verifyCheckpoint(`${body}\n\n${witness}`, V.audit.log_key), /carries no signature/);
  assert.throws(() => verifyCheckpoint(`${body}\n\n${sig}junk\n`, V.audit.log_key), /malformed note/);
  assert.throws(() => verifyCheckpoint(`${body}\n\n${sig}`.replace('\n\n', '\n\x01\n\n'), V.audit.log_key), /./);
});

test('QR code of an address: a square of modules, drawn as one path', () => {
  const rows = qrModules('bcrt1quuujvn0tsn0qewwjpz3aswsz478agq6nyj7p7v');
  assert.ok(rows.length >= 21 && rows.every((r) => r.length === rows.length));
  assert.ok(rows[0][0] && rows[0][6] && !rows[1][1], 'a finder pattern in the corner');
  const d = qrPath(rows);
  assert.match(d, /^(M\d+ \d+h\d+v1h-\d+z)+$/);
  const dark = rows.flat().filter(Boolean).length;
  const drawn = [...d.matchAll(/h(\d+)v/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(drawn, dark);
});
