/**
 * RFC 6238 codes for `--token-mode=totp`, over the shared pure TOTP code (src/protocol/totp.ts,
 * which the gateway verifies with). Six digits and a 30 s step, the only shape openconnect
 * generates (`oath.c` do_gen_totp_code: "XXX: Support non-standard start time and step size");
 * the algorithm comes from the secret's `sha1:`/`sha256:`/`sha512:` prefix.
 */
import { hotp, totp, type TotpAlgorithm as Algorithm } from '../protocol/totp.js';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export const TOTP_STEP_S = 30;
export const TOTP_DIGITS = 6;

const NAME: Record<TotpAlgorithm, Algorithm> = { sha1: 'SHA1', sha256: 'SHA256', sha512: 'SHA512' };

/** HOTP value of `counter` (RFC 4226 §5.3), `digits` decimal digits with leading zeros. Throws TotpError. */
export function hotpCode(key: Uint8Array, counter: number, algorithm: TotpAlgorithm = 'sha1', digits = TOTP_DIGITS): string {
  return hotp(key, counter, digits, NAME[algorithm]);
}

/** The TOTP code for the step that contains `unixSeconds` (RFC 6238 §4.2, T0 = 0). Throws TotpError. */
export function totpCode(key: Uint8Array, unixSeconds: number, algorithm: TotpAlgorithm = 'sha1', digits = TOTP_DIGITS): string {
  return totp(key, unixSeconds, { algorithm: NAME[algorithm], digits, period: TOTP_STEP_S });
}
