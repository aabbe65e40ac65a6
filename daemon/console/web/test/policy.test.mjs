// policy.js against reserve.ParsePolicy (daemon/console/policy_vectors_test.go
// writes the vectors): the same canonical bytes and hash for every document
// Go accepts; a refusal of every document Go refuses, with Go's message,
// line and field (for malformed YAML only the refusal and its kind: the
// wording is yaml.v3's).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { FieldError, fromBase64, toHex, utf8 } from '../src/bytes.js';
import {
  MAX_POLICY_BYTES,
  PolicyError,
  formatDuration,
  parseGoDuration,
  parsePolicy,
  policyCanonical,
  policyHash,
} from '../src/policy.js';

const V = JSON.parse(readFileSync(new URL('./testdata/vectors.json', import.meta.url), 'utf8'));
const textOf = (v) => (v.text_base64 ? fromBase64(v.text_base64) : v.text || '');
const accepted = V.policies.filter((v) => v.hash);
const refused = V.policies.filter((v) => !v.hash);

test('the vectors cover what they should', () => {
  assert.ok(accepted.length > 80, `${accepted.length} accepted`);
  assert.ok(refused.length > 150, `${refused.length} refused`);
  assert.ok(refused.some((v) => v.syntax) && refused.some((v) => !v.syntax));
  assert.ok(accepted.some((v) => v.name.startsWith('docs/policy.md')));
});

test('accepted policies: the same canonical bytes and hash as Go', () => {
  for (const v of accepted) {
    const text = textOf(v);
    const p = parsePolicy(text);
    assert.equal(toHex(policyCanonical(p)), v.canonical, v.name);
    const h = policyHash(text);
    assert.ok(h instanceof Uint8Array && h.length === 32, v.name);
    assert.equal(toHex(h), v.hash, v.name);
    // A string and its UTF-8 bytes are the same document.
    if (typeof text === 'string') assert.equal(toHex(policyHash(utf8(text))), v.hash, v.name);
  }
});

test('the docs/policy.md test vector', () => {
  const v = accepted.find((x) => x.name === 'reserve/testdata/policy/vector.yaml');
  assert.equal(v.hash, '35b9752f02cc46e94d4f7a9cad0d14e3c168f44ea51a7432c44ac4a8926fc1c4');
  const p = parsePolicy(v.text);
  assert.deepEqual(
    p.officers.map((o) => o.id),
    ['bob', 'alice'],
  );
  assert.equal(p.tiers[0].upToSat, 50_000_000n);
  assert.equal(p.tiers[1].upToSat, (1n << 63n) - 1n);
  assert.equal(p.tiers[1].approvals, 2);
  assert.equal(p.tiers[1].coolOffNs, 86_400_000_000_000n);
  assert.equal(p.velocity.per24hSat, 1_000_000_000n);
  assert.equal(p.velocity.per30dSat, 0n);
  assert.equal(p.allowlist.unlisted, 2);
  assert.equal(p.allowlist.entries[0].added.unix, 1_795_132_800n);
  assert.equal(p.fees.maxFeeSat, 1_000_000n);
  assert.equal(p.unfreezeApprovals, 2);
});

test('the proofs section: defaults filled in, hashed only when not the defaults', () => {
  const byName = (n) => {
    const v = V.policies.find((x) => x.name === n);
    assert.ok(v, n);
    return v;
  };
  const base = byName('reserve basePolicy');
  assert.deepEqual(parsePolicy(base.text).proofs, { requesters: ['officer'], approvals: 1 });
  const spelled = byName('proofs, the defaults hash as none: both fields');
  assert.deepEqual(parsePolicy(spelled.text).proofs, { requesters: ['officer'], approvals: 1 });
  assert.equal(toHex(policyHash(spelled.text)), base.hash);
  const every = parsePolicy(byName('proofs, another hash: every role requests').text);
  assert.deepEqual(every.proofs, { requesters: ['admin', 'auditor', 'officer'], approvals: 1 });
  assert.deepEqual(parsePolicy(byName('proofs, another hash: all approve').text).proofs, { requesters: ['officer'], approvals: 4 });
  const vec = byName('docs/policy.md proofs vector');
  assert.equal(vec.hash, '87d2bec7f4d751f14431c94cc7c1ea888713bb3f50c1742f0822fe1904653f5c');
  assert.ok(vec.canonical.endsWith('0000000670726f6f6673000000020000000761756469746f72000000076f66666963657200000002'));
  assert.ok(V.policies.filter((v) => v.name.startsWith('refused: proofs, ')).length >= 20);
});

test('refused policies: refused with Go message, line and field', () => {
  for (const v of refused) {
    let err;
    try {
      policyCanonical(parsePolicy(textOf(v)));
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${v.name}: accepted what Go refuses (${v.error})`);
    assert.ok(err instanceof PolicyError && err instanceof FieldError, `${v.name}: ${err.stack}`);
    if (v.syntax) {
      assert.ok(err.syntax, `${v.name}: want malformed YAML like Go (${v.error}), got ${err.message}`);
      assert.match(err.message, /^policy line [0-9]+: malformed YAML: /, v.name);
      continue;
    }
    assert.equal(err.message, v.error, v.name);
    assert.equal(err.line, v.line || 0, v.name);
    assert.equal(err.field, v.field || '', v.name);
    assert.equal(err.syntax, false, v.name);
  }
});

test('a document over the size limit', () => {
  const base = accepted.find((v) => v.name === 'reserve basePolicy').text;
  const big = base + '#' + 'x'.repeat(MAX_POLICY_BYTES) + '\n';
  assert.throws(() => policyHash(big), (e) => e instanceof PolicyError && e.message === `policy: ${big.length} bytes is more than the limit of 1048576`);
  assert.throws(() => parsePolicy(42), FieldError);
});

test('durations read and written as Go', () => {
  for (const [s, ns, str] of [
    ['0', 0n, '0s'],
    ['48h', 172_800_000_000_000n, '48h0m0s'],
    ['1h30m', 5_400_000_000_000n, '1h30m0s'],
    ['1.5s', 1_500_000_000n, '1.5s'],
    ['-1s', -1_000_000_000n, '-1s'],
    ['999ns', 999n, '999ns'],
    ['1\u00b5s', 1000n, '1\u00b5s'],
    ['1.5ms', 1_500_000n, '1.5ms'],
    ['720h1s', 2_592_001_000_000_000n, '720h0m1s'],
  ]) {
    assert.equal(parseGoDuration(s), ns, s);
    assert.equal(formatDuration(ns), str, s);
  }
  assert.throws(() => parseGoDuration('1d'), { message: 'time: unknown unit "d" in duration "1d"' });
  assert.throws(() => parseGoDuration('60'), { message: 'time: missing unit in duration "60"' });
  assert.throws(() => parseGoDuration('.h'), { message: 'time: invalid duration ".h"' });
  assert.throws(() => parseGoDuration('3000000h'), { message: 'time: invalid duration "3000000h"' });
});
