// tlog.js — the audit log checked in the browser, as package audit and
// `custosctl audit verify` check it (docs/audit.md): RFC 6962 hashes
// (golang.org/x/mod/sumdb/tlog), the C2SP checkpoint signed as a note
// (sumdb/note, Ed25519, verifier key "name+hash+base64"), the inclusion
// proof text, the canonical leaf, and the export file with the verifier's
// "first bad line".

import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { FieldError, concat, equalBytes, fromBase64, fromUtf8, toBase64, utf8, validUtf8 } from './bytes.js';

export const EXPORT_FORMAT = 'custos-audit-export/v1';
const INCLUSION_HEADER = 'custos-audit-inclusion/v1';
const MAX_CHECKPOINT_BYTES = 16 << 10;
const MAX_LEAF_BYTES = 64 << 10;
const MAX_PROOF_HASHES = 128;
const MAX_INT64 = (1n << 63n) - 1n;

/** recordHash is the RFC 6962 leaf hash SHA-256(0x00 || data) (tlog.RecordHash). */
export function recordHash(data) {
  return sha256(concat(new Uint8Array([0]), data));
}

/** nodeHash is SHA-256(0x01 || left || right) (tlog.NodeHash). */
export function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** EMPTY_ROOT is the root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT = sha256(new Uint8Array());

/** Frontier computes the roots of a growing tree in O(log n) memory (audit.Frontier). */
export class Frontier {
  constructor() {
    this.n = 0;
    this.stack = [];
  }
  get size() {
    return this.n;
  }
  add(h) {
    for (let m = this.n; m % 2 === 1; m = Math.floor(m / 2)) h = nodeHash(this.stack.pop(), h);
    this.stack.push(h);
    this.n++;
  }
  root() {
    if (this.n === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1];
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i], r);
    return r;
  }
}

/** treeHash is the root of the tree of the leaf hashes (tlog.TreeHash over them). */
export function treeHash(leafHashes) {
  const f = new Frontier();
  for (const h of leafHashes) f.add(h);
  return f.root();
}

const maxpow2 = (n) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

// runRecordProof is tlog's, hash for hash: the proof lists the siblings
// from the leaf up, and it must hold no hash more or less.
function runRecordProof(p, lo, hi, n, leafHash) {
  if (lo + 1 === hi) {
    if (p.length !== 0) throw new Error('invalid transparency proof');
    return leafHash;
  }
  if (p.length === 0) throw new Error('invalid transparency proof');
  const k = maxpow2(hi - lo);
  const last = p[p.length - 1];
  if (n < lo + k) return nodeHash(runRecordProof(p.slice(0, -1), lo, lo + k, n, leafHash), last);
  return nodeHash(last, runRecordProof(p.slice(0, -1), lo + k, hi, n, leafHash));
}

/** checkRecord is tlog.CheckRecord: that leafHash is record n of the tree of size t with root. */
export function checkRecord(proof, t, root, n, leafHash) {
  if (t < 0 || n < 0 || n >= t) throw new Error('tlog: invalid inputs in CheckRecord');
  if (!equalBytes(runRecordProof(proof, 0, t, n, leafHash), root)) throw new Error('invalid transparency proof');
}

// parseInt64 is strconv.ParseInt(s, 10, 64) with FormatInt(n) == s: a
// canonical decimal; null otherwise.
function parseCanonicalInt(s) {
  if (!/^-?(0|[1-9][0-9]*)$/.test(s) || s === '-0') return null;
  const n = BigInt(s);
  if (n > MAX_INT64 || n < -MAX_INT64 - 1n) return null;
  return n;
}

function checkOrigin(origin) {
  if (origin === '' || utf8(origin).length > 256 || /[+ \t\n\r]/.test(origin)) {
    throw new FieldError('origin', `${JSON.stringify(origin)} must be 1 to 256 characters without spaces or '+'`);
  }
}

/** parseCheckpointBody is audit.ParseCheckpoint: {origin, size, root} from the three-line body. */
export function parseCheckpointBody(text) {
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '') {
    throw new FieldError('checkpoint', 'must be exactly three lines (origin, size, root)');
  }
  checkOrigin(lines[0]);
  const n = parseCanonicalInt(lines[1]);
  if (n === null || n < 0n) throw new FieldError('checkpoint', `size ${JSON.stringify(lines[1])} is not a decimal count`);
  const root = fromBase64(lines[2]);
  if (!root || root.length !== 32) throw new FieldError('checkpoint', `root ${JSON.stringify(lines[2])} is not a base64 32-byte hash`);
  return { origin: lines[0], size: Number(n), root, rootBase64: lines[2] };
}

/**
 * parseCheckpoint reads a signed checkpoint's body without checking any
 * signature (custosctl's openOrParse without a key): {origin, size, root}.
 */
export function parseCheckpoint(noteBytes) {
  const text = typeof noteBytes === 'string' ? noteBytes : fromUtf8(noteBytes);
  const i = text.indexOf('\n\n');
  if (i < 0) throw new FieldError('checkpoint', 'is not a signed note (no signature block)');
  return parseCheckpointBody(text.slice(0, i + 1));
}

function keyHash(name, key) {
  const h = sha256(concat(utf8(name), utf8('\n'), key));
  return new DataView(h.buffer, h.byteOffset, 4).getUint32(0);
}

const validName = (name) => name !== '' && !/[\s+]/u.test(name);

/**
 * parseVerifierKey is note.NewVerifier: {name, hash, publicKey} from
 * "name+hash+base64" (base64 of 0x01 and the Ed25519 key).
 */
export function parseVerifierKey(vkey) {
  const bad = (why) => new FieldError('log key', `is not a note verifier key (origin+hash+key): ${why}`);
  const s = String(vkey).trim();
  const [name, rest = ''] = splitOnce(s, '+');
  const [hash16, key64 = ''] = splitOnce(rest, '+');
  const key = fromBase64(key64);
  if (hash16.length !== 8 || !/^[0-9a-fA-F]{8}$/.test(hash16) || !key || !validName(name) || key.length === 0) {
    throw bad('malformed verifier id');
  }
  const hash = parseInt(hash16, 16);
  if (hash !== keyHash(name, key)) throw bad('invalid verifier hash');
  if (key[0] !== 1) throw bad('unknown verifier algorithm');
  if (key.length !== 33) throw bad('malformed verifier id');
  return { name, hash, publicKey: key.subarray(1) };
}

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

// openNote is note.Open with one verifier: the note's text if v signed
// it; throws FieldError in OpenCheckpoint's words otherwise.
function openNote(msg, v) {
  const text0 = fromUtf8(msg);
  const malformed = () => new FieldError('checkpoint', 'is not a valid signed note: malformed note');
  if (!validUtf8(msg) || /[\x00-\x09\x0b-\x1f]/.test(text0)) throw malformed();
  const split = text0.lastIndexOf('\n\n');
  if (split < 0) throw malformed();
  const text = text0.slice(0, split + 1);
  let sigs = text0.slice(split + 2);
  if (sigs.length === 0 || !sigs.endsWith('\n')) throw malformed();
  let numSig = 0;
  let verified = false;
  const seen = new Set();
  while (sigs.length > 0) {
    const i = sigs.indexOf('\n');
    let line = sigs.slice(0, i);
    sigs = sigs.slice(i + 1);
    if (!line.startsWith('\u2014 ')) throw malformed();
    line = line.slice(2);
    const [name, b64 = ''] = splitOnce(line, ' ');
    const sig = fromBase64(b64);
    if (!sig || !validName(name) || b64 === '' || sig.length < 5) throw malformed();
    const hash = new DataView(sig.buffer, sig.byteOffset, 4).getUint32(0);
    if (++numSig > 100) throw malformed();
    if (name !== v.name || hash !== v.hash) continue;
    if (seen.has(`${name}+${hash}`)) continue;
    seen.add(`${name}+${hash}`);
    if (!ed25519.verify(sig.subarray(4), utf8(text), v.publicKey, { zip215: false })) {
      throw new FieldError('checkpoint', `signature by ${v.name} does not verify: invalid signature for key ${name}+${hash.toString(16).padStart(8, '0')}`);
    }
    verified = true;
  }
  if (!verified) {
    throw new FieldError('checkpoint', `carries no signature by the given log key ${v.name} (hash ${v.hash.toString(16).padStart(8, '0')}): wrong key?`);
  }
  return text;
}

/**
 * verifyCheckpoint is audit.OpenCheckpoint: it checks the signed
 * checkpoint against the verifier key ("origin+hash+base64") and returns
 * {origin, size, root}; it throws FieldError naming what is wrong.
 */
export function verifyCheckpoint(noteBytes, verifierKey) {
  const msg = typeof noteBytes === 'string' ? utf8(noteBytes) : noteBytes;
  const v = typeof verifierKey === 'string' ? parseVerifierKey(verifierKey) : verifierKey;
  if (msg.length > MAX_CHECKPOINT_BYTES) {
    throw new FieldError('checkpoint', `is ${msg.length} bytes, more than ${MAX_CHECKPOINT_BYTES}`);
  }
  const text = fromUtf8(msg);
  const i = text.lastIndexOf('\n\n');
  if (i < 0) throw new FieldError('checkpoint', 'is not a signed note (no signature block)');
  const cp = parseCheckpointBody(text.slice(0, i + 1));
  if (cp.origin !== v.name) {
    throw new FieldError('checkpoint', `is of log ${JSON.stringify(cp.origin)}, not ${JSON.stringify(v.name)} whose key was given`);
  }
  openNote(msg, v);
  return cp;
}

/** parseInclusionProof is audit.ParseInclusionProof: {seq, size, hashes}. */
export function parseInclusionProof(text) {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '' || lines[0] !== INCLUSION_HEADER) {
    throw new FieldError('proof', `is not a ${INCLUSION_HEADER} text (header line, two counts, hashes, each line ending in a newline)`);
  }
  lines.pop();
  const count = (line, key) => {
    const v = line.startsWith(key + ' ') ? parseCanonicalInt(line.slice(key.length + 1)) : null;
    if (v === null) throw new FieldError('proof', `line ${JSON.stringify(line)} is not ${JSON.stringify(key + ' N')} and a decimal count`);
    return v;
  };
  const seq = count(lines[1], 'seq');
  const size = count(lines[2], 'size');
  if (lines.length - 3 > MAX_PROOF_HASHES) {
    throw new FieldError('proof', `has ${lines.length - 3} hashes, more than ${MAX_PROOF_HASHES}`);
  }
  const hashes = lines.slice(3).map((l, i) => {
    const b = fromBase64(l);
    if (!b || b.length !== 32) throw new FieldError(`proof line ${i + 4}`, 'is not a base64 32-byte hash');
    return b;
  });
  if (seq < 1n || seq > size) throw new FieldError('seq', `${seq} is outside the log's 1..${size}`);
  return { seq: Number(seq), size: Number(size), hashes };
}

/**
 * verifyInclusion is audit.InclusionProof.Check: that the encoded leaf
 * (bytes or string) is leaf seq of the tree of size leaves whose root the
 * checkpoint gives (root: bytes or base64). index is the leaf's seq (from
 * 1). Throws FieldError; returns the decoded leaf.
 */
export function verifyInclusion(leaf, index, size, proofText, root) {
  const enc = typeof leaf === 'string' ? utf8(leaf) : leaf;
  const r = typeof root === 'string' ? fromBase64(root) : root;
  const p = parseInclusionProof(proofText);
  if (p.size !== size) throw new FieldError('proof', `is for a tree of ${p.size} leaves, the checkpoint has ${size}`);
  if (index !== p.seq) throw new FieldError('proof', `is for leaf ${p.seq}, not ${index}`);
  if (p.seq < 1 || p.seq > size) throw new FieldError('seq', `${p.seq} is outside the log's 1..${size}`);
  const l = decodeLeaf(enc);
  if (l.seq !== p.seq) throw new FieldError('leaf', `has seq ${l.seq}, the proof is for ${p.seq}`);
  try {
    checkRecord(p.hashes, size, r, p.seq - 1, recordHash(enc));
  } catch (e) {
    throw new FieldError('proof', `does not show leaf ${p.seq} in the checkpoint's tree: ${e.message}`);
  }
  return l;
}

// goString writes s as Go's encoding/json does: HTML-safe escapes,
// \u2028 and \u2029 escaped, invalid UTF-8 (here lone surrogates) as \ufffd.
export function goJSONString(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

const KIND_CHARS = /^[a-z0-9._-]{1,64}$/;
const ID_KEY_CHARS = /^[a-z0-9_]{1,32}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const RFC3339_ANY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * decodeLeaf is audit.ParseLeaf: {seq, time, actor: {name, role, serial},
 * kind, ids, detail, prev (base64)} from a leaf's canonical encoding; it
 * refuses (FieldError) anything Encode would not write byte for byte.
 */
export function decodeLeaf(bytes) {
  const enc = typeof bytes === 'string' ? utf8(bytes) : bytes;
  if (enc.length > MAX_LEAF_BYTES) throw new FieldError('leaf', `is ${enc.length} bytes, more than ${MAX_LEAF_BYTES}`);
  let j;
  try {
    j = JSON.parse(fromUtf8(enc));
  } catch (e) {
    throw new FieldError('leaf', `is not a Custos audit leaf: ${e.message}`);
  }
  const str = (v) => (typeof v === 'string' ? v : '');
  if (j === null || typeof j !== 'object' || Array.isArray(j) || !Number.isSafeInteger(j.seq)) {
    throw new FieldError('leaf', 'is not a Custos audit leaf');
  }
  const a = j.actor && typeof j.actor === 'object' ? j.actor : {};
  const l = {
    seq: j.seq,
    time: str(j.time),
    actor: { name: str(a.name), role: str(a.role), serial: str(a.serial) },
    kind: str(j.kind),
    ids: j.ids && typeof j.ids === 'object' && !Array.isArray(j.ids) ? j.ids : {},
    detail: str(j.detail),
    prev: str(j.prev),
  };
  if (!RFC3339_UTC.test(l.time)) {
    if (RFC3339_ANY.test(l.time)) {
      throw new FieldError('leaf', 'is not in canonical form (spacing, field order, escapes or time zone differ from what the log writes)');
    }
    throw new FieldError('time', `${JSON.stringify(l.time)} is not RFC 3339`);
  }
  if (l.seq < 1) throw new FieldError('seq', `is ${l.seq}, want 1 or more`);
  if (!KIND_CHARS.test(l.kind)) throw new FieldError('kind', `${JSON.stringify(l.kind)} is not 1 to 64 of [a-z0-9._-]`);
  if (!l.actor.name || !l.actor.role) throw new FieldError('actor', 'needs a name and a role');
  for (const part of Object.values(l.actor)) {
    if (utf8(part).length > 256) throw new FieldError('actor', 'has a part longer than 256 bytes');
  }
  const keys = Object.keys(l.ids).sort();
  if (keys.length > 16) throw new FieldError('ids', `has ${keys.length} entries, more than 16`);
  for (const k of keys) {
    if (!ID_KEY_CHARS.test(k)) throw new FieldError('ids', `${JSON.stringify(k)} is not 1 to 32 of [a-z0-9_]`);
    if (typeof l.ids[k] !== 'string' || utf8(l.ids[k]).length > 256) throw new FieldError(`ids.${k}`, 'is not a string of at most 256 bytes');
  }
  if (utf8(l.detail).length > 4096) throw new FieldError('detail', 'is more than 4096 bytes');
  const prev = fromBase64(l.prev);
  if (!prev || prev.length !== 32) throw new FieldError('prev', 'is not a base64 32-byte hash');
  // Encode again as the log writes it; any other spelling is refused.
  let again = `{"seq":${l.seq},"time":${goJSONString(l.time)},"actor":{"name":${goJSONString(l.actor.name)},"role":${goJSONString(l.actor.role)}`;
  if (l.actor.serial) again += `,"serial":${goJSONString(l.actor.serial)}`;
  again += `},"kind":${goJSONString(l.kind)}`;
  if (keys.length) again += `,"ids":{${keys.map((k) => `${goJSONString(k)}:${goJSONString(l.ids[k])}`).join(',')}}`;
  if (l.detail) again += `,"detail":${goJSONString(l.detail)}`;
  again += `,"prev":${goJSONString(toBase64(prev))}}`;
  if (!equalBytes(utf8(again), enc)) {
    throw new FieldError('leaf', 'is not in canonical form (spacing, field order, escapes or time zone differ from what the log writes)');
  }
  return l;
}

// leafPosition is audit.leafPosition: a line's seq and prev, read
// without decoding the rest.
function leafPosition(line) {
  const head = '{"seq":';
  const tail = ',"prev":"';
  if (!line.startsWith(head)) throw new Error('not a Custos audit leaf (want {"seq":N,...,"prev":"..."})');
  const rest = line.slice(head.length);
  const i = rest.indexOf(',');
  if (i < 1 || !line.endsWith('"}')) throw new Error('not a Custos audit leaf (want {"seq":N,...,"prev":"..."})');
  const seq = parseSeq(rest.slice(0, i));
  if (seq === null || seq < 1n) throw new Error(`seq ${goQuote(rest.slice(0, i))} is not a count from 1`);
  const end = line.length - 2;
  if (end - 44 - tail.length < head.length || line.slice(end - 44 - tail.length, end - 44) !== tail) {
    throw new Error('does not end with ,"prev":"<base64 hash>"}');
  }
  const prev = fromBase64(line.slice(end - 44, end));
  if (!prev || prev.length !== 32) throw new Error('prev is not a base64 32-byte hash');
  return { seq, prev };
}

// parseSeq is strconv.ParseInt(s, 10, 64): an optional sign, decimal digits.
function parseSeq(s) {
  if (!/^[+-]?[0-9]+$/.test(s)) return null;
  const n = BigInt(s);
  return n > MAX_INT64 || n < -MAX_INT64 - 1n ? null : n;
}

const goQuote = (s) => goJSONString(s).replace(/\\u003c/g, '<').replace(/\\u003e/g, '>').replace(/\\u0026/g, '&');

// lines splits a file as bufio.Scanner with ScanLines does: at '\n', a
// trailing '\r' dropped, no empty last line after a final newline.
function* scanLines(text) {
  let start = 0;
  while (start < text.length) {
    let i = text.indexOf('\n', start);
    const last = i < 0;
    if (last) i = text.length;
    let line = text.slice(start, i);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    yield line;
    start = i + 1;
  }
}

/**
 * verifyExport checks a `custosctl audit export` file as `custosctl audit
 * verify` does (audit.VerifyExport): {ok: true, size, root (base64),
 * origin} or {ok: false, firstBadLine, reason, message} where message is
 * Go's "line N: reason". opts.logKey is the verifier key.
 */
export function verifyExport(fileText, opts = {}) {
  try {
    const cp = verifyExportOrThrow(fileText, opts.logKey);
    return { ok: true, size: cp.size, root: toBase64(cp.root), origin: cp.origin };
  } catch (e) {
    if (e instanceof LineError) {
      return { ok: false, firstBadLine: e.line, reason: e.reason, message: e.message };
    }
    return { ok: false, firstBadLine: 0, reason: e.message, message: e.message };
  }
}

/** LineError names the first line of an export file that fails. */
export class LineError extends FieldError {
  constructor(line, reason) {
    super(`line ${line}`, reason);
    this.line = line;
  }
}

function verifyExportOrThrow(fileText, logKey) {
  const v = parseVerifierKey(logKey ?? '');
  const text = typeof fileText === 'string' ? fileText : fromUtf8(fileText);
  const it = scanLines(text);
  const first = it.next();
  if (first.done) throw new LineError(1, 'the file is empty: not a Custos audit export');
  let h;
  try {
    h = JSON.parse(first.value);
  } catch {
    h = null;
  }
  const known = new Set(['format', 'checkpoint', 'witnesses']);
  if (
    !h ||
    typeof h !== 'object' ||
    Array.isArray(h) ||
    Object.keys(h).some((k) => !known.has(k.toLowerCase())) ||
    h.format !== EXPORT_FORMAT ||
    (h.checkpoint !== undefined && h.checkpoint !== null && typeof h.checkpoint !== 'string')
  ) {
    throw new LineError(1, `not a Custos audit export (want a ${EXPORT_FORMAT} header)`);
  }
  let cp;
  try {
    cp = verifyCheckpoint(h.checkpoint ?? '', v);
  } catch (e) {
    throw new LineError(1, e.message);
  }
  const f = new Frontier();
  let last = 0;
  for (const line of it) {
    const lineNo = f.size + 2;
    const seq = f.size + 1;
    if (seq > cp.size) {
      throw new LineError(lineNo, `the checkpoint covers ${cp.size} leaves but the file has more (an inserted line?)`);
    }
    let pos;
    try {
      pos = leafPosition(line);
    } catch (e) {
      throw new LineError(lineNo, `malformed leaf (an edited, truncated or foreign line?): ${e.message}`);
    }
    if (pos.seq !== BigInt(seq)) {
      throw new LineError(lineNo, `holds leaf ${pos.seq} where leaf ${seq} belongs (a line deleted, inserted or moved here)`);
    }
    if (!equalBytes(pos.prev, f.root())) {
      throw new LineError(last, `leaf ${seq - 1} differs from what the log recorded (leaf ${seq}'s prev hash does not match it)`);
    }
    f.add(recordHash(utf8(line)));
    last = lineNo;
  }
  if (f.size < cp.size) {
    throw new LineError(
      f.size + 2,
      `missing: the file ends after ${f.size} leaves but the checkpoint covers ${cp.size} (a truncated file or deleted lines)`,
    );
  }
  if (!equalBytes(f.root(), cp.root)) {
    throw new LineError(last, `leaf ${f.size} differs from what the log recorded (the checkpoint's root does not match)`);
  }
  return cp;
}

/** exportLeaves returns the leaf lines of an export file (for display; not a verification). */
export function exportLeaves(fileText) {
  return [...scanLines(fileText)].slice(1);
}
