// The console's JavaScript against the vectors the Go code computes
// (daemon/console/vectors_test.go writes testdata/vectors.json): same
// bytes, same signatures, same refusals naming the same field or line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';

import { FieldError, fromHex, toHex, utf8 } from '../src/bytes.js';
import { openKeyFile, parseKeyFile, WRONG_PASSPHRASE } from '../src/keyfile.js';
import { loginMessage } from '../src/login.js';
import {
  addressOf,
  controlEncoding,
  decisionMessage,
  decodeIntent,
  encodeIntent,
  freezeMessage,
  policyApprovalMessage,
  unfreezeMessage,
} from '../src/intent.js';
import {
  decodeLeaf,
  parseCheckpoint,
  verifyCheckpoint,
  verifyExport,
  verifyInclusion,
} from '../src/tlog.js';

const V = JSON.parse(readFileSync(new URL('./testdata/vectors.json', import.meta.url), 'utf8'));

// refusal runs f and returns the FieldError it must throw.
async function refusal(f) {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof FieldError, `not a FieldError: ${e.stack}`);
    return e;
  }
  assert.fail('accepted what Go refuses');
}

test('officer key file opens and signs as Go', async () => {
  const k = await openKeyFile(V.officer_key.file, V.officer_key.passphrase);
  assert.equal(k.type, 'officer');
  assert.equal(toHex(k.publicKey), V.officer_key.public_key);
  const intent = V.intents[0];
  assert.equal(toHex(k.sign(fromHex(intent.approve_digest))), intent.approve_signature);
  k.forget();
  assert.throws(() => k.sign(new Uint8Array(32)), /forgotten/);
});

test('auditor key file opens', async () => {
  const k = await openKeyFile(V.auditor_key.file, V.auditor_key.passphrase);
  assert.equal(k.type, 'auditor');
  assert.equal(toHex(k.publicKey), V.auditor_key.public_key);
});

test('a wrong or empty passphrase is refused', async () => {
  let e = await refusal(() => openKeyFile(V.officer_key.file, V.officer_key.passphrase + '!'));
  assert.equal(e.field, 'passphrase');
  assert.equal(e.reason, WRONG_PASSPHRASE);
  e = await refusal(() => openKeyFile(V.officer_key.file, ''));
  assert.equal(e.reason, 'empty passphrase');
});

test('a sealed key that is not the file public key is refused', async () => {
  const e = await refusal(() => openKeyFile(V.mismatch_key.file, V.mismatch_key.passphrase));
  assert.ok(V.mismatch_key.error.includes(e.reason), `${e.reason} | ${V.mismatch_key.error}`);
});

test('a key file of another type is refused before any KDF work', () => {
  const text = V.officer_key.file.replace('custos-officer-key', 'custos-signer-key');
  assert.throws(() => parseKeyFile(text), /type "custos-signer-key"/);
});

for (const r of V.key_file_refusals) {
  test(`key file refused as Go refuses it: ${r.name}`, async () => {
    const e = await refusal(() => openKeyFile(r.input, V.officer_key.passphrase));
    assert.equal(e.field, r.field, `${e.message} | go: ${r.error}`);
    if (r.want) assert.ok(e.message.includes(r.want), `js: ${e.message}\nwant: ${r.want}\ngo: ${r.error}`);
  });
}

for (const v of V.intents) {
  test(`intent decodes, digests and signs as Go: ${v.name}`, () => {
    const b = fromHex(v.hex);
    const i = decodeIntent(b);
    assert.equal(i.version, v.version);
    assert.equal(i.network, v.network);
    assert.equal(i.walletId, v.wallet_id);
    assert.equal(i.proposalId, v.proposal_id);
    assert.equal(toHex(i.policyHash), v.policy_hash);
    assert.deepEqual(
      i.payees.map((p) => ({ script: toHex(p.script), amount_sat: String(p.amountSat), address: addressOf(p.script, i.network) })),
      v.payees,
    );
    assert.equal(i.feeCapSat, BigInt(v.fee_cap_sat));
    assert.equal(i.expiresAt, BigInt(v.expires_at));
    assert.deepEqual(i.supersedes, v.supersedes);
    assert.equal(i.repeat, v.repeat);
    assert.equal(i.consolidate, v.consolidate);
    assert.equal(toHex(encodeIntent(i)), v.hex);
    const approve = decisionMessage(b, 'approve');
    const reject = decisionMessage(b, 'reject');
    assert.equal(toHex(approve), v.approve_digest);
    assert.equal(toHex(reject), v.reject_digest);
    const alice = fromHex('01'.repeat(32));
    assert.equal(toHex(ed25519.sign(approve, alice)), v.approve_signature);
    assert.equal(toHex(ed25519.sign(reject, alice)), v.reject_signature);
  });
}

test('an unknown decision is refused', () => {
  assert.throws(() => decisionMessage(fromHex(V.intents[0].hex), 'maybe'), FieldError);
});

for (const r of V.intent_refusals) {
  test(`intent refused as Go refuses it: ${r.name}`, async () => {
    const e = await refusal(() => decodeIntent(fromHex(r.input)));
    assert.equal(e.field, r.field);
    assert.equal(e.message, r.error);
  });
}

for (const c of V.controls) {
  test(`control statement as Go: ${c.name}`, () => {
    const st = {
      network: c.network,
      walletId: c.wallet_id,
      policyHash: fromHex(c.policy_hash),
      epoch: BigInt(c.epoch),
      newPolicy: fromHex(c.new_policy),
    };
    assert.equal(toHex(controlEncoding({ action: c.action, ...st })), c.encoding);
    const f = { freeze: freezeMessage, unfreeze: unfreezeMessage, 'policy-change': policyApprovalMessage }[c.action];
    const digest = f(st);
    assert.equal(toHex(digest), c.digest);
    assert.equal(toHex(ed25519.sign(digest, fromHex('01'.repeat(32)))), c.signature);
  });
}

test('control statements Go refuses are refused', () => {
  const base = { network: 4, walletId: 'w', policyHash: fromHex('aa'.repeat(32)) };
  for (const [c, field] of [
    [{ action: 'freeze', ...base, epoch: 0 }, 'control.epoch'],
    [{ action: 'freeze', ...base, epoch: 1, newPolicy: fromHex('bb'.repeat(32)) }, 'control.new_policy'],
    [{ action: 'policy-change', ...base, epoch: 1 }, 'control.new_policy'],
    [{ action: 'policy-change', ...base, epoch: 1, newPolicy: base.policyHash }, 'control.new_policy'],
    [{ action: 'thaw', ...base, epoch: 1 }, 'control.action'],
    [{ action: 'unfreeze', ...base, network: 9, epoch: 1 }, 'control.network'],
    [{ action: 'unfreeze', ...base, walletId: 'a b', epoch: 1 }, 'control.wallet_id'],
  ]) {
    assert.throws(() => controlEncoding(c), (e) => e instanceof FieldError && e.field === field, JSON.stringify(c.action));
  }
});

test('login message and signature as Go', () => {
  const m = loginMessage(fromHex(V.login.challenge), V.login.origin);
  assert.equal(toHex(m), V.login.message);
  assert.equal(toHex(ed25519.sign(m, fromHex('01'.repeat(32)))), V.login.signature);
  assert.throws(() => loginMessage(new Uint8Array(31), V.login.origin), FieldError);
});

test('addresses as btcd prints them', () => {
  for (const a of V.addresses) {
    assert.equal(addressOf(fromHex(a.script), a.network), a.address, `${a.script} on ${a.network}`);
  }
});

test('checkpoint verifies with the log key and not with another', () => {
  const cp = verifyCheckpoint(V.audit.checkpoint, V.audit.log_key);
  assert.equal(cp.origin, V.audit.origin);
  assert.equal(cp.size, V.audit.size);
  assert.equal(cp.rootBase64, V.audit.root);
  assert.deepEqual(parseCheckpoint(utf8(V.audit.checkpoint)).size, V.audit.size);
  assert.throws(() => verifyCheckpoint(V.audit.checkpoint, V.audit.other_key), /carries no signature by the given log key/);
  const forged = V.audit.checkpoint.replace(`\n${V.audit.size}\n`, `\n${V.audit.size + 1}\n`);
  assert.throws(() => verifyCheckpoint(forged, V.audit.log_key), /does not verify/);
  assert.throws(() => verifyCheckpoint(V.audit.checkpoint, V.audit.log_key.slice(0, -2) + 'AA'), /log key/);
});

test('inclusion proofs as Go checks them', () => {
  const cp = verifyCheckpoint(V.audit.checkpoint, V.audit.log_key);
  for (const p of V.audit.inclusion) {
    if (p.size !== cp.size) continue;
    if (p.error) {
      assert.throws(() => verifyInclusion(p.leaf, p.seq, p.size, p.proof, cp.root), (e) => e.message === p.error, p.error);
    } else {
      assert.equal(verifyInclusion(p.leaf, p.seq, p.size, p.proof, cp.root).seq, p.seq);
    }
  }
});

test('the export verifies', () => {
  const r = verifyExport(V.audit.export, { logKey: V.audit.log_key });
  assert.deepEqual(r, { ok: true, size: V.audit.size, root: V.audit.root, origin: V.audit.origin });
});

for (const e of V.audit.edits) {
  test(`an edited export fails at the line Go names: ${e.name}`, () => {
    const r = verifyExport(e.export, { logKey: e.log_key || V.audit.log_key });
    assert.equal(r.ok, false);
    assert.equal(r.firstBadLine, e.line);
    assert.equal(r.message, e.error);
  });
}

test('leaves decode, and every other spelling is refused', () => {
  for (const l of V.audit.leaves) assert.equal(decodeLeaf(l).kind.length > 0, true);
  for (const r of V.audit.leaf_refusals) {
    assert.throws(() => decodeLeaf(r.input), (e) => e instanceof FieldError && e.field === r.field, `${r.name}: ${r.error}`);
  }
});
