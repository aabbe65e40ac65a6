// bytes.js — the small byte helpers the console's formats share: hex and
// base64 as Go's encoding/hex and encoding/base64 (StdEncoding) read and
// write them, big-endian integers, UTF-8, and FieldError, the refusal that
// names the field (as reserve.Invalid does on the Go side).

/** FieldError is a refusal naming the input that was wrong ("intent.payees[1]", "kdf_params"). */
export class FieldError extends Error {
  constructor(field, message) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'FieldError';
    this.field = field || '';
    this.reason = message;
  }
}

const enc = new TextEncoder();
const decStrict = new TextDecoder('utf-8', { fatal: true });
const decLoose = new TextDecoder('utf-8');

/** utf8 encodes a string. */
export function utf8(s) {
  return enc.encode(s);
}

/** fromUtf8 decodes bytes; strict throws on invalid UTF-8, otherwise invalid bytes become U+FFFD. */
export function fromUtf8(b, strict = false) {
  return (strict ? decStrict : decLoose).decode(b);
}

/** validUtf8 reports whether b is valid UTF-8 (Go's utf8.Valid). */
export function validUtf8(b) {
  try {
    decStrict.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** toHex writes lowercase hex. */
export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** fromHex reads hex as Go's hex.DecodeString: even length, either case; null when it is not hex. */
export function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64REV = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64REV[B64.charCodeAt(i)] = i;

/** toBase64 writes standard padded base64. */
export function toBase64(b) {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i + 1 === b.length) {
    const n = b[i] << 16;
    s += B64[n >> 18] + B64[(n >> 12) & 63] + '==';
  } else if (i + 2 === b.length) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + '=';
  }
  return s;
}

/**
 * fromBase64 reads standard padded base64 as Go's base64.StdEncoding.DecodeString
 * does: '\r' and '\n' are skipped, padding is required, nonzero trailing bits are
 * allowed. It returns null where Go returns an error.
 */
export function fromBase64(s) {
  if (typeof s !== 'string') return null;
  const t = s.replace(/[\r\n]/g, '');
  if (t.length % 4 !== 0) return null;
  const out = [];
  for (let i = 0; i < t.length; i += 4) {
    const last = i + 4 === t.length;
    let n = 4;
    if (last && t[i + 2] === '=' && t[i + 3] === '=') n = 2;
    else if (last && t[i + 3] === '=') n = 3;
    let x = 0;
    for (let j = 0; j < 4; j++) {
      let v = 0;
      if (j < n) {
        const c = t.charCodeAt(i + j);
        v = c < 256 ? B64REV[c] : -1;
        if (v < 0) return null;
      }
      x = (x << 6) | v;
    }
    out.push(x >>> 16);
    if (n >= 3) out.push((x >>> 8) & 255);
    if (n === 4) out.push(x & 255);
  }
  return Uint8Array.from(out);
}

/** concat joins byte arrays. */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** u32 is n as 4 big-endian bytes. */
export function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, Number(n));
  return b;
}

/** u64 is n (a bigint or a safe integer) as 8 big-endian bytes. */
export function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)));
  return b;
}

/** lenPrefixed is s (a string, as UTF-8, or bytes) preceded by its length as a u32. */
export function lenPrefixed(s) {
  const b = typeof s === 'string' ? utf8(s) : s;
  return concat(u32(b.length), b);
}

/** equalBytes compares two byte arrays. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
