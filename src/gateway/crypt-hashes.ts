/**
 * Verifies the crypt(3) hashes that ocserv's ocpasswd writes, so users imported from ocserv keep
 * their passwords until they next change them: sha512crypt (`$6$`), sha256crypt (`$5$`), both
 * with an optional `rounds=N`, and md5crypt (`$1$`). Pure computation on node:crypto digests; no
 * I/O. The algorithms are the published ones (Ulrich Drepper, "Unix crypt using SHA-256 and
 * SHA-512", and Poul-Henning Kamp's md5crypt); written from the specification, checked in the
 * tests against libxcrypt (perl's crypt), `openssl passwd` and Debian's ocpasswd.
 *
 * Bounds, so that a hostile or careless file cannot make a login cost minutes of CPU:
 * - `rounds` must lie in [1000, MAX_SHA_CRYPT_ROUNDS]. 1000 is the specification's minimum (a
 *   stored `rounds=` below it is never produced by glibc or libxcrypt, and libxcrypt refuses it);
 *   glibc allows up to 999,999,999, which is far too slow to check on a login.
 * - the password is at most 512 bytes (libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE): SHA-crypt hashes
 *   the password len(password) times, so its cost grows with the square of the length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

export type CryptKind = 'sha512crypt' | 'sha256crypt' | 'md5crypt';

/** Highest `rounds=` we accept: passlib's defaults (535,000 / 656,000) fit under it. */
export const MAX_SHA_CRYPT_ROUNDS = 1_000_000;
export const MIN_SHA_CRYPT_ROUNDS = 1000;
const DEFAULT_SHA_CRYPT_ROUNDS = 5000;
/** libxcrypt: CRYPT_MAX_PASSPHRASE_SIZE */
export const MAX_CRYPT_PASSWORD_BYTES = 512;
/** rounds computed between two yields to the event loop (keeps the process responsive) */
const ROUNDS_PER_SLICE = 4000;

const B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

interface Variant {
  kind: CryptKind;
  prefix: string;
  algorithm: 'sha512' | 'sha256' | 'md5';
  maxSalt: number;
  encodedLength: number;
}

const VARIANTS: readonly Variant[] = [
  { kind: 'sha512crypt', prefix: '$6$', algorithm: 'sha512', maxSalt: 16, encodedLength: 86 },
  { kind: 'sha256crypt', prefix: '$5$', algorithm: 'sha256', maxSalt: 16, encodedLength: 43 },
  { kind: 'md5crypt', prefix: '$1$', algorithm: 'md5', maxSalt: 8, encodedLength: 22 },
];

export class CryptHashError extends Error {}

export interface ParsedCrypt {
  variant: Variant;
  /** set only when the hash names its rounds (the output then names them too) */
  rounds?: number;
  salt: string;
  encoded: string;
}

/** The kind of a crypt hash by its prefix, or null when it is none of ours. */
export function cryptKind(stored: string): CryptKind | null {
  return VARIANTS.find((v) => stored.startsWith(v.prefix))?.kind ?? null;
}

/** Parses and checks a stored crypt hash; throws CryptHashError saying what is wrong. */
export function parseCryptHash(stored: string): ParsedCrypt {
  const variant = VARIANTS.find((v) => stored.startsWith(v.prefix));
  if (!variant) throw new CryptHashError('not a $6$, $5$ or $1$ crypt hash');
  const parts = stored.slice(variant.prefix.length).split('$');
  let rounds: number | undefined;
  if (variant.kind !== 'md5crypt' && parts[0]?.startsWith('rounds=')) {
    const text = parts.shift()!.slice('rounds='.length);
    if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new CryptHashError(`${variant.kind}: rounds=${text.slice(0, 20)} is not a number`);
    rounds = Number(text);
    if (rounds < MIN_SHA_CRYPT_ROUNDS) throw new CryptHashError(`${variant.kind}: rounds=${rounds} is below the minimum ${MIN_SHA_CRYPT_ROUNDS} (no crypt library writes such a hash)`);
    if (rounds > MAX_SHA_CRYPT_ROUNDS) throw new CryptHashError(`${variant.kind}: rounds=${rounds} is above sslgate's maximum ${MAX_SHA_CRYPT_ROUNDS} (each login would cost too much CPU); reset this user's password instead`);
  }
  if (parts.length !== 2) throw new CryptHashError(`${variant.kind}: expected ${variant.prefix}${variant.kind === 'md5crypt' ? '' : '[rounds=N$]'}SALT$HASH`);
  const [salt, encoded] = parts as [string, string];
  if (salt.length > variant.maxSalt) throw new CryptHashError(`${variant.kind}: salt longer than ${variant.maxSalt} characters`);
  if (!/^[./0-9A-Za-z]*$/.test(salt)) throw new CryptHashError(`${variant.kind}: salt has characters outside ./0-9A-Za-z`);
  if (encoded.length !== variant.encodedLength || !/^[./0-9A-Za-z]*$/.test(encoded)) throw new CryptHashError(`${variant.kind}: the hash part must be ${variant.encodedLength} characters of ./0-9A-Za-z`);
  return { variant, ...(rounds !== undefined ? { rounds } : {}), salt, encoded };
}

/** crypt's base64: 24 bits at a time, least significant 6 bits first */
function b64From24(out: string[], b2: number, b1: number, b0: number, n: number): void {
  let w = (b2 << 16) | (b1 << 8) | b0;
  for (let i = 0; i < n; i++) {
    out.push(B64[w & 0x3f]!);
    w >>>= 6;
  }
}

/** Byte triples of the final digest in output order (Drepper's specification, step 22). */
const SHA256_ORDER: ReadonlyArray<readonly [number, number, number]> = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
  [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
];
const SHA512_ORDER: ReadonlyArray<readonly [number, number, number]> = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

/** `len` bytes made of `block` repeated (the specification's "sequence" steps) */
function repeatTo(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let off = 0; off < len; off += block.length) block.copy(out, off, 0, Math.min(block.length, len - off));
  return out;
}

async function shaCrypt(algorithm: 'sha256' | 'sha512', pw: Buffer, salt: Buffer, rounds: number): Promise<string> {
  const h = (...parts: Buffer[]): Buffer => {
    const c = createHash(algorithm);
    for (const p of parts) c.update(p);
    return c.digest();
  };
  const size = algorithm === 'sha256' ? 32 : 64;
  const b = h(pw, salt, pw);
  const a = createHash(algorithm).update(pw).update(salt).update(repeatTo(b, pw.length));
  for (let n = pw.length; n > 0; n >>>= 1) a.update(n & 1 ? b : pw);
  let c = a.digest();
  const dp = createHash(algorithm);
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const p = repeatTo(dp.digest(), pw.length);
  const ds = createHash(algorithm);
  for (let i = 0; i < 16 + c[0]!; i++) ds.update(salt);
  const s = ds.digest().subarray(0, salt.length);
  for (let i = 0; i < rounds; i++) {
    const r = createHash(algorithm);
    r.update(i & 1 ? p : c);
    if (i % 3) r.update(s);
    if (i % 7) r.update(p);
    r.update(i & 1 ? c : p);
    c = r.digest();
    if (i % ROUNDS_PER_SLICE === ROUNDS_PER_SLICE - 1) await yieldToLoop();
  }
  const out: string[] = [];
  if (size === 32) {
    for (const [x, y, z] of SHA256_ORDER) b64From24(out, c[x]!, c[y]!, c[z]!, 4);
    b64From24(out, 0, c[31]!, c[30]!, 3);
  } else {
    for (const [x, y, z] of SHA512_ORDER) b64From24(out, c[x]!, c[y]!, c[z]!, 4);
    b64From24(out, 0, 0, c[63]!, 2);
  }
  return out.join('');
}

function md5Crypt(pw: Buffer, salt: Buffer): string {
  const md5 = (): ReturnType<typeof createHash> => createHash('md5');
  let f = md5().update(pw).update(salt).update(pw).digest();
  const ctx = md5().update(pw).update('$1$').update(salt).update(repeatTo(f, pw.length));
  const zero = Buffer.alloc(1);
  const first = pw.subarray(0, 1);
  for (let n = pw.length; n > 0; n >>>= 1) ctx.update(n & 1 ? zero : first);
  f = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const r = md5();
    r.update(i & 1 ? pw : f);
    if (i % 3) r.update(salt);
    if (i % 7) r.update(pw);
    r.update(i & 1 ? f : pw);
    f = r.digest();
  }
  const out: string[] = [];
  for (const [x, y, z] of [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]] as const) b64From24(out, f[x]!, f[y]!, f[z]!, 4);
  b64From24(out, 0, 0, f[11]!, 2);
  return out.join('');
}

/** The encoded hash part crypt(3) would produce for this password with the parsed settings. */
export async function cryptEncode(password: Buffer, parsed: ParsedCrypt): Promise<string> {
  const salt = Buffer.from(parsed.salt, 'latin1');
  if (parsed.variant.algorithm === 'md5') return md5Crypt(password, salt);
  return shaCrypt(parsed.variant.algorithm, password, salt, parsed.rounds ?? DEFAULT_SHA_CRYPT_ROUNDS);
}

/**
 * True when `password` matches the stored crypt hash. The password is taken as its UTF-8 bytes,
 * unnormalized: ocserv passed the bytes the client sent to crypt(3). The final comparison is
 * constant-time; a malformed hash or an over-long password is simply "no".
 */
export async function verifyCrypt(password: string, stored: string): Promise<boolean> {
  let parsed: ParsedCrypt;
  try {
    parsed = parseCryptHash(stored);
  } catch {
    return false;
  }
  const pw = Buffer.from(password, 'utf8');
  if (pw.length > MAX_CRYPT_PASSWORD_BYTES) return false;
  const got = Buffer.from(await cryptEncode(pw, parsed), 'latin1');
  const want = Buffer.from(parsed.encoded, 'latin1');
  return got.length === want.length && timingSafeEqual(got, want);
}
