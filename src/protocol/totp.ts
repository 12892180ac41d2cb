/**
 * One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), the otpauth:// URI that authenticator
 * apps scan, and the check of a code a user typed. Pure computation: no I/O, no clock (the caller
 * passes the time), no randomness (the caller makes the secret).
 *
 * Defaults are those every authenticator app and openconnect's `--token-mode=totp` use:
 * HMAC-SHA1, 6 digits, 30-second steps from the Unix epoch.
 *
 * Replay: a code is good for its whole time step (and for the steps either side, the clock-skew
 * window), so a code seen once could be sent again by someone who watched it. The check takes
 * the last time step accepted for the user and refuses any counter not above it: each code is
 * accepted once, and so is any older code (RFC 6238 §5.2: "the verifier MUST NOT accept the
 * second attempt of the OTP after the successful validation has been issued for the first OTP").
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { base32Decode, base32Encode } from './base32.js';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParams {
  algorithm: TotpAlgorithm;
  /** 6-8 (RFC 4226 §5.3) */
  digits: number;
  /** seconds per step */
  period: number;
}

export const TOTP_DEFAULTS: Readonly<TotpParams> = Object.freeze({ algorithm: 'SHA1', digits: 6, period: 30 });

/** Bytes of a secret `sslgate user totp` makes: 160 bits, RFC 4226 §4's recommendation. */
export const TOTP_SECRET_BYTES = 20;
/** Shortest secret accepted: 80 bits, the 16-character keys many services hand out. */
export const MIN_SECRET_BYTES = 10;
/** Longest secret accepted (a SHA-512 key is 64 bytes). */
export const MAX_SECRET_BYTES = 64;
/** Most steps either side of now a code may come from (the default is 1). */
export const MAX_WINDOW = 10;

export class TotpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TotpError';
  }
}

const HMAC_NAME: Record<TotpAlgorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

function checkParams(p: TotpParams): void {
  if (!(p.algorithm in HMAC_NAME)) throw new TotpError(`unknown TOTP algorithm ${JSON.stringify(p.algorithm)} (SHA1, SHA256, SHA512)`);
  if (!Number.isInteger(p.digits) || p.digits < 6 || p.digits > 8) throw new TotpError(`TOTP digits must be 6, 7 or 8, not ${p.digits}`);
  if (!Number.isInteger(p.period) || p.period < 1 || p.period > 3600) throw new TotpError(`TOTP period must be 1-3600 seconds, not ${p.period}`);
}

/** RFC 4226 HOTP: HMAC of the 8-byte big-endian counter, dynamic truncation, `digits` digits. */
export function hotp(key: Uint8Array, counter: number, digits = 6, algorithm: TotpAlgorithm = 'SHA1'): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new TotpError(`HOTP counter must be a whole number >= 0, not ${counter}`);
  checkParams({ algorithm, digits, period: 30 });
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAME[algorithm], key).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The TOTP counter (time step) of a moment, `unixSeconds` since the epoch (RFC 6238 §4.2, T0 = 0). */
export function timeStep(unixSeconds: number, period = TOTP_DEFAULTS.period): number {
  if (!Number.isFinite(unixSeconds) || unixSeconds < 0) throw new TotpError(`time must be seconds since 1970, not ${unixSeconds}`);
  return Math.floor(unixSeconds / period);
}

/** The TOTP code for a moment. */
export function totp(key: Uint8Array, unixSeconds: number, params: TotpParams = TOTP_DEFAULTS): string {
  checkParams(params);
  return hotp(key, timeStep(unixSeconds, params.period), params.digits, params.algorithm);
}

/** A code as typed: spaces are dropped ("123 456"); anything but `digits` digits is null. */
export function normalizeCode(code: string, digits = TOTP_DEFAULTS.digits): string | null {
  if (code.length > 64) return null;
  const c = code.replace(/\s/g, '');
  return c.length === digits && /^[0-9]+$/.test(c) ? c : null;
}

export type TotpCheck =
  | { ok: true; counter: number }
  /** malformed: not a code at all; wrong: no step in the window has it; replay: it (or its step) was already used */
  | { ok: false; reason: 'malformed' | 'wrong' | 'replay' };

export interface VerifyOptions {
  /** the last counter accepted for this user; only a later one is accepted */
  lastCounter?: number;
  /** steps either side of now (clock skew); default 1 */
  window?: number;
  params?: TotpParams;
}

/**
 * Checks `code` against the steps around `unixSeconds`. Returns the counter that matched, which
 * the caller stores as the user's new lastCounter (atomically with the check: see user-store.ts).
 * When the code matches several steps (one in a million per pair), the earliest unused one wins.
 */
export function verifyTotp(key: Uint8Array, code: string, unixSeconds: number, opts: VerifyOptions = {}): TotpCheck {
  const params = opts.params ?? TOTP_DEFAULTS;
  checkParams(params);
  const window = opts.window ?? 1;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) throw new TotpError(`TOTP window must be 0-${MAX_WINDOW} steps, not ${window}`);
  const given = normalizeCode(code, params.digits);
  if (given === null) return { ok: false, reason: 'malformed' };
  const now = timeStep(unixSeconds, params.period);
  const last = opts.lastCounter ?? -1;
  let replayed = false;
  for (let c = Math.max(0, now - window); c <= now + window; c++) {
    // Compared in constant time: the time taken says nothing about how many digits were right.
    const match = timingSafeEqual(Buffer.from(hotp(key, c, params.digits, params.algorithm)), Buffer.from(given));
    if (!match) continue;
    if (c > last) return { ok: true, counter: c };
    replayed = true;
  }
  return { ok: false, reason: replayed ? 'replay' : 'wrong' };
}

/** A secret as stored or typed (base32) to its bytes, within the length bounds. Throws TotpError. */
export function parseTotpSecret(text: string): Buffer {
  let key: Buffer;
  try {
    key = base32Decode(text, 256);
  } catch (e) {
    throw new TotpError(`TOTP secret: ${(e as Error).message}`);
  }
  if (key.length < MIN_SECRET_BYTES) throw new TotpError(`TOTP secret: ${key.length} bytes, fewer than ${MIN_SECRET_BYTES} (${MIN_SECRET_BYTES * 8} bits)`);
  if (key.length > MAX_SECRET_BYTES) throw new TotpError(`TOTP secret: ${key.length} bytes, more than ${MAX_SECRET_BYTES}`);
  return key;
}

/** The canonical text of a secret: upper case base32 without spaces or padding (as in otpauth URIs). */
export function formatTotpSecret(key: Uint8Array): string {
  return base32Encode(key, false);
}

export interface OtpauthOptions {
  /** who issues the key ("sslgate", "VPN example.org"): shown by the app */
  issuer: string;
  /** the account (user name) */
  account: string;
  /** base32 */
  secret: string;
  params?: TotpParams;
}

/**
 * The otpauth:// URI authenticator apps scan (Google Authenticator's "Key Uri Format"):
 * `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`.
 * Issuer and account are percent-encoded; neither may contain ':' (the format's separator).
 */
export function otpauthUri(o: OtpauthOptions): string {
  const params = o.params ?? TOTP_DEFAULTS;
  checkParams(params);
  for (const [what, v] of [['issuer', o.issuer], ['account', o.account]] as const) {
    if (v.length === 0 || v.length > 128) throw new TotpError(`otpauth ${what} must be 1-128 characters`);
    if (v.includes(':')) throw new TotpError(`otpauth ${what} must not contain ':'`);
    if (/[\u0000-\u001f\u007f]/.test(v)) throw new TotpError(`otpauth ${what} has control characters`);
  }
  const secret = formatTotpSecret(parseTotpSecret(o.secret));
  const issuer = encodeURIComponent(o.issuer);
  return `otpauth://totp/${issuer}:${encodeURIComponent(o.account)}?secret=${secret}&issuer=${issuer}&algorithm=${params.algorithm}&digits=${params.digits}&period=${params.period}`;
}
