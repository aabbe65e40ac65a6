// policy.js — reserve.ParsePolicy, Policy.Canonical and Policy.Hash
// (reserve/policy_parse.go, policy_yaml.go, policy.go) in the browser, so
// that an officer approving a policy change signs the hash of the document
// the page shows, computed here, never the hash the coordinator sends.
// The same documents are accepted and refused (with Go's message, line and
// field; malformed YAML in this reader's words), and an accepted document
// has the same canonical bytes and hash. Amounts and durations are BigInt.
//
//   parsePolicy(text) → policy          throws PolicyError (a FieldError)
//   policyCanonical(policy) → Uint8Array
//   policyHash(text) → Uint8Array(32)   SHA-256 of the canonical bytes

import { sha256 } from '@noble/hashes/sha2.js';
import { FieldError, concat, fromHex, lenPrefixed, u32, u64, utf8 } from './bytes.js';
import { PolicyError, daysIn, readYAML } from './policyyaml.js';

export { PolicyError };

export const POLICY_VERSION = 1;
export const POLICY_HASH_TAG = 'custos/policy/v1';
export const MAX_POLICY_BYTES = 1 << 20;
export const MAX_OFFICERS = 32;
export const MAX_TIERS = 16;
export const MAX_ALLOWLIST_ENTRIES = 10_000;
export const MAX_OFFICER_ID_LEN = 32;
export const MAX_POLICY_TEXT_LEN = 64;
export const MAX_POLICY_ADDRESS_LEN = 100;
export const MAX_FEE_RATE_CAP = 100_000;
export const TIER_UNLIMITED = (1n << 63n) - 1n;
export const SAT_PER_BTC = 100_000_000n;
export const MAX_SAT = 21_000_000n * SAT_PER_BTC;
export const UNLISTED = { extra_approval: 1, refuse: 2 };
/** PROOF_REQUESTER_ROLES are the roles a proofs section may list, sorted (reserve's proofRequesterRoles). */
export const PROOF_REQUESTER_ROLES = ['admin', 'auditor', 'officer'];
/** defaultProofRules is reserve.DefaultProofRules: officers request, one officer approves. */
export const defaultProofRules = () => ({ requesters: ['officer'], approvals: 1 });

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const SECOND = 1000n * MS;
const MINUTE = 60n * SECOND;
const HOUR = 60n * MINUTE;
const DAY = 24n * HOUR;
const MAX_COOL_OFF = 30n * DAY;
const MAX_ADD_DELAY = 30n * DAY;
const MIN_PROPOSAL_EXPIRY = MINUTE;
const MAX_PROPOSAL_EXPIRY = 90n * DAY;

// --- Go's formatting ------------------------------------------------------

const isPrint = (r) => r === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(r);

/** goQuote is strconv.Quote. */
export function goQuote(s) {
  let out = '"';
  for (const r of s) {
    const cp = r.codePointAt(0);
    if (r === '"' || r === '\\') out += '\\' + r;
    else if (isPrint(r)) out += r;
    else if (r in QUOTE_ESC) out += QUOTE_ESC[r];
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}
const QUOTE_ESC = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

/** goU is fmt's %U: U+0007. */
const goU = (cp) => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');

/** formatBTC is reserve.FormatBTC. */
export function formatBTC(sat) {
  const neg = sat < 0n;
  const u = neg ? -sat : sat;
  return `${neg ? '-' : ''}${u / SAT_PER_BTC}.${String(u % SAT_PER_BTC).padStart(8, '0')}`;
}

/** formatDuration is time.Duration.String. */
export function formatDuration(d) {
  const neg = d < 0n;
  let u = neg ? -d : d;
  const frac = (v, prec) => {
    // fmtFrac: the fraction of v / 10^prec without trailing zeros.
    let s = '';
    let print = false;
    for (let i = 0; i < prec; i++) {
      const digit = v % 10n;
      print = print || digit !== 0n;
      if (print) s = String(digit) + s;
      v /= 10n;
    }
    return [print ? '.' + s : '', v];
  };
  let out;
  if (u < SECOND) {
    if (u === 0n) return '0s';
    let unit;
    let prec;
    if (u < US) [prec, unit] = [0, 'ns'];
    else if (u < MS) [prec, unit] = [3, '\u00b5s'];
    else [prec, unit] = [6, 'ms'];
    const [f, w] = frac(u, prec);
    out = `${w}${f}${unit}`;
  } else {
    const [f, w] = frac(u, 9);
    u = w;
    out = `${u % 60n}${f}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m` + out;
      u /= 60n;
      if (u > 0n) out = `${u}h` + out;
    }
  }
  return (neg ? '-' : '') + out;
}

/** timeQuote is the time package's quote (non-ASCII and control bytes as \xNN). */
function timeQuote(s) {
  let out = '"';
  for (const b of utf8(s)) {
    if (b >= 0x80 || b < 0x20) out += '\\x' + b.toString(16).padStart(2, '0');
    else {
      const c = String.fromCharCode(b);
      out += c === '"' || c === '\\' ? '\\' + c : c;
    }
  }
  return out + '"';
}

const DURATION_UNITS = new Map([
  ['ns', NS],
  ['us', US],
  ['\u00b5s', US],
  ['\u03bcs', US],
  ['ms', MS],
  ['s', SECOND],
  ['m', MINUTE],
  ['h', HOUR],
]);

/** parseGoDuration is time.ParseDuration: nanoseconds as a BigInt, or throws Error with Go's message. */
export function parseGoDuration(orig) {
  const invalid = () => new Error('time: invalid duration ' + timeQuote(orig));
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  const limit = 1n << 63n;
  let d = 0n;
  const isDigit = (c) => c >= '0' && c <= '9';
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw invalid();
    // leadingInt
    let i = 0;
    let v = 0n;
    for (; i < s.length && isDigit(s[i]); i++) {
      if (v > limit / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > limit) throw invalid();
    }
    const pre = i > 0;
    s = s.slice(i);
    let post = false;
    let f = 0n;
    let scale = 1;
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; j < s.length && isDigit(s[j]); j++) {
        if (overflow) continue;
        if (f > (limit - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > limit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    for (; k < s.length; k++) if (s[k] === '.' || isDigit(s[k])) break;
    if (k === 0) throw new Error('time: missing unit in duration ' + timeQuote(orig));
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = DURATION_UNITS.get(u);
    if (unit === undefined) throw new Error('time: unknown unit ' + timeQuote(u) + ' in duration ' + timeQuote(orig));
    if (v > limit / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > limit) throw invalid();
    }
    d += v;
    if (d > limit) throw invalid();
  }
  if (neg) return -d;
  if (d > limit - 1n) throw invalid();
  return d;
}

/** parseBTC is reserve.ParseBTC: satoshis as a BigInt, or throws Error with Go's message. */
export function parseBTC(s) {
  if (s === '') throw new Error('empty amount');
  const dot = s.indexOf('.');
  const whole0 = dot < 0 ? s : s.slice(0, dot);
  const frac = dot < 0 ? '' : s.slice(dot + 1);
  if (dot >= 0 && frac === '') throw new Error(`amount ${goQuote(s)} ends with a decimal point`);
  if (whole0 === '') throw new Error(`amount ${goQuote(s)} has no digits before the decimal point`);
  if (!/^[0-9]*$/.test(whole0) || !/^[0-9]*$/.test(frac)) throw new Error(`amount ${goQuote(s)} is not a decimal number of BTC`);
  if (frac.length > 8) throw new Error(`amount ${goQuote(s)} has more than 8 decimals`);
  const whole = whole0.replace(/^0+/, '');
  if (whole.length > 8) throw new Error(`amount ${goQuote(s)} is more than 21000000 BTC`);
  const w = whole === '' ? 0n : BigInt(whole);
  const f = frac === '' ? 0n : BigInt(frac.padEnd(8, '0'));
  const sat = w * SAT_PER_BTC + f;
  if (sat > MAX_SAT) throw new Error(`amount ${goQuote(s)} is more than 21000000 BTC`);
  return sat;
}

// --- the text -----------------------------------------------------------

/** decodeRune is utf8.DecodeRune: [rune, size], [-1, 1] for an invalid byte. */
function decodeRune(b, i) {
  const c0 = b[i];
  if (c0 < 0x80) return [c0, 1];
  const cont = (k, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(1) ? [((c0 & 0x1f) << 6) | (b[i + 1] & 0x3f), 2] : [-1, 1];
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2)) return [-1, 1];
    return [((c0 & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f), 3];
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return [-1, 1];
    return [((c0 & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f), 4];
  }
  return [-1, 1];
}

/** lineAt is reserve's lineAt: the line of byte offset i, counting LF, CR LF and a lone CR. */
function lineAt(b, i) {
  let line = 1;
  for (let j = 0; j < i; j++) if (b[j] === 0x0a || (b[j] === 0x0d && (j + 1 >= b.length || b[j + 1] !== 0x0a))) line++;
  return line;
}

/** checkPolicyText is reserve's checkPolicyText. */
function checkPolicyText(b) {
  for (let i = 0; i < b.length; ) {
    const [r, size] = decodeRune(b, i);
    if (r < 0) throw new PolicyError(lineAt(b, i), '', `is not valid UTF-8 (byte ${i})`);
    if (r !== 0x0a && r !== 0x09 && r !== 0x0d) {
      if (r < 0x20 || (r >= 0x7f && r < 0xa0)) throw new PolicyError(lineAt(b, i), '', `contains the control character ${goU(r)}`);
      if (r === 0x2028 || r === 0x2029) {
        throw new PolicyError(lineAt(b, i), '', `contains the line separator ${goU(r)}; write an ordinary line break`);
      }
    }
    i += size;
  }
}

// --- the fields ---------------------------------------------------------

const perr = (n, field, reason) => new PolicyError(n.line, field, reason);
const fieldPath = (parent, key) => (parent === '' ? key : `${parent}.${key}`);

/** checkPlainYAML is reserve's checkPlainYAML. */
function checkPlainYAML(n, path) {
  const field = path === '' ? 'policy' : path;
  if (n.kind === 'alias') throw perr(n, field, `YAML aliases (*${n.value}) are not allowed in a policy: write the value out`);
  if (n.anchor) throw perr(n, field, `YAML anchors and aliases (&${n.anchor}) are not allowed in a policy: write each value out`);
  if (n.tagged) throw perr(n, field, `explicit YAML tags (${n.tag}) are not allowed in a policy`);
  if (n.kind === 'mapping') {
    for (let i = 0; i + 1 < n.content.length; i += 2) {
      const k = n.content[i];
      if (k.kind !== 'scalar' || k.anchor || k.tagged) throw perr(k, field, 'mapping keys must be plain field names');
      checkPlainYAML(n.content[i + 1], fieldPath(path, k.value));
    }
  } else if (n.kind === 'sequence') {
    n.content.forEach((c, i) => checkPlainYAML(c, `${field}[${i}]`));
  }
}

/** Fields is reserve's fields: a mapping checked against the names it may hold. */
class Fields {
  constructor(node, path, what, known) {
    if (node.kind !== 'mapping') throw perr(node, path, `must be ${what} with the fields ${known.join(', ')}`);
    this.node = node;
    this.path = path;
    this.keys = new Map();
    this.vals = new Map();
    for (let i = 0; i + 1 < node.content.length; i += 2) {
      const k = node.content[i];
      const field = fieldPath(path, k.value);
      if (!known.includes(k.value)) throw perr(k, field, `unknown field (the fields of ${what} are ${known.join(', ')})`);
      if (this.keys.has(k.value)) throw perr(k, field, `appears twice (first on line ${this.keys.get(k.value).line})`);
      this.keys.set(k.value, k);
      this.vals.set(k.value, node.content[i + 1]);
    }
  }

  /** get returns [node, field] or [null, field] when absent; a key without a value is refused. */
  get(key) {
    const field = fieldPath(this.path, key);
    const v = this.vals.get(key);
    if (!v) return [null, field];
    if (v.kind === 'scalar' && v.tag === '!!null') throw perr(this.keys.get(key), field, 'has no value');
    return [v, field];
  }

  need(key) {
    const [v, field] = this.get(key);
    if (!v) throw perr(this.node, field, 'missing');
    return [v, field];
  }
}

function parseAmount(n, field) {
  if (n.kind !== 'scalar') throw perr(n, field, 'must be an amount of BTC in quotes, like "0.5"');
  if (n.value.startsWith('-')) throw perr(n, field, `must be more than zero, not ${n.value}`);
  if (n.tag === '!!int' || n.tag === '!!float') {
    throw perr(n, field, `write BTC amounts in quotes ("${n.value}"), not as YAML numbers, so they are never read as floating point`);
  }
  if (n.tag !== '!!str') throw perr(n, field, 'must be an amount of BTC in quotes, like "0.5"');
  let sat;
  try {
    sat = parseBTC(n.value);
  } catch (e) {
    throw perr(n, field, e.message);
  }
  if (sat === 0n) throw perr(n, field, 'must be more than zero');
  return sat;
}

function parseCount(n, field, what) {
  if (n.kind !== 'scalar' || !/^(0|[1-9][0-9]{0,8})$/.test(n.value)) throw perr(n, field, `must be ${what}`);
  if (n.tag !== '!!int') throw perr(n, field, `must be ${what}, written without quotes`);
  return Number(n.value);
}

function parseDuration(n, field, min, max, span) {
  if (n.kind !== 'scalar' || (n.tag !== '!!str' && n.tag !== '!!int')) throw perr(n, field, 'must be a duration like 48h or 30m');
  let d;
  try {
    d = parseGoDuration(n.value);
  } catch (e) {
    throw perr(n, field, `must be a duration like 48h or 30m (units h, m, s; there is no d): ${e.message}`);
  }
  if (d < min || d > max) throw perr(n, field, `${formatDuration(d)} is outside ${span}`);
  return d;
}

const TIME_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(Z|([+-])([0-9]{2}):([0-9]{2}))$/;

/** daysFromCivil is the number of days from 1970-01-01 to y-m-d (proleptic Gregorian). */
function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** parseTime is reserve's parseTime: {unix: BigInt seconds, nanos} in UTC. */
function parseTime(n, field) {
  const bad = 'must be an RFC 3339 time with a zone, like 2026-11-20T00:00:00Z';
  if (n.kind !== 'scalar' || (n.tag !== '!!timestamp' && n.tag !== '!!str')) throw perr(n, field, bad);
  const m = TIME_RE.exec(n.value);
  if (!m) throw perr(n, field, bad);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  // time.Parse(time.RFC3339): its fast path, then its general parser,
  // which allows a zone offset of up to 24 hours and 60 minutes.
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59) throw perr(n, field, bad);
  let offset = 0;
  if (m[8] !== 'Z') {
    const zh = Number(m[10]);
    const zm = Number(m[11]);
    if (zh > 24 || zm > 60) throw perr(n, field, bad);
    offset = (zh * 60 + zm) * 60 * (m[9] === '-' ? -1 : 1);
  }
  const nanos = m[7] ? Number(m[7].slice(1).padEnd(9, '0')) : 0;
  const unix = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + s) - BigInt(offset);
  return { unix, nanos };
}

const isSpace = (r) => /^\p{White_Space}$/u.test(r);

function parseText(n, field, max) {
  if (n.kind !== 'scalar' || n.tag !== '!!str') {
    throw perr(n, field, 'must be text; put it in quotes if YAML would read it as a number, a boolean or a date');
  }
  const s = n.value;
  const runes = [...s];
  if (s === '') throw perr(n, field, 'must not be empty');
  if (isSpace(runes[0]) || isSpace(runes[runes.length - 1])) throw perr(n, field, 'must not start or end with white space');
  if (runes.length > max) throw perr(n, field, `is ${runes.length} characters, more than ${max}`);
  for (const r of runes) if (!isPrint(r)) throw perr(n, field, `contains the unprintable character ${goU(r.codePointAt(0))}`);
  return s;
}

function parseOfficerKey(n, field) {
  const bad = 'must be ed25519: followed by 64 hex digits (a 32-byte Ed25519 public key)';
  if (n.kind !== 'scalar' || n.tag !== '!!str' || !n.value.startsWith('ed25519:')) throw perr(n, field, bad);
  const k = fromHex(n.value.slice('ed25519:'.length));
  if (!k || k.length !== 32) throw perr(n, field, bad);
  return k;
}

function parseApprovals(n, field, officers) {
  if (n.kind === 'scalar' && n.tag === '!!str' && n.value === 'all') return officers;
  const k = parseCount(n, field, 'a number of officers or the word all');
  if (k < 1) throw perr(n, field, 'must be at least 1');
  if (k > officers) throw perr(n, field, `${k} approvals needed but the policy has only ${officers} officers`);
  return k;
}

function checkPolicyVersion(root) {
  for (let i = 0; i + 1 < root.content.length; i += 2) {
    if (root.content[i].value !== 'version') continue;
    const v = root.content[i + 1];
    if (v.kind === 'scalar' && v.tag === '!!int' && v.value === String(POLICY_VERSION)) return;
    if (v.kind === 'scalar' && v.tag === '!!int') {
      throw perr(v, 'version', `unsupported policy version ${v.value}: this build reads version ${POLICY_VERSION}`);
    }
    throw perr(v, 'version', `must be the number ${POLICY_VERSION}`);
  }
  throw perr(root, 'version', `missing: the document must say version: ${POLICY_VERSION}`);
}

function parseOfficers(p, top) {
  const [list, field] = top.need('officers');
  if (list.kind !== 'sequence' || list.content.length === 0) throw perr(list, field, `must be a list of 1 to ${MAX_OFFICERS} officers`);
  if (list.content.length > MAX_OFFICERS) throw perr(list, field, `lists ${list.content.length} officers, more than ${MAX_OFFICERS}`);
  const ids = new Map();
  const keys = new Map();
  list.content.forEach((n, i) => {
    const path = `officers[${i}]`;
    const f = new Fields(n, path, 'an officer', ['id', 'name', 'key']);
    const [idNode, idField] = f.need('id');
    const id = parseText(idNode, idField, MAX_OFFICER_ID_LEN);
    if (!/^[a-z0-9-]{1,32}$/.test(id)) throw perr(idNode, idField, `${goQuote(id)} must be 1 to ${MAX_OFFICER_ID_LEN} of a-z, 0-9 and -`);
    const [nameNode, nameField] = f.need('name');
    const name = parseText(nameNode, nameField, MAX_POLICY_TEXT_LEN);
    const [keyNode, keyField] = f.need('key');
    const key = parseOfficerKey(keyNode, keyField);
    const hex = Array.from(key, (x) => x.toString(16).padStart(2, '0')).join('');
    if (ids.has(id)) throw perr(idNode, `officers[${i}].id`, `officer id ${goQuote(id)} appears twice (also officers[${ids.get(id)}])`);
    if (keys.has(hex)) throw perr(keyNode, `officers[${i}].key`, `the same key as officers[${keys.get(hex)}]: each officer needs their own key`);
    ids.set(id, i);
    keys.set(hex, i);
    p.officers.push({ id, name, key });
  });
}

function parseUpTo(n, field) {
  if (n.kind === 'scalar' && n.tag === '!!str') {
    if (n.value === 'unlimited') return TIER_UNLIMITED;
    if (/\p{L}/u.test(n.value)) throw perr(n, field, 'must be an amount of BTC in quotes, like "100", or the word unlimited');
  }
  return parseAmount(n, field);
}

function parseTiers(p, top) {
  const [list, field] = top.need('tiers');
  if (list.kind !== 'sequence' || list.content.length === 0) {
    throw perr(list, field, `must be a list of 1 to ${MAX_TIERS} tiers, the last one up_to: unlimited`);
  }
  if (list.content.length > MAX_TIERS) throw perr(list, field, `lists ${list.content.length} tiers, more than ${MAX_TIERS}`);
  let upToNode = null;
  list.content.forEach((n, i) => {
    const f = new Fields(n, `tiers[${i}]`, 'a tier', ['up_to', 'approvals', 'cool_off']);
    const [upTo, upField] = f.need('up_to');
    const t = { upToSat: parseUpTo(upTo, upField), approvals: 0, coolOffNs: 0n };
    const prev = i > 0 ? p.tiers[i - 1] : { upToSat: 0n, approvals: 0, coolOffNs: 0n };
    if (i > 0 && prev.upToSat === TIER_UNLIMITED) throw perr(upTo, upField, `tiers[${i - 1}] is unlimited, so no tier may follow it`);
    if (i > 0 && t.upToSat <= prev.upToSat) {
      throw perr(upTo, upField, `${formatBTC(t.upToSat)} BTC must be more than tiers[${i - 1}].up_to (${formatBTC(prev.upToSat)} BTC): tiers are ordered by increasing amount`);
    }
    const [a, aField] = f.need('approvals');
    t.approvals = parseApprovals(a, aField, p.officers.length);
    if (t.approvals < prev.approvals) {
      throw perr(a, aField, `${t.approvals} is fewer than tiers[${i - 1}].approvals (${prev.approvals}): a larger payment must never need fewer approvals`);
    }
    const [c, cField] = f.need('cool_off');
    t.coolOffNs = parseDuration(c, cField, 0n, MAX_COOL_OFF, '0s to 720h (30 days)');
    if (t.coolOffNs < prev.coolOffNs) {
      throw perr(c, cField, `${formatDuration(t.coolOffNs)} is shorter than tiers[${i - 1}].cool_off (${formatDuration(prev.coolOffNs)}): a larger payment must never wait less`);
    }
    upToNode = upTo;
    p.tiers.push(t);
  });
  if (p.tiers[p.tiers.length - 1].upToSat !== TIER_UNLIMITED) {
    throw perr(upToNode, `tiers[${p.tiers.length - 1}].up_to`, 'the last tier must be up_to: unlimited, so that every amount has a tier');
  }
}

function parseVelocity(p, top) {
  const [n] = top.get('velocity');
  if (!n) return;
  const f = new Fields(n, 'velocity', 'velocity', ['per_24h', 'per_30d']);
  const [day, dayField] = f.get('per_24h');
  if (day) p.velocity.per24hSat = parseAmount(day, dayField);
  const [month, monthField] = f.get('per_30d');
  if (month) p.velocity.per30dSat = parseAmount(month, monthField);
  const v = p.velocity;
  if (v.per24hSat > 0n && v.per30dSat > 0n && v.per24hSat > v.per30dSat) {
    throw perr(day, 'velocity.per_24h', `${formatBTC(v.per24hSat)} BTC is more than velocity.per_30d (${formatBTC(v.per30dSat)} BTC): 24 hours are part of 30 days`);
  }
}

function parseAddress(n, field) {
  if (n.kind !== 'scalar' || n.tag !== '!!str' || n.value === '') throw perr(n, field, 'must be an address');
  const b = utf8(n.value);
  if (b.length > MAX_POLICY_ADDRESS_LEN) throw perr(n, field, `is ${b.length} characters, more than ${MAX_POLICY_ADDRESS_LEN}`);
  for (let i = 0; i < b.length; i++) {
    if (b[i] <= 0x20 || b[i] > 0x7e) throw perr(n, field, `contains a space or a character no address has (byte ${i})`);
  }
  return n.value;
}

function parseAllowlist(p, top) {
  const [n] = top.need('allowlist');
  const f = new Fields(n, 'allowlist', 'the allowlist', ['unlisted', 'add_delay', 'entries']);
  const [u, uField] = f.need('unlisted');
  if (u.kind === 'scalar' && u.tag === '!!str' && (u.value === 'extra_approval' || u.value === 'refuse')) {
    p.allowlist.unlisted = UNLISTED[u.value];
  } else throw perr(u, uField, 'must be extra_approval or refuse');
  const [d, dField] = f.need('add_delay');
  p.allowlist.addDelayNs = parseDuration(d, dField, 0n, MAX_ADD_DELAY, '0s to 720h (30 days)');
  const [list, field] = f.get('entries');
  if (!list) return;
  if (list.kind !== 'sequence') throw perr(list, field, 'must be a list of entries (address, label, added); write [] for none');
  if (list.content.length > MAX_ALLOWLIST_ENTRIES) {
    throw perr(list, field, `lists ${list.content.length} entries, more than ${MAX_ALLOWLIST_ENTRIES}`);
  }
  const seen = new Map();
  list.content.forEach((en, i) => {
    const path = `allowlist.entries[${i}]`;
    const ef = new Fields(en, path, 'an allowlist entry', ['address', 'label', 'added']);
    const [addr, addrField] = ef.need('address');
    const address = parseAddress(addr, addrField);
    const [l, lField] = ef.need('label');
    const label = parseText(l, lField, MAX_POLICY_TEXT_LEN);
    const [a, aField] = ef.need('added');
    const added = parseTime(a, aField);
    if (seen.has(address)) throw perr(addr, `${path}.address`, `${address} is listed twice (also allowlist.entries[${seen.get(address)}])`);
    seen.set(address, i);
    p.allowlist.entries.push({ address, label, added });
  });
}

function parseFees(p, top) {
  const [n] = top.need('fees');
  const f = new Fields(n, 'fees', 'fees', ['max_fee', 'max_fee_rate']);
  const [fee, feeField] = f.need('max_fee');
  p.fees.maxFeeSat = parseAmount(fee, feeField);
  const [r, rField] = f.need('max_fee_rate');
  const rate = parseCount(r, rField, 'a whole number of sat/vB');
  if (rate < 1 || rate > MAX_FEE_RATE_CAP) throw perr(r, rField, `${rate} sat/vB is outside 1 to ${MAX_FEE_RATE_CAP}`);
  p.fees.maxFeeRate = BigInt(rate);
}

/** parseProofs is reserve's parseProofs: the optional proofs section, defaults filled in. */
function parseProofs(p, top) {
  p.proofs = defaultProofRules();
  const [n] = top.get('proofs');
  if (!n) return;
  const f = new Fields(n, 'proofs', 'proofs', ['requesters', 'approvals']);
  const [list, field] = f.get('requesters');
  if (list) {
    const roles = PROOF_REQUESTER_ROLES.join(', ');
    if (list.kind !== 'sequence' || list.content.length === 0) {
      throw perr(list, field, `must be a list of the roles that may request a proof, one or more of ${roles}`);
    }
    const seen = new Map();
    const out = [];
    list.content.forEach((r, i) => {
      const item = `${field}[${i}]`;
      if (r.kind !== 'scalar' || r.tag !== '!!str' || !PROOF_REQUESTER_ROLES.includes(r.value)) {
        throw perr(r, item, `must be one of the roles ${roles}`);
      }
      if (seen.has(r.value)) throw perr(r, item, `${r.value} is listed twice (also ${field}[${seen.get(r.value)}])`);
      seen.set(r.value, i);
      out.push(r.value);
    });
    p.proofs.requesters = out.sort(byteCompare);
  }
  const [a, aField] = f.get('approvals');
  if (a) p.proofs.approvals = parseApprovals(a, aField, p.officers.length);
}

/** proofRulesAreDefault is ProofRules.IsDefault: Canonical leaves such a section out. */
export function proofRulesAreDefault(r) {
  if (!r || (r.approvals === 0 && (!r.requesters || r.requesters.length === 0))) return true;
  const d = defaultProofRules();
  return r.approvals === d.approvals && r.requesters.length === d.requesters.length && r.requesters.every((x, i) => x === d.requesters[i]);
}

/**
 * parsePolicy is reserve.ParsePolicy: text (a string or UTF-8 bytes) → the
 * policy: {version, officers: [{id, name, key: Uint8Array(32)}], tiers:
 * [{upToSat, approvals, coolOffNs}], velocity: {per24hSat, per30dSat},
 * allowlist: {unlisted: 1 extra_approval | 2 refuse, addDelayNs, entries:
 * [{address, label, added: {unix, nanos}}]}, fees: {maxFeeSat, maxFeeRate},
 * proposalExpiryNs, unfreezeApprovals, proofs: {requesters: [role, sorted],
 * approvals}}; amounts, durations (ns) and times
 * (Unix seconds) are BigInt. Throws PolicyError with Go's message.
 */
export function parsePolicy(text) {
  const b = typeof text === 'string' ? utf8(text) : text;
  if (!(b instanceof Uint8Array)) throw new FieldError('policy', 'not a policy document');
  if (b.length > MAX_POLICY_BYTES) throw new PolicyError(0, '', `${b.length} bytes is more than the limit of ${MAX_POLICY_BYTES}`);
  checkPolicyText(b);
  let src = new TextDecoder('utf-8', { fatal: true }).decode(b);
  src = src.replace(/\r\n?/g, '\n');
  const root = readYAML(src);
  checkPlainYAML(root, '');
  if (root.kind !== 'mapping') {
    throw new PolicyError(root.line, '', `the document must be a mapping of fields, starting with version: ${POLICY_VERSION}`);
  }
  checkPolicyVersion(root);
  const top = new Fields(root, '', 'the policy', ['version', 'officers', 'tiers', 'velocity', 'allowlist', 'fees', 'proposal_expiry', 'unfreeze_approvals', 'proofs']);
  const p = {
    version: POLICY_VERSION,
    officers: [],
    tiers: [],
    velocity: { per24hSat: 0n, per30dSat: 0n },
    allowlist: { unlisted: 0, addDelayNs: 0n, entries: [] },
    fees: { maxFeeSat: 0n, maxFeeRate: 0n },
    proposalExpiryNs: 0n,
    unfreezeApprovals: 0,
    proofs: defaultProofRules(),
  };
  parseOfficers(p, top);
  parseTiers(p, top);
  parseVelocity(p, top);
  parseAllowlist(p, top);
  parseFees(p, top);
  const [e, eField] = top.need('proposal_expiry');
  p.proposalExpiryNs = parseDuration(e, eField, MIN_PROPOSAL_EXPIRY, MAX_PROPOSAL_EXPIRY, '1m to 2160h (90 days)');
  const [u, uField] = top.need('unfreeze_approvals');
  p.unfreezeApprovals = parseApprovals(u, uField, p.officers.length);
  parseProofs(p, top);
  return p;
}

const byteCompare = (a, b) => {
  const x = utf8(a);
  const y = utf8(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};

/**
 * policyCanonical is Policy.Canonical (docs/policy.md). The proofs section
 * (item 17) is appended only when it differs from the defaults, so every
 * policy written before it keeps its hash.
 */
export function policyCanonical(p) {
  const parts = [lenPrefixed(POLICY_HASH_TAG), u32(p.version)];
  const officers = [...p.officers].sort((a, b) => byteCompare(a.id, b.id));
  parts.push(u32(officers.length));
  for (const o of officers) parts.push(lenPrefixed(o.id), lenPrefixed(o.name), o.key);
  parts.push(u32(p.tiers.length));
  for (const t of p.tiers) parts.push(u64(t.upToSat), u32(t.approvals), u64(t.coolOffNs));
  parts.push(u64(p.velocity.per24hSat), u64(p.velocity.per30dSat));
  parts.push(Uint8Array.of(p.allowlist.unlisted), u64(p.allowlist.addDelayNs));
  const entries = [...p.allowlist.entries].sort((a, b) => byteCompare(a.address, b.address));
  parts.push(u32(entries.length));
  for (const e of entries) parts.push(lenPrefixed(e.address), lenPrefixed(e.label), u64(e.added.unix), u32(e.added.nanos));
  parts.push(u64(p.fees.maxFeeSat), u64(p.fees.maxFeeRate), u64(p.proposalExpiryNs), u32(p.unfreezeApprovals));
  if (!proofRulesAreDefault(p.proofs)) {
    const requesters = [...p.proofs.requesters].sort(byteCompare);
    parts.push(lenPrefixed('proofs'), u32(requesters.length));
    for (const r of requesters) parts.push(lenPrefixed(r));
    parts.push(u32(p.proofs.approvals));
  }
  return concat(...parts);
}

/** policyHash is reserve.ParsePolicy(text).Hash(): SHA-256 of the canonical encoding. Throws PolicyError. */
export function policyHash(text) {
  return sha256(policyCanonical(parsePolicy(text)));
}
