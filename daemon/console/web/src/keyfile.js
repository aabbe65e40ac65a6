// keyfile.js — opens an officer's or an auditor's sealed key file in the
// browser, exactly as officer.Read and File.Unlock do in Go
// (officer/officer.go, seal/): the JSON header, the argon2id bounds of
// seal.KDF.Validate, the associated data that binds the header, and
// XChaCha20-Poly1305. The Ed25519 seed stays in a closure: never stored,
// never sent; forget() wipes it.

import { argon2idAsync } from '@noble/hashes/argon2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { FieldError, concat, equalBytes, fromHex, toHex, u32, utf8 } from './bytes.js';

/** FILE_TYPES maps a key file's "type" to the role it holds. */
export const FILE_TYPES = { 'custos-officer-key': 'officer', 'custos-auditor-key': 'auditor' };

const FILE_VERSION = 1;
const MAX_FILE_BYTES = 16 << 10;
const AD_TAG = 'custos-officer key file\x00';
const KDF_NAME = 'argon2id';
const CIPHER_NAME = 'xchacha20poly1305';
const SALT_LEN = 16;
const NONCE_LEN = 24;
const SEED_LEN = 32;
const OVERHEAD = 16;
const MAX_TIME = 64;
const MAX_MEMORY_KIB = 4 << 20;

/** WRONG_PASSPHRASE is the reason given when the box does not open. */
export const WRONG_PASSPHRASE = 'wrong passphrase or corrupted key file';

// The fields of the file (fileJSON with seal.Fields embedded) and of
// kdf_params (seal.KDF), with the Go type each decodes into.
const FILE_FIELDS = {
  version: 'int',
  type: 'string',
  public_key: 'string',
  kdf: 'string',
  kdf_params: 'kdf',
  salt: 'string',
  cipher: 'string',
  nonce: 'string',
  ciphertext: 'string',
};
const KDF_FIELDS = { time: 'uint32', memory_kib: 'uint32', threads: 'uint8' };

function notKeyFile(why) {
  return new FieldError('key', `not a Custos key file: ${why}`);
}

// goField finds the struct field a JSON key names, as encoding/json does
// (an exact match, else a case-insensitive one).
function goField(fields, key) {
  if (key in fields) return key;
  const k = key.toLowerCase();
  return Object.keys(fields).find((f) => f === k);
}

// decodeStruct decodes obj into the fields as json.Decoder with
// DisallowUnknownFields does: unknown fields and wrong types are
// refused, null leaves the zero value.
function decodeStruct(obj, fields, where) {
  if (obj === null) return {};
  if (typeof obj !== 'object' || Array.isArray(obj)) throw notKeyFile(`${where} is not a JSON object`);
  const out = {};
  for (const [key, v] of Object.entries(obj)) {
    const name = goField(fields, key);
    if (!name) throw notKeyFile(`json: unknown field "${key}"`);
    if (v === null) continue;
    const t = fields[name];
    if (t === 'string') {
      if (typeof v !== 'string') throw notKeyFile(`${name} is not a string`);
      out[name] = v;
    } else if (t === 'kdf') {
      out[name] = decodeStruct(v, KDF_FIELDS, name);
    } else {
      const max = { int: Number.MAX_SAFE_INTEGER, uint32: 0xffffffff, uint8: 255 }[t];
      const min = t === 'int' ? Number.MIN_SAFE_INTEGER : 0;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw notKeyFile(`${name} is not a ${t}`);
      }
      out[name] = v;
    }
  }
  return out;
}

// Numbers Go refuses to decode into an integer field: a fraction or an
// exponent ("1.0", "1e0"), which JSON.parse would read as an integer.
const NON_INTEGER = /"(?:version|time|memory_kib|threads)"\s*:\s*-?\d+(?:\.\d+|(?:\.\d+)?[eE][+-]?\d+)/i;

/** validateKDF is seal.KDF.Validate: the bounds a file's argon2id cost must be within. */
export function validateKDF(k) {
  if (k.time < 1 || k.time > MAX_TIME) return `argon2id time ${k.time} is outside 1..${MAX_TIME}`;
  if (k.threads < 1) return 'argon2id threads must be at least 1';
  if (k.memory_kib < 8 * k.threads || k.memory_kib > MAX_MEMORY_KIB) {
    return `argon2id memory ${k.memory_kib} KiB is outside ${8 * k.threads}..${MAX_MEMORY_KIB} KiB`;
  }
  return '';
}

/**
 * parseKeyFile checks the shape of a key file as officer.parse does, in
 * the same order, and returns its header without opening it. It throws
 * FieldError (field "key", and the reason in Go's words).
 */
export function parseKeyFile(text) {
  if (typeof text !== 'string') throw new FieldError('key', 'no key file');
  if (utf8(text).length > MAX_FILE_BYTES) {
    throw new FieldError('key', `the file is larger than ${MAX_FILE_BYTES} bytes: not a Custos key file`);
  }
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw notKeyFile(`not JSON (${e.message})`);
  }
  if (NON_INTEGER.test(text)) throw notKeyFile('a count is not a whole number');
  const j = decodeStruct(raw, FILE_FIELDS, 'the file');
  const type = j.type ?? '';
  if (!(type in FILE_TYPES)) throw new FieldError('key', `not a Custos key file (type ${JSON.stringify(type)})`);
  const version = j.version ?? 0;
  if (version !== FILE_VERSION) {
    throw new FieldError('key', `unsupported key file version ${version} (want ${FILE_VERSION})`);
  }
  // seal.Fields.Box
  const kdfName = j.kdf ?? '';
  if (kdfName !== KDF_NAME) throw new FieldError('key', `unsupported kdf ${JSON.stringify(kdfName)} (want ${KDF_NAME})`);
  const p = j.kdf_params ?? {};
  const kdf = { time: p.time ?? 0, memory_kib: p.memory_kib ?? 0, threads: p.threads ?? 0 };
  const bad = validateKDF(kdf);
  if (bad) throw new FieldError('key', `kdf_params: ${bad}`);
  const cipher = j.cipher ?? '';
  if (cipher !== CIPHER_NAME) {
    throw new FieldError('key', `unsupported cipher ${JSON.stringify(cipher)} (want ${CIPHER_NAME})`);
  }
  const box = {};
  for (const [name, n] of [['salt', SALT_LEN], ['nonce', NONCE_LEN], ['ciphertext', SEED_LEN + OVERHEAD]]) {
    const v = fromHex(j[name] ?? '');
    if (!v || v.length !== n) throw new FieldError('key', `${name} is not ${n} bytes of hex`);
    box[name] = v;
  }
  const pk = j.public_key ?? '';
  const pub = pk.startsWith('ed25519:') ? fromHex(pk.slice('ed25519:'.length)) : null;
  if (!pub || pub.length !== 32) {
    throw new FieldError('key', `public_key: ${JSON.stringify(pk)} is not ed25519:<64 hex digits>`);
  }
  return { type, role: FILE_TYPES[type], publicKey: pub, kdf, ...box };
}

/** associatedData is File.associatedData: the header the AEAD binds, with the file's own type. */
export function associatedData(h) {
  const lp = (b) => concat(u32(b.length), b);
  const params = new Uint8Array(9);
  const dv = new DataView(params.buffer);
  dv.setUint32(0, h.kdf.time);
  dv.setUint32(4, h.kdf.memory_kib);
  params[8] = h.kdf.threads;
  return concat(
    utf8(AD_TAG),
    lp(utf8(h.type)),
    u32(FILE_VERSION),
    lp(h.publicKey),
    lp(utf8(KDF_NAME)),
    params,
    lp(h.salt),
    lp(utf8(CIPHER_NAME)),
  );
}

/** deriveKey is seal.AEAD's argon2id step: the 32-byte XChaCha20-Poly1305 key. */
export async function deriveKey(passphrase, salt, kdf, opts = {}) {
  return argon2idAsync(passphrase, salt, {
    t: kdf.time,
    m: kdf.memory_kib,
    p: kdf.threads,
    dkLen: 32,
    maxmem: kdf.memory_kib * 1024 + (1 << 20),
    asyncTick: opts.asyncTick ?? 10,
    onProgress: opts.onProgress,
  });
}

/**
 * openKeyFile opens a sealed key file with its passphrase:
 * {type: 'officer'|'auditor', publicKey, sign(msg) → 64-byte Ed25519 signature, forget()}.
 * It throws FieldError for a malformed file (field "key"), an empty
 * passphrase (field "passphrase"), a wrong passphrase or changed file
 * (WRONG_PASSPHRASE), and a sealed key that is not the file's public key.
 * opts.onProgress(fraction) follows argon2id.
 */
export async function openKeyFile(text, passphrase, opts = {}) {
  const h = parseKeyFile(text);
  const pass = typeof passphrase === 'string' ? utf8(passphrase) : passphrase;
  if (!pass || pass.length === 0) throw new FieldError('passphrase', 'empty passphrase');
  const key = await deriveKey(pass, h.salt, h.kdf, opts);
  let seed;
  try {
    seed = xchacha20poly1305(key, h.nonce, associatedData(h)).decrypt(h.ciphertext);
  } catch {
    throw new FieldError('passphrase', WRONG_PASSPHRASE);
  } finally {
    key.fill(0);
    if (typeof passphrase !== 'string') pass.fill(0);
  }
  const pub = ed25519.getPublicKey(seed);
  if (!equalBytes(pub, h.publicKey)) {
    seed.fill(0);
    throw new FieldError('key', 'sealed key does not match the public key in the file');
  }
  let live = true;
  return {
    type: h.role,
    publicKey: pub,
    publicKeyHex: toHex(pub),
    sign(msg) {
      if (!live) throw new Error('the key was forgotten');
      return ed25519.sign(msg, seed);
    },
    forget() {
      live = false;
      seed.fill(0);
    },
  };
}
