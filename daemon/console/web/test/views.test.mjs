// Tests of the console pages' pure parts (C2): amounts, countdowns,
// filters, buckets, the intent review that refuses a disagreeing server,
// and the policy history's signature check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';

import { btc, sats, countdown, duration, toBase64, fromBase64 } from '../src/fmt.js';
import { coolOffText, reviewOf, expiryProblem } from '../src/views/proposal.js';
import { policyHash } from '../src/policy.js';
import { readFileSync } from 'node:fs';
import { matches, newestFirst } from '../src/views/proposals.js';
import { ageBuckets, sizeBuckets } from '../src/views/reserve.js';
import { verifyApprovals } from '../src/views/policy.js';
import { derivation } from '../src/views/addresses.js';
import { encodeIntent, addressOf, policyApprovalMessage } from '../src/intent.js';

test('btc formats satoshis exactly, beyond what a Number holds', () => {
  const cases = [
    { name: 'zero', in: '0', want: '0.00000000' },
    { name: 'absent', in: undefined, want: '0.00000000' },
    { name: 'one sat', in: '1', want: '0.00000001' },
    { name: 'negative', in: '-1', want: '-0.00000001' },
    { name: 'all bitcoin', in: '2100000000000000', want: '21000000.00000000' },
    { name: 'past 2^53', in: '9007199254740993', want: '90071992.54740993' },
    { name: 'bigint', in: 123456789012n, want: '1234.56789012' },
  ];
  for (const c of cases) assert.equal(btc(c.in), c.want, c.name);
  for (const bad of ['1.5', '1e3', 'abc', 1.5]) assert.throws(() => sats(bad), undefined, String(bad));
});

test('countdown says how long until release, then released', () => {
  const cases = [
    { name: '4m 03s', at: 1000 + 243, now: 1000, want: 'released in 4m 03s' },
    { name: 'seconds', at: 1009, now: 1000, want: 'released in 9s' },
    { name: 'hours', at: 1000 + 3 * 3600 + 5, now: 1000, want: 'released in 3h 00m 05s' },
    { name: 'at release', at: 1000, now: 1000, want: 'released' },
    { name: 'after release', at: 900, now: 1000, want: 'released' },
    { name: 'string from protojson', at: '1243', now: 1000.7, want: 'released in 4m 03s' },
  ];
  for (const c of cases) assert.equal(countdown(c.at, c.now), c.want, c.name);
  assert.equal(duration(2 * 86400 + 3 * 3600 + 4 * 60), '2d 03h 04m');
});

test('coolOffText follows the state: counting only while APPROVED', () => {
  const cases = [
    { name: 'approved, pending release', p: { state: 'PROPOSAL_STATE_APPROVED', releaseAtUnix: '1600' }, want: 'released in 10m 00s' },
    { name: 'approved, released', p: { state: 'PROPOSAL_STATE_APPROVED', releaseAtUnix: '900' }, want: 'released' },
    { name: 'signing', p: { state: 'PROPOSAL_STATE_SIGNING', releaseAtUnix: '900' }, want: 'released' },
    { name: 'vetoed in the cool-off', p: { state: 'PROPOSAL_STATE_REJECTED', releaseAtUnix: '1600' }, want: 'not released (REJECTED)' },
    { name: 'pending with a cool-off', p: { state: 'PROPOSAL_STATE_PENDING_APPROVAL', coolOffSeconds: '600' }, want: 'cool-off 10m 00s, starting at quorum' },
    { name: 'pending without', p: { state: 'PROPOSAL_STATE_PENDING_APPROVAL' }, want: 'no cool-off: released at quorum' },
  ];
  for (const c of cases) assert.equal(coolOffText(c.p, 1000), c.want, c.name);
});

test('proposal filters: state and free text on id, memo, address; newest first', () => {
  const ps = [
    { id: 'P000001', state: 'PROPOSAL_STATE_CONFIRMED', createdAtUnix: '100', memo: 'rent', payees: [{ address: 'bcrt1qaaa' }] },
    { id: 'P000002', state: 'PROPOSAL_STATE_PENDING_APPROVAL', createdAtUnix: '300', memo: 'Salaries', payees: [{ address: 'bcrt1qbbb', label: 'Payroll' }] },
    { id: 'P000003', state: 'PROPOSAL_STATE_PENDING_APPROVAL', createdAtUnix: '300', payees: [] },
  ];
  assert.deepEqual(newestFirst(ps).map((p) => p.id), ['P000003', 'P000002', 'P000001']);
  const cases = [
    { name: 'all', state: '', text: '', want: ['P000001', 'P000002', 'P000003'] },
    { name: 'state', state: 'PENDING_APPROVAL', text: '', want: ['P000002', 'P000003'] },
    { name: 'memo, any case', state: '', text: 'salar', want: ['P000002'] },
    { name: 'address', state: '', text: 'bcrt1qaaa', want: ['P000001'] },
    { name: 'id', state: '', text: 'p000003', want: ['P000003'] },
    { name: 'label', state: '', text: 'payroll', want: ['P000002'] },
    { name: 'state and text disagree', state: 'CONFIRMED', text: 'salar', want: [] },
  ];
  for (const c of cases) assert.deepEqual(ps.filter((p) => matches(p, c.state, c.text)).map((p) => p.id), c.want, c.name);
});

test('coins by age and by size fall in one bucket each, at the boundaries', () => {
  const utxos = [
    { confirmations: 0, amountSat: '99999' },
    { confirmations: 1, amountSat: '100000' },
    { confirmations: 5, amountSat: '999999' },
    { confirmations: 6, amountSat: '1000000' },
    { confirmations: 100, amountSat: '100000000' },
    { confirmations: 10000, amountSat: '1000000000' },
  ];
  const age = ageBuckets(utxos);
  assert.deepEqual(age.map((b) => b.count), [1, 2, 1, 1, 0, 1]);
  const size = sizeBuckets(utxos);
  assert.deepEqual(size.map((b) => b.count), [1, 2, 1, 0, 1, 1]);
  assert.equal(size[1].total, 1099999n);
});

test('derivation path of an address under the cosigners', () => {
  const w = { cosigners: [{ fingerprint: 'aabbccdd', path: "48'/1'/0'/2'" }, { fingerprint: '11223344', path: "48'/1'/0'/2'" }] };
  const d = derivation({ branch: 'BRANCH_RECEIVE', index: 7 }, w);
  assert.equal(d.path, "m/48'/1'/0'/2'/0/7");
  assert.deepEqual(d.each, ["[aabbccdd/48'/1'/0'/2']/0/7", "[11223344/48'/1'/0'/2']/0/7"]);
  const mixed = derivation({ branch: 'BRANCH_CHANGE', index: 3 }, { cosigners: [{ path: "48'/1'/0'/2'" }, { path: "48'/1'/1'/2'" }] });
  assert.equal(mixed.path, '…/1/3');
});

// The docs/policy.md example (proposal_expiry: 168h) from the Go vectors,
// and GetPolicy's answer with it in force.
const POLICY_TEXT = JSON.parse(readFileSync(new URL('./testdata/vectors.json', import.meta.url))).policies[0].text;
const POLICY_HASH = policyHash(POLICY_TEXT);
const GOV = { policy: { seq: '1', hash: toBase64(POLICY_HASH), text: toBase64(new TextEncoder().encode(POLICY_TEXT)) } };
const NS = 1000000000n;
// 2030-01-01 00:00:00 UTC, the fixture intent's expiry.
const EXPIRES = 1893456000n;
// A time at which the fixture's intent may be approved.
const OK_NOW = (EXPIRES - 86400n) * NS;

// An intent and the proposal JSON the server would send with it.
function fixture() {
  const script = new Uint8Array(22);
  script[0] = 0;
  script[1] = 20;
  script.fill(7, 2);
  const intentBytes = encodeIntent({
    network: 4,
    walletId: '0123456789abcdef',
    proposalId: 'P000007',
    policyHash: POLICY_HASH,
    payees: [{ script, amountSat: 150000000n }],
    feeCapSat: 50000n,
    expiresAt: EXPIRES,
    supersedes: [],
    repeat: false,
  });
  const proposal = {
    id: 'P000007',
    walletId: '0123456789abcdef',
    state: 'PROPOSAL_STATE_PENDING_APPROVAL',
    payees: [{ address: addressOf(script, 4), amountSat: '150000000' }],
    feeSat: '1000',
    intent: toBase64(intentBytes),
  };
  return { intentBytes, proposal };
}

test('the intent review shows the decoded intent and refuses a server that disagrees', () => {
  const { proposal } = fixture();
  const cases = [
    { name: 'agrees', edit: () => {}, want: null },
    { name: 'amount shown differs', edit: (p) => (p.payees[0].amountSat = '150000001'), want: /payee 1/ },
    { name: 'address shown differs', edit: (p) => (p.payees[0].address = 'bcrt1qsomeoneelse'), want: /payee 1/ },
    { name: 'another proposal', edit: (p) => (p.id = 'P000008'), want: /intent of proposal P000007/ },
    { name: 'payee hidden', edit: (p) => (p.payees = []), want: /pays 1 payees/ },
    { name: 'repeat shown but not signed', edit: (p) => (p.repeat = true), want: /repeat/ },
    { name: 'undecodable intent', edit: (p) => (p.intent = toBase64(new Uint8Array([9, 9, 9]))), want: /does not decode/ },
    { name: 'no intent', edit: (p) => delete p.intent, want: /no intent/ },
  ];
  for (const c of cases) {
    const p = structuredClone(proposal);
    c.edit(p);
    const r = reviewOf(p, 'approve', GOV, OK_NOW);
    if (c.want === null) {
      assert.deepEqual(r.mismatches, [], c.name);
      const text = r.lines.map(([k, v]) => `${k}: ${v}`).join('\n');
      assert.match(text, /Pay 1: 1\.50000000 BTC to bcrt1q/, c.name);
      assert.match(text, /Fee cap: at most 0\.00050000 BTC/, c.name);
      assert.match(text, /Expires: 2030-01-01 00:00:00 UTC/, c.name);
    } else {
      assert.ok(r.mismatches.some((m) => c.want.test(m)), `${c.name}: ${JSON.stringify(r.mismatches)}`);
    }
  }
});

test('the intent review says a consolidation pays nothing out, and refuses a server that hides it', () => {
  const intentBytes = encodeIntent({
    network: 4,
    walletId: '0123456789abcdef',
    proposalId: 'P000008',
    policyHash: POLICY_HASH,
    payees: [],
    feeCapSat: 50000n,
    expiresAt: EXPIRES,
    supersedes: [],
    repeat: false,
    consolidate: true,
  });
  assert.equal(intentBytes[0], 2);
  const p = { id: 'P000008', walletId: '0123456789abcdef', feeSat: '1000', intent: toBase64(intentBytes), consolidate: true };
  const r = reviewOf(structuredClone(p), 'approve', GOV, OK_NOW);
  assert.deepEqual(r.mismatches, []);
  const text = r.lines.map(([k, v]) => `${k}: ${v}`).join('\n');
  assert.match(text, /^Consolidation: pays nothing out/m);
  assert.doesNotMatch(text, /^Pays: nothing out/m);
  assert.match(text, /^Total: 0\.00000000 BTC/m);
  const hidden = reviewOf({ ...structuredClone(p), consolidate: false }, 'approve', GOV, OK_NOW);
  assert.deepEqual(hidden.mismatches, ["the intent's consolidate flag is true, the proposal shows false"]);
  assert.throws(() => encodeIntent({ ...r.intent, repeat: true }), /a consolidation is no repeat/);
});

test('approve refuses what custosctl spend approve refuses about the expiry; a veto is not checked', () => {
  const { proposal } = fixture();
  const week = 168n * 3600n * NS;
  const skew = 600n * NS;
  const other = Uint8Array.from(POLICY_HASH);
  other[0] ^= 1;
  const older = { seq: '1', hash: toBase64(POLICY_HASH), text: GOV.policy.text };
  const cases = [
    { name: 'a day before expiry', gov: GOV, now: OK_NOW, want: '' },
    { name: 'at the bound: proposal expiry plus skew from now', gov: GOV, now: EXPIRES * NS - week - skew, want: '' },
    { name: 'a nanosecond before the bound: expires too late', gov: GOV, now: EXPIRES * NS - week - skew - 1n, want: /^intent\.expires_at: the intent expires at 2030-01-01T00:00:00Z, later than the policy's proposal expiry of 168h0m0s from now \(2029-12-31T23:59:59Z, with 10m0s for clock skew\)$/ },
    { name: 'a month early', gov: GOV, now: (EXPIRES - 30n * 86400n) * NS, want: /later than the policy's proposal expiry of 168h0m0s/ },
    { name: 'at expiry: expired', gov: GOV, now: EXPIRES * NS, want: /^intent\.expires_at: the intent expired at 2030-01-01T00:00:00Z$/ },
    { name: 'after expiry', gov: GOV, now: (EXPIRES + 5n) * NS, want: /the intent expired at/ },
    { name: 'the named policy is in the history, not in force', gov: { policy: { seq: '2', hash: toBase64(other), text: '' }, history: [older] }, now: OK_NOW, want: '' },
    { name: 'the server has no such policy', gov: { policy: { seq: '2', hash: toBase64(other), text: GOV.policy.text } }, now: OK_NOW, want: /the daemon has no policy [0-9a-f]{16}, which the intent names/ },
    { name: 'a document that hashes otherwise', gov: { policy: { seq: '1', hash: toBase64(POLICY_HASH), text: toBase64(new TextEncoder().encode(POLICY_TEXT.replace('168h', '2000h'))) } }, now: OK_NOW, want: /hashes to/ },
    { name: 'a document that does not parse', gov: { policy: { seq: '1', hash: toBase64(POLICY_HASH), text: toBase64(new TextEncoder().encode('version: 9\n')) } }, now: OK_NOW, want: /does not parse/ },
    { name: 'no governance read', gov: null, now: OK_NOW, want: /could not be read/ },
  ];
  for (const c of cases) {
    const r = reviewOf(structuredClone(proposal), 'approve', c.gov, c.now);
    if (c.want === '') assert.deepEqual(r.mismatches, [], c.name);
    else assert.ok(r.mismatches.some((m) => c.want.test(m)), `${c.name}: ${JSON.stringify(r.mismatches)}`);
    // A veto is never refused for the expiry.
    assert.deepEqual(reviewOf(structuredClone(proposal), 'reject', c.gov, c.now).mismatches, [], `${c.name} (veto)`);
  }
  assert.equal(expiryProblem({ policyHash: POLICY_HASH, expiresAt: EXPIRES }, GOV, OK_NOW), '');
});

test('policy history: each change signature verified over what policy approve signs', () => {
  const priv = new Uint8Array(32).fill(1);
  const pub = ed25519.getPublicKey(priv);
  const g = { network: 'NETWORK_REGTEST', walletId: '0123456789abcdef' };
  const prev = { seq: '1', hash: toBase64(new Uint8Array(32).fill(1)) };
  const cur = { seq: '2', hash: toBase64(new Uint8Array(32).fill(2)) };
  const msg = policyApprovalMessage({ network: 4, walletId: g.walletId, policyHash: fromBase64(prev.hash), epoch: 1n, newPolicy: fromBase64(cur.hash) });
  const good = ed25519.sign(msg, priv);
  const bad = Uint8Array.from(good);
  bad[0] ^= 1;
  const other = ed25519.sign(policyApprovalMessage({ network: 4, walletId: g.walletId, policyHash: fromBase64(prev.hash), epoch: 2n, newPolicy: fromBase64(cur.hash) }), priv);
  const cases = [
    { name: 'good', sig: good, prev, want: true },
    { name: 'flipped bit', sig: bad, prev, want: false },
    { name: 'signed for another epoch', sig: other, prev, want: false },
    { name: 'no policy before', sig: good, prev: null, want: false },
  ];
  for (const c of cases) {
    const approvals = [{ officer: 'alice', officerKey: toBase64(pub), signature: toBase64(c.sig) }];
    const [r] = verifyApprovals(g, c.prev, { ...cur, approvals });
    assert.equal(r.ok, c.want, c.name);
  }
});

test('policy approval: the document is hashed in the page and a server hash that differs is refused', async () => {
  const { hashCheck } = await import('../src/views/policy.js');
  const { policyHash } = await import('../src/policy.js');
  const k = (c) => 'ed25519:' + c.repeat(64);
  const text = `version: 1
officers:
  - id: alice
    name: Alice
    key: ${k('a')}
  - id: bob
    name: Bob
    key: ${k('b')}
tiers:
  - up_to: unlimited
    approvals: 2
    cool_off: 10s
velocity:
  per_24h: "150"
  per_30d: "1000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries: []
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 2
`;
  const bytes = new TextEncoder().encode(text);
  const good = policyHash(bytes);
  const other = Uint8Array.from(good);
  other[0] ^= 1;
  const cases = [
    { name: 'agrees', info: { text: toBase64(bytes), hash: toBase64(good) }, want: '' },
    { name: 'server claims another hash', info: { text: toBase64(bytes), hash: toBase64(other) }, want: /hashes to/ },
    { name: 'document does not parse', info: { text: toBase64(new TextEncoder().encode('version: 9\n')), hash: toBase64(good) }, want: /does not parse/ },
  ];
  for (const c of cases) {
    const r = hashCheck(c.info, 'proposed policy');
    if (c.want === '') assert.equal(r.problem, '', c.name);
    else assert.match(r.problem, c.want, c.name);
  }
});

test('a session past its expires_at_unix is called expired by the page (the browser has dropped its cookie)', async () => {
  const { expiredReason } = await import('../src/app.js');
  const cases = [
    { name: 'before expiry', sess: { expires_at_unix: 1893456000 }, now: 1893455999999, want: '' },
    { name: 'at expiry', sess: { expires_at_unix: 1893456000 }, now: 1893456000000, want: 'session expired at 2030-01-01T00:00:00Z: log in again' },
    { name: 'after expiry, as a protojson string', sess: { expires_at_unix: '1893456000' }, now: 1893456999000, want: 'session expired at 2030-01-01T00:00:00Z: log in again' },
    { name: 'no session', sess: null, now: 1893456999000, want: '' },
    { name: 'no expiry known', sess: { name: 'alice' }, now: 1893456999000, want: '' },
  ];
  for (const c of cases) assert.equal(expiredReason(c.sess, c.now), c.want, c.name);
});

test('policy change: the lines that change, with context; a huge middle falls back to removed then added', async () => {
  const { lineDiff, diffHunks } = await import('../src/views/policy.js');
  const show = (d) => d.map((l) => (l.op === '…' ? '…' : `${l.op}${l.text}`)).join('|');
  const cases = [
    { name: 'same', a: 'a\nb', b: 'a\nb', want: ' a| b' },
    { name: 'one line changed', a: 'a\nb\nc', b: 'a\nB\nc', want: ' a|-b|+B| c' },
    { name: 'added at the end', a: 'a', b: 'a\nb', want: ' a|+b' },
    { name: 'removed in the middle', a: 'a\nb\nc\nd', b: 'a\nd', want: ' a|-b|-c| d' },
    { name: 'moved line', a: 'x\ny\nz', b: 'y\nz\nx', want: '-x| y| z|+x' },
  ];
  for (const c of cases) assert.equal(show(lineDiff(c.a, c.b)), c.want, c.name);
  const long = Array.from({ length: 20 }, (_, i) => `l${i}`);
  const edited = long.map((l, i) => (i === 10 ? 'L10' : l));
  assert.equal(show(diffHunks(lineDiff(long.join('\n'), edited.join('\n')), 2)), '…| l8| l9|-l10|+L10| l11| l12|…');
  const big = Array.from({ length: 2100 }, (_, i) => `a${i}`).join('\n');
  const other = Array.from({ length: 2100 }, (_, i) => `b${i}`).join('\n');
  const d = lineDiff(big, other);
  assert.equal(d.length, 4200);
  assert.ok(d.slice(0, 2100).every((l) => l.op === '-') && d.slice(2100).every((l) => l.op === '+'));
});

test('audit table: long hex shortened for reading, other text untouched', async () => {
  const { shortHex } = await import('../src/views/audit.js');
  const h64 = 'ab'.repeat(32);
  const cases = [
    { name: 'hash', in: `policy=${h64}`, want: 'policy=abababababab…' },
    { name: 'short hex kept', in: 'serial=5473a94990ba72d1', want: 'serial=5473a94990ba72d1' },
    { name: 'words kept', in: 'officer alice approved proposal P000001', want: 'officer alice approved proposal P000001' },
    { name: 'two hashes', in: `${h64} ${h64}`, want: 'abababababab… abababababab…' },
  ];
  for (const c of cases) assert.equal(shortHex(c.in), c.want, c.name);
});
