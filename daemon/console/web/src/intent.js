// intent.js — what an officer signs in the console, byte for byte as the
// Go code and docs/approvals.md: the approval intent (reserve.DecodeIntent,
// every canonical rule, the same refusals naming the same field), the
// decision digest, the control statements (freeze, unfreeze, policy
// change), the payee scripts as addresses (btcutil), and the comparison
// `custosctl spend approve` makes between the proposal the server shows
// and the intent it asks to sign.

import { sha256 } from '@noble/hashes/sha2.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { bech32, bech32m, createBase58check } from '@scure/base';
import { FieldError, concat, fromBase64, lenPrefixed, toHex, u64 } from './bytes.js';

export const INTENT_VERSION = 1;
export const INTENT_VERSION_LINKED = 2;
export const APPROVAL_TAG = 'custos/approval/v1';
export const CONTROL_TAG = 'custos/control/v1';
export const MAX_SAT = 2_100_000_000_000_000n;
const MAX_ID_LEN = 64;
const MAX_PAYEES = 1000;
const MAX_SCRIPT_LEN = 10_000;
const MAX_SUPERSEDES = 16;
const FLAG_REPEAT = 0x01;
const FLAG_CONSOLIDATE = 0x02;
const FLAGS = FLAG_REPEAT | FLAG_CONSOLIDATE;

/** NETWORKS are reserve.Network's numbers and names. */
export const NETWORKS = { 1: 'mainnet', 2: 'testnet', 3: 'signet', 4: 'regtest' };

/** DECISIONS are reserve.Decision's bytes. */
export const DECISIONS = { approve: 1, reject: 2 };

/** ACTIONS are reserve.Action's bytes. */
export const ACTIONS = { freeze: 1, unfreeze: 2, 'policy-change': 3 };

const ascii = (b) => String.fromCharCode(...b);

/** taggedHash is BIP-340's SHA256(SHA256(tag) || SHA256(tag) || parts...) (chainhash.TaggedHash). */
export function taggedHash(tag, ...parts) {
  const t = sha256(new TextEncoder().encode(tag));
  return sha256(concat(t, t, ...parts));
}

// checkID is reserve.checkIntentID: 1 to 64 bytes of printable ASCII.
function checkID(field, b) {
  if (b.length < 1 || b.length > MAX_ID_LEN) throw new FieldError(field, `${b.length} bytes, want 1 to ${MAX_ID_LEN}`);
  for (let i = 0; i < b.length; i++) {
    if (b[i] < 0x21 || b[i] > 0x7e) throw new FieldError(field, `byte ${i} is not printable ASCII`);
  }
}

const payeeField = (i) => `intent.payees[${i}]`;

// validate is reserve.Intent.Validate on a decoded intent (ids still as bytes).
function validate(v) {
  if (v.network < 1 || v.network > 4) throw new FieldError('intent.network', `unknown network ${v.network}`);
  checkID('intent.wallet_id', v.walletIdBytes);
  checkID('intent.proposal_id', v.proposalIdBytes);
  if (v.supersedesBytes.length > MAX_SUPERSEDES) {
    throw new FieldError('intent.supersedes', `${v.supersedesBytes.length} proposals, want at most ${MAX_SUPERSEDES}`);
  }
  v.supersedesBytes.forEach((id, i) => {
    const f = `intent.supersedes[${i}]`;
    checkID(f, id);
    const s = ascii(id);
    if (s === v.proposalId) throw new FieldError(f, `proposal ${s} cannot supersede itself`);
    if (i > 0 && ascii(v.supersedesBytes[i - 1]) >= s) {
      throw new FieldError(f, `${s} does not come after ${ascii(v.supersedesBytes[i - 1])}: the ids are in increasing order, each once`);
    }
  });
  if (v.consolidate) {
    if (v.payees.length > 0) throw new FieldError('intent.payees', `a consolidation pays no payee, got ${v.payees.length}`);
    if (v.supersedesBytes.length > 0) throw new FieldError('intent.supersedes', 'a consolidation supersedes no proposal');
    if (v.repeat) throw new FieldError('intent.flags', 'a consolidation is no repeat');
  }
  const min = v.consolidate || (v.supersedesBytes.length > 0 && !v.repeat) ? 0 : 1;
  if (v.payees.length < min || v.payees.length > MAX_PAYEES) {
    throw new FieldError('intent.payees', `${v.payees.length} payees, want ${min} to ${MAX_PAYEES}`);
  }
  let total = 0n;
  v.payees.forEach((p, i) => {
    if (p.script.length < 1 || p.script.length > MAX_SCRIPT_LEN) {
      throw new FieldError(payeeField(i), `script of ${p.script.length} bytes, want 1 to ${MAX_SCRIPT_LEN}`);
    }
    if (p.amountSat < 1n || p.amountSat > MAX_SAT) {
      throw new FieldError(payeeField(i), `amount ${p.amountSat} sat is outside 1 sat to 21000000 BTC`);
    }
    total += p.amountSat;
    if (total > MAX_SAT) throw new FieldError('intent.payees', 'the payees add up to more than 21000000 BTC');
  });
  if (v.feeCapSat < 1n || v.feeCapSat > MAX_SAT) {
    throw new FieldError('intent.fee_cap', `${v.feeCapSat} sat is outside 1 sat to 21000000 BTC`);
  }
  if (v.expiresAt < 1n) {
    throw new FieldError('intent.expires_at', `${new Date(Number(v.expiresAt) * 1000).toISOString().replace('.000', '')} is not a whole second after 1970`);
  }
}

// reader reads the encoding front to back, keeping the first error (intentReader).
class Reader {
  constructor(b) {
    this.b = b;
    this.off = 0;
    this.err = null;
  }
  left() {
    return this.b.length - this.off;
  }
  take(what, n) {
    if (this.err) return null;
    if (n > this.left()) {
      this.err = new FieldError('intent', `truncated in ${what}: ${n} bytes needed, ${this.left()} left`);
      return null;
    }
    const out = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u8(what) {
    const b = this.take(what, 1);
    return b ? b[0] : 0;
  }
  u32(what) {
    const b = this.take(what, 4);
    return b ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : 0;
  }
  u64(what) {
    const b = this.take(what, 8);
    return b ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0) : 0n;
  }
  bytes(what, limit) {
    const n = this.u32(`${what} length`);
    if (!this.err && n > limit) {
      this.err = new FieldError('intent', `${what} of ${n} bytes is longer than ${limit}`);
      return null;
    }
    return this.take(what, n);
  }
}

/**
 * decodeIntent reads an intent's canonical encoding as reserve.DecodeIntent
 * does and refuses, with the same FieldError, anything Encode would not
 * write. It returns {version, network, networkName, walletId, proposalId,
 * policyHash, payees: [{script, amountSat}], feeCapSat, expiresAt,
 * supersedes, repeat, consolidate, cancels}; amounts and times are bigints.
 */
export function decodeIntent(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new FieldError('intent', 'is not bytes');
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (!r.err && version !== INTENT_VERSION && version !== INTENT_VERSION_LINKED) {
    throw new FieldError('intent.version', `version ${version}, want ${INTENT_VERSION} or ${INTENT_VERSION_LINKED}`);
  }
  const v = { version, payees: [], supersedesBytes: [], repeat: false, consolidate: false };
  v.network = r.u8('network');
  v.walletIdBytes = r.bytes('wallet_id', MAX_ID_LEN) ?? new Uint8Array();
  v.proposalIdBytes = r.bytes('proposal_id', MAX_ID_LEN) ?? new Uint8Array();
  v.policyHash = Uint8Array.from(r.take('policy_hash', 32) ?? new Uint8Array(32));
  const n = r.u32('payee count');
  const min = version === INTENT_VERSION_LINKED ? 0 : 1;
  if (!r.err && (n < min || n > MAX_PAYEES)) {
    throw new FieldError('intent.payees', `${n} payees, want ${min} to ${MAX_PAYEES}`);
  }
  for (let i = 0; !r.err && i < n; i++) {
    const amount = r.u64('amount');
    const script = Uint8Array.from(r.bytes('script', MAX_SCRIPT_LEN) ?? []);
    if (amount > MAX_SAT) throw new FieldError(payeeField(i), `amount ${amount} sat is more than 21000000 BTC`);
    v.payees.push({ script, amountSat: amount });
  }
  const fee = r.u64('fee_cap');
  const expires = r.u64('expires_at');
  if (version === INTENT_VERSION_LINKED) {
    const k = r.u32('supersedes count');
    if (!r.err && k > MAX_SUPERSEDES) {
      throw new FieldError('intent.supersedes', `${k} proposals, want at most ${MAX_SUPERSEDES}`);
    }
    for (let i = 0; !r.err && i < k; i++) v.supersedesBytes.push(r.bytes('supersedes id', MAX_ID_LEN) ?? new Uint8Array());
    const flags = r.u8('flags');
    if (!r.err && (flags & ~FLAGS) !== 0) {
      throw new FieldError('intent.flags', `unknown flags 0x${(flags & ~FLAGS).toString(16).padStart(2, '0')}`);
    }
    v.repeat = (flags & FLAG_REPEAT) !== 0;
    v.consolidate = (flags & FLAG_CONSOLIDATE) !== 0;
    if (!r.err && v.supersedesBytes.length === 0 && !v.repeat && !v.consolidate) {
      throw new FieldError('intent.version', 'version 2 for an intent that supersedes nothing, is no repeat and no consolidation; it is written in version 1');
    }
  }
  if (r.err) throw r.err;
  if (r.left() !== 0) throw new FieldError('intent', `${r.left()} bytes after the end of the intent`);
  if (fee > MAX_SAT) throw new FieldError('intent.fee_cap', `${fee} sat is more than 21000000 BTC`);
  if (expires > 1n << 62n) throw new FieldError('intent.expires_at', `${expires} is not a time`);
  v.feeCapSat = fee;
  v.expiresAt = expires;
  v.walletId = ascii(v.walletIdBytes);
  v.proposalId = ascii(v.proposalIdBytes);
  validate(v);
  return {
    version,
    network: v.network,
    networkName: NETWORKS[v.network],
    walletId: v.walletId,
    proposalId: v.proposalId,
    policyHash: v.policyHash,
    payees: v.payees,
    feeCapSat: fee,
    expiresAt: expires,
    supersedes: v.supersedesBytes.map(ascii),
    repeat: v.repeat,
    consolidate: v.consolidate,
    cancels: v.payees.length === 0 && v.supersedesBytes.length > 0,
  };
}

/** encodeIntent writes an intent (decodeIntent's shape) in its canonical encoding (reserve.Intent.Encode). */
export function encodeIntent(i) {
  const linked = i.supersedes.length > 0 || i.repeat || i.consolidate;
  const parts = [new Uint8Array([linked ? 2 : 1, i.network]), lenPrefixed(i.walletId), lenPrefixed(i.proposalId), i.policyHash];
  const n = new Uint8Array(4);
  new DataView(n.buffer).setUint32(0, i.payees.length);
  parts.push(n);
  for (const p of i.payees) parts.push(u64(p.amountSat), lenPrefixed(p.script));
  parts.push(u64(i.feeCapSat), u64(i.expiresAt));
  if (linked) {
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, i.supersedes.length);
    parts.push(k, ...i.supersedes.map((s) => lenPrefixed(s)), new Uint8Array([(i.repeat ? FLAG_REPEAT : 0) | (i.consolidate ? FLAG_CONSOLIDATE : 0)]));
  }
  const b = concat(...parts);
  decodeIntent(b); // Validate, as Encode does
  return b;
}

/**
 * decisionMessage is the 32-byte digest an officer signs to give decision
 * ('approve' or 'reject') on the intent (reserve.Intent.Digest), the bytes
 * custosctl spend approve / reject sign. The intent must decode.
 */
export function decisionMessage(intentBytes, decision) {
  const d = DECISIONS[decision];
  if (!d) throw new FieldError('decision', `unknown decision ${JSON.stringify(decision)}`);
  decodeIntent(intentBytes);
  return taggedHash(APPROVAL_TAG, new Uint8Array([d]), intentBytes);
}

/**
 * controlEncoding is reserve.Control.Encode: {action: 'freeze'|'unfreeze'|
 * 'policy-change', network, walletId, policyHash, epoch, newPolicy?}.
 */
export function controlEncoding(c) {
  const action = ACTIONS[c.action];
  const epoch = BigInt(c.epoch ?? 0);
  const newPolicy = c.newPolicy ?? new Uint8Array(32);
  const zero = (h) => h.every((x) => x === 0);
  if (!(c.policyHash instanceof Uint8Array) || c.policyHash.length !== 32) {
    throw new FieldError('control.policy_hash', 'is not 32 bytes');
  }
  if (!(newPolicy instanceof Uint8Array) || newPolicy.length !== 32) {
    throw new FieldError('control.new_policy', 'is not 32 bytes');
  }
  if (epoch < 0n || epoch >= 1n << 64n) throw new FieldError('control.epoch', `${epoch} is not a uint64`);
  if (action === 1 || action === 2) {
    if (epoch === 0n) throw new FieldError('control.epoch', `a ${c.action} names the freeze epoch, from 1`);
    if (!zero(newPolicy)) throw new FieldError('control.new_policy', `a ${c.action} names no policy`);
  } else if (action === 3) {
    if (epoch === 0n) throw new FieldError('control.epoch', 'a policy change names the number of the policy in force, from 1');
    if (zero(newPolicy)) throw new FieldError('control.new_policy', "a policy change names the new policy's hash");
    if (toHex(newPolicy) === toHex(c.policyHash)) throw new FieldError('control.new_policy', 'the new policy is the one in force');
  } else {
    throw new FieldError('control.action', `unknown action ${JSON.stringify(c.action)}`);
  }
  if (!(c.network >= 1 && c.network <= 4)) throw new FieldError('control.network', `unknown network ${c.network}`);
  const id = new TextEncoder().encode(c.walletId ?? '');
  checkID('control.wallet_id', id);
  return concat(new Uint8Array([1, action, c.network]), lenPrefixed(id), c.policyHash, u64(epoch), newPolicy);
}

/** controlMessage is the 32-byte digest an officer signs for a control statement (reserve.Control.Digest). */
export function controlMessage(c) {
  return taggedHash(CONTROL_TAG, controlEncoding(c));
}

/**
 * freezeMessage is what `custosctl freeze` signs: network and walletId of
 * GetPolicy, policyHash = policy.hash, epoch = (freeze.epoch or 0) + 1.
 */
export function freezeMessage({ network, walletId, policyHash, epoch }) {
  return controlMessage({ action: 'freeze', network, walletId, policyHash, epoch });
}

/** unfreezeMessage is what `custosctl unfreeze` signs: epoch = freeze.epoch (the freeze it lifts). */
export function unfreezeMessage({ network, walletId, policyHash, epoch }) {
  return controlMessage({ action: 'unfreeze', network, walletId, policyHash, epoch });
}

/**
 * policyApprovalMessage is what `custosctl policy approve` signs: epoch =
 * policy.seq (the number of the policy in force), newPolicy = pending.hash.
 */
export function policyApprovalMessage({ network, walletId, policyHash, epoch, newPolicy }) {
  return controlMessage({ action: 'policy-change', network, walletId, policyHash, epoch, newPolicy });
}

// Address encodings of btcd's chaincfg parameters.
const NET_PARAMS = {
  1: { hrp: 'bc', p2pkh: 0x00, p2sh: 0x05 },
  2: { hrp: 'tb', p2pkh: 0x6f, p2sh: 0xc4 },
  3: { hrp: 'tb', p2pkh: 0x6f, p2sh: 0xc4 },
  4: { hrp: 'bcrt', p2pkh: 0x6f, p2sh: 0xc4 },
};
const base58check = createBase58check(sha256);
const hash160 = (b) => ripemd160(sha256(b));
const base58Address = (id, hash) => base58check.encode(concat(new Uint8Array([id]), hash));

// secp256k1 field arithmetic, for the point check btcec.ParsePubKey makes
// on a pay-to-pubkey script's key.
const P = 2n ** 256n - 2n ** 32n - 977n;
const big = (b) => BigInt('0x' + (toHex(b) || '0'));
function powmod(b, e) {
  let r = 1n;
  b %= P;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}
const curveRHS = (x) => (powmod(x, 3n) + 7n) % P;

// pubKeyAddressBytes is the serialization btcutil.AddressPubKey hashes,
// or null when btcec.ParsePubKey refuses the key.
function pubKeyAddressBytes(k) {
  if (k.length === 33) {
    const x = big(k.subarray(1));
    if (x >= P) return null;
    const rhs = curveRHS(x);
    const y = powmod(rhs, (P + 1n) / 4n);
    if ((y * y) % P !== rhs) return null;
    return k;
  }
  const x = big(k.subarray(1, 33));
  const y = big(k.subarray(33));
  if (x >= P || y >= P) return null;
  if ((k[0] === 6 || k[0] === 7) && (y & 1n) !== BigInt(k[0] & 1)) return null;
  if ((y * y) % P !== curveRHS(x)) return null;
  return concat(new Uint8Array([4]), k.subarray(1));
}

/**
 * addressOf is the address btcd prints for an output script on network (1
 * to 4, or its name), as multisig.IntentPayments shows a payee:
 * txscript.ExtractPkScriptAddrs with one address and not multisig, else
 * "script:<hex>".
 */
export function addressOf(script, network) {
  const n = typeof network === 'string' ? Number(Object.keys(NETWORKS).find((k) => NETWORKS[k] === network)) : network;
  const net = NET_PARAMS[n];
  if (!net) throw new FieldError('network', `unknown network ${network}`);
  const s = script;
  const fallback = `script:${toHex(s)}`;
  if (s.length === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) {
    return base58Address(net.p2pkh, s.subarray(3, 23));
  }
  if (s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) return base58Address(net.p2sh, s.subarray(2, 22));
  const pk =
    (s.length === 35 && s[0] === 33 && s[34] === 0xac && (s[1] === 2 || s[1] === 3)) ||
    (s.length === 67 && s[0] === 65 && s[66] === 0xac && (s[1] === 4 || s[1] === 6 || s[1] === 7));
  if (pk) {
    const ser = pubKeyAddressBytes(s.subarray(1, s.length - 1));
    return ser ? base58Address(net.p2pkh, hash160(ser)) : fallback;
  }
  if (s.length === 22 && s[0] === 0 && s[1] === 20) return bech32.encode(net.hrp, [0, ...bech32.toWords(s.subarray(2))]);
  if (s.length === 34 && s[0] === 0 && s[1] === 32) return bech32.encode(net.hrp, [0, ...bech32.toWords(s.subarray(2))]);
  if (s.length === 34 && s[0] === 0x51 && s[1] === 32) return bech32m.encode(net.hrp, [1, ...bech32m.toWords(s.subarray(2))]);
  return fallback;
}

/** formatBTC is reserve.FormatBTC: sats (bigint or integer string) as BTC with 8 decimals. */
export function formatBTC(sat) {
  let v = BigInt(sat);
  const sign = v < 0n ? '-' : '';
  if (v < 0n) v = -v;
  return `${sign}${v / 100_000_000n}.${String(v % 100_000_000n).padStart(8, '0')}`;
}

/** intentFromProposal decodes the intent of a GetProposal response's proposal (protojson: bytes in base64). */
export function intentFromProposal(p) {
  if (!p || !p.intent) throw new FieldError('intent', `proposal ${p?.id ?? ''} has no intent to approve`);
  const b = fromBase64(p.intent);
  if (!b) throw new FieldError('intent', 'is not base64');
  return decodeIntent(b);
}

/**
 * checkProposalAgainstIntent lists every way the proposal the server shows
 * (the protojson `proposal` of a GetProposal response) differs from the
 * intent it asks to sign — what custosctl's checkIntent refuses (it stops
 * at the first; this lists them all, in the same words). Empty: they agree.
 */
export function checkProposalAgainstIntent(p, intent) {
  const out = [];
  if (!intent) return [`proposal ${p?.id ?? ''} has no intent to approve`];
  const id = p.id ?? '';
  const walletId = p.walletId ?? '';
  if (intent.proposalId !== id || intent.walletId !== walletId) {
    out.push(`the daemon sent the intent of proposal ${intent.proposalId} of wallet ${intent.walletId} for proposal ${id}`);
  }
  const payees = p.payees ?? [];
  if (intent.payees.length !== payees.length) {
    out.push(`the intent pays ${intent.payees.length} payees, the proposal shows ${payees.length}`);
  }
  const sup = p.supersedes ?? [];
  const repeat = p.repeat ?? false;
  if (sup.length !== intent.supersedes.length || sup.some((s, i) => s !== intent.supersedes[i]) || repeat !== intent.repeat) {
    out.push(`the intent supersedes [${intent.supersedes.join(' ')}] (repeat ${intent.repeat}), the proposal shows [${sup.join(' ')}] (repeat ${repeat})`);
  }
  const consolidate = p.consolidate ?? false;
  if (consolidate !== intent.consolidate) {
    out.push(`the intent's consolidate flag is ${intent.consolidate}, the proposal shows ${consolidate}`);
  }
  if (intent.payees.length === payees.length) {
    intent.payees.forEach((pay, i) => {
      const addr = addressOf(pay.script, intent.network);
      const shown = payees[i] ?? {};
      let shownSat;
      try {
        shownSat = BigInt(shown.amountSat ?? 0);
      } catch {
        shownSat = null;
      }
      if (addr !== (shown.address ?? '') || shownSat !== pay.amountSat) {
        out.push(`the intent's payee ${i + 1} is ${formatBTC(pay.amountSat)} BTC to ${addr}, the proposal shows ${shownSat === null ? String(shown.amountSat) : formatBTC(shownSat)} BTC to ${shown.address ?? ''}`);
      }
    });
  }
  return out;
}
