// fmt.js: formatting for the console. Amounts are satoshis as BigInt
// (protojson sends int64 as strings); they never pass through Number.

const SAT_PER_BTC = 100000000n;

// sats parses a protojson int64 (string, number or absent) into a BigInt.
export function sats(v) {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error('amount is not an integer');
    return BigInt(v);
  }
  if (!/^-?[0-9]+$/.test(String(v))) throw new Error('amount is not an integer: ' + String(v));
  return BigInt(v);
}

// btc formats satoshis as BTC with 8 decimals, as reserve.FormatBTC does.
export function btc(v) {
  let s = sats(v);
  let sign = '';
  if (s < 0n) {
    sign = '-';
    s = -s;
  }
  const whole = s / SAT_PER_BTC;
  const frac = (s % SAT_PER_BTC).toString().padStart(8, '0');
  return sign + whole.toString() + '.' + frac;
}

// groupSats formats satoshis with thin separators for reading: 1 234 567 sat.
export function satText(v) {
  const s = sats(v).toString();
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  const parts = [];
  for (let i = digits.length; i > 0; i -= 3) parts.unshift(digits.slice(Math.max(0, i - 3), i));
  return (neg ? '-' : '') + parts.join('\u202f') + ' sat';
}

// int parses a protojson integer that fits a Number (counts, heights,
// unix seconds); absent is 0.
export function int(v) {
  if (v === undefined || v === null || v === '') return 0;
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  return n;
}

// date formats unix seconds as "2024-05-01 13:04:05 UTC"; 0 is "—".
export function date(unix) {
  const n = int(unix);
  if (n === 0) return '—';
  const d = new Date(n * 1000);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

const pad2 = (n) => String(n).padStart(2, '0');

// duration formats seconds as "4m 03s", "1h 02m 03s", "2d 03h 04m".
export function duration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${pad2(h)}h ${pad2(m)}m`;
  if (h > 0) return `${h}h ${pad2(m)}m ${pad2(s)}s`;
  if (m > 0) return `${m}m ${pad2(s)}s`;
  return `${s}s`;
}

// countdown is the cool-off text for a release at releaseAt (unix
// seconds) seen at now (unix seconds): "released in 4m 03s" or "released".
export function countdown(releaseAt, now) {
  const left = int(releaseAt) - Math.floor(now);
  if (left <= 0) return 'released';
  return 'released in ' + duration(left);
}

// stateName strips the enum prefix: PROPOSAL_STATE_PENDING_APPROVAL → PENDING_APPROVAL.
export function stateName(v) {
  if (!v) return 'UNSPECIFIED';
  return String(v).replace(/^PROPOSAL_STATE_/, '');
}

// enumName strips any PREFIX_ of a protojson enum name.
export function enumName(v, prefix) {
  if (!v) return 'UNSPECIFIED';
  return String(v).startsWith(prefix) ? String(v).slice(prefix.length) : String(v);
}

// hex encodes bytes as lowercase hex.
export function hex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

// fromHex decodes lowercase or uppercase hex.
export function fromHex(text) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new Error('not hex');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// fromBase64 decodes standard base64 (protojson bytes); absent is empty.
export function fromBase64(text) {
  if (!text) return new Uint8Array(0);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// toBase64 encodes bytes as standard base64.
export function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

// plural: "1 input", "3 inputs".
export function plural(n, word, many) {
  return `${n} ${n === 1 ? word : many || word + 's'}`;
}
