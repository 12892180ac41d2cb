/**
 * RFC 6238 time-based one-time codes (TOTP) for `--token-mode=totp`: HOTP (RFC 4226 §5.3,
 * dynamic truncation) over the number of 30-second steps since the Unix epoch. Pure: the caller
 * gives the time. Six digits and a 30 s step, the only shape openconnect generates (`oath.c`
 * do_gen_totp_code: "XXX: Support non-standard start time and step size").
 *
 * (The gateway has its own verifier; this is the client's minimal generator.)
 */
import { createHmac } from 'node:crypto';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export const TOTP_STEP_S = 30;
export const TOTP_DIGITS = 6;

/** HOTP value of `counter` (RFC 4226 §5.3), `digits` decimal digits with leading zeros. */
export function hotpCode(key: Uint8Array, counter: number, algorithm: TotpAlgorithm = 'sha1', digits = TOTP_DIGITS): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`HOTP counter must be a whole number >= 0, got ${counter}`);
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) throw new RangeError(`HOTP digits must be 6..8, got ${digits}`);
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, '0');
}

/** The TOTP code for the step that contains `unixSeconds` (RFC 6238 §4.2, T0 = 0). */
export function totpCode(key: Uint8Array, unixSeconds: number, algorithm: TotpAlgorithm = 'sha1', digits = TOTP_DIGITS): string {
  if (!Number.isFinite(unixSeconds) || unixSeconds < 0) throw new RangeError(`time must be >= 0 seconds, got ${unixSeconds}`);
  return hotpCode(key, Math.floor(unixSeconds / TOTP_STEP_S), algorithm, digits);
}
